using System.Net;
using System.Net.Sockets;

namespace KubeVirt.Simulator.Cluster;

// Ports for processes that must be told theirs before they bind (etcd, kube-apiserver, the hosts under test). A port
// the OS hands out for :0 comes from the ephemeral range, where every outgoing connection of the run (hundreds, with
// API servers and their watches) also takes its local port, so one could be taken before the process binds it. These
// come from below that range instead (20000–32767, under Linux's default 32768), each handed out once per process
// and free when chosen.
public static class Ports
{
    const int First = 20000;
    const int Last = 32767;
    static readonly HashSet<int> Given = [];

    public static int Free()
    {
        lock (Given)
        {
            for (var attempt = 0; attempt < 1000; attempt++)
            {
                var port = Random.Shared.Next(First, Last + 1);
                if (Given.Contains(port) || !Bindable(port))
                    continue;
                Given.Add(port);
                return port;
            }
        }
        throw new InvalidOperationException($"No free loopback port between {First} and {Last}.");
    }

    static bool Bindable(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
