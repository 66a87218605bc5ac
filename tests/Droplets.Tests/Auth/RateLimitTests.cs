using System.Net;
using System.Net.Sockets;
using System.Net.Http.Json;
using System.Text.Json;
using Droplets.Tests.Infrastructure;

namespace Droplets.Tests.Auth;

public class RateLimitTests
{
    [Theory, BothHosts]
    public async Task Each_token_gets_its_own_budget_with_headers_and_429_past_it(HostKind kind)
    {
        await using var host = await ApiHost.StartAsync(kind, new Dictionary<string, Uri>(),
            new Dictionary<string, string> { ["Auth__RateLimit__PerMinute"] = "5", ["Auth__RateLimit__PerHour"] = "100" });
        var created = await host.Client.PostAsJsonAsync("api/v1/tokens", new { name = "limited", project_ids = new[] { "*" }, scope = "read" });
        var token = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString();
        var client = host.ClientWith(token);

        var remaining = new List<int>();
        HttpResponseMessage response;
        while (true)
        {
            response = await client.GetAsync("api/v1/droplets");
            if (response.StatusCode != HttpStatusCode.OK)
                break;
            Assert.Equal("5", response.Headers.GetValues("RateLimit-Limit").Single());
            Assert.InRange(int.Parse(response.Headers.GetValues("RateLimit-Reset").Single()), 0, 60);
            remaining.Add(int.Parse(response.Headers.GetValues("RateLimit-Remaining").Single()));
            // At most one minute boundary can fall inside this loop, giving one fresh window.
            Assert.True(remaining.Count <= 10, "more than 5 requests were allowed in a minute window");
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("rate_limited", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal("0", response.Headers.GetValues("RateLimit-Remaining").Single());
        Assert.InRange(int.Parse(response.Headers.GetValues("Retry-After").Single()), 1, 60);
        Assert.Equal([4, 3, 2, 1, 0], remaining[^5..]);

        // Another token is not affected.
        var other = await host.Client.GetAsync("api/v1/droplets");
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    // Requests without a valid token are limited per client address before they cost a storage read. Past its budget a
    // client's unknown tokens are 429, while a token verified earlier on this instance still passes, and another
    // client is not affected. The clients connect from different loopback addresses (127.0.0.2, 127.0.0.3), which
    // the standalone host sees as peers and the Functions host forwards to its worker.
    [Theory, BothHosts]
    public async Task Requests_without_a_valid_token_are_limited_per_client_before_they_are_looked_up(HostKind kind)
    {
        await using var host = await ApiHost.StartAsync(kind, new Dictionary<string, Uri>(),
            new Dictionary<string, string> { ["Auth__RateLimit__FailuresPerMinute"] = "5" });
        var created = await host.Client.PostAsJsonAsync("api/v1/tokens", new { name = "good", project_ids = new[] { "*" }, scope = "read" });
        var token = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString();
        using var good = From(host, "127.0.0.2", token);
        Assert.Equal(HttpStatusCode.OK, (await good.GetAsync("api/v1/droplets")).StatusCode);
        var unknown = "dpt_0123456789ab_" + new string('A', 43);
        using var attacker = From(host, "127.0.0.2", unknown);

        var refused = 0;
        HttpResponseMessage response;
        while ((response = await attacker.GetAsync("api/v1/droplets")).StatusCode == HttpStatusCode.Unauthorized)
            // At most one minute boundary can fall inside this loop, giving one fresh window.
            Assert.True(++refused <= 10, "more than 5 unknown tokens were looked up in a minute window");

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("rate_limited", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.InRange(int.Parse(response.Headers.GetValues("Retry-After").Single()), 1, 60);
        using var anonymous = From(host, "127.0.0.2", null);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await anonymous.GetAsync("api/v1/droplets")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await good.GetAsync("api/v1/droplets")).StatusCode);
        using var other = From(host, "127.0.0.3", unknown);
        Assert.Equal(HttpStatusCode.Unauthorized, (await other.GetAsync("api/v1/droplets")).StatusCode);
    }

    // A client whose connections come from `source`.
    static HttpClient From(ApiHost host, string source, string? token)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var client = new HttpClient(handler) { BaseAddress = host.BaseAddress };
        if (token is not null)
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }
}
