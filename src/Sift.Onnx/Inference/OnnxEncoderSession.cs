using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using Sift.Onnx.GraphOptimizer;
using Sift.Tokenizers;

namespace Sift.Onnx;

/// <summary>
/// A transformer encoder on ONNX Runtime, fed padded batches of token ids. Either one session over the whole graph,
/// or (host attention) the graph cut at each self-attention core: ONNX Runtime runs the segments in between
/// (projections, quantized GEMMs, LayerNorm, GELU) and <see cref="AttentionKernel"/> computes attention.
/// Thread-safe: ONNX Runtime allows concurrent <c>Run</c> calls on one session, and every buffer here is per call.
/// </summary>
internal sealed class OnnxEncoderSession : IDisposable
{
    /// <summary>ONNX Runtime session config key listing graph transformers to skip (semicolon-separated names).</summary>
    internal const string DisabledOptimizersKey = "optimization.disable_specified_optimizers";

    private readonly InferenceSession[] _sessions;
    private readonly SplitGraph? _split;
    private readonly FirstTokenTail? _tail;
    private readonly string[] _inputNames;
    private readonly string _outputName;
    private readonly int _kernelThreads;
    private readonly List<string>[] _releaseAt = [];
    private readonly OrtMemoryInfo? _ioMemory;
    private readonly OrtAllocator? _ioAllocator;

    /// <summary>Registers a process-wide CPU arena with ONNX Runtime once; false when this build of ONNX Runtime refuses.</summary>
    private static readonly Lazy<bool> SharedArena = new(() =>
    {
        try
        {
            using var memory = new OrtMemoryInfo(OrtMemoryInfo.allocatorCPU, OrtAllocatorType.ArenaAllocator, 0, OrtMemType.Default);
            using var arena = new OrtArenaCfg(0, -1, -1, -1);
            OrtEnv.Instance().CreateAndRegisterAllocator(memory, arena);
            return true;
        }
        catch (OnnxRuntimeException)
        {
            return false;
        }
    });
    private long _attentionTicks;
    private long _geluTicks;

    /// <param name="fp16">The graph is a float16 conversion: Sift's float32 kernels cannot take part.</param>
    /// <param name="device">CPU, or CUDA (the CUDA provider is appended; Sift's CPU kernels are off).</param>
    /// <param name="ioBinding">Run through IO binding (null: only on CUDA).</param>
    public OnnxEncoderSession(string onnxPath, int intraOpThreads, GraphOptimizationLevel optimization, string? optimizedModelCachePath, string preferredOutput, string? profilePrefix = null, IReadOnlyDictionary<string, string>? configEntries = null, bool hostAttention = false, bool hostGelu = false, bool firstTokenTail = false,
        ExecutionDevice device = default, bool fp16 = false, bool? ioBinding = null)
    {
        _kernelThreads = intraOpThreads > 0 ? intraOpThreads : Environment.ProcessorCount;
        Device = device;
        string[] graphInputs;
        string[] graphOutputs;
        string why = "";
        // The host kernels and the graph cut work on float32 tensors in CPU memory: with CUDA every cut would be a
        // device round trip, and an fp16 graph has no float32 tensors to hand them.
        var hostOff = device.IsCuda ? $"on {device}{(fp16 ? ", fp16" : "")}; Sift's attention/GELU kernels and first-token cut are CPU fp32 optimisations, off"
            : !hostAttention ? "host attention off"
            : fp16 ? "fp16 graph; Sift's attention/GELU kernels and first-token cut are fp32-only, off"
            : null;
        if (hostOff is null && AttentionKernel.IsSupported && TrySplit(onnxPath, hostGelu, out var loadable, out why))
        {
            _split = loadable!.Graph;
            _tail = firstTokenTail ? _split.FirstTokenTail : null;
            var lastLayer = _tail is not null ? ", last layer for the first token only"
                : firstTokenTail ? $", last layer for every token: {_split.FirstTokenTailWhy}" : "";
            HostAttentionStatus = $"sift kernel ({_split.Attentions.Count} layers{(_split.Steps.Count > _split.Attentions.Count ? ", GELU too" : "")}{lastLayer}, ONNX Runtime for the rest)";
            _sessions = new InferenceSession[_split.Segments.Count];
            try
            {
                // Segments load independently: build their sessions on all cores (cold start).
                Parallel.For(0, _sessions.Length, s =>
                {
                    // The optimized-model cache holds one graph; segments are re-optimized at load instead (fast).
                    using var options = CreateOptions(intraOpThreads, optimization, null, profilePrefix is null ? null : $"{profilePrefix}_seg{s}", SplitEntries(intraOpThreads, configEntries));
                    // One arena for all segments (and models): per-session arenas each grew to their segment's peak,
                    // which summed to ~2× the single-session working set.
                    if (SharedArena.Value) options.AddSessionConfigEntry("session.use_env_allocators", "1");
                    _sessions[s] = loadable.SegmentFiles[s] is { } file ? new InferenceSession(file, options) : new InferenceSession(_split.Segments[s].Model, options);
                });
            }
            catch (AggregateException ex) when (ex.InnerException is OnnxRuntimeException ort)
            {
                foreach (var s in _sessions) s?.Dispose();
                throw LoadError(onnxPath, ort);
            }
            graphInputs = [.. _split.GraphInputs];
            graphOutputs = [.. _split.GraphOutputs];
            _releaseAt = ReleasePlan(_split, graphOutputs.Contains(preferredOutput) ? preferredOutput : graphOutputs[0]);
        }
        else
        {
            HostAttentionStatus = hostOff is not null ? $"ONNX Runtime ({hostOff})"
                : !AttentionKernel.IsSupported ? "ONNX Runtime (no AVX-512 on this CPU)"
                : $"ONNX Runtime ({why})";
            using var options = CreateOptions(intraOpThreads, optimization, optimizedModelCachePath, profilePrefix, configEntries, device);
            try
            {
                _sessions = [new InferenceSession(onnxPath, options)];
            }
            catch (OnnxRuntimeException ex)
            {
                throw device.IsCuda ? CudaProvider.SessionError(device, onnxPath, ex) : LoadError(onnxPath, ex);
            }
            if (ioBinding ?? device.IsCuda)
            {
                (_ioMemory, _ioAllocator) = BindingMemory(_sessions[0], device);
            }
            graphInputs = [.. _sessions[0].InputMetadata.Keys];
            graphOutputs = [.. _sessions[0].OutputMetadata.Keys];
        }

        if (!graphInputs.Contains("input_ids") || !graphInputs.Contains("attention_mask"))
        {
            Dispose();
            throw new SiftException(
                $"{onnxPath}: expected inputs input_ids and attention_mask, found {string.Join(", ", graphInputs)}. " +
                "Export the model with `optimum-cli export onnx` so it has the standard transformer inputs.");
        }
        HasTokenTypeIds = graphInputs.Contains("token_type_ids");
        _inputNames = HasTokenTypeIds ? ["input_ids", "attention_mask", "token_type_ids"] : ["input_ids", "attention_mask"];
        _outputName = graphOutputs.Contains(preferredOutput) ? preferredOutput : graphOutputs[0];
        OutputName = _outputName;
    }

    /// <summary>Where the session runs.</summary>
    public ExecutionDevice Device { get; }

    /// <summary>Whether batches go through IO binding (<see cref="RunBound"/>).</summary>
    public bool UsesIoBinding => _ioAllocator is not null;

    /// <summary>Whether the model declares a <c>token_type_ids</c> input (BERT does; RoBERTa/XLM-R do not).</summary>
    public bool HasTokenTypeIds { get; }

    public string OutputName { get; }

    /// <summary>Who computes attention, and why not Sift's kernel when it does not (for diagnostics and `sift bench`).</summary>
    public string HostAttentionStatus { get; }

    /// <summary>Whether attention runs in <see cref="AttentionKernel"/>.</summary>
    public bool UsesHostAttention => _split is not null;

    /// <summary>Whether the last layer is computed for each sequence's first token only (see <see cref="FirstTokenTail"/>).</summary>
    public bool UsesFirstTokenTail => _tail is not null;

    /// <summary>
    /// Session entries for the segments of a cut graph. Each segment is its own session with its own intra-op pool,
    /// and ONNX Runtime's pool threads spin for a while after every run. With one thread per session (the automatic
    /// default) there is no pool; with N > 1 (<c>--threads N</c>), the pools of 7-13 segments and Sift's kernel threads
    /// spun against each other: <c>--threads 2</c> ran 4.7-9× slower than the default on 2 cores. Spinning off makes
    /// idle pool threads sleep at once; a caller's own value for the key wins.
    /// </summary>
    private static IReadOnlyDictionary<string, string>? SplitEntries(int intraOpThreads, IReadOnlyDictionary<string, string>? configEntries)
    {
        if (intraOpThreads == 1) return configEntries;
        var entries = new Dictionary<string, string>(configEntries ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        entries.TryAdd("session.intra_op.allow_spinning", "0");
        return entries;
    }

    private static SessionOptions CreateOptions(int intraOpThreads, GraphOptimizationLevel optimization, string? optimizedModelCachePath, string? profilePrefix, IReadOnlyDictionary<string, string>? configEntries, ExecutionDevice device = default)
    {
        var options = new SessionOptions
        {
            GraphOptimizationLevel = optimization,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = intraOpThreads,
        };
        var entries = new Dictionary<string, string>(configEntries ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        // ONNX Runtime 1.31's CPU SkipLayerNormalization kernel is scalar: in dynamically quantized BERTs (where the
        // residual Add + LayerNorm gets fused into it) it took 1.44 ms per call against 0.14 ms for the unfused
        // LayerNormalization it replaces (profiled with `sift bench --profile`), ~13% of int8 latency. The fusion
        // changes no results, so keeping it off costs nothing; a caller's own value for this key wins.
        // On CUDA the fused kernel is the fast one: the workaround is CPU-only.
        if (!device.IsCuda) entries.TryAdd(DisabledOptimizersKey, "SkipLayerNormFusion");
        foreach (var (key, value) in entries)
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
        if (device.IsCuda)
        {
            try
            {
                CudaProvider.Append(options, device);
            }
            catch
            {
                options.Dispose();
                throw;
            }
        }
        return options;
    }

    /// <summary>
    /// Memory that IO-bound inputs are written into and outputs copied back to: on CUDA pinned host memory (the copies to
    /// and from the GPU run at full speed, without a staging buffer), on CPU ONNX Runtime's own allocator.
    /// </summary>
    private static (OrtMemoryInfo Memory, OrtAllocator Allocator) BindingMemory(InferenceSession session, ExecutionDevice device)
    {
        // ONNX Runtime versions have registered the pinned allocator under the GPU's index or under 0: try both.
        foreach (var id in device.IsCuda ? new[] { device.Index, 0 }.Distinct() : [])
        {
            var pinned = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA_PINNED, OrtAllocatorType.DeviceAllocator, id, OrtMemType.CpuOutput);
            try
            {
                return (pinned, new OrtAllocator(session, pinned));
            }
            catch (OnnxRuntimeException)
            {
                pinned.Dispose();
            }
        }
        // No pinned allocator (or the CPU): ordinary host memory, which CUDA copies through a staging buffer.
        return (OrtMemoryInfo.DefaultInstance, OrtAllocator.DefaultInstance);
    }

    private static SiftException LoadError(string onnxPath, OnnxRuntimeException ex) => new(
        $"{onnxPath}: ONNX Runtime could not load this model ({ex.Message.Trim()}). " +
        "Re-download the file (it may be truncated) or re-export it with `optimum-cli export onnx`.", ex);

    private static bool TrySplit(string onnxPath, bool gelu, out LoadableSplit? split, out string why)
    {
        split = null;
        why = "";
        try
        {
            split = SplitModelCache.Load(onnxPath, gelu, out why);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Google.Protobuf.InvalidProtocolBufferException)
        {
            // Unreadable or not a protobuf: the single-session path reports it with the usual message.
            why = "graph not readable";
            return false;
        }
        if (split is not null && split.Graph.Attentions.Any(a => !AttentionKernel.SupportsHeadSize(a.HeadSize)))
        {
            why = $"head size {split.Graph.Attentions[0].HeadSize} is not a multiple of 16";
            split = null;
        }
        return split is not null;
    }

    /// <summary>
    /// Runs one batch padded to its longest member. Returns the output tensor flattened and its shape
    /// (e.g. [batch, labels] or [batch, seq, hidden]).
    /// </summary>
    public (float[] Data, long[] Shape) Run(IReadOnlyList<EncodedText> batch, int padTokenId)
    {
        var b = batch.Count;
        var seq = 0;
        foreach (var e in batch)
        {
            seq = Math.Max(seq, e.Length);
        }
        if (_ioAllocator is not null)
        {
            return RunBound(batch, padTokenId, seq);
        }
        var n = b * seq;
        var pool = ArrayPool<long>.Shared;
        var ids = pool.Rent(n);
        var mask = pool.Rent(n);
        var types = HasTokenTypeIds ? pool.Rent(n) : null;
        try
        {
            Fill(batch, padTokenId, seq, ids, mask, types);

            long[] shape = [b, seq];
            using var idsValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, ids.AsMemory(0, n), shape);
            using var maskValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, mask.AsMemory(0, n), shape);
            using var typesValue = types is null ? null : OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, types.AsMemory(0, n), shape);
            OrtValue[] inputs = typesValue is null ? [idsValue, maskValue] : [idsValue, maskValue, typesValue];

            using var runOptions = new RunOptions();
            if (_split is null)
            {
                using var outputs = _sessions[0].Run(runOptions, _inputNames, inputs, [_outputName]);
                return Copy(outputs[0]);
            }
            var lengths = new int[b];
            for (var i = 0; i < b; i++) lengths[i] = batch[i].Length;
            return RunSplit(runOptions, inputs, lengths);
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

    /// <summary>Writes a batch padded to <paramref name="seq"/> tokens into row-major id, mask and (when given) type-id buffers.</summary>
    private static void Fill(IReadOnlyList<EncodedText> batch, int padTokenId, int seq, Span<long> ids, Span<long> mask, Span<long> types)
    {
        bool withTypes = !types.IsEmpty;
        for (var i = 0; i < batch.Count; i++)
        {
            var e = batch[i];
            var row = i * seq;
            for (var t = 0; t < seq; t++)
            {
                var real = t < e.Length;
                ids[row + t] = real ? e.InputIds[t] : padTokenId;
                mask[row + t] = real ? 1 : 0;
                if (withTypes)
                {
                    types[row + t] = real ? e.TypeIds[t] : 0;
                }
            }
        }
    }

    /// <summary>
    /// One batch through IO binding: the inputs are filled in place in ONNX Runtime-allocated tensors (pinned host memory
    /// on CUDA), the output is bound to the same memory, and only the final logits are copied into a managed array.
    /// </summary>
    private (float[] Data, long[] Shape) RunBound(IReadOnlyList<EncodedText> batch, int padTokenId, int seq)
    {
        long[] shape = [batch.Count, seq];
        var values = new OrtValue?[_inputNames.Length];
        try
        {
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = OrtValue.CreateAllocatedTensorValue(_ioAllocator!, Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int64, shape);
            }
            Fill(batch, padTokenId, seq, values[0]!.GetTensorMutableDataAsSpan<long>(), values[1]!.GetTensorMutableDataAsSpan<long>(),
                HasTokenTypeIds ? values[2]!.GetTensorMutableDataAsSpan<long>() : default);
            using var binding = _sessions[0].CreateIoBinding();
            for (int i = 0; i < values.Length; i++)
            {
                binding.BindInput(_inputNames[i], values[i]!);
            }
            binding.BindOutputToDevice(_outputName, _ioMemory!);
            using var runOptions = new RunOptions();
            _sessions[0].RunWithBinding(runOptions, binding);
            binding.SynchronizeBoundOutputs();
            using var outputs = binding.GetOutputValues();
            return Copy(outputs[0]);
        }
        finally
        {
            foreach (var v in values) v?.Dispose();
        }
    }

    private static (float[] Data, long[] Shape) Copy(OrtValue output) =>
        (output.GetTensorDataAsSpan<float>().ToArray(), output.GetTensorTypeAndShape().Shape);

    // Attention outputs reach megabytes (batch × seq × hidden floats); a pool of our own keeps them off the large
    // object heap even where they exceed what ArrayPool.Shared retains.
    private static readonly ArrayPool<float> Buffers = ArrayPool<float>.Create(1 << 26, 16);

    private static float[] Rent(long[] shape, out int count)
    {
        count = checked((int)shape.Aggregate(1L, (a, d) => a * d));
        return Buffers.Rent(count);
    }

    private (float[] Data, long[] Shape) RunSplit(RunOptions runOptions, OrtValue[] graphInputs, int[] lengths)
    {
        var split = _split!;
        var inputs = new Dictionary<string, OrtValue>(StringComparer.Ordinal);
        for (int i = 0; i < _inputNames.Length; i++) inputs[_inputNames[i]] = graphInputs[i];
        // Intermediate tensors, released as soon as their last reader has run: holding every layer's activations until
        // the end of the batch made each segment's ONNX Runtime arena grow to the whole model's worth (~2.5× the memory).
        var live = new Dictionary<string, (OrtValue Value, float[]? Buffer)>(StringComparer.Ordinal);
        OrtValue Get(string name) => live.TryGetValue(name, out var v) ? v.Value : inputs[name];
        void Release(int position)
        {
            foreach (var name in _releaseAt[position])
            {
                if (live.Remove(name, out var v))
                {
                    v.Value.Dispose();
                    if (v.Buffer is not null) Buffers.Return(v.Buffer);
                }
            }
        }
        try
        {
            for (int s = 0; s < split.Segments.Count; s++)
            {
                var seg = split.Segments[s];
                var ins = new OrtValue[seg.Inputs.Count];
                for (int i = 0; i < ins.Length; i++) ins[i] = Get(seg.Inputs[i]);
                var outs = _sessions[s].Run(runOptions, seg.Inputs, ins, seg.Outputs);
                for (int i = 0; i < seg.Outputs.Count; i++) live[seg.Outputs[i]] = (outs[i], null);
                Release(2 * s);
                if (s == split.Steps.Count) break;

                long start = Stopwatch.GetTimestamp();
                switch (split.Steps[s])
                {
                    case HostAttention att:
                    {
                        var q = Get(att.Query);
                        var shape = q.GetTensorTypeAndShape().Shape;
                        if (shape.Length != 3 || shape[0] != lengths.Length || shape[2] != (long)att.NumHeads * att.HeadSize)
                        {
                            throw new SiftException($"attention {s}: expected queries of shape [batch, seq, {att.NumHeads * att.HeadSize}], got [{string.Join(", ", shape)}].");
                        }
                        // The classifier reads only token 0 from here on: compute that row of the context, and cut the
                        // residual stream to it, so the rest of the last layer runs on one token per sequence.
                        bool firstTokenOnly = _tail is not null && s == _tail.Step && _tail.Inputs.All(i => IsPerToken(Get(i), shape[0], shape[1]));
                        long[] outShape = firstTokenOnly ? [shape[0], 1, shape[2]] : shape;
                        var context = Rent(outShape, out var count);
                        AttentionKernel.Run(q.GetTensorDataAsSpan<float>(), Get(att.Key).GetTensorDataAsSpan<float>(), Get(att.Value).GetTensorDataAsSpan<float>(),
                            context.AsSpan(0, count), (int)shape[0], (int)shape[1], att.NumHeads, att.HeadSize, att.Scale, lengths, _kernelThreads, (int)outShape[1]);
                        live[att.Output] = (OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, context.AsMemory(0, count), outShape), context);
                        if (firstTokenOnly)
                        {
                            foreach (var name in _tail!.Inputs) live[name] = FirstRows(live[name]);
                        }
                        Interlocked.Add(ref _attentionTicks, Stopwatch.GetTimestamp() - start);
                        break;
                    }
                    case HostGelu gelu:
                    {
                        // In place: the GELU's input feeds nothing else (the matcher checks), so its tensor becomes the output.
                        live.Remove(gelu.Input, out var x);
                        var data = x.Value.GetTensorMutableDataAsSpan<float>();
                        GeluKernel.Run(data, data, _kernelThreads);
                        live[gelu.Output] = x;
                        Interlocked.Add(ref _geluTicks, Stopwatch.GetTimestamp() - start);
                        break;
                    }
                }
                Release(2 * s + 1);
            }
            return Copy(Get(_outputName));
        }
        finally
        {
            foreach (var v in live.Values)
            {
                v.Value.Dispose();
                if (v.Buffer is not null) Buffers.Return(v.Buffer);
            }
        }
    }

    private static bool IsPerToken(OrtValue value, long batch, long seq)
    {
        var info = value.GetTensorTypeAndShape();
        return info.ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float && info.Shape is { Length: >= 2 } s && s[0] == batch && s[1] == seq;
    }

    /// <summary>[batch, seq, …] → [batch, 1, …] (row 0 of each sequence), into a pooled buffer; the input is released.</summary>
    private static (OrtValue Value, float[]? Buffer) FirstRows((OrtValue Value, float[]? Buffer) tensor)
    {
        var shape = tensor.Value.GetTensorTypeAndShape().Shape;
        long[] outShape = [.. shape];
        outShape[1] = 1;
        var rows = Rent(outShape, out var count);
        int row = count / (int)shape[0];
        var src = tensor.Value.GetTensorDataAsSpan<float>();
        for (int b = 0; b < shape[0]; b++) src.Slice((int)(b * shape[1] * row), row).CopyTo(rows.AsSpan(b * row, row));
        tensor.Value.Dispose();
        if (tensor.Buffer is not null) Buffers.Return(tensor.Buffer);
        return (OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, rows.AsMemory(0, count), outShape), rows);
    }

    /// <summary>For each position (2s: segment s, 2s + 1: step s), the intermediate tensors nothing reads after it.</summary>
    private static List<string>[] ReleasePlan(SplitGraph split, string output)
    {
        var lastRead = new Dictionary<string, int>(StringComparer.Ordinal);
        void Read(string name, int position) => lastRead[name] = Math.Max(position, lastRead.GetValueOrDefault(name, -1));
        for (int s = 0; s < split.Segments.Count; s++)
            foreach (var i in split.Segments[s].Inputs) Read(i, 2 * s);
        for (int a = 0; a < split.Steps.Count; a++)
        {
            // An in-place GELU's input becomes its output: it is not released there.
            var reads = split.Steps[a] is HostGelu ? [] : split.Steps[a].Inputs;
            foreach (var i in reads) Read(i, 2 * a + 1);
        }
        var plan = Enumerable.Range(0, 2 * split.Segments.Count).Select(_ => new List<string>()).ToArray();
        foreach (var (name, position) in lastRead)
        {
            if (name != output && !split.GraphInputs.Contains(name)) plan[position].Add(name);
        }
        return plan;
    }

    /// <summary>
    /// Stops profiling and returns the trace file (only when created with a profile prefix). With host attention the
    /// segments' traces are merged into one, plus one event per layer kind for the time spent in Sift's kernel.
    /// </summary>
    public string EndProfiling()
    {
        if (_sessions.Length == 1) return _sessions[0].EndProfiling();
        var merged = new JsonArray();
        string? first = null;
        foreach (var s in _sessions)
        {
            var file = s.EndProfiling();
            first ??= file;
            if (JsonNode.Parse(File.ReadAllText(file)) is JsonArray events)
            {
                foreach (var e in events.ToArray())
                {
                    events.Remove(e);
                    merged.Add(e);
                }
            }
            File.Delete(file);
        }
        foreach (var (name, ticks) in new[] { ("Attention (Sift kernel)", _attentionTicks), ("Gelu (Sift kernel)", _geluTicks) })
        {
            if (ticks == 0) continue;
            merged.Add(new JsonObject
            {
                ["cat"] = "Node",
                ["name"] = "sift_kernel_time",
                ["dur"] = Stopwatch.GetElapsedTime(0, ticks).TotalMicroseconds,
                ["args"] = new JsonObject { ["op_name"] = name },
            });
        }
        var path = first ?? Path.GetTempFileName();
        File.WriteAllText(path, merged.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        return path;
    }

    public void Dispose()
    {
        // A pinned allocator belongs to the session: release it first. The CPU defaults are process-wide singletons.
        if (_ioAllocator is not null && !ReferenceEquals(_ioAllocator, OrtAllocator.DefaultInstance)) _ioAllocator.Dispose();
        if (_ioMemory is not null && !ReferenceEquals(_ioMemory, OrtMemoryInfo.DefaultInstance)) _ioMemory.Dispose();
        foreach (var s in _sessions ?? [])
        {
            s?.Dispose();
        }
    }
}
