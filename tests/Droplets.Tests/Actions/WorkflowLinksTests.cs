using Droplets.Actions;

namespace Droplets.Tests.Actions;

// The Functions host links Durable's management URLs; their system key must never reach API callers.
public sealed class WorkflowLinksTests
{
    const string Base = "https://droplets.example/runtime/webhooks/durabletask/instances/action-act_123";

    [Fact]
    public void Durable_links_keep_every_parameter_but_the_key()
    {
        var header = WorkflowLinks.Header(
            $"{Base}?taskHub=droplets&connection=Storage&code=SECRETKEY==",
            $"{Base}/terminate?reason={{text}}&taskHub=droplets&connection=Storage&code=SECRETKEY==");

        Assert.Equal(
            $"<{Base}?taskHub=droplets&connection=Storage>; rel=\"durable-status\", " +
            $"<{Base}/terminate?reason={{text}}&taskHub=droplets&connection=Storage>; rel=\"durable-terminate\"",
            header);
        Assert.DoesNotContain("SECRETKEY", header, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("?code=k", "")]
    [InlineData("?Code=k&taskHub=h", "?taskHub=h")]
    [InlineData("", "")]
    [InlineData("?taskHub=h&codec=x", "?taskHub=h&codec=x")]
    public void Only_the_code_parameter_is_removed(string query, string expected)
    {
        var header = WorkflowLinks.Header(Base + query, Base + query);
        Assert.StartsWith($"<{Base}{expected}>;", header, StringComparison.Ordinal);
    }
}
