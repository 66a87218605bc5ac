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

    // Read-modify-write with optimistic concurrency. `change` returns the new row, or null to leave it as it is;
    // when someone else wrote first (412), the row is read again and the change applied to their version.
    // Returns the row as it is afterwards, or null when there is none.
    public static async Task<TEntity?> UpdateAsync<TEntity>(
        this TableClient table, string partitionKey, string rowKey, Func<TEntity, TEntity?> change, CancellationToken cancellationToken)
        where TEntity : class, ITableEntity
    {
        while (true)
        {
            var response = await table.GetEntityIfExistsAsync<TEntity>(partitionKey, rowKey, cancellationToken: cancellationToken);
            if (!response.HasValue)
                return null;
            var current = response.Value!;
            if (change(current) is not { } changed)
                return current;
            try
            {
                await table.UpdateEntityAsync(changed, current.ETag, TableUpdateMode.Replace, cancellationToken);
                return changed;
            }
            catch (Azure.RequestFailedException e) when (e.Status == 412)
            {
            }
        }
    }
}
