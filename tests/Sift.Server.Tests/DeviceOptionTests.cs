using System.Collections;
using Sift.Onnx;
using Sift.Server.Runtime;

namespace Sift.Server.Tests;

/// <summary>The device setting from config and environment, and what a server asked for CUDA on a CPU-only build does.</summary>
public sealed class DeviceOptionTests
{
    [Fact]
    public void Device_and_fp16_come_from_config_and_environment()
    {
        var path = Path.Combine(Path.GetTempPath(), $"sift-serve-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{ "model": "/m/a", "device": "cuda:1", "precision": "fp16" }""");
        try
        {
            var fromFile = ServerOptions.FromJsonFile(path);
            Assert.Equal(ExecutionDevice.Cuda(1), fromFile.Device);
            Assert.Equal(ModelPrecision.Fp16, fromFile.Precision);
            Assert.Equal(ExecutionDevice.Cpu, fromFile.ApplyEnvironment(new Hashtable { ["SIFT_DEVICE"] = "cpu" }).Device);
            var ex = Assert.Throws<SiftException>(() => fromFile.ApplyEnvironment(new Hashtable { ["SIFT_DEVICE"] = "tpu" }));
            Assert.StartsWith("environment: device 'tpu'", ex.Message);
            Assert.Equal(ExecutionDevice.Cpu, new ServerOptions().Device);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Cuda_on_a_cpu_only_build_fails_the_load_with_the_fix_and_health_says_so()
    {
        await using var server = await ServerHarness.StartAsync(ServerHarness.Options(o => o with { Device = ExecutionDevice.Cuda() }), waitReady: false);
        var registry = server.Service<ModelRegistry>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (registry.State == ServerState.Loading && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(ServerState.Failed, registry.State);
        Assert.StartsWith("device cuda:0: ONNX Runtime has no CUDA provider", registry.FailureMessage);
        Assert.Contains("-p:SiftGpu=true", registry.FailureMessage);
        var health = await server.Client.GetAsync("/health");
        Assert.Equal(503, (int)health.StatusCode);
    }
}
