using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Sift.Testing;

namespace Sift.Onnx.Tests;

/// <summary>
/// <c>sift model pull</c> against a real HTTP server on loopback that serves a fixture directory with the
/// Hugging Face hub's URL layout (tree API + resolve URLs, LFS sha256 and git blob sha1 checksums, Range requests).
/// </summary>
public sealed class ModelHubTests : IDisposable
{
    private readonly string _tmp = Directory.CreateTempSubdirectory("sift-hub-").FullName;
    private readonly FakeHub _hub;

    public ModelHubTests() => _hub = new FakeHub(TestPaths.Fixture("ce-bert-tiny"), "test-org/ce-bert-tiny");

    public void Dispose()
    {
        _hub.Dispose();
        Directory.Delete(_tmp, recursive: true);
    }

    [Fact]
    public async Task PullDownloadsVerifiesAndLoads()
    {
        var hub = new ModelHub(endpoint: _hub.Endpoint);
        var reports = new List<DownloadProgress>();
        var dir = await hub.PullAsync("test-org/ce-bert-tiny", targetDir: Path.Combine(_tmp, "m"), progress: new SyncProgress(reports.Add));

        foreach (var f in new[] { "config.json", "tokenizer.json", "vocab.txt", "onnx/model.onnx", "onnx/model_quantized.onnx" })
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(TestPaths.Fixture("ce-bert-tiny"), f)), File.ReadAllBytes(Path.Combine(dir, f)));
        }
        Assert.False(File.Exists(Path.Combine(dir, "pytorch_model.bin")));
        Assert.NotEmpty(reports);
        Assert.Equal(reports[^1].BytesTotal, reports[^1].BytesDone);

        using var pulled = CrossEncoder.Load(dir);
        using var original = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"));
        Assert.Equal(original.Score("q", "a passage"), pulled.Score("q", "a passage"));
    }

    [Fact]
    public async Task PullResumesAPartialFileWithARangeRequest()
    {
        var target = Path.Combine(_tmp, "r");
        var onnx = File.ReadAllBytes(Path.Combine(TestPaths.Fixture("ce-bert-tiny"), "onnx", "model.onnx"));
        Directory.CreateDirectory(Path.Combine(target, "onnx"));
        File.WriteAllBytes(Path.Combine(target, "onnx", "model.onnx.part"), onnx[..(onnx.Length / 2)]);

        await new ModelHub(endpoint: _hub.Endpoint).PullAsync("test-org/ce-bert-tiny", precisions: [ModelPrecision.Fp32], targetDir: target);

        Assert.Equal(onnx, File.ReadAllBytes(Path.Combine(target, "onnx", "model.onnx")));
        Assert.Contains(_hub.RangeRequests, r => r.Path.EndsWith("model.onnx", StringComparison.Ordinal) && r.From == onnx.Length / 2);
        Assert.False(File.Exists(Path.Combine(target, "onnx", "model.onnx.part")));
    }

    [Fact]
    public async Task SecondPullSkipsVerifiedFiles()
    {
        var target = Path.Combine(_tmp, "s");
        var hub = new ModelHub(endpoint: _hub.Endpoint);
        await hub.PullAsync("test-org/ce-bert-tiny", targetDir: target);
        var served = _hub.FileRequests;
        await hub.PullAsync("test-org/ce-bert-tiny", targetDir: target);
        Assert.Equal(served, _hub.FileRequests);
    }

    [Fact]
    public async Task CorruptDownloadIsRetriedThenRejected()
    {
        _hub.CorruptFirst = "vocab.txt";
        var target = Path.Combine(_tmp, "c");
        await new ModelHub(endpoint: _hub.Endpoint).PullAsync("test-org/ce-bert-tiny", targetDir: target);
        Assert.Equal(File.ReadAllBytes(Path.Combine(TestPaths.Fixture("ce-bert-tiny"), "vocab.txt")), File.ReadAllBytes(Path.Combine(target, "vocab.txt")));

        _hub.CorruptAlways = "tokenizer.json";
        var ex = await Assert.ThrowsAsync<SiftException>(() => new ModelHub(endpoint: _hub.Endpoint).PullAsync("test-org/ce-bert-tiny", targetDir: Path.Combine(_tmp, "c2")));
        Assert.Contains("checksum", ex.Message);
    }

    [Fact]
    public async Task UnknownRepositoryIsAClearError()
    {
        var ex = await Assert.ThrowsAsync<SiftException>(() => new ModelHub(endpoint: _hub.Endpoint).PullAsync("nobody/nothing", targetDir: Path.Combine(_tmp, "n")));
        Assert.Contains("nobody/nothing", ex.Message);
    }

    private sealed class SyncProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }

    /// <summary>Serves a directory with the hub's URL layout: /api/models/{repo}/tree/{rev} and /{repo}/resolve/{rev}/{path}.</summary>
    private sealed class FakeHub : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly string _root;
        private readonly string _repo;
        private readonly Task _loop;

        public FakeHub(string root, string repo)
        {
            _root = root;
            _repo = repo;
            var port = FreePort();
            Endpoint = $"http://127.0.0.1:{port}/";
            _listener.Prefixes.Add(Endpoint);
            _listener.Start();
            _loop = Task.Run(Loop);
        }

        public string Endpoint { get; }
        public List<(string Path, long From)> RangeRequests { get; } = [];
        public int FileRequests;
        public string? CorruptFirst { get; set; }
        public string? CorruptAlways { get; set; }

        private async Task Loop()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext ctx;
                try { ctx = await _listener.GetContextAsync(); }
                catch (Exception) { return; }
                try { Handle(ctx); }
                catch (Exception) { ctx.Response.StatusCode = 500; }
                finally { ctx.Response.Close(); }
            }
        }

        private void Handle(HttpListenerContext ctx)
        {
            var path = Uri.UnescapeDataString(ctx.Request.Url!.AbsolutePath);
            if (path == $"/api/models/{_repo}/tree/main")
            {
                // Extra weights a reranker does not need, to check they are skipped.
                var files = Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories).Select(f =>
                {
                    var rel = Path.GetRelativePath(_root, f).Replace('\\', '/');
                    var bytes = File.ReadAllBytes(f);
                    var lfs = rel.EndsWith(".onnx", StringComparison.Ordinal);
                    return new Dictionary<string, object?>
                    {
                        ["type"] = "file", ["path"] = rel, ["size"] = bytes.LongLength, ["oid"] = GitOid(bytes),
                        ["lfs"] = lfs ? new { oid = Convert.ToHexStringLower(SHA256.HashData(bytes)), size = bytes.LongLength, pointerSize = 134 } : null,
                    };
                }).Append(new Dictionary<string, object?> { ["type"] = "file", ["path"] = "pytorch_model.bin", ["size"] = 10L, ["oid"] = "00", ["lfs"] = new { oid = "00", size = 10 } })
                  .Append(new Dictionary<string, object?> { ["type"] = "directory", ["path"] = "onnx", ["size"] = 0L, ["oid"] = "00" });
                Write(ctx, 200, JsonSerializer.SerializeToUtf8Bytes(files), "application/json");
                return;
            }
            var prefix = $"/{_repo}/resolve/main/";
            if (!path.StartsWith(prefix, StringComparison.Ordinal))
            {
                Write(ctx, 404, Encoding.UTF8.GetBytes("{\"error\":\"Repository not found\"}"), "application/json");
                return;
            }
            var rel2 = path[prefix.Length..];
            var file = Path.Combine(_root, rel2);
            if (!File.Exists(file)) { Write(ctx, 404, [], "text/plain"); return; }
            Interlocked.Increment(ref FileRequests);
            var data = File.ReadAllBytes(file);
            if (rel2 == CorruptAlways || rel2 == CorruptFirst)
            {
                if (rel2 == CorruptFirst) CorruptFirst = null;
                data = (byte[])data.Clone();
                data[0] ^= 0xFF;
            }
            var range = ctx.Request.Headers["Range"];
            if (range is not null && range.StartsWith("bytes=", StringComparison.Ordinal))
            {
                var from = long.Parse(range["bytes=".Length..].TrimEnd('-'));
                lock (RangeRequests) RangeRequests.Add((rel2, from));
                ctx.Response.AddHeader("Content-Range", $"bytes {from}-{data.Length - 1}/{data.Length}");
                Write(ctx, 206, data[(int)from..], "application/octet-stream");
                return;
            }
            Write(ctx, 200, data, "application/octet-stream");
        }

        private static void Write(HttpListenerContext ctx, int status, byte[] body, string type)
        {
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = type;
            ctx.Response.ContentLength64 = body.Length;
            ctx.Response.OutputStream.Write(body);
        }

        private static string GitOid(byte[] bytes)
        {
            var header = Encoding.ASCII.GetBytes($"blob {bytes.Length}\0");
            return Convert.ToHexStringLower(SHA1.HashData([.. header, .. bytes]));
        }

        private static int FreePort()
        {
            using var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            return ((IPEndPoint)l.LocalEndpoint).Port;
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            try { _loop.Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
        }
    }
}
