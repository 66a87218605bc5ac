using Droplets.KubeVirt;
using Droplets.Tests.Infrastructure;

namespace Droplets.Tests.Droplets;

// The user data a droplet boots with. The expected documents were also loaded with PyYAML and the MIME
// messages parsed with Python's email package (what cloud-init uses) when these tests were written.
public class CloudInitTests
{
    const string Alice = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ8X2Q9burX9kIvdzJ4sIjHVexJ3dsr2WtBvhkzKL7np alice@example";
    const string Bob = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCa bob \"the builder\" \\o/";
    static readonly string[] Keys = [Alice, Bob];
    const string AliceItem = "\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ8X2Q9burX9kIvdzJ4sIjHVexJ3dsr2WtBvhkzKL7np alice@example\"";
    const string BobItem = "\"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCa bob \\\"the builder\\\" \\\\o/\"";

    [Fact]
    public void Without_user_data_the_hostname_and_keys()
    {
        Assert.Equal($"#cloud-config\nhostname: web-01\nssh_authorized_keys:\n  - {AliceItem}\n  - {BobItem}\n", CloudInit.UserData("web-01", Keys, null));
        Assert.Equal("#cloud-config\nhostname: web-01\n", CloudInit.UserData("web-01", [], ""));
    }

    [Theory]
    [InlineData("no", "\"no\"")]
    [InlineData("On", "\"On\"")]
    [InlineData("null", "\"null\"")]
    [InlineData("123", "\"123\"")]
    [InlineData("0x1f", "\"0x1f\"")]
    [InlineData("web-01", "web-01")]
    [InlineData("nope", "nope")]
    public void A_hostname_yaml_would_misread_is_quoted(string name, string scalar) =>
        Assert.Equal($"#cloud-config\nhostname: {scalar}\n", CloudInit.UserData(name, [], null));

    public static TheoryData<string, string, string> Merges => new()
    {
        {
            "no ssh_authorized_keys: the list and hostname are added at the end",
            "#cloud-config\npackages:\n  - nginx\nruncmd:\n  - [systemctl, enable, nginx]\n",
            $"#cloud-config\npackages:\n  - nginx\nruncmd:\n  - [systemctl, enable, nginx]\nhostname: web-01\nssh_authorized_keys:\n  - {AliceItem}\n  - {BobItem}\n"
        },
        {
            "an existing list: ours follow its last item, at its indentation",
            "#cloud-config\nssh_authorized_keys:\n    - ssh-ed25519 AAAAmine me@home  # my laptop\n    - ssh-rsa AAAAother\nruncmd:\n  - echo hi\n",
            $"#cloud-config\nssh_authorized_keys:\n    - ssh-ed25519 AAAAmine me@home  # my laptop\n    - ssh-rsa AAAAother\n    - {AliceItem}\n    - {BobItem}\nruncmd:\n  - echo hi\nhostname: web-01\n"
        },
        {
            "items at the key's own indentation, with a comment among them",
            "#cloud-config\nssh_authorized_keys:\n- ssh-ed25519 AAAAone\n# the second one\n- ssh-ed25519 AAAAtwo\npackages: [git]\n",
            $"#cloud-config\nssh_authorized_keys:\n- ssh-ed25519 AAAAone\n# the second one\n- ssh-ed25519 AAAAtwo\n- {AliceItem}\n- {BobItem}\npackages: [git]\nhostname: web-01\n"
        },
        {
            "an empty (null) list and the caller's own hostname",
            "#cloud-config\nssh_authorized_keys:   # filled in by Droplets\nhostname: mine\n",
            $"#cloud-config\nssh_authorized_keys:   # filled in by Droplets\n  - {AliceItem}\n  - {BobItem}\nhostname: mine\n"
        },
        {
            "look-alikes inside block scalars are content, not keys; a block-scalar item keeps its '#' line",
            "#cloud-config\nwrite_files:\n  - path: /etc/motd\n    content: |\n      ssh_authorized_keys:\n      # not a comment\n      - fake\nssh_authorized_keys:\n  - |\n    ssh-ed25519 AAAAblock\n    # part of the scalar\nfinal_message: done\n",
            $"#cloud-config\nwrite_files:\n  - path: /etc/motd\n    content: |\n      ssh_authorized_keys:\n      # not a comment\n      - fake\nssh_authorized_keys:\n  - |\n    ssh-ed25519 AAAAblock\n    # part of the scalar\n  - {AliceItem}\n  - {BobItem}\nfinal_message: done\nhostname: web-01\n"
        },
        {
            "the last line has no line break",
            "#cloud-config\nssh_authorized_keys:\n  - ssh-ed25519 AAAAlast",
            $"#cloud-config\nssh_authorized_keys:\n  - ssh-ed25519 AAAAlast\n  - {AliceItem}\n  - {BobItem}\nhostname: web-01\n"
        },
        {
            "CRLF line breaks are kept and used for what is added",
            "#cloud-config\r\nssh_authorized_keys:\r\n  - ssh-ed25519 AAAAcrlf\r\npackages:\r\n  - git\r\n",
            $"#cloud-config\r\nssh_authorized_keys:\r\n  - ssh-ed25519 AAAAcrlf\r\n  - {AliceItem}\r\n  - {BobItem}\r\npackages:\r\n  - git\r\nhostname: web-01\r\n"
        },
        {
            "a top level indented as a whole, and a quoted key",
            "#cloud-config\n  \"ssh_authorized_keys\":\n    - ssh-ed25519 AAAAq\n  packages: [git]\n",
            $"#cloud-config\n  \"ssh_authorized_keys\":\n    - ssh-ed25519 AAAAq\n    - {AliceItem}\n    - {BobItem}\n  packages: [git]\n  hostname: web-01\n"
        },
        {
            "a document start marker and a case-insensitive, indented header",
            "\n  #Cloud-Config\n--- # the only document\nruncmd: [ls, \"a, b]\"]\nfqdn: web.example.com\n",
            $"\n  #Cloud-Config\n--- # the only document\nruncmd: [ls, \"a, b]\"]\nfqdn: web.example.com\nssh_authorized_keys:\n  - {AliceItem}\n  - {BobItem}\n"
        },
        {
            "an inline list of someone else's is left alone when there are no keys to add",
            "#cloud-config\nssh_authorized_keys: [\"ssh-ed25519 AAAAflow\"]\n",
            "#cloud-config\nssh_authorized_keys: [\"ssh-ed25519 AAAAflow\"]\nhostname: web-01\n"
        },
    };

    [Theory]
    [MemberData(nameof(Merges))]
    public void Cloud_config_is_merged_line_by_line(string what, string userData, string expected)
    {
        var keys = userData.Contains("AAAAflow", StringComparison.Ordinal) ? [] : Keys;

        var merged = CloudInit.UserData("web-01", keys, userData);

        Assert.True(expected == merged, $"{what}\nexpected:\n{expected}\ngot:\n{merged}");
        Assert.Equal(CloudInit.Format.CloudConfig, CloudInit.Classify(merged));
    }

    public static TheoryData<string, string> Unmergeable => new()
    {
        { "a flow list", "#cloud-config\nssh_authorized_keys: [\"ssh-ed25519 AAAAflow\"]\n" },
        { "an anchored list", "#cloud-config\nssh_authorized_keys: &keys\n  - ssh-ed25519 AAAAanchor\n" },
        { "an alias", "#cloud-config\nmine: &k [a]\nssh_authorized_keys: *k\n" },
        { "the key twice", "#cloud-config\nssh_authorized_keys:\n  - a\nssh_authorized_keys:\n  - b\n" },
        { "a mapping under the key", "#cloud-config\nssh_authorized_keys:\n  rsa: ssh-rsa AAAA\n" },
        { "two documents", "#cloud-config\na: 1\n---\nb: 2\n" },
        { "a document end marker", "#cloud-config\na: 1\n...\n" },
        { "a directive", "%YAML 1.1\n#cloud-config\n---\na: 1\n" },
        { "a flow collection left open", "#cloud-config\nruncmd: [ls,\n  pwd]\n" },
        { "a quoted scalar left open", "#cloud-config\nbootcmd: \"echo\n  hi\"\n" },
        { "a top-level flow mapping", "#cloud-config\n{runcmd: [ls]}\n" },
        { "a top-level list", "#cloud-config\n- a\n- b\n" },
        { "tab indentation", "#cloud-config\nruncmd:\n\t- ls\n" },
        { "a lone CR line break", "#cloud-config\rruncmd:\r  - ls\r" },
        { "a Unicode line separator", "#cloud-config\nruncmd:\u2028  - ls\n" },
        { "a complex key", "#cloud-config\n? a\n: b\n" },
    };

    // What the line merge cannot be sure of goes as MIME, where cloud-init's own merging (merge_how) joins the
    // caller's config and ours: lists appended, nothing the caller set replaced.
    [Theory]
    [MemberData(nameof(Unmergeable))]
    public void Cloud_config_the_line_merge_cannot_read_goes_as_multipart(string what, string userData)
    {
        Assert.Null(CloudInit.MergeIntoCloudConfig(userData, "web-01", Keys));

        var parts = Mime.Parse(CloudInit.UserData("web-01", Keys, userData));

        Assert.True(parts.Count == 2, what);
        Assert.Equal(userData, parts[0].Body);
        Assert.Equal("text/plain", parts[0].ContentType);
        Assert.Equal("text/cloud-config", parts[1].ContentType);
        Assert.StartsWith("#cloud-config\nmerge_how:\n  - name: list\n    settings: [append]\n  - name: dict\n    settings: [no_replace, recurse_list]\n", parts[1].Body);
        Assert.EndsWith($"hostname: web-01\nssh_authorized_keys:\n  - {AliceItem}\n  - {BobItem}\n", parts[1].Body);
    }

    [Theory]
    [InlineData("#!/bin/sh\necho hello > /tmp/hello\n", "7bit")]
    [InlineData("#!/bin/bash\necho 'héllo wörld ✓'", "base64")]
    [InlineData("#cloud-boothook\n#!/bin/sh\necho boot\n", "7bit")]
    [InlineData("#include\nhttps://example.com/config.yaml\n", "7bit")]
    [InlineData("## template: jinja\n#cloud-config\nruncmd:\n  - echo {{ v1.instance_id }}\n", "7bit")]
    [InlineData("#cloud-config-archive\n- type: text/cloud-config\n  content: |\n    runcmd: [ls]\n", "7bit")]
    [InlineData("#cloud-config-jsonp\n[{\"op\": \"add\", \"path\": \"/a\", \"value\": 1}]\n", "7bit")]
    [InlineData("#!/bin/sh\r\necho windows line breaks\r\n", "base64")]
    [InlineData("plain text cloud-init will not run\n", "7bit")]
    public void Other_user_data_is_the_first_part_unchanged(string userData, string encoding)
    {
        var document = CloudInit.UserData("web-01", Keys, userData);

        var parts = Mime.Parse(document);
        Assert.Equal(2, parts.Count);
        Assert.Equal(userData, parts[0].Body);
        Assert.Equal("text/plain", parts[0].ContentType);
        Assert.Equal(encoding, parts[0].Headers["Content-Transfer-Encoding"]);
        Assert.Contains($"  - {AliceItem}\n", parts[1].Body);
        Assert.Equal(document, CloudInit.UserData("web-01", Keys, userData)); // deterministic
    }

    [Fact]
    public void Mime_user_data_is_nested_with_its_own_headers()
    {
        const string userData = "Content-Type: multipart/mixed; boundary=\"XYZ\"\nMIME-Version: 1.0\n\n--XYZ\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho mime\n--XYZ--\n";
        Assert.Equal(CloudInit.Format.Mime, CloudInit.Classify(userData));

        var parts = Mime.Parse(CloudInit.UserData("web-01", Keys, userData));

        Assert.Equal("multipart/mixed", parts[0].ContentType);
        Assert.Equal(userData, parts[0].Raw);
        Assert.Equal("text/cloud-config", parts[1].ContentType);
    }

    [Fact]
    public void Mime_is_recognised_as_cloud_init_does_in_the_first_4096_bytes()
    {
        Assert.Equal(CloudInit.Format.Mime, CloudInit.Classify("#!/bin/sh\n# MIME-Version: 1.0\n"));
        Assert.Equal(CloudInit.Format.Other, CloudInit.Classify("#!/bin/sh\n" + new string('#', 4096) + "\nMIME-Version: 1.0\n"));
        Assert.Equal(CloudInit.Format.Other, CloudInit.Classify("#cloud-config-archive\n"));
        Assert.Equal(CloudInit.Format.CloudConfig, CloudInit.Classify(" \n#CLOUD-CONFIG\n"));
    }
}
