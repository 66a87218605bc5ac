using System.Text.Json.Nodes;

namespace KubeVirt.Simulator.Controllers;

// A MetalLB-like LoadBalancer provider: LoadBalancer services get an ingress IP from LoadBalancerPool.
// Allocations are read back from the services themselves, so deleting a service (or changing its type) frees its IP.
internal sealed class ServiceController(Store store, SimulatorOptions options, EventRecorder events)
{
    // Services already told that the pool is empty; warning again every pass would spin the controller loop.
    readonly HashSet<string> warned = [];

    public void Reconcile()
    {
        var services = store.List(Resources.Services, null).Items;
        warned.IntersectWith(services.Select(s => s.Uid()));
        var used = services.Where(IsLoadBalancer).Select(Ingress).OfType<string>().ToHashSet();
        foreach (var svc in services)
        {
            var ip = Ingress(svc);
            if (!IsLoadBalancer(svc))
            {
                if (svc.Object("status", "loadBalancer", "ingress") is not null)
                {
                    ControllerLoop.Safe(() => SetIngress(svc, null));
                }
                continue;
            }
            if (ip is not null || svc.IsDeleting())
            {
                continue;
            }
            var pool = Cidr.Parse(options.LoadBalancerPool);
            var free = pool.Hosts().FirstOrDefault(h => !used.Contains(h));
            if (free is null)
            {
                if (warned.Add(svc.Uid()))
                {
                    events.Warning(svc, "AllocationFailed", $"Failed to allocate IP for \"{svc.Namespace()}/{svc.Name()}\": no available IPs", Components.LoadBalancer);
                }
                continue;
            }
            used.Add(free);
            warned.Remove(svc.Uid());
            ControllerLoop.Safe(() =>
            {
                SetIngress(svc, free);
                events.Normal(svc, "IPAllocated", $"Assigned IP [\"{free}\"]", Components.LoadBalancer);
            });
        }
    }

    static bool IsLoadBalancer(JsonObject svc) => svc.Str("spec", "type") == "LoadBalancer";

    static string? Ingress(JsonObject svc) => svc.Objects("status", "loadBalancer", "ingress").Select(i => i.Str("ip")).FirstOrDefault(ip => ip is not null);

    void SetIngress(JsonObject svc, string? ip) =>
        store.Update(Resources.Services, svc.Namespace(), svc.Name(), s =>
        {
            var lb = s.Child("status").Child("loadBalancer");
            if (ip is null)
            {
                lb.Remove("ingress");
            }
            else
            {
                lb["ingress"] = new JsonArray(new JsonObject { ["ip"] = ip, ["ipMode"] = "VIP" });
            }
            return s;
        }, UpdateMode.Full);
}
