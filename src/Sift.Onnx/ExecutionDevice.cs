using System.Globalization;

namespace Sift.Onnx;

/// <summary>Which hardware ONNX Runtime runs a model on.</summary>
public enum DeviceKind
{
    /// <summary>ONNX Runtime's CPU execution provider (every build).</summary>
    Cpu,
    /// <summary>ONNX Runtime's CUDA execution provider (needs the GPU build of ONNX Runtime; see README, GPU).</summary>
    Cuda,
}

/// <summary>
/// A device to run inference on: <c>cpu</c> or <c>cuda[:N]</c> (GPU N, default 0). Parsed from the CLI's
/// <c>--device</c>, the server's <c>SIFT_DEVICE</c> and config files with <see cref="Parse"/>.
/// </summary>
public readonly record struct ExecutionDevice(DeviceKind Kind, int Index = 0)
{
    /// <summary>The CPU.</summary>
    public static ExecutionDevice Cpu => new(DeviceKind.Cpu);

    /// <summary>CUDA GPU <paramref name="index"/>.</summary>
    public static ExecutionDevice Cuda(int index = 0) => new(DeviceKind.Cuda, index);

    /// <summary>Whether this is a CUDA device.</summary>
    public bool IsCuda => Kind == DeviceKind.Cuda;

    /// <summary>Parses <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c> (case-insensitive).</summary>
    /// <exception cref="SiftException">Anything else; the message lists the accepted forms.</exception>
    public static ExecutionDevice Parse(string? text)
    {
        var s = (text ?? "").Trim().ToLowerInvariant();
        if (s == "cpu") return Cpu;
        if (s == "cuda" || s == "gpu") return Cuda();
        if (s.StartsWith("cuda:", StringComparison.Ordinal)
            && int.TryParse(s.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return Cuda(n);
        }
        throw new SiftException($"device '{text}' is not one of cpu, cuda, cuda:N (N: the GPU index, e.g. cuda:1).");
    }

    /// <inheritdoc />
    public override string ToString() => IsCuda ? $"cuda:{Index}" : "cpu";
}
