using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace KubeVirt.Simulator;

// What a /api or /apis path points at once parsed.
internal sealed record ApiPath(ResourceType Type, string? Namespace, string? Name, string? Subresource);

// The generic Kubernetes REST surface: discovery, CRUD, patch, watch, and Status errors.
internal sealed class KubernetesApi(Store store, Subresources subresources)
{
    public void Map(WebApplication app)
    {
        app.MapGet("/version", context => Write(context, 200, Discovery.Version()));
        foreach (var pattern in new[] { "/api", "/api/{**rest}", "/apis", "/apis/{**rest}" })
        {
            app.Map(pattern, Handle);
        }
    }

    async Task Handle(HttpContext context)
    {
        try
        {
            await Dispatch(context);
        }
        catch (ApiException e)
        {
            if (!context.Response.HasStarted)
            {
                await Write(context, e.Code, e.ToStatus());
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
        }
    }

    async Task Dispatch(HttpContext context)
    {
        var request = context.Request;
        var segments = request.Path.Value!.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        var method = request.Method;

        // Discovery documents.
        JsonObject? discovery = segments switch
        {
            ["api"] => Discovery.CoreVersions(),
            ["api", var v] => Discovery.ResourceList("", v),
            ["apis"] => Discovery.GroupList(),
            ["apis", var g] => Discovery.Group(g),
            ["apis", var g, var v] => Discovery.ResourceList(g, v),
            _ => null,
        };
        if (segments.Length <= (segments[0] == "api" ? 2 : 3))
        {
            if (discovery is null)
            {
                throw NotFoundPath();
            }
            RequireMethod(method, "GET");
            await Write(context, 200, discovery);
            return;
        }

        var (group, version, rest) = segments[0] == "api" ? ("", segments[1], segments[2..]) : (segments[1], segments[2], segments[3..]);
        if (group == Discovery.SubresourceGroup)
        {
            if (version != "v1" || rest is not ["namespaces", var sns, var splural, var sname, .. var action] || action.Length == 0)
            {
                throw NotFoundPath();
            }
            await subresources.Handle(context, sns, splural, sname, string.Join('/', action));
            return;
        }

        var path = Parse(group, version, rest) ?? throw NotFoundPath();
        var query = request.Query;
        switch (method, path.Name, path.Subresource)
        {
            case ("GET", null, null) when IsTrue(query["watch"]):
                await Watch(context, path);
                break;
            case ("GET", null, null):
                await Write(context, 200, List(context, path));
                break;
            case ("GET", not null, _):
                {
                    var obj = store.Get(path.Type, path.Namespace, path.Name) ?? throw Errors.NotFound(path.Type.GroupResource, path.Name);
                    await Write(context, 200, Tables.Wanted(request)
                        ? Tables.Build(path.Type, [obj], new JsonObject { ["resourceVersion"] = obj.Str("metadata", "resourceVersion") })
                        : obj);
                    break;
                }
            case ("POST", null, null):
                await Create(context, path);
                break;
            case ("PUT", not null, null or "status"):
                await Replace(context, path);
                break;
            case ("PATCH", not null, null or "status"):
                await PatchObject(context, path);
                break;
            case ("DELETE", not null, null):
                await Delete(context, path);
                break;
            case ("DELETE", null, null):
                await DeleteCollection(context, path);
                break;
            default:
                throw Errors.MethodNotAllowed();
        }
    }

    static ApiPath? Parse(string group, string version, string[] rest)
    {
        ResourceType? Type(string plural) => Resources.Find(group, version, plural);
        return rest switch
        {
            ["namespaces", var name, "status"] when group.Length == 0 => new ApiPath(Resources.Namespaces, null, name, "status"),
            ["namespaces", var ns, var plural, .. var tail] when Type(plural) is { Namespaced: true } t => tail switch
            {
                [] => new ApiPath(t, ns, null, null),
                [var name] => new ApiPath(t, ns, name, null),
                [var name, "status"] when t.HasStatus => new ApiPath(t, ns, name, "status"),
                _ => null,
            },
            [var plural] when Type(plural) is { } t => new ApiPath(t, null, null, null),
            [var plural, var name] when Type(plural) is { Namespaced: false } t => new ApiPath(t, null, name, null),
            [var plural, var name, "status"] when Type(plural) is { Namespaced: false, HasStatus: true } t => new ApiPath(t, null, name, "status"),
            _ => null,
        };
    }

    JsonObject List(HttpContext context, ApiPath path)
    {
        var query = context.Request.Query;
        var labels = LabelSelector.Parse(query["labelSelector"]);
        var fields = FieldSelector.Parse(path.Type, query["fieldSelector"]);
        var (all, rv) = store.List(path.Type, path.Namespace);
        var items = all.Where(o => labels.Matches(o) && fields.Matches(o)).ToList();

        // Continue tokens carry the last key returned; items are sorted by namespace/name so the next page starts after it.
        string? token = query["continue"];
        if (!string.IsNullOrEmpty(token))
        {
            string after;
            try
            {
                after = Encoding.UTF8.GetString(Convert.FromBase64String(token));
            }
            catch (FormatException)
            {
                throw Errors.BadRequest("continue key is not valid: illegal base64 data");
            }
            items = items.Where(o => string.CompareOrdinal(Key(o), after) > 0).ToList();
        }
        var metadata = new JsonObject { ["resourceVersion"] = rv.ToString(CultureInfo.InvariantCulture) };
        if (long.TryParse(query["limit"], out var limit) && limit > 0 && items.Count > limit)
        {
            var remaining = items.Count - (int)limit;
            items = items.Take((int)limit).ToList();
            metadata["continue"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(Key(items[^1])));
            metadata["remainingItemCount"] = remaining;
        }
        if (Tables.Wanted(context.Request))
        {
            return Tables.Build(path.Type, items, metadata);
        }
        return new JsonObject
        {
            ["apiVersion"] = path.Type.ApiVersion,
            ["kind"] = path.Type.Kind + "List",
            ["metadata"] = metadata,
            ["items"] = Json.Array(items),
        };

        static string Key(JsonObject o) => o.Namespace() + "/" + o.Name();
    }

    async Task Watch(HttpContext context, ApiPath path)
    {
        var query = context.Request.Query;
        var labels = LabelSelector.Parse(query["labelSelector"]);
        var fields = FieldSelector.Parse(path.Type, query["fieldSelector"]);
        var timeout = int.TryParse(query["timeoutSeconds"], out var seconds) && seconds > 0 ? TimeSpan.FromSeconds(seconds) : TimeSpan.FromMinutes(30);
        using var watcher = store.Watch(path.Type, path.Namespace, query["resourceVersion"]);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        cts.CancelAfter(timeout);

        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        await context.Response.StartAsync(cts.Token);
        try
        {
            foreach (var e in watcher.Initial)
            {
                await Send(e);
            }
            await context.Response.Body.FlushAsync(cts.Token);
            await foreach (var e in watcher.Channel.Reader.ReadAllAsync(cts.Token))
            {
                await Send(e);
                await context.Response.Body.FlushAsync(cts.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // Timeout or client gone: a watch simply ends.
        }

        async Task Send(WatchEvent e)
        {
            if (!labels.Matches(e.Object) || !fields.Matches(e.Object))
            {
                return;
            }
            var line = new JsonObject { ["type"] = e.Type, ["object"] = e.Object }.ToJsonString(Json.Compact) + "\n";
            await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(line), cts.Token);
        }
    }

    async Task Create(HttpContext context, ApiPath path)
    {
        if (path.Type.ReadOnly)
        {
            throw Errors.MethodNotAllowed();
        }
        var obj = await ReadObject(context);
        var meta = obj.Meta();
        if (path.Type.Namespaced)
        {
            var bodyNs = meta.Str("namespace");
            if (!string.IsNullOrEmpty(bodyNs) && bodyNs != path.Namespace)
            {
                throw Errors.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
            }
            if (path.Namespace is null)
            {
                throw Errors.MethodNotAllowed();
            }
            meta["namespace"] = path.Namespace;
        }
        CheckKind(path.Type, obj);
        Validation.Name(path.Type, obj);
        if (path.Type.Namespaced && !store.Exists(Resources.Namespaces, null, path.Namespace!))
        {
            throw Errors.NotFound("namespaces", path.Namespace!);
        }
        if (IsDryRun(context))
        {
            Validation.Admit(path.Type, obj, store);
            await Write(context, 201, obj);
            return;
        }
        var created = store.Create(path.Type, obj, o => Validation.Admit(path.Type, o, store));
        await Write(context, 201, created);
    }

    async Task Replace(HttpContext context, ApiPath path)
    {
        if (path.Type.ReadOnly)
        {
            throw Errors.MethodNotAllowed();
        }
        var obj = await ReadObject(context);
        var name = obj.Str("metadata", "name");
        if (name != path.Name)
        {
            throw Errors.BadRequest($"the name of the object ({name}) does not match the name on the URL ({path.Name})");
        }
        CheckKind(path.Type, obj);
        if (path.Type.IsCustom && string.IsNullOrEmpty(obj.Str("metadata", "resourceVersion")))
        {
            throw Errors.Invalid(path.Type.GroupKind, path.Name!, "metadata.resourceVersion", "FieldValueInvalid", "Invalid value: 0x0: must be specified for an update");
        }
        var mode = path.Subresource == "status" ? UpdateMode.Status : UpdateMode.Main;
        var updated = Commit(context, path, current =>
        {
            Validation.AdmitUpdate(path.Type, current, obj, store);
            return obj;
        }, mode);
        await Write(context, 200, updated);
    }

    async Task PatchObject(HttpContext context, ApiPath path)
    {
        if (path.Type.ReadOnly)
        {
            throw Errors.MethodNotAllowed();
        }
        var contentType = (context.Request.ContentType ?? "").Split(';')[0].Trim().ToLowerInvariant();
        var body = await ReadJson(context);
        Func<JsonObject, JsonNode?> apply = contentType switch
        {
            "application/merge-patch+json" => current => Patch.Merge(current, body),
            // Core types accept strategic merge; treating it as a merge patch is close enough for metadata and scalars.
            "application/strategic-merge-patch+json" when !path.Type.IsCustom => current => Patch.Merge(current, body),
            "application/json-patch+json" => current => body is JsonArray ops ? Patch.Apply(current, ops) : throw Errors.BadRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
            _ => throw Errors.UnsupportedMediaType(!path.Type.IsCustom),
        };
        var mode = path.Subresource == "status" ? UpdateMode.Status : UpdateMode.Main;
        var updated = Commit(context, path, current =>
        {
            var patched = apply(current) as JsonObject ?? throw Errors.BadRequest("the patch did not produce an object");
            Validation.AdmitUpdate(path.Type, current, patched, store);
            return patched;
        }, mode);
        await Write(context, 200, updated);
    }

    JsonObject Commit(HttpContext context, ApiPath path, Func<JsonObject, JsonObject> change, UpdateMode mode)
    {
        if (IsDryRun(context))
        {
            var current = store.Get(path.Type, path.Namespace, path.Name!) ?? throw Errors.NotFound(path.Type.GroupResource, path.Name!);
            return change(current);
        }
        return store.Update(path.Type, path.Namespace, path.Name!, change, mode);
    }

    async Task Delete(HttpContext context, ApiPath path)
    {
        var orphan = await IsOrphan(context);
        if (IsDryRun(context))
        {
            await Write(context, 200, store.Get(path.Type, path.Namespace, path.Name!) ?? throw Errors.NotFound(path.Type.GroupResource, path.Name!));
            return;
        }
        var deleted = path.Type == Resources.Namespaces
            ? store.DeleteNamespace(path.Name!)
            : store.Delete(path.Type, path.Namespace, path.Name!, orphan);
        await Write(context, 200, deleted);
    }

    async Task DeleteCollection(HttpContext context, ApiPath path)
    {
        var orphan = await IsOrphan(context);
        var labels = LabelSelector.Parse(context.Request.Query["labelSelector"]);
        var fields = FieldSelector.Parse(path.Type, context.Request.Query["fieldSelector"]);
        var deleted = new List<JsonObject>();
        foreach (var obj in store.List(path.Type, path.Namespace).Items.Where(o => labels.Matches(o) && fields.Matches(o)))
        {
            try
            {
                deleted.Add(path.Type == Resources.Namespaces ? store.DeleteNamespace(obj.Name()) : store.Delete(path.Type, obj.Namespace(), obj.Name(), orphan));
            }
            catch (ApiException e) when (e.Code == 404)
            {
            }
        }
        await Write(context, 200, new JsonObject
        {
            ["apiVersion"] = path.Type.ApiVersion,
            ["kind"] = path.Type.Kind + "List",
            ["metadata"] = new JsonObject { ["resourceVersion"] = store.ResourceVersion.ToString(CultureInfo.InvariantCulture) },
            ["items"] = Json.Array(deleted),
        });
    }

    // propagationPolicy comes from the query or a DeleteOptions body; Foreground is treated like Background.
    static async Task<bool> IsOrphan(HttpContext context)
    {
        string? policy = context.Request.Query["propagationPolicy"];
        if (context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            var body = await ReadJson(context, allowEmpty: true);
            policy = body.Str("propagationPolicy") ?? policy;
            if (body.Bool("orphanDependents") == true)
            {
                policy = "Orphan";
            }
        }
        if (policy is not (null or "" or "Orphan" or "Background" or "Foreground"))
        {
            throw Errors.BadRequest($"propagationPolicy: Unsupported value: \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\"");
        }
        return policy == "Orphan";
    }

    static void CheckKind(ResourceType type, JsonObject obj)
    {
        var kind = obj.Str("kind");
        var apiVersion = obj.Str("apiVersion");
        if ((kind is not null && kind != type.Kind) || (apiVersion is not null && apiVersion != type.ApiVersion))
        {
            throw Errors.BadRequest($"the API version in the data ({apiVersion}) does not match the expected API version ({type.ApiVersion})");
        }
    }

    static bool IsDryRun(HttpContext context) => context.Request.Query["dryRun"] == "All";

    static bool IsTrue(string? value) => value is "true" or "1";

    static void RequireMethod(string method, string expected)
    {
        if (method != expected)
        {
            throw Errors.MethodNotAllowed();
        }
    }

    static ApiException NotFoundPath() => new(404, "NotFound", "the server could not find the requested resource", new JsonObject());

    static async Task<JsonObject> ReadObject(HttpContext context) =>
        await ReadJson(context) as JsonObject ?? throw Errors.BadRequest("Object 'Kind' is missing in the request body: expected a JSON object");

    internal static async Task<JsonNode?> ReadJson(HttpContext context, bool allowEmpty = false)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var text = await reader.ReadToEndAsync(context.RequestAborted);
        if (string.IsNullOrWhiteSpace(text))
        {
            return allowEmpty ? null : throw Errors.BadRequest("the request body is empty");
        }
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException e)
        {
            throw Errors.BadRequest($"couldn't get version/kind; json parse error: {e.Message}");
        }
    }

    internal static async Task Write(HttpContext context, int code, JsonNode body)
    {
        context.Response.StatusCode = code;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(Json.Compact), context.RequestAborted);
    }
}
