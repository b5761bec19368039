using Microsoft.ML.OnnxRuntime;
using Sift.Testing;

namespace Sift.Onnx.Tests;

/// <summary>
/// Runs only where a CUDA GPU is usable (the GPU build of ONNX Runtime, the CUDA 13 libraries and a GPU); skipped, with
/// the reason, everywhere else. `benchmarks/gpu/run.sh` runs the same checks on the full DL19 candidates.
/// </summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute()
    {
        if (CudaProvider.Diagnose(OrtEnv.Instance().GetAvailableProviders(), lib => System.Runtime.InteropServices.NativeLibrary.TryLoad(lib, out _)) is { } why)
        {
            Skip = "GPU execution is not tested here: " + why;
        }
    }
}

public class DeviceTests
{
    [Theory]
    [InlineData("cpu", DeviceKind.Cpu, 0)]
    [InlineData("CPU", DeviceKind.Cpu, 0)]
    [InlineData("cuda", DeviceKind.Cuda, 0)]
    [InlineData(" cuda:1 ", DeviceKind.Cuda, 1)]
    [InlineData("gpu", DeviceKind.Cuda, 0)]
    public void ParsesDevices(string text, DeviceKind kind, int index)
    {
        var d = ExecutionDevice.Parse(text);
        Assert.Equal(new ExecutionDevice(kind, index), d);
        Assert.Equal(kind == DeviceKind.Cpu ? "cpu" : $"cuda:{index}", d.ToString());
    }

    [Theory]
    [InlineData("tpu")]
    [InlineData("cuda:")]
    [InlineData("cuda:-1")]
    [InlineData("cuda:x")]
    [InlineData("")]
    public void RejectsOtherDevicesNamingTheValidForms(string text)
    {
        var ex = Assert.Throws<SiftException>(() => ExecutionDevice.Parse(text));
        Assert.Contains("cpu, cuda, cuda:N", ex.Message);
    }

    [Fact]
    public void CudaWithTheCpuOnlyRuntimeSaysHowToGetTheGpuBuild()
    {
        // The test projects reference the CPU package (Microsoft.ML.OnnxRuntime): it has no CUDA provider.
        Assert.DoesNotContain(CudaProvider.ProviderName, OrtEnv.Instance().GetAvailableProviders());
        var ex = Assert.Throws<SiftException>(() => CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), new CrossEncoderOptions { Device = ExecutionDevice.Cuda() }));
        Assert.StartsWith("device cuda:0: ONNX Runtime has no CUDA provider", ex.Message);
        Assert.Contains("-p:SiftGpu=true", ex.Message);
        Assert.Contains("--device cpu", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);

        var bi = Assert.Throws<SiftException>(() => BiEncoder.Load(TestPaths.Fixture("bi-bert-tiny"), new BiEncoderOptions { Device = ExecutionDevice.Cuda(1) }));
        Assert.StartsWith("device cuda:1:", bi.Message);
    }

    [Fact]
    public void DiagnosisNamesWhatIsMissing()
    {
        string[] gpuBuild = ["CUDAExecutionProvider", "CPUExecutionProvider"];
        Assert.Contains("no CUDA provider", CudaProvider.Diagnose(["CPUExecutionProvider"], _ => true));
        Assert.Null(CudaProvider.Diagnose(gpuBuild, _ => true));

        var noDriver = CudaProvider.Diagnose(gpuBuild, _ => false);
        Assert.Contains("NVIDIA driver", noDriver);
        Assert.Contains("nvidia-smi", noDriver);

        var noCuda = CudaProvider.Diagnose(gpuBuild, lib => lib is "libcuda.so.1" or "libcurand.so.10");
        Assert.Contains("libcudart.so.13 (the CUDA 13 runtime)", noCuda);
        Assert.Contains("libcublas.so.13", noCuda);
        Assert.DoesNotContain("libcurand", noCuda);
        Assert.Contains("LD_LIBRARY_PATH", noCuda);
    }

    [Fact]
    public void DeviceCountDiagnosis()
    {
        Assert.Null(CudaProvider.DiagnoseDeviceCount(0, 1, 0));
        Assert.Contains("no CUDA-capable device", CudaProvider.DiagnoseDeviceCount(0, 0, 100));
        var tooHigh = CudaProvider.DiagnoseDeviceCount(2, 1, 0);
        Assert.Contains("GPU 2 was asked for but 1 is visible", tooHigh);
        Assert.Contains("cuda:0", tooHigh);
    }

    [Fact]
    public void CudaTurnsOffTheCpuKernelsAndBatchesByTokens()
    {
        var o = new CrossEncoderOptions { Device = ExecutionDevice.Cuda() }.ResolveThreading();
        Assert.Equal(CrossEncoderOptions.DefaultCudaBatchTokens, o.MaxBatchTokens);
        Assert.Null(new CrossEncoderOptions().ResolveThreading().MaxBatchTokens);
        Assert.Equal(1000, (new CrossEncoderOptions { Device = ExecutionDevice.Cuda(), MaxBatchTokens = 1000 }).ResolveThreading().MaxBatchTokens);
        Assert.Throws<ArgumentOutOfRangeException>(() => CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), new CrossEncoderOptions { MaxBatchTokens = 0 }));
    }

    [CudaFact]
    public void CudaLogitsMatchCpu()
    {
        var pairs = References.Pairs;
        var expected = References.Logits("ce-bert-tiny", "ort_fp32_logits");
        using var fp32 = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), new CrossEncoderOptions { Device = ExecutionDevice.Cuda(), BatchSize = 256 });
        using var fp16 = CrossEncoder.Load(TestPaths.Fixture("ce-bert-tiny"), new CrossEncoderOptions { Device = ExecutionDevice.Cuda(), BatchSize = 256, Precision = ModelPrecision.Fp16 });
        Assert.True(fp32.UsesIoBinding);
        Assert.Contains("cuda:0", fp32.AttentionPath);
        var a = fp32.PredictLogits(pairs);
        var b = fp16.PredictLogits(pairs);
        for (var i = 0; i < pairs.Count; i++)
        {
            Assert.Equal(expected[i][0], a[i][0], 1e-3);
            Assert.Equal(expected[i][0], b[i][0], 1e-2);
        }
    }
}
