namespace Sift.Onnx;

/// <summary>Which ONNX weights to load from a model directory.</summary>
public enum ModelPrecision
{
    /// <summary><c>onnx/model.onnx</c> (or <c>model.onnx</c>).</summary>
    Fp32,
    /// <summary><c>onnx/model_quantized.onnx</c>: dynamic int8 quantization, as public ONNX repos ship it.</summary>
    Int8,
}
