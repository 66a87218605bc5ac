using Droplets.SshKeys;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace Droplets.Functions;

sealed class SshKeyFunctions(SshKeyStore store, TimeProvider time)
{
    [Function("CreateSshKey")]
    public async Task<IResult> Create(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/ssh_keys")] HttpRequest request, CancellationToken cancellationToken) =>
        await SshKeysApi.CreateAsync(request, store, time, cancellationToken);

    [Function("ListSshKeys")]
    public async Task<IResult> List(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/ssh_keys")] HttpRequest request, CancellationToken cancellationToken) =>
        await SshKeysApi.ListAsync(request.HttpContext, store, cancellationToken);

    [Function("GetSshKey")]
    public async Task<IResult> Get(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/ssh_keys/{id}")] HttpRequest request, string id, CancellationToken cancellationToken) =>
        await SshKeysApi.GetAsync(id, request.HttpContext, store, cancellationToken);

    [Function("DeleteSshKey")]
    public async Task<IResult> Delete(
        [HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = "v1/ssh_keys/{id}")] HttpRequest request, string id, CancellationToken cancellationToken) =>
        await SshKeysApi.DeleteAsync(id, request.HttpContext, store, cancellationToken);
}
