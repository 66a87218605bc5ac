using Droplets.Auth;
using Droplets.VncConsole;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace Droplets.Functions;

sealed class TokenFunctions(TokenStore store, Authenticator authenticator, ConsoleTickets tickets, TimeProvider time)
{
    [Function("CreateToken")]
    public async Task<IResult> Create(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/tokens")] HttpRequest request, CancellationToken cancellationToken) =>
        await TokensApi.CreateAsync(request, store, time, cancellationToken);

    [Function("ListTokens")]
    public async Task<IResult> List(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/tokens")] HttpRequest request, CancellationToken cancellationToken) =>
        await TokensApi.ListAsync(store, cancellationToken);

    [Function("DeleteToken")]
    public async Task<IResult> Delete(
        [HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = "v1/tokens/{id}")] HttpRequest request, string id, CancellationToken cancellationToken) =>
        await TokensApi.DeleteAsync(id, store, authenticator, tickets, cancellationToken);
}
