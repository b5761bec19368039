using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Sift.Testing;

namespace Sift.Cli.Tests;

/// <summary>
/// <c>sift serve</c> as a real process: SIGTERM with requests in flight drains for longer than System.CommandLine's
/// 2 s termination timeout, answers new requests 503 with Retry-After meanwhile, and exits 0 (issue 15: it exited 143
/// and refused connections).
/// </summary>
public sealed class ServeSignalTests
{
    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    private sealed class GatedContent(string head, string tail, Task gate) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes(head));
            await stream.FlushAsync();
            await gate;
            await stream.WriteAsync(Encoding.UTF8.GetBytes(tail));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    [Fact]
    public async Task Sigterm_under_load_drains_answers_503_and_exits_0()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return; // POSIX signals
        var port = FreePort();
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sift.dll"));
        foreach (var a in new[] { "serve", "--model", TestPaths.Fixture("ce-bert-tiny"), "--host", "127.0.0.1", "--port", port.ToString(), "--threads", "1" })
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["SIFT_CACHE"] = Path.Combine(Path.GetTempPath(), "sift-cli-tests-empty-cache");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (true)
            {
                if (p.HasExited) Assert.Fail("sift serve exited early: " + await stderr);
                try
                {
                    using var h = await client.GetAsync("/health");
                    if (h.StatusCode == HttpStatusCode.OK) break;
                }
                catch (HttpRequestException)
                {
                }
                Assert.True(DateTime.UtcNow < deadline, "sift serve never became healthy");
                await Task.Delay(100);
            }

            // Three requests in flight, their bodies held back until after the signal.
            var release = new TaskCompletionSource();
            var texts = JsonSerializer.Serialize(Enumerable.Range(0, 20).Select(i => "document number " + i).ToArray());
            var inflight = Enumerable.Range(0, 3)
                .Select(_ => client.PostAsync("/rerank", new GatedContent("{\"query\": \"drain\", ", "\"texts\": " + texts + "}", release.Task)))
                .ToList();
            await Task.Delay(500);

            var signalled = Stopwatch.StartNew();
            Assert.Equal(0, kill(p.Id, 15));
            await Task.Delay(300);
            using (var during = await client.PostAsync("/rerank", new StringContent("{\"query\":\"q\",\"texts\":[\"a\"]}")))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, during.StatusCode);
                Assert.NotNull(during.Headers.RetryAfter);
                var body = JsonDocument.Parse(await during.Content.ReadAsStringAsync()).RootElement;
                Assert.Equal("shutting_down", body.GetProperty("code").GetString());
            }
            using (var health = await client.GetAsync("/health"))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode); // load balancers take it out
            }

            // Past System.CommandLine's 2 s process termination timeout: still draining, still alive.
            while (signalled.Elapsed < TimeSpan.FromSeconds(3)) await Task.Delay(50);
            if (p.HasExited) Assert.Fail($"the process ended during the drain (exit code {p.ExitCode}): {await stderr}");
            release.SetResult();
            foreach (var r in await Task.WhenAll(inflight))
            {
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
                Assert.Equal(20, JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetArrayLength());
                r.Dispose();
            }
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(30)), "sift serve did not exit after draining");
            if (p.ExitCode != 0) Assert.Fail($"exit code {p.ExitCode}; stderr: {await stderr}");
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            _ = await stdout;
        }
    }
}
