using Microsoft.Extensions.Configuration;

namespace Droplets.Tests.Infra;

// Which Table endpoint the app uses for each form of AzureWebJobsStorage. Constructing a client makes no call.
public class StorageTests
{
    static IConfiguration Settings(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value))).Build();

    [Fact]
    public void Connection_string_wins()
    {
        var client = Storage.Tables(Settings(("AzureWebJobsStorage", "UseDevelopmentStorage=true"), ("AzureWebJobsStorage:accountName", "ignored")));
        Assert.Equal("devstoreaccount1", client.AccountName);
        Assert.Equal(10002, client.Uri.Port);
    }

    [Fact]
    public void Account_name_gives_the_public_table_endpoint_with_a_managed_identity()
    {
        var client = Storage.Tables(Settings(("AzureWebJobsStorage:accountName", "stdroplets"), ("AzureWebJobsStorage:credential", "managedidentity"),
            ("AzureWebJobsStorage:clientId", "00000000-0000-0000-0000-000000000001")));
        Assert.Equal(new Uri("https://stdroplets.table.core.windows.net/"), client.Uri);
        Assert.Equal("stdroplets", client.AccountName);
    }

    [Fact]
    public void Table_service_uri_overrides_the_account_name()
    {
        var client = Storage.Tables(Settings(("AzureWebJobsStorage:accountName", "stdroplets"), ("AzureWebJobsStorage:tableServiceUri", "https://stdroplets.table.core.usgovcloudapi.net")));
        Assert.Equal(new Uri("https://stdroplets.table.core.usgovcloudapi.net/"), client.Uri);
    }

    [Fact]
    public void Neither_form_is_refused_with_the_settings_to_use()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Storage.Tables(Settings()));
        Assert.Contains("AzureWebJobsStorage__accountName", error.Message);
    }
}
