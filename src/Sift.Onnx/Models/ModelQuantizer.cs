using Sift.Onnx.GraphOptimizer;

namespace Sift.Onnx;

/// <summary>Writes a model directory's int8 weights (<c>onnx/model_quantized.onnx</c>) from its fp32 ones.</summary>
public static class ModelQuantizer
{
    /// <summary>
    /// Quantizes <c>onnx/model.onnx</c> (or <c>model.onnx</c>) of <paramref name="modelDirectory"/> into
    /// <c>onnx/model_quantized.onnx</c> with <see cref="DynamicQuantizer"/> (ONNX Runtime's <c>quantize_dynamic</c> scheme).
    /// Works for cross-encoders and bi-encoders alike. The file appears atomically; an existing one is replaced only when
    /// <paramref name="overwrite"/> is set.
    /// </summary>
    /// <returns>The path written and what was quantized; <c>null</c> report when the file existed and was kept.</returns>
    public static (string Path, QuantizationReport? Report) QuantizeDirectory(string modelDirectory, bool overwrite = false)
    {
        var dir = ModelDirectory.Open(modelDirectory, ModelPrecision.Fp32);
        var target = Path.Combine(dir.Root, "onnx", "model_quantized.onnx");
        if (File.Exists(target) && !overwrite) return (target, null);
        try
        {
            return (target, DynamicQuantizer.Quantize(dir.OnnxPath, target));
        }
        catch (Exception ex) when (ex is InvalidOperationException or NotSupportedException or Google.Protobuf.InvalidProtocolBufferException)
        {
            throw new SiftException($"Quantizing {dir.OnnxPath} failed: {ex.Message}", ex);
        }
    }
}
