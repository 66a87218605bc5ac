using System.Text.Json.Nodes;

namespace KubeVirt.Simulator;

// KubeVirt's rules for hotplug volumes, shared by virt-api (addvolume/removevolume) and virt-controller: how a volume
// request edits a VMI spec (controller.ApplyVolumeRequestOnVMISpec), what virt-api refuses (verifyVolumeOption), and
// which volume and disk changes count as live (vm.go validLiveUpdateVolumes / validLiveUpdateDisks).
internal static class HotplugVolumes
{
    public const string Gate = "HotplugVolumes";
    public const string DeclarativeGate = "DeclarativeHotplugVolumes";
    public const string Add = "addVolumeOptions";
    public const string Remove = "removeVolumeOptions";

    public static bool IsHotplug(JsonObject? volume) =>
        volume.Bool("persistentVolumeClaim", "hotpluggable") == true || volume.Bool("dataVolume", "hotpluggable") == true;

    // The claim behind a PVC or DataVolume volume (a DataVolume's PVC carries its name).
    public static string? ClaimName(JsonObject? volume) =>
        volume.Str("dataVolume", "name") ?? volume.Str("persistentVolumeClaim", "claimName");

    public static string? RequestName(JsonObject request) =>
        request.Str(Add, "name") ?? request.Str(Remove, "name");

    public static List<JsonObject> Volumes(JsonObject? spec) => spec.Objects("volumes").ToList();

    public static List<JsonObject> Disks(JsonObject? spec) => spec.Objects("domain", "devices", "disks").ToList();

    // Adds the volume (hotpluggable) and its disk unless a volume of that name exists; removes both by volume name.
    public static void Apply(JsonObject spec, JsonObject request)
    {
        var volumes = Volumes(spec);
        var disks = Disks(spec);
        if (request.Object(Add) is { } add)
        {
            var name = add.Str("name");
            if (volumes.Any(v => v.Str("name") == name))
            {
                return;
            }
            var volume = new JsonObject { ["name"] = name };
            foreach (var kind in new[] { "persistentVolumeClaim", "dataVolume" })
            {
                if (add.Object("volumeSource", kind) is { } source)
                {
                    var copy = source.Clone();
                    copy["hotpluggable"] = true;
                    volume[kind] = copy;
                    break;
                }
            }
            volumes.Add(volume);
            if (add.Object("disk") is { } disk)
            {
                var copy = disk.Clone();
                copy["name"] = name;
                disks.Add(copy);
            }
        }
        else if (request.Str(Remove, "name") is { } name)
        {
            if (volumes.RemoveAll(v => v.Str("name") == name) + disks.RemoveAll(d => d.Str("name") == name) == 0)
            {
                return;
            }
        }
        else
        {
            return;
        }
        spec["volumes"] = Json.Array(volumes.Select(v => (JsonNode)v.Clone()));
        spec.Child("domain").Child("devices")["disks"] = Json.Array(disks.Select(d => (JsonNode)d.Clone()));
    }

    // virt-api's verifyVolumeOption: the reason a request cannot apply to this spec, or null.
    public static string? Verify(JsonObject? spec, JsonObject request)
    {
        var volumes = Volumes(spec);
        if (request.Object(Add) is { } add)
        {
            var name = add.Str("name");
            var source = add.Str("volumeSource", "dataVolume", "name") ?? add.Str("volumeSource", "persistentVolumeClaim", "claimName") ?? "";
            foreach (var volume in volumes)
            {
                if (volume.Str("name") == name)
                {
                    return $"Unable to add volume [{name}] because volume with that name already exists";
                }
                if (ClaimName(volume) == source)
                {
                    return $"Unable to add volume source [{source}] because it already exists";
                }
            }
            return null;
        }
        var removed = request.Str(Remove, "name");
        var found = volumes.FirstOrDefault(v => v.Str("name") == removed || ClaimName(v) == removed);
        if (found is null)
        {
            return $"Unable to remove volume [{removed}] because it does not exist";
        }
        return IsHotplug(found) ? null : $"Unable to remove volume [{found.Str("name")}] because it is not hotpluggable";
    }

    // True once the spec shows the request: an added volume and its disk are there, a removed one is gone from both.
    public static bool Reflects(JsonObject? spec, JsonObject request)
    {
        var name = RequestName(request);
        var volume = Volumes(spec).Any(v => v.Str("name") == name);
        var disk = Disks(spec).Any(d => d.Str("name") == name);
        return request[Add] is not null ? volume && disk : !volume && !disk;
    }

    // Hotplug volumes may come, go or change; any other volume must be the same as in the spec the VMI started from.
    public static bool LiveVolumes(JsonObject? lastSeen, JsonObject? current)
    {
        var old = Volumes(lastSeen).ToDictionary(v => v.Str("name") ?? "");
        foreach (var volume in Volumes(current))
        {
            var name = volume.Str("name") ?? "";
            if (!IsHotplug(volume) && (!old.TryGetValue(name, out var before) || !SameJson(before, volume)))
            {
                return false;
            }
            old.Remove(name);
        }
        return old.Values.All(IsHotplug);
    }

    // The same for disks: those of hotplug volumes are free, the others must not change.
    public static bool LiveDisks(JsonObject? lastSeen, JsonObject? current)
    {
        var oldDisks = Disks(lastSeen).ToDictionary(d => d.Str("name") ?? "");
        var oldVolumes = Volumes(lastSeen).ToDictionary(v => v.Str("name") ?? "");
        var volumes = Volumes(current).ToDictionary(v => v.Str("name") ?? "");
        foreach (var disk in Disks(current))
        {
            var name = disk.Str("name") ?? "";
            if (!IsHotplug(volumes.GetValueOrDefault(name)) && (!oldDisks.TryGetValue(name, out var before) || !SameJson(before, disk)))
            {
                return false;
            }
            oldDisks.Remove(name);
        }
        return oldDisks.Keys.All(name => IsHotplug(oldVolumes.GetValueOrDefault(name)));
    }

    // Go's semantic equality: absent and null fields are the same thing, key order does not matter.
    public static bool SameJson(JsonNode? a, JsonNode? b) => JsonNode.DeepEquals(Normalize(a), Normalize(b));

    static JsonNode? Normalize(JsonNode? node) => node switch
    {
        JsonObject obj => new JsonObject(obj.Where(kv => kv.Value is not null).OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => KeyValuePair.Create(kv.Key, Normalize(kv.Value)))),
        JsonArray array => new JsonArray(array.Select(Normalize).ToArray()),
        _ => node?.DeepClone(),
    };
}
