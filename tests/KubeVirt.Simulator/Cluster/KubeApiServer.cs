using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using k8s;

namespace KubeVirt.Simulator.Cluster;

// A real kube-apiserver on loopback, its own empty cluster: validation, watch, apply, tables, OpenAPI and RBAC
// are Kubernetes' own. All servers of one process share one etcd, each under its own key prefix, so a cluster
// costs one kube-apiserver process (≈ 300 MB, ready in ~2–3 s). The binaries come from KUBEBUILDER_ASSETS (as
// controller-runtime's envtest installs them) or from PATH; scripts/test.sh provides them.
public sealed class KubeApiServer : IAsyncDisposable
{
    static readonly Lazy<Task<Etcd>> SharedEtcd = new(() => Etcd.StartAsync());
    static readonly Lazy<Pki> SharedPki = new(Pki.Create);

    readonly string directory;
    readonly string[] arguments;
    Process process;

    KubeApiServer(Process process, string[] arguments, string directory, Uri baseAddress, string adminToken, string etcdUrl)
    {
        this.process = process;
        this.arguments = arguments;
        this.directory = directory;
        BaseAddress = baseAddress;
        AdminToken = adminToken;
        EtcdUrl = etcdUrl;
    }

    public Uri BaseAddress { get; }

    // Where this server keeps its objects: the process's etcd, under a prefix of its own.
    internal string EtcdUrl { get; }
    internal string EtcdPrefix => "/" + Path.GetFileName(directory);

    // A member of system:masters (everything, no RBAC check): what KubeVirt's own components act as here.
    public string AdminToken { get; }

    public X509Certificate2 CertificateAuthority => SharedPki.Value.Authority;

    public KubernetesClientConfiguration Configuration(string token) => new()
    {
        Host = BaseAddress.ToString(),
        AccessToken = token,
        SslCaCerts = [CertificateAuthority],
    };

    // A handler that trusts this server's certificate and nothing else.
    public static SocketsHttpHandler Handler() => new()
    {
        SslOptions = { RemoteCertificateValidationCallback = SharedPki.Value.Validate },
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = false,
    };

    // An HttpClient that trusts this server's certificate, for calls the generated client does not cover.
    public HttpClient HttpClient(string token)
    {
        var client = new HttpClient(Handler()) { BaseAddress = BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public static async Task<KubeApiServer> StartAsync(CancellationToken cancellationToken = default)
    {
        var etcd = await SharedEtcd.Value;
        var pki = SharedPki.Value;
        var directory = Directory.CreateTempSubdirectory("kube-apiserver-").FullName;
        var adminToken = RandomToken();
        // The one static token; every other identity is a ServiceAccount with its bound tokens (TokenRequest).
        await File.WriteAllTextAsync(Path.Combine(directory, "tokens.csv"), $"{adminToken},admin,1,\"system:masters\"\n", cancellationToken);

        // A port taken between choosing and binding makes the server exit at once: choose again.
        for (var attempt = 1; ; attempt++)
        {
            var port = Ports.Free();
            string[] arguments =
            [
                $"--etcd-servers={etcd.ClientUrl}", $"--etcd-prefix=/{Path.GetFileName(directory)}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", $"--secure-port={port}",
                $"--tls-cert-file={pki.ServerCertificate}", $"--tls-private-key-file={pki.ServerKey}", $"--client-ca-file={pki.AuthorityFile}",
                $"--token-auth-file={Path.Combine(directory, "tokens.csv")}", "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc", $"--service-account-key-file={pki.ServiceAccountPublicKey}",
                $"--service-account-signing-key-file={pki.ServiceAccountKey}", "--service-cluster-ip-range=10.96.0.0/16",
                $"--cert-dir={Path.Combine(directory, "certs")}", "--profiling=false",
            ];
            var process = Start(Binaries.ApiServer, directory, "apiserver.log", arguments);
            var server = new KubeApiServer(process, arguments, directory, new Uri($"https://127.0.0.1:{port}/"), adminToken, etcd.ClientUrl);
            if (await server.ReadyAsync(cancellationToken))
                return server;
            await server.StopAsync();
            if (attempt == 3)
                throw new InvalidOperationException($"kube-apiserver did not become ready; see {Path.Combine(directory, "apiserver.log")}");
        }
    }

    // Ready once /readyz says "ok" (etcd reachable, CRD and RBAC bootstrap done); false when the process died.
    async Task<bool> ReadyAsync(CancellationToken cancellationToken)
    {
        using var http = HttpClient(AdminToken);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            try
            {
                using var response = await http.GetAsync("readyz", cancellationToken);
                if (response.IsSuccessStatusCode)
                    return true;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100, cancellationToken);
        }
        return false;
    }

    // The process is killed (SIGKILL, as when its node fails): every connection to it breaks, its watch cache is gone.
    public async Task KillProcessAsync()
    {
        process.Kill();
        await process.WaitForExitAsync();
    }

    // False once killed (and not started again): such a server goes back to no pool.
    internal bool Running => !process.HasExited;

    // A killed server starts again on the same address over the same etcd data, its watch cache rebuilt from etcd: a
    // watch from a resourceVersion older than the cache's start (or than etcd's compaction) is answered 410 Gone.
    public async Task StartProcessAsync(CancellationToken cancellationToken = default)
    {
        if (!process.HasExited)
            throw new InvalidOperationException("The API server is running.");
        for (var attempt = 1; ; attempt++)
        {
            process = Start(Binaries.ApiServer, directory, "apiserver.log", arguments);
            if (await ReadyAsync(cancellationToken))
                return;
            await StopAsync();
            if (attempt == 3)
                throw new InvalidOperationException($"kube-apiserver did not start again; see {Path.Combine(directory, "apiserver.log")}");
        }
    }

    // Compacts the process's etcd (every server's keys) up to its current revision, as kube-apiserver does every five
    // minutes: the history before it is gone, so a watch from an older resourceVersion can only be answered 410 Gone.
    public async Task<long> CompactEtcdAsync(CancellationToken cancellationToken = default)
    {
        using var http = new HttpClient();
        var status = await http.PostAsync($"{EtcdUrl}/v3/maintenance/status", new StringContent("{}"), cancellationToken);
        status.EnsureSuccessStatusCode();
        var revision = System.Text.Json.Nodes.JsonNode.Parse(await status.Content.ReadAsStringAsync(cancellationToken))!["header"]!["revision"]!.GetValue<string>();
        var compaction = await http.PostAsync($"{EtcdUrl}/v3/kv/compaction",
            new StringContent($"{{\"revision\":\"{revision}\",\"physical\":true}}"), cancellationToken);
        compaction.EnsureSuccessStatusCode();
        return long.Parse(revision, System.Globalization.CultureInfo.InvariantCulture);
    }

    // At process exit, where nothing may be awaited: SIGKILL without waiting, then the folder (certificates, token
    // file, log).
    internal void Kill() => process.Kill();

    internal void DeleteFolder() => Directory.Delete(directory, recursive: true);

    async Task StopAsync()
    {
        if (!process.HasExited)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
        process.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    static Process Start(string binary, string directory, string log, params string[] arguments)
    {
        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        var process = Process.Start(start)!;
        var writer = TextWriter.Synchronized(new StreamWriter(Path.Combine(directory, log), append: true) { AutoFlush = true });
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) writer.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) writer.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }


    static string RandomToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));

    // Where kube-apiserver and etcd are: the folder KUBEBUILDER_ASSETS names, else PATH.
    static class Binaries
    {
        public static string ApiServer { get; } = Find("kube-apiserver");
        public static string Etcd { get; } = Find("etcd");

        static string Find(string name)
        {
            var folders = new[] { Environment.GetEnvironmentVariable("KUBEBUILDER_ASSETS") }
                .Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
                .Where(f => !string.IsNullOrEmpty(f));
            return folders.Select(f => Path.Combine(f!, name)).FirstOrDefault(File.Exists)
                ?? throw new InvalidOperationException(
                    $"No {name}: set KUBEBUILDER_ASSETS to a folder holding kube-apiserver and etcd, put them on PATH, or run scripts/test.sh once (it prepares them from ../shared/kube-apiserver).");
        }
    }

    // One etcd for the whole process, stopped when the process exits; its data lives in a temporary folder.
    sealed class Etcd
    {
        Etcd(string clientUrl) => ClientUrl = clientUrl;

        public string ClientUrl { get; }

        public static async Task<Etcd> StartAsync()
        {
            for (var attempt = 1; ; attempt++)
            {
                var directory = Directory.CreateTempSubdirectory("etcd-").FullName;
                var (client, peer) = (Ports.Free(), Ports.Free());
                var clientUrl = $"http://127.0.0.1:{client}";
                var peerUrl = $"http://127.0.0.1:{peer}";
                var process = Start(Binaries.Etcd, directory, "etcd.log",
                    "--data-dir", Path.Combine(directory, "data"), "--name", "test",
                    "--listen-client-urls", clientUrl, "--advertise-client-urls", clientUrl,
                    "--listen-peer-urls", peerUrl, "--initial-advertise-peer-urls", peerUrl, "--initial-cluster", $"test={peerUrl}",
                    "--unsafe-no-fsync", "--quota-backend-bytes", "4294967296");
                AppDomain.CurrentDomain.ProcessExit += (_, _) =>
                {
                    if (!process.HasExited)
                        process.Kill();
                    try
                    {
                        Directory.Delete(directory, recursive: true);
                    }
                    catch (IOException)
                    {
                    }
                };
                using var http = new HttpClient();
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while (DateTime.UtcNow < deadline && !process.HasExited)
                {
                    try
                    {
                        if ((await http.GetStringAsync($"{clientUrl}/health")).Contains("\"health\":\"true\"", StringComparison.Ordinal))
                            return new Etcd(clientUrl);
                    }
                    catch (HttpRequestException)
                    {
                    }
                    await Task.Delay(100);
                }
                if (!process.HasExited)
                    process.Kill();
                if (attempt == 3)
                    throw new InvalidOperationException($"etcd did not become healthy; see {Path.Combine(directory, "etcd.log")}");
            }
        }
    }

    // A test CA, the API server's certificate for 127.0.0.1 / localhost, and the ServiceAccount signing key, made
    // once per process in a temporary folder.
    sealed class Pki
    {
        public required X509Certificate2 Authority { get; init; }
        public required string AuthorityFile { get; init; }
        public required string ServerCertificate { get; init; }
        public required string ServerKey { get; init; }
        public required string ServiceAccountKey { get; init; }
        public required string ServiceAccountPublicKey { get; init; }

        public static Pki Create()
        {
            var directory = Directory.CreateTempSubdirectory("kube-pki-").FullName;
            var now = DateTimeOffset.UtcNow;
            using var authorityKey = RSA.Create(2048);
            var authorityRequest = new CertificateRequest("CN=droplets-test-ca", authorityKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            authorityRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            authorityRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            var authority = authorityRequest.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));

            using var serverKey = RSA.Create(2048);
            var serverRequest = new CertificateRequest("CN=kube-apiserver", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            names.AddDnsName("localhost");
            names.AddDnsName("kubernetes.default.svc");
            serverRequest.CertificateExtensions.Add(names.Build());
            serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
            using var server = serverRequest.Create(authority, now.AddDays(-1), now.AddYears(1), RandomNumberGenerator.GetBytes(16));

            using var serviceAccountKey = RSA.Create(2048);
            var pki = new Pki
            {
                Authority = X509CertificateLoader.LoadCertificate(authority.RawData),
                AuthorityFile = Path.Combine(directory, "ca.crt"),
                ServerCertificate = Path.Combine(directory, "apiserver.crt"),
                ServerKey = Path.Combine(directory, "apiserver.key"),
                ServiceAccountKey = Path.Combine(directory, "sa.key"),
                ServiceAccountPublicKey = Path.Combine(directory, "sa.pub"),
            };
            File.WriteAllText(pki.AuthorityFile, authority.ExportCertificatePem());
            File.WriteAllText(pki.ServerCertificate, server.ExportCertificatePem());
            File.WriteAllText(pki.ServerKey, serverKey.ExportPkcs8PrivateKeyPem());
            File.WriteAllText(pki.ServiceAccountKey, serviceAccountKey.ExportPkcs8PrivateKeyPem());
            File.WriteAllText(pki.ServiceAccountPublicKey, serviceAccountKey.ExportSubjectPublicKeyInfoPem());
            authority.Dispose();
            return pki;
        }

        // The server's certificate must chain to this CA and name the host.
        public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, System.Net.Security.SslPolicyErrors errors)
        {
            if (certificate is null || (errors & System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
                return false;
            using var custom = new X509Chain();
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.Add(Authority);
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return custom.Build(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
        }
    }
}
