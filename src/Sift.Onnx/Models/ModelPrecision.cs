namespace Sift.Onnx;

/// <summary>Which ONNX weights to load from a model directory.</summary>
public enum ModelPrecision
{
    /// <summary><c>onnx/model.onnx</c> (or <c>model.onnx</c>).</summary>
    Fp32,
    /// <summary><c>onnx/model_quantized.onnx</c>: dynamic int8 quantization, as public ONNX repos ship it.</summary>
    Int8,
    /// <summary>
    /// The fp32 file converted to float16 by Sift (LayerNorm, softmax and the head stay float32; inputs and outputs
    /// keep their types), cached under the model cache. For GPUs: on a CPU it runs, but slower than fp32.
    /// </summary>
    Fp16,
}
