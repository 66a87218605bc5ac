using System.Net;
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
}
