using System.Buffers;
using Microsoft.ML.OnnxRuntime;
using Sift.Tokenizers;

namespace Sift.Onnx;

/// <summary>
/// One ONNX Runtime session over a transformer encoder, fed padded batches of token ids. Thread-safe:
/// ONNX Runtime allows concurrent <c>Run</c> calls on one session, and every buffer here is per call.
/// </summary>
internal sealed class OnnxEncoderSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string[] _inputNames;
    private readonly string _outputName;

    public OnnxEncoderSession(string onnxPath, int intraOpThreads, GraphOptimizationLevel optimization, string? optimizedModelCachePath, string preferredOutput, string? profilePrefix = null, IReadOnlyDictionary<string, string>? configEntries = null)
    {
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = optimization,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = intraOpThreads,
        };
        foreach (var (key, value) in configEntries ?? new Dictionary<string, string>())
        {
            options.AddSessionConfigEntry(key, value);
        }
        if (!string.IsNullOrEmpty(profilePrefix))
        {
            // ONNX Runtime's per-operator trace (Chrome trace JSON), written when the session ends.
            // The prefix must be set first: enabling passes the current prefix to ONNX Runtime.
            options.ProfileOutputPathPrefix = profilePrefix;
            options.EnableProfiling = true;
        }
        if (!string.IsNullOrEmpty(optimizedModelCachePath))
        {
            options.OptimizedModelFilePath = optimizedModelCachePath;
        }
        try
        {
            _session = new InferenceSession(onnxPath, options);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new SiftException(
                $"{onnxPath}: ONNX Runtime could not load this model ({ex.Message.Trim()}). " +
                "Re-download the file (it may be truncated) or re-export it with `optimum-cli export onnx`.", ex);
        }

        var inputs = _session.InputMetadata.Keys.ToHashSet(StringComparer.Ordinal);
        if (!inputs.Contains("input_ids") || !inputs.Contains("attention_mask"))
        {
            _session.Dispose();
            throw new SiftException(
                $"{onnxPath}: expected inputs input_ids and attention_mask, found {string.Join(", ", inputs)}. " +
                "Export the model with `optimum-cli export onnx` so it has the standard transformer inputs.");
        }
        HasTokenTypeIds = inputs.Contains("token_type_ids");
        _inputNames = HasTokenTypeIds ? ["input_ids", "attention_mask", "token_type_ids"] : ["input_ids", "attention_mask"];

        var outputs = _session.OutputMetadata.Keys.ToArray();
        _outputName = outputs.Contains(preferredOutput) ? preferredOutput : outputs[0];
        OutputName = _outputName;
    }

    /// <summary>Whether the model declares a <c>token_type_ids</c> input (BERT does; RoBERTa/XLM-R do not).</summary>
    public bool HasTokenTypeIds { get; }

    public string OutputName { get; }

    /// <summary>
    /// Runs one batch padded to its longest member. Returns the output tensor flattened and its shape
    /// (e.g. [batch, labels] or [batch, seq, hidden]).
    /// </summary>
    public (float[] Data, long[] Shape) Run(IReadOnlyList<Encoding> batch, int padTokenId)
    {
        var b = batch.Count;
        var seq = 0;
        foreach (var e in batch)
        {
            seq = Math.Max(seq, e.Length);
        }
        var n = b * seq;
        var pool = ArrayPool<long>.Shared;
        var ids = pool.Rent(n);
        var mask = pool.Rent(n);
        var types = HasTokenTypeIds ? pool.Rent(n) : null;
        try
        {
            for (var i = 0; i < b; i++)
            {
                var e = batch[i];
                var row = i * seq;
                for (var t = 0; t < seq; t++)
                {
                    var real = t < e.Length;
                    ids[row + t] = real ? e.InputIds[t] : padTokenId;
                    mask[row + t] = real ? 1 : 0;
                    if (types is not null)
                    {
                        types[row + t] = real ? e.TypeIds[t] : 0;
                    }
                }
            }

            long[] shape = [b, seq];
            using var idsValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, ids.AsMemory(0, n), shape);
            using var maskValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, mask.AsMemory(0, n), shape);
            using var typesValue = types is null ? null : OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, types.AsMemory(0, n), shape);
            OrtValue[] inputs = typesValue is null ? [idsValue, maskValue] : [idsValue, maskValue, typesValue];

            using var runOptions = new RunOptions();
            using var outputs = _session.Run(runOptions, _inputNames, inputs, [_outputName]);
            var output = outputs[0];
            var outShape = output.GetTensorTypeAndShape().Shape;
            return (output.GetTensorDataAsSpan<float>().ToArray(), outShape);
        }
        finally
        {
            pool.Return(ids);
            pool.Return(mask);
            if (types is not null)
            {
                pool.Return(types);
            }
        }
    }

    /// <summary>Stops profiling and returns the trace file (only when created with a profile prefix).</summary>
    public string EndProfiling() => _session.EndProfiling();

    public void Dispose() => _session.Dispose();
}
