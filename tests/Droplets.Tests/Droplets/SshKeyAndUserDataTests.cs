using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Droplets.Tests.Infrastructure;
using static Droplets.Tests.SshKeys.TestKeys;

namespace Droplets.Tests.Droplets;

// Droplets created with ssh_key_ids and user_data, end to end: what the simulated cluster's VirtualMachine (and,
// for large user data, its Secret) holds after provisioning through the real HTTP API.
public abstract class SshKeyAndUserDataTests(DropletsWorld world)
{
    public sealed class OnStandalone(DropletsWorld<StandaloneKind> world) : SshKeyAndUserDataTests(world), IClassFixture<DropletsWorld<StandaloneKind>>;

    public sealed class OnFunctions(DropletsWorld<FunctionsKind> world) : SshKeyAndUserDataTests(world), IClassFixture<DropletsWorld<FunctionsKind>>;

    readonly ApiHost host = world.Host;

    async Task<string> AddKeyAsync(string line, string project, HttpClient? client = null)
    {
        var response = await (client ?? host.Client).PostAsJsonAsync("api/v1/ssh_keys", new { name = "k", public_key = line, project_id = project });
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.Created, json.ToString());
        return json.GetProperty("id").GetString()!;
    }

    static object Droplet(string project, string[]? keys = null, string? userData = null, string name = "web-01") =>
        new { name, image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", project_id = project, ssh_key_ids = keys, user_data = userData };

    JsonObject VirtualMachine(string project, string id) =>
        world.Nyc1.Get("virtualmachines", KubeNames.Namespace(project), id.Replace('_', '-')) ?? throw new InvalidOperationException($"no VM for {id}");

    static JsonObject CloudInitOf(JsonObject vm) =>
        vm["spec"]!["template"]!["spec"]!["volumes"]!.AsArray().Single(v => v!["name"]!.GetValue<string>() == "cloudinitdisk")!["cloudInitNoCloud"]!.AsObject();

    static async Task<JsonElement> AssertValidationAsync(HttpResponseMessage response, string field)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity, $"expected 422, got {(int)response.StatusCode}: {text}");
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal("validation_failed", problem.GetProperty("code").GetString());
        return problem.GetProperty("errors").GetProperty(field);
    }

    [Fact]
    public async Task Keys_are_merged_into_cloud_config_user_data_in_the_virtual_machine()
    {
        var project = Repository.UniqueName("p");
        var alice = await AddKeyAsync(Ed25519.Line, project);
        var bob = await AddKeyAsync(Rsa2048.Line, project);
        const string userData = "#cloud-config\nssh_authorized_keys:\n  - ssh-ed25519 AAAAmine me@home\npackages:\n  - nginx\n";

        var created = await host.CreateDropletAsync(Droplet(project, [alice, bob, alice], userData));

        var id = created.GetProperty("id").GetString()!;
        Assert.Equal([alice, bob], created.GetProperty("ssh_key_ids").EnumerateArray().Select(k => k.GetString()));
        await host.WaitForStatusAsync(id, "running");
        var cloudInit = CloudInitOf(VirtualMachine(project, id));
        Assert.Equal(
            $"#cloud-config\nssh_authorized_keys:\n  - ssh-ed25519 AAAAmine me@home\n  - \"{Ed25519.Line}\"\n  - \"{Rsa2048.Line}\"\npackages:\n  - nginx\nhostname: web-01\n",
            cloudInit["userData"]!.GetValue<string>());
        Assert.Null(cloudInit["secretRef"]);

        // The droplet shows its keys and never its user data.
        var shown = await host.GetDropletAsync(id);
        Assert.Equal([alice, bob], shown.GetProperty("ssh_key_ids").EnumerateArray().Select(k => k.GetString()));
        Assert.False(shown.TryGetProperty("user_data", out _));
        var listed = await host.Client.GetStringAsync($"api/v1/droplets?project_id={project}");
        Assert.DoesNotContain("user_data", listed);
        Assert.DoesNotContain("AAAAmine", listed);
    }

    [Fact]
    public async Task A_script_goes_as_multipart_next_to_the_keys()
    {
        var project = Repository.UniqueName("p");
        var key = await AddKeyAsync(EcdsaP256.Line, project);
        const string script = "#!/bin/sh\necho hello > /tmp/hello\n";

        var id = (await host.CreateDropletAsync(Droplet(project, [key], script))).GetProperty("id").GetString()!;

        await host.WaitForStatusAsync(id, "running");
        var parts = Mime.Parse(CloudInitOf(VirtualMachine(project, id))["userData"]!.GetValue<string>());
        Assert.Equal(2, parts.Count);
        Assert.Equal(script, parts[0].Body);
        Assert.Equal("text/cloud-config", parts[1].ContentType);
        Assert.Contains("merge_how:", parts[1].Body);
        Assert.Contains($"hostname: web-01\nssh_authorized_keys:\n  - \"{EcdsaP256.Line}\"\n", parts[1].Body);
    }

    [Fact]
    public async Task Keys_alone_need_no_user_data()
    {
        var project = Repository.UniqueName("p");
        var key = await AddKeyAsync(Ed25519NoComment.Line, project);

        var id = (await host.CreateDropletAsync(Droplet(project, [key]))).GetProperty("id").GetString()!;

        await host.WaitForStatusAsync(id, "running");
        Assert.Equal($"#cloud-config\nhostname: web-01\nssh_authorized_keys:\n  - \"{Ed25519NoComment.Line.Trim()}\"\n",
            CloudInitOf(VirtualMachine(project, id))["userData"]!.GetValue<string>());
    }

    // KubeVirt refuses inline user data over 2048 bytes (the simulator's webhook does too), so 64 KiB of it goes in a
    // Secret the VirtualMachine owns, and goes with it.
    [Fact]
    public async Task Large_user_data_goes_in_a_secret_that_the_virtual_machine_owns()
    {
        var project = Repository.UniqueName("p");
        var key = await AddKeyAsync(Rsa4096.Line, project);
        var script = new StringBuilder("#!/bin/sh\n");
        while (Encoding.UTF8.GetByteCount(script.ToString()) < 64 * 1024 - 40)
            script.Append("echo 'naïve café ✓'\n");
        var userData = script.ToString();
        userData += new string('#', 64 * 1024 - Encoding.UTF8.GetByteCount(userData)); // exactly 64 KiB of UTF-8
        Assert.Equal(64 * 1024, Encoding.UTF8.GetByteCount(userData));

        var id = (await host.CreateDropletAsync(Droplet(project, [key], userData))).GetProperty("id").GetString()!;

        await host.WaitForStatusAsync(id, "running");
        var ns = KubeNames.Namespace(project);
        var vm = VirtualMachine(project, id);
        var cloudInit = CloudInitOf(vm);
        var secretName = id.Replace('_', '-') + "-cloudinit";
        Assert.Null(cloudInit["userData"]);
        Assert.Equal(secretName, cloudInit["secretRef"]!["name"]!.GetValue<string>());
        var secret = world.Nyc1.Get("secrets", ns, secretName)!;
        var owner = secret["metadata"]!["ownerReferences"]![0]!;
        Assert.Equal("VirtualMachine", owner["kind"]!.GetValue<string>());
        Assert.Equal(vm["metadata"]!["uid"]!.GetValue<string>(), owner["uid"]!.GetValue<string>());
        Assert.Equal(id, secret["metadata"]!["labels"]!["droplets.dev/droplet-id"]!.GetValue<string>());
        var parts = Mime.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(secret["data"]!["userdata"]!.GetValue<string>())));
        Assert.Equal(userData, parts[0].Body);
        Assert.Contains(Rsa4096.Line, parts[1].Body);

        var deleted = await host.Client.DeleteAsync($"api/v1/droplets/{id}");
        Assert.Equal(HttpStatusCode.Accepted, deleted.StatusCode);
        await Eventually.HoldsAsync(() => Task.FromResult(world.Nyc1.Get("secrets", ns, secretName)), s => s is null,
            TimeSpan.FromSeconds(60), "the cloud-init Secret to go with its VirtualMachine");
    }

    [Fact]
    public async Task A_key_deleted_after_the_create_still_reaches_the_droplet()
    {
        var project = Repository.UniqueName("p");
        var key = await AddKeyAsync(EcdsaP521.Line, project);

        var id = (await host.CreateDropletAsync(Droplet(project, [key]))).GetProperty("id").GetString()!;
        Assert.Equal(HttpStatusCode.NoContent, (await host.Client.DeleteAsync($"api/v1/ssh_keys/{key}")).StatusCode);

        await host.WaitForStatusAsync(id, "running");
        Assert.Contains(EcdsaP521.Line, CloudInitOf(VirtualMachine(project, id))["userData"]!.GetValue<string>());
        Assert.Equal([key], (await host.GetDropletAsync(id)).GetProperty("ssh_key_ids").EnumerateArray().Select(k => k.GetString()));
    }

    [Fact]
    public async Task Unknown_and_foreign_key_ids_are_all_named_and_nothing_is_created()
    {
        var mine = Repository.UniqueName("p");
        var theirs = Repository.UniqueName("p");
        var token = (await (await host.Client.PostAsJsonAsync("api/v1/tokens", new { name = "mine", project_ids = new[] { mine }, scope = "write" }))
            .Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString();
        var me = host.ClientWith(token);
        var own = await AddKeyAsync(Ed25519.Line, mine, me);
        var foreign = await AddKeyAsync(Rsa2048.Line, theirs);

        var response = await me.PostAsJsonAsync("api/v1/droplets", Droplet(mine, [own, foreign, "sk_000000000000", "not-a-key-id"]));

        var errors = await AssertValidationAsync(response, "ssh_key_ids");
        Assert.Equal($"unknown SSH key ids: {foreign}, sk_000000000000, not-a-key-id.", Assert.Single(errors.EnumerateArray()).GetString());
        Assert.Equal(0, (await me.GetFromJsonAsync<JsonElement>($"api/v1/droplets?project_id={mine}")).GetArrayLength());
        Assert.Empty(world.Nyc1.List("virtualmachines", KubeNames.Namespace(mine)));

        // A token that sees both projects is told where the key is instead.
        var across = await host.Client.PostAsJsonAsync("api/v1/droplets", Droplet(mine, [own, foreign]));
        var message = Assert.Single((await AssertValidationAsync(across, "ssh_key_ids")).EnumerateArray()).GetString();
        Assert.Equal($"SSH key {foreign} belongs to project '{theirs}'; a droplet in project '{mine}' can use only that project's keys.", message);
    }

    [Fact]
    public async Task Key_errors_are_reported_with_the_other_invalid_fields()
    {
        var response = await host.Client.PostAsJsonAsync("api/v1/droplets",
            new { name = "-bad-", image = "ubuntu-22-04", plan_id = "s-1vcpu-1gb", region = "nyc1", ssh_key_ids = new[] { "sk_000000000000" } });

        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var fields = JsonDocument.Parse(text).RootElement.GetProperty("errors").EnumerateObject().Select(p => p.Name).Order();
        Assert.Equal(["name", "ssh_key_ids"], fields);
    }
}
