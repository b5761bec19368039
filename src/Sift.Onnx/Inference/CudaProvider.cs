using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace Sift.Onnx;

/// <summary>
/// Appends ONNX Runtime's CUDA execution provider to session options, after checking everything it needs so a missing
/// piece is one clear <see cref="SiftException"/> instead of a native crash or an opaque ONNX Runtime message:
/// the GPU build of ONNX Runtime (the CPU package has no CUDA provider), the driver and CUDA libraries, and the GPU.
/// </summary>
internal static class CudaProvider
{
    public const string ProviderName = "CUDAExecutionProvider";

    /// <summary>
    /// What <c>libonnxruntime_providers_cuda.so</c> of Microsoft.ML.OnnxRuntime.Gpu.Linux 1.32.0 links against
    /// (<c>readelf -d</c>: its NEEDED entries besides libc/libstdc++). It does not link cuDNN, so cuDNN is not required
    /// for transformer encoders. Update this list with the ONNX Runtime version.
    /// </summary>
    public static readonly IReadOnlyList<(string Library, string What)> RequiredLibraries =
    [
        ("libcuda.so.1", "the NVIDIA driver"),
        ("libcudart.so.13", "the CUDA 13 runtime"),
        ("libcublas.so.13", "cuBLAS 13"),
        ("libcublasLt.so.13", "cuBLASLt 13"),
        ("libcurand.so.10", "cuRAND 10"),
    ];

    private const string CpuOnlyFix =
        "This Sift was built with the CPU-only ONNX Runtime (Microsoft.ML.OnnxRuntime). Build it with the GPU package: " +
        "`dotnet publish src/Sift.Cli -c Release -p:SiftGpu=true` (an app references Sift.Onnx.Gpu instead), or use --device cpu.";

    private static readonly Lazy<string?> ProcessDiagnosis = new(() =>
        Diagnose(OrtEnv.Instance().GetAvailableProviders(), CanLoad));

    /// <summary>
    /// Why CUDA cannot work here (null when it can, as far as can be told without a session): the provider is not in
    /// <paramref name="providers"/>, or a library in <see cref="RequiredLibraries"/> does not load.
    /// </summary>
    internal static string? Diagnose(IReadOnlyCollection<string> providers, Func<string, bool> canLoad)
    {
        if (!providers.Contains(ProviderName))
        {
            return $"ONNX Runtime has no CUDA provider (available: {string.Join(", ", providers)}). {CpuOnlyFix}";
        }
        var missing = RequiredLibraries.Where(l => !canLoad(l.Library)).ToList();
        if (missing.Count == 0) return null;
        if (missing[0].Library == "libcuda.so.1")
        {
            return "the NVIDIA driver is not installed (libcuda.so.1 does not load): run on a machine with an NVIDIA GPU and its driver " +
                   "(check with `nvidia-smi`; in a container, start it with the GPU exposed, e.g. `docker run --gpus all`), or use --device cpu.";
        }
        return $"CUDA libraries are missing: {string.Join(", ", missing.Select(m => $"{m.Library} ({m.What})"))}. ONNX Runtime 1.32's CUDA provider " +
               "needs the CUDA 13 runtime, cuBLAS and cuRAND: install them (the CUDA 13 toolkit, or its runtime libraries) and put their folder " +
               "on LD_LIBRARY_PATH, or use --device cpu.";
    }

    /// <summary>Why GPU <paramref name="index"/> cannot be used given <paramref name="count"/> visible GPUs (null: it can).</summary>
    internal static string? DiagnoseDeviceCount(int index, int count, int cudaError) => cudaError != 0
        ? $"CUDA reports no usable GPU (cudaGetDeviceCount error {cudaError}{(cudaError == 100 ? ": no CUDA-capable device is detected" : "")}). " +
          "Check `nvidia-smi` and CUDA_VISIBLE_DEVICES, or use --device cpu."
        : index >= count
            ? $"GPU {index} was asked for but {count} {(count == 1 ? "is" : "are")} visible (indexes 0..{count - 1}); check CUDA_VISIBLE_DEVICES, or pass --device cuda:0."
            : null;

    /// <summary>Appends the CUDA provider for <paramref name="device"/>; throws <see cref="SiftException"/> saying what is missing.</summary>
    public static void Append(SessionOptions options, ExecutionDevice device)
    {
        if (ProcessDiagnosis.Value is { } why) throw Error(device, why);
        var count = DeviceCount(out var error);
        if (DiagnoseDeviceCount(device.Index, count, error) is { } bad) throw Error(device, bad);
        using var cuda = new OrtCUDAProviderOptions();
        try
        {
            cuda.UpdateOptions(new Dictionary<string, string>
            {
                ["device_id"] = device.Index.ToString(System.Globalization.CultureInfo.InvariantCulture),
                // TF32 matmuls round inputs to 10 mantissa bits: fp32 logits would drift ~1e-3 from the CPU's. fp16 models
                // do not use TF32 anyway; fp32 on a GPU is the "exact" choice, so keep it exact.
                ["use_tf32"] = "0",
            });
            options.AppendExecutionProvider_CUDA(cuda);
        }
        catch (OnnxRuntimeException ex)
        {
            throw Error(device, $"ONNX Runtime could not start its CUDA provider ({ex.Message.Trim()}). Check the CUDA 13 libraries " +
                                $"({string.Join(", ", RequiredLibraries.Select(l => l.Library))}) and `nvidia-smi`, or use --device cpu.", ex);
        }
    }

    /// <summary>The message for an ONNX Runtime failure when a session with the CUDA provider is created or run.</summary>
    public static SiftException SessionError(ExecutionDevice device, string onnxPath, OnnxRuntimeException ex) => Error(device,
        $"ONNX Runtime could not create a CUDA session for {onnxPath} ({ex.Message.Trim()}). A GPU out of memory or a CUDA/driver " +
        "version mismatch shows here: check `nvidia-smi` (the driver must support CUDA 13), or use --device cpu.", ex);

    private static SiftException Error(ExecutionDevice device, string why, Exception? inner = null) =>
        inner is null ? new($"device {device}: {why}") : new($"device {device}: {why}", inner);

    private static bool CanLoad(string library)
    {
        if (!NativeLibrary.TryLoad(library, out var handle)) return false;
        // Left loaded on purpose: ONNX Runtime loads the same libraries next, and libcudart is queried below.
        return handle != IntPtr.Zero;
    }

    /// <summary>GPUs the CUDA runtime sees (<c>cudaGetDeviceCount</c>), and its error code (0: none).</summary>
    private static unsafe int DeviceCount(out int error)
    {
        error = 0;
        if (!NativeLibrary.TryLoad("libcudart.so.13", out var cudart) || !NativeLibrary.TryGetExport(cudart, "cudaGetDeviceCount", out var fn))
        {
            return int.MaxValue; // cannot ask: let ONNX Runtime report what is wrong
        }
        int count = 0;
        error = ((delegate* unmanaged<int*, int>)fn)(&count);
        return count;
    }
}
