using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Droplets.Tests.Infrastructure;
using static Droplets.Tests.SshKeys.TestKeys;

namespace Droplets.Tests.SshKeys;

// The SSH key resource through real HTTP: the standalone host on Azurite (no cluster is needed for keys).
public abstract class SshKeyTests(SshKeyTests.World world)
{
    public sealed class OnStandalone(World<StandaloneKind> world) : SshKeyTests(world), IClassFixture<World<StandaloneKind>>;

    public sealed class OnFunctions(World<FunctionsKind> world) : SshKeyTests(world), IClassFixture<World<FunctionsKind>>;

    public sealed class World<TKind>() : World(TKind.Kind) where TKind : IHostKind;

    public class World(HostKind kind) : IAsyncLifetime
    {
        public ApiHost Host { get; private set; } = null!;

        public async Task InitializeAsync() => Host = await ApiHost.StartAsync(kind, new Dictionary<string, Uri>());

        public Task DisposeAsync() => Host.DisposeAsync().AsTask();
    }

    readonly ApiHost host = world.Host;

    static object Key(string publicKey, string project, string name = "laptop") => new { name, public_key = publicKey, project_id = project };

    async Task<JsonElement> AddAsync(string publicKey, string project, string name = "laptop")
    {
        var response = await host.Client.PostAsJsonAsync("api/v1/ssh_keys", Key(publicKey, project, name));
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"expected 201, got {(int)response.StatusCode}: {json}");
        return json;
    }

    async Task<JsonElement> ListAsync(string project, HttpClient? client = null) =>
        await (client ?? host.Client).GetFromJsonAsync<JsonElement>($"api/v1/ssh_keys?project_id={project}");

    async Task<string> TokenAsync(string project, string scope)
    {
        var response = await host.Client.PostAsJsonAsync("api/v1/tokens", new { name = "t", project_ids = new[] { project }, scope });
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal(code, problem.GetProperty("code").GetString());
        return problem;
    }

    [Theory]
    [InlineData(nameof(Ed25519))]
    [InlineData(nameof(Ed25519NoComment))]
    [InlineData(nameof(Rsa2048))]
    [InlineData(nameof(Rsa4096))]
    [InlineData(nameof(EcdsaP256))]
    [InlineData(nameof(EcdsaP384))]
    [InlineData(nameof(EcdsaP521))]
    public async Task Accepts_keys_made_by_ssh_keygen_with_its_fingerprints(string name)
    {
        var expected = ByName(name);
        var project = Repository.UniqueName("p");

        var response = await host.Client.PostAsJsonAsync("api/v1/ssh_keys", Key(expected.Line, project, "my key"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var key = await response.Content.ReadFromJsonAsync<JsonElement>();
        var id = key.GetProperty("id").GetString()!;
        Assert.Matches("^sk_[0-9a-f]{12}$", id);
        Assert.Equal($"/api/v1/ssh_keys/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal("my key", key.GetProperty("name").GetString());
        Assert.Equal(expected.Line.Trim(), key.GetProperty("public_key").GetString());
        Assert.Equal(expected.Sha256, key.GetProperty("fingerprint").GetString());
        Assert.Equal(expected.Md5, key.GetProperty("fingerprint_md5").GetString());
        Assert.Equal(expected.Type, key.GetProperty("type").GetString());
        Assert.Equal(expected.Bits, key.GetProperty("bits").GetInt32());
        Assert.Equal(expected.Comment, key.TryGetProperty("comment", out var comment) ? comment.GetString() : null);
        Assert.Equal(project, key.GetProperty("project_id").GetString());
        Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", key.GetProperty("created_at").GetString());
        Assert.Equal(key.ToString(), (await host.Client.GetFromJsonAsync<JsonElement>($"api/v1/ssh_keys/{id}")).ToString());
    }

    [Theory]
    [InlineData("ssh-rsa", 2048)]
    [InlineData("ssh-rsa", 3072)]
    [InlineData("ecdsa-sha2-nistp256", 256)]
    [InlineData("ecdsa-sha2-nistp384", 384)]
    [InlineData("ecdsa-sha2-nistp521", 521)]
    public async Task Accepts_generated_keys_of_each_type(string type, int bits)
    {
        var blob = type == "ssh-rsa" ? Rsa(bits) : Ecdsa(type["ecdsa-sha2-".Length..]);

        var key = await AddAsync(Line(type, blob, comment: "ci@build"), Repository.UniqueName("p"));

        Assert.Equal(type, key.GetProperty("type").GetString());
        Assert.Equal(bits, key.GetProperty("bits").GetInt32());
        Assert.Equal(Sha256Of(blob), key.GetProperty("fingerprint").GetString());
        Assert.Equal("ci@build", key.GetProperty("comment").GetString());
    }

    public static TheoryData<string, string, string> BadKeys()
    {
        var ed25519 = Convert.FromBase64String(Ed25519.Line.Split(' ')[1]);
        var p256 = Convert.FromBase64String(EcdsaP256.Line.Split(' ')[1]);
        var point = p256[^65..];
        string Ec(string type, string curve, byte[] q) => Line(type, Concat(String(type), String(curve), String(q)), null);
        var modulus = Enumerable.Repeat((byte)0xab, 256).ToArray();
        modulus[^1] = 0x02; // even
        return new()
        {
            { "rsa 1024 (ssh-keygen)", Rsa1024.Line, "at least 2048 bits; this one has 1024" },
            { "rsa 1024 (generated)", Line("ssh-rsa", Rsa(1024)), "at least 2048 bits; this one has 1024" },
            { "private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n", "is a private key" },
            { "rsa private key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----", "is a private key" },
            { "options prefix", "no-pty,command=\"echo hi\" " + Ed25519.Line, "authorized_keys options" },
            { "from= prefix", "from=\"10.0.0.1\" " + Ed25519.Line, "authorized_keys options" },
            { "two lines", Ed25519.Line + "\n" + Rsa2048.Line, "one key on one line; it has 2 lines" },
            { "two lines, CRLF", Ed25519.Line + "\r\n" + Rsa2048.Line + "\r\n", "one key on one line" },
            { "garbage", "hello world", "'hello' is not a supported key type" },
            { "no type", Ed25519.Line.Split(' ')[1], "has no key type" },
            { "no key data", "ssh-ed25519", "no key data after 'ssh-ed25519'" },
            { "not base64", "ssh-ed25519 AAAA!!!!not-base64", "not valid base64" },
            { "type differs from blob", "ssh-rsa " + Ed25519.Line.Split(' ')[1], "holds a 'ssh-ed25519' key but the line says 'ssh-rsa'" },
            { "ecdsa type differs from blob", "ecdsa-sha2-nistp384 " + EcdsaP256.Line.Split(' ')[1], "holds a 'ecdsa-sha2-nistp256' key but the line says 'ecdsa-sha2-nistp384'" },
            { "ecdsa curve differs from type", Ec("ecdsa-sha2-nistp256", "nistp384", point), "must name the curve nistp256" },
            { "ecdsa point too short", Ec("ecdsa-sha2-nistp256", "nistp256", point[..64]), "uncompressed nistp256 point (65 bytes)" },
            { "ecdsa compressed point", Ec("ecdsa-sha2-nistp256", "nistp256", [0x02, .. point[1..33], .. new byte[32]]), "uncompressed nistp256 point" },
            { "ecdsa point not on the curve", Ec("ecdsa-sha2-nistp256", "nistp256", [0x04, .. Enumerable.Repeat((byte)1, 64)]), "not a point on nistp256" },
            { "ed25519 key of 31 bytes", Line("ssh-ed25519", Concat(String("ssh-ed25519"), String(new byte[31])), null), "32-byte key" },
            { "trailing bytes", Line("ssh-ed25519", Concat(ed25519, [0]), null), "bytes after the key" },
            { "truncated", Line("ssh-ed25519", ed25519[..20], null), "must hold a 32-byte key" },
            { "no type inside", Line("ssh-ed25519", [0, 0, 1], null), "truncated" },
            { "negative rsa modulus", Line("ssh-rsa", Concat(String("ssh-rsa"), Mpint([1, 0, 1]), String([0x80, .. new byte[255]])), null), "positive, minimally encoded" },
            { "rsa modulus with a needless zero", Line("ssh-rsa", Concat(String("ssh-rsa"), Mpint([1, 0, 1]), String([0, 0x7f, .. new byte[255]])), null), "positive, minimally encoded" },
            { "even rsa modulus", Line("ssh-rsa", Concat(String("ssh-rsa"), Mpint([1, 0, 1]), Mpint(modulus)), null), "not a valid RSA public key" },
            { "dsa", "ssh-dss AAAAB3NzaC1kc3MAAACBAP1/U4EddRIpUt9KnC7s5Of2EbdSPO9EAMMeP4C2USZpRV1AIlH7WT2NWPq/xfW6MPbLm1Vs14E7gB00b/JmYLdrmVClpJ+f6AR7ECLCT7up1/63xhv4O1fnxqimFQ8E+4P208UewwI1VBNaFpEy9nXzrith1yrv8iIDGZ3RSAHHAAAAFQCXYFCPFSMLzLKSuYKi64QL8Fgc9Q== dsa", "DSA (ssh-dss) keys are not accepted" },
            { "certificate", "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29t cert", "certificates are not accepted" },
            { "security key", "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t sk", "security-key (FIDO) keys are not supported" },
            { "rfc 4716", "---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"x\"\nAAAAC3NzaC1lZDI1NTE5AAAAIJ8X2Q9burX9kIvdzJ4sIjHVexJ3dsr2WtBvhkzKL7np\n---- END SSH2 PUBLIC KEY ----\n", "RFC 4716 (SSH2) format" },
            { "pem", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n", "PEM public key" },
            { "control character in comment", Ed25519.Line + "\u0007bell", "control characters" },
            { "over 16 KiB", Ed25519.Line + new string('x', 16 * 1024), "an OpenSSH public key line is at most 16384 bytes" },
            { "empty", "", "public_key is required" },
            { "blank", " \n\t ", "public_key is required" },
        };
    }

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task Refuses_a_bad_public_key_saying_why_and_stores_nothing(string label, string publicKey, string why)
    {
        var project = Repository.UniqueName("p");

        var response = await host.Client.PostAsJsonAsync("api/v1/ssh_keys", Key(publicKey, project));

        var problem = await AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "validation_failed");
        var message = problem.GetProperty("errors").GetProperty("public_key")[0].GetString()!;
        Assert.True(message.Contains(why, StringComparison.Ordinal), $"{label}: expected the error to say '{why}', got: {message}");
        Assert.Equal(0, (await ListAsync(project)).GetArrayLength());
    }

    [Fact]
    public async Task Every_invalid_field_is_reported_at_once()
    {
        var response = await host.Client.PostAsJsonAsync("api/v1/ssh_keys", new { name = "", public_key = "nope", project_id = "Bad-Project" });

        var problem = await AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "validation_failed");
        Assert.Equal(["name", "project_id", "public_key"], problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).Order());
    }

    [Theory]
    [InlineData("""{"name":"k","public_key":"ssh-ed25519 AAAA","comment":"x"}""")]
    [InlineData("""{"name":"k","public_key":42}""")]
    [InlineData("""[]""")]
    public async Task Malformed_bodies_are_400(string body)
    {
        var response = await host.Client.PostAsync("api/v1/ssh_keys", new StringContent(body, Encoding.UTF8, "application/json"));

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_json");
    }

    [Fact]
    public async Task The_same_key_twice_in_a_project_is_a_duplicate_naming_the_first()
    {
        var project = Repository.UniqueName("p");
        var first = (await AddAsync(Ed25519.Line, project)).GetProperty("id").GetString();

        // Another name and comment do not make it another key: the fingerprint is the key's identity.
        var again = await host.Client.PostAsJsonAsync("api/v1/ssh_keys", Key(Ed25519.Line.Replace("alice@example", "other comment", StringComparison.Ordinal), project, "again"));

        var problem = await AssertProblemAsync(again, HttpStatusCode.UnprocessableEntity, "duplicate");
        Assert.Equal(first, problem.GetProperty("existing_id").GetString());
        Assert.Contains(first!, problem.GetProperty("detail").GetString());
        Assert.Equal(1, (await ListAsync(project)).GetArrayLength());
        // Another project may hold the same key.
        await AddAsync(Ed25519.Line, Repository.UniqueName("p"));
    }

    [Fact]
    public async Task Concurrent_adds_of_one_key_store_it_once()
    {
        var project = Repository.UniqueName("p");

        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => host.Client.PostAsJsonAsync("api/v1/ssh_keys", Key(Rsa2048.Line, project, $"k{i}"))));

        var created = answers.Where(a => a.StatusCode == HttpStatusCode.Created).ToList();
        Assert.Single(created);
        var id = (await created[0].Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        foreach (var refused in answers.Where(a => a.StatusCode != HttpStatusCode.Created))
            Assert.Equal(id, (await AssertProblemAsync(refused, HttpStatusCode.UnprocessableEntity, "duplicate")).GetProperty("existing_id").GetString());
        Assert.Equal([id], (await ListAsync(project)).EnumerateArray().Select(k => k.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task Lists_pages_gets_and_deletes()
    {
        var project = Repository.UniqueName("p");
        var ids = new List<string>();
        foreach (var line in new[] { Ed25519.Line, Rsa2048.Line, EcdsaP256.Line })
            ids.Add((await AddAsync(line, project)).GetProperty("id").GetString()!);

        var seen = new List<string>();
        string? next = $"api/v1/ssh_keys?project_id={project}&per_page=2";
        while (next is not null)
        {
            var response = await host.Client.GetAsync(next);
            var page = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(JsonValueKind.Array, page.ValueKind);
            seen.AddRange(page.EnumerateArray().Select(k => k.GetProperty("id").GetString()!));
            next = response.Headers.TryGetValues("Link", out var links)
                ? System.Text.RegularExpressions.Regex.Match(links.Single(), "^<([^>]+)>; rel=\"next\"$").Groups[1].Value.TrimStart('/')
                : null;
        }
        Assert.Equal(ids.Order(), seen);

        Assert.Equal(HttpStatusCode.NoContent, (await host.Client.DeleteAsync($"api/v1/ssh_keys/{ids[0]}")).StatusCode);
        await AssertProblemAsync(await host.Client.GetAsync($"api/v1/ssh_keys/{ids[0]}"), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await host.Client.DeleteAsync($"api/v1/ssh_keys/{ids[0]}"), HttpStatusCode.NotFound, "not_found");
        Assert.Equal(ids.Skip(1).Order(), (await ListAsync(project)).EnumerateArray().Select(k => k.GetProperty("id").GetString()));
        // Deleting released the fingerprint: the key can be added again, under a new id.
        Assert.NotEqual(ids[0], (await AddAsync(Ed25519.Line, project)).GetProperty("id").GetString());
    }

    // A token of 20 projects lists its projects in groups (Azure Table Storage takes at most 15 comparisons in a filter;
    // ListingTests checks the filters): every key once, in key order (project, then id), page after page.
    [Fact]
    public async Task A_token_of_twenty_projects_lists_every_key_once_in_key_order()
    {
        var projects = Enumerable.Range(0, 20).Select(_ => Repository.UniqueName("p")).ToArray();
        var expected = new List<(string Project, string Id)>();
        foreach (var project in projects.Where((_, i) => i % 3 != 1))
            expected.Add((project, (await AddAsync(Ed25519.Line, project)).GetProperty("id").GetString()!));
        var created = await host.Client.PostAsJsonAsync("api/v1/tokens", new { name = "twenty", project_ids = projects, scope = "read" });
        var client = host.ClientWith((await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString());

        var seen = new List<(string Project, string Id)>();
        string? next = "api/v1/ssh_keys?per_page=3";
        while (next is not null)
        {
            var response = await client.GetAsync(next);
            var page = await response.Content.ReadFromJsonAsync<JsonElement>();
            seen.AddRange(page.EnumerateArray().Select(k => (k.GetProperty("project_id").GetString()!, k.GetProperty("id").GetString()!)));
            next = response.Headers.TryGetValues("Link", out var links)
                ? System.Text.RegularExpressions.Regex.Match(links.Single(), "^<([^>]+)>; rel=\"next\"$").Groups[1].Value.TrimStart('/')
                : null;
        }
        Assert.Equal(expected.OrderBy(k => k.Project, StringComparer.Ordinal).ThenBy(k => k.Id, StringComparer.Ordinal), seen);
    }

    [Theory]
    [InlineData("per_page=0")]
    [InlineData("per_page=1001")]
    [InlineData("page_token=not-a-token")]
    public async Task Invalid_list_parameters_are_400(string query) =>
        await AssertProblemAsync(await host.Client.GetAsync($"api/v1/ssh_keys?{query}"), HttpStatusCode.BadRequest, "invalid_query");

    [Fact]
    public async Task A_token_sees_only_its_projects_keys()
    {
        var mine = Repository.UniqueName("p");
        var theirs = Repository.UniqueName("p");
        var me = host.ClientWith(await TokenAsync(mine, "write"));
        var them = host.ClientWith(await TokenAsync(theirs, "write"));
        var created = await me.PostAsJsonAsync("api/v1/ssh_keys", Key(Ed25519.Line, mine));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();

        var foreign = await AssertProblemAsync(await them.GetAsync($"api/v1/ssh_keys/{id}"), HttpStatusCode.NotFound, "not_found");
        var missing = await AssertProblemAsync(await them.GetAsync("api/v1/ssh_keys/sk_000000000000"), HttpStatusCode.NotFound, "not_found");
        Assert.Equal(missing.GetProperty("title").GetString(), foreign.GetProperty("title").GetString());
        await AssertProblemAsync(await them.DeleteAsync($"api/v1/ssh_keys/{id}"), HttpStatusCode.NotFound, "not_found");
        Assert.Equal(0, (await ListAsync(mine, them)).GetArrayLength());
        Assert.DoesNotContain(id, (await them.GetFromJsonAsync<JsonElement>("api/v1/ssh_keys")).EnumerateArray().Select(k => k.GetProperty("id").GetString()));
        await AssertProblemAsync(await them.PostAsJsonAsync("api/v1/ssh_keys", Key(Rsa2048.Line, mine)), HttpStatusCode.Forbidden, "forbidden");

        // Still there for its owner.
        Assert.Equal([id], (await me.GetFromJsonAsync<JsonElement>("api/v1/ssh_keys")).EnumerateArray().Select(k => k.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task A_read_token_lists_keys_but_cannot_add_or_delete_them()
    {
        var project = Repository.UniqueName("p");
        var id = (await AddAsync(Ed25519.Line, project)).GetProperty("id").GetString();
        var reader = host.ClientWith(await TokenAsync(project, "read"));

        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync($"api/v1/ssh_keys/{id}")).StatusCode);
        await AssertProblemAsync(await reader.PostAsJsonAsync("api/v1/ssh_keys", Key(Rsa2048.Line, project)), HttpStatusCode.Forbidden, "forbidden");
        await AssertProblemAsync(await reader.DeleteAsync($"api/v1/ssh_keys/{id}"), HttpStatusCode.Forbidden, "forbidden");
        Assert.Equal(1, (await ListAsync(project)).GetArrayLength());
    }

    [Fact]
    public async Task A_retried_add_with_an_idempotency_key_answers_the_original()
    {
        var project = Repository.UniqueName("p");
        var idempotencyKey = Guid.NewGuid().ToString();
        async Task<HttpResponseMessage> SendAsync()
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/ssh_keys") { Content = JsonContent.Create(Key(EcdsaP384.Line, project)) };
            request.Headers.Add("Idempotency-Key", idempotencyKey);
            return await host.Client.SendAsync(request);
        }

        var first = await SendAsync();
        var second = await SendAsync();

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.Equal("true", second.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(first.Headers.Location, second.Headers.Location);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await second.Content.ReadAsStringAsync());
        Assert.Equal(1, (await ListAsync(project)).GetArrayLength());
    }
}
