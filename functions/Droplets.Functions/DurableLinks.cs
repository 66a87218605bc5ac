using Droplets.Actions;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Microsoft.Net.Http.Headers;

namespace Droplets.Functions;

// Durable Functions' own management URLs (status query, terminate) for the workflow behind an accepted
// operation, as a Link header next to Operation-Location. See WorkflowLinks for why the key is removed.
static class DurableLinks
{
    public static IResult Add(HttpContext context, DurableTaskClient workflows, IResult result)
    {
        if (WorkflowLinks.InstanceId(context) is { } instanceId
            && workflows.CreateHttpManagementPayload(instanceId) is { StatusQueryGetUri: { } status, TerminatePostUri: { } terminate })
        {
            context.Response.Headers.Append(HeaderNames.Link, WorkflowLinks.Header(status, terminate));
        }
        return result;
    }
}
