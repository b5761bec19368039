using System.Diagnostics;
using System.Text.Json;
using Sift.Onnx;
using Sift.Testing;

namespace Sift.Server.Tests;

/// <summary>
/// The real Cohere JS SDK (npm <c>cohere-ai</c>, pinned in js/package.json, installed by .ci/run with <c>npm ci</c>)
/// against the server on a loopback port: v2 rerank, v1 rerank with <c>rankFields</c>, and an error. Never skipped:
/// without node or the package the test fails and says how to install them.
/// </summary>
public sealed class CohereSdkTests
{
    private static string JsDir => Path.Combine(TestPaths.RepoRoot, "tests", "Sift.Server.Tests", "js");

    [Fact]
    public async Task Cohere_js_sdk_v1_v2_and_rank_fields_work_unchanged()
    {
        Assert.True(Directory.Exists(Path.Combine(JsDir, "node_modules", "cohere-ai")),
            $"the Cohere JS SDK is not installed: run `npm ci --prefix {JsDir}` (.ci/run does it)");
        var (app, baseUri) = await HostingTests.StartKestrelAsync(ServerHarness.Options());
        await using (app)
        {
            var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = JsDir };
            psi.ArgumentList.Add("cohere-sdk.mjs");
            psi.ArgumentList.Add(baseUri.ToString().TrimEnd('/'));
            psi.ArgumentList.Add("ce-bert-tiny");
            Process p;
            try
            {
                p = Process.Start(psi)!;
            }
            catch (System.ComponentModel.Win32Exception ex)
            {
                throw new Xunit.Sdk.XunitException("node is not on PATH (install Node.js 18+; .ci/run installs it): " + ex.Message);
            }
            using (p)
            {
                var stdout = p.StandardOutput.ReadToEndAsync();
                var stderr = p.StandardError.ReadToEndAsync();
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                await p.WaitForExitAsync(timeout.Token);
                Assert.True(p.ExitCode == 0, $"node exited {p.ExitCode}: {await stderr}");
                var result = JsonDocument.Parse(await stdout).RootElement;

                using var library = CrossEncoder.Load(ServerHarness.Tiny, new CrossEncoderOptions { IntraOpThreads = 1 });
                var v2 = result.GetProperty("v2").EnumerateArray().ToList();
                Assert.Equal(2, v2.Count);
                var docs = new[] { "BM25 is a ranking function used by search engines.", "Paris is the capital of France." };
                foreach (var r in v2)
                {
                    Assert.Equal(library.Score("what is bm25", docs[r.GetProperty("index").GetInt32()]), r.GetProperty("score").GetSingle(), 1e-5f);
                }
                Assert.Equal("2", result.GetProperty("v2_api_version").GetString());

                var v1 = result.GetProperty("v1_rank_fields").EnumerateArray().ToList();
                Assert.Equal(2, v1.Count);
                var composed = new[] { "title: BM25\nbody: a ranking function used by search engines", "title: Paris\nbody: the capital of France" };
                foreach (var r in v1)
                {
                    var i = r.GetProperty("index").GetInt32();
                    Assert.Equal(library.Score("what is bm25", composed[i]), r.GetProperty("score").GetSingle(), 1e-5f);
                }

                var error = result.GetProperty("error");
                Assert.Equal(404, error.GetProperty("status").GetInt32());
                Assert.Contains("no-such-model", error.GetProperty("message").GetString());
            }
        }
    }
}
