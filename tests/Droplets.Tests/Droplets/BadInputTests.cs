using System.Text;
using Droplets.Tests.Infrastructure;

namespace Droplets.Tests.Droplets;

// No input produces a 5xx. A seeded generator throws malformed paths, queries, headers and bodies at
// every endpoint; the seed is in the failure message so any finding can be replayed.
public abstract class BadInputTests(DropletsWorld world)
{
    public sealed class OnStandalone(DropletsWorld<StandaloneKind> world) : BadInputTests(world), IClassFixture<DropletsWorld<StandaloneKind>>;

    public sealed class OnFunctions(DropletsWorld<FunctionsKind> world) : BadInputTests(world), IClassFixture<DropletsWorld<FunctionsKind>>;

    const int Seed = 20261128;
    const int Requests = 400;

    static readonly string[] Methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    static readonly string[] ContentTypes = ["application/json", "application/json; charset=utf-8", "application/merge-patch+json", "text/plain", "application/xml", "application/json; charset=latin1", "multipart/form-data; boundary=x", ""];
    static readonly string[] Fragments =
    [
        "", "dpl_000000000000", "dpl_", "DPL_ABCDEF012345", "dpl_zzzzzzzzzzzz", "%00", "%2e%2e", "..", "%ff%fe", "ü", "' or 1 eq 1", "dpl_0123456789ab/extra",
        new string('a', 2000), "%", "%%", "{id}", "null", "-1", "sk_000000000000", "sk_", "SK_ABCDEF012345",
    ];
    static readonly string[] Collections = ["plans", "images", "regions", "plans/s-1vcpu-1gb", "ssh_keys", "ssh_keys/sk_000000000000/x"];
    static readonly string[] Queries =
    [
        "project_id=", "project_id=%00", "project_id=' or PartitionKey ne '", "tag_name=" + new string('t', 5000), "per_page=-1", "per_page=99999999999999",
        "per_page=1e3", "page_token=%ff", "page_token=" + Convert.ToBase64String(Encoding.UTF8.GetBytes("\n")), "page_token=" + Convert.ToBase64String(Encoding.UTF8.GetBytes("p\n\u0000")),
        "page_token=====", "per_page=1&per_page=2", "project_id=a&project_id=b", "tag_name=%E2%80%8B",
    ];
    static readonly string[] Bodies =
    [
        "{}", "[]", "\"text\"", "0", "true", "{\"name\":{}}", "{\"name\":[\"a\"]}", "{\"tags\":{\"a\":1}}", "{\"tags\":[1,2]}", "{\"name\":\"a\",\"name\":\"b\"}",
        "{\"name\":\"web\",\"image\":\"ubuntu-22-04\",\"plan_id\":\"s-1vcpu-1gb\",\"region\":\"nyc1\",\"project_id\":null,\"tags\":null,\"ssh_key_ids\":null}",
        "{\"name\":\"web\",\"image\":\"ubuntu-22-04\",\"plan_id\":\"s-1vcpu-1gb\",\"region\":\"nyc1\",\"project_id\":\"" + new string('a', 300) + "\"}",
        "{\"name\":\"\\u0000\"}", "{\"name\":\"\\ud800\"}", new string('[', 5000) + new string(']', 5000), "{\"a\":" + new string('9', 400) + "}", "{\"name\":1e400}",
        "\u00ef\u00bb\u00bf{}", "{", "}", "{\"name\":\"web\"", "{'name':'web'}",
        "{\"name\":\"k\",\"public_key\":\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ8X2Q9burX9kIvdzJ4sIjHVexJ3dsr2WtBvhkzKL7np\"}",
        "{\"name\":\"k\",\"public_key\":\"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAAQ==\"}", "{\"name\":\"k\",\"public_key\":\"ssh-ed25519 ////\"}",
        "{\"name\":\"k\",\"public_key\":\"ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAAAA\"}", "{\"public_key\":null,\"name\":[]}",
        "{\"name\":\"\\u0000\",\"public_key\":\"\\u0000\",\"project_id\":\"\\u0000\"}",
        "{\"name\":\"web\",\"image\":\"ubuntu-22-04\",\"plan_id\":\"s-1vcpu-1gb\",\"region\":\"nyc1\",\"ssh_key_ids\":[\"sk_000000000000\",\"' or 1 eq 1\",\"\"],\"user_data\":\"#cloud-config\\nssh_authorized_keys: [\"}",
        "{\"name\":\"web\",\"image\":\"ubuntu-22-04\",\"plan_id\":\"s-1vcpu-1gb\",\"region\":\"nyc1\",\"ssh_key_ids\":{},\"user_data\":{}}",
    ];

    [Fact]
    public async Task No_malformed_request_gets_a_server_error()
    {
        var random = new Random(Seed);
        var client = world.Host.Client;
        for (var i = 0; i < Requests; i++)
        {
            var method = Pick(random, Methods);
            var path = random.Next(6) switch
            {
                0 => "api/v1/droplets",
                1 => "api/v1/droplets/" + Pick(random, Fragments),
                2 => "api/v1/ssh_keys",
                3 => "api/v1/ssh_keys/" + Pick(random, Fragments),
                4 => "api/v1/" + Pick(random, Collections),
                _ => "api/v1/" + Pick(random, Fragments) + "/" + Pick(random, Fragments),
            };
            if (random.Next(2) == 0)
                path += "?" + string.Join('&', Enumerable.Range(0, random.Next(1, 4)).Select(_ => Pick(random, Queries)));
            var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (method is "POST" or "PUT" or "PATCH" || random.Next(4) == 0)
            {
                var bytes = random.Next(5) == 0 ? RandomBytes(random) : Encoding.UTF8.GetBytes(Pick(random, Bodies));
                request.Content = new ByteArrayContent(bytes);
                if (Pick(random, ContentTypes) is { Length: > 0 } type)
                    request.Content.Headers.TryAddWithoutValidation("Content-Type", type);
            }
            // HttpClient itself refuses non-ASCII header values, so only those reach the server.
            if (random.Next(5) == 0 && Pick(random, Fragments) is var id && Ascii.IsValid(id))
                request.Headers.TryAddWithoutValidation("X-Request-Id", id);

            var response = await client.SendAsync(request);

            Assert.True((int)response.StatusCode < 500,
                $"seed {Seed}, request {i}: {method} {path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    static string Pick(Random random, string[] values) => values[random.Next(values.Length)];

    static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(1, 512)];
        random.NextBytes(bytes);
        return bytes;
    }
}
