using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Microsoft.Extensions.Configuration;

namespace Droplets;

// The Table client, from the same settings the Functions host and the Durable extension read for
// AzureWebJobsStorage: a connection string (Azurite, tests), or — in Azure, where the storage account
// refuses shared keys — the identity-based form AzureWebJobsStorage__accountName (or __tableServiceUri)
// with __clientId naming the user-assigned managed identity.
public static class Storage
{
    public static TableServiceClient Tables(IConfiguration configuration)
    {
        if (configuration["AzureWebJobsStorage"] is { Length: > 0 } connectionString)
            return new TableServiceClient(connectionString);

        var settings = configuration.GetSection("AzureWebJobsStorage");
        var endpoint = settings["tableServiceUri"] is { Length: > 0 } uri ? new Uri(uri)
            : settings["accountName"] is { Length: > 0 } account ? new Uri($"https://{account}.table.core.windows.net")
            : throw new InvalidOperationException("Set AzureWebJobsStorage to a storage connection string (UseDevelopmentStorage=true for Azurite), or AzureWebJobsStorage__accountName for an identity-based connection.");
        TokenCredential credential = settings["clientId"] is { Length: > 0 } clientId
            ? new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId))
            : new DefaultAzureCredential();
        return new TableServiceClient(endpoint, credential);
    }
}
