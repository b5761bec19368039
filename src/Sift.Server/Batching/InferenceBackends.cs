using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Sift.Onnx;
using Sift.Server.Observability;
using Sift.Tokenizers;

namespace Sift.Server.Batching;

/// <summary>
/// The server's <see cref="IInferenceRunner"/>s (what <see cref="CrossEncoder"/> hands its planned pairs to), with the
/// queue depth /metrics reports and a drain on dispose.
/// </summary>
internal interface IServerRunner : IInferenceRunner, IAsyncDisposable
{
    /// <summary>Pairs waiting for a forward pass.</summary>
    int QueueDepth { get; }
}

/// <summary>
/// No dynamic batching: each request runs its own forward passes (the encoder's own batching) on a thread-pool thread
/// (the baseline the batching queue is measured against). Concurrency is still bounded by --max-concurrent-requests.
/// </summary>
internal sealed class DirectRunner : IServerRunner
{
    private readonly ModelInference _encoder;
    private readonly ServerMetrics _metrics;
    private readonly string _model;
    private int _pending;

    public DirectRunner(ModelInference encoder, string model, ServerMetrics metrics)
    {
        _encoder = encoder;
        _model = model;
        _metrics = metrics;
    }

    public int QueueDepth => Volatile.Read(ref _pending);

    public Task<float[][]> RunAsync(IReadOnlyList<EncodedText> encodings, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _metrics.QueueDepth.WithLabels(_model).Set(Interlocked.Add(ref _pending, encodings.Count));
        return Task.Run(() =>
        {
            try
            {
                var sw = Stopwatch.StartNew();
                var result = _encoder.RunBatched(encodings, cancellationToken);
                _metrics.InferenceDuration.WithLabels(_model).Observe(sw.Elapsed.TotalSeconds);
                _metrics.BatchSize.WithLabels(_model).Observe(encodings.Count);
                _metrics.BatchTokens.WithLabels(_model).Observe(encodings.Count * (double)encodings.Max(e => e.Length));
                _metrics.PairsScored.WithLabels(_model).Inc(encodings.Count);
                return result;
            }
            finally
            {
                _metrics.QueueDepth.WithLabels(_model).Set(Interlocked.Add(ref _pending, -encodings.Count));
            }
        }, cancellationToken);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>The batching queue holds as many requests as it may (the HTTP layer answers 429 with Retry-After).</summary>
internal sealed class QueueFullException() : Exception("the batching queue is full; retry later");

/// <summary>Settings of the batching worker.</summary>
/// <param name="MaxBatchTokens">Padded tokens (pairs × longest pair) per forward pass.</param>
/// <param name="MaxBatchPairs">Pairs per forward pass.</param>
/// <param name="MaxQueuedRequests">Requests the queue holds at most; past that a request is refused with 429.</param>
/// <param name="Workers">Forward passes run at once (each by its own worker taking from the shared queue).</param>
public sealed record BatchingOptions(int MaxBatchTokens, int MaxBatchPairs, int MaxQueuedRequests, int Workers = 2)
{
    /// <summary>Pairs taken from the head of the queue and length-sorted together before being cut into batches.</summary>
    public int WindowPairs => Math.Max(MaxBatchPairs * 4, 64);
}

/// <summary>
/// Dynamic batching, the way Hugging Face TEI does it on a CPU: requests put their tokenized pairs in a bounded
/// channel; a worker (<see cref="BatchingOptions.Workers"/> of them, so a CPU's cores stay busy between and during
/// forward passes) takes a window of pairs from the head of the queue (oldest first, across requests), sorts it
/// by length so each forward pass pads little, cuts it into batches under the token budget and the pair cap, runs
/// each through <see cref="ModelInference.Run"/>, and hands every request exactly its own logits
/// (one <see cref="TaskCompletionSource{TResult}"/> per request). Pairs of a request whose client went away are
/// skipped. Stopping completes the channel and the worker finishes everything already queued.
/// </summary>
internal sealed class DynamicBatcher : IServerRunner
{
    private readonly ModelInference _encoder;
    private readonly BatchingOptions _options;
    private readonly ServerMetrics _metrics;
    private readonly ILogger _logger;
    private readonly string _model;
    private readonly Channel<Job> _channel;
    private readonly Task[] _workers;
    private int _queued;

    public DynamicBatcher(ModelInference encoder, string model, BatchingOptions options, ServerMetrics metrics, ILogger logger)
    {
        _encoder = encoder;
        _model = model;
        _options = options;
        _metrics = metrics;
        _logger = logger;
        _channel = Channel.CreateBounded<Job>(new BoundedChannelOptions(options.MaxQueuedRequests)
        {
            SingleReader = options.Workers == 1,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _workers = Enumerable.Range(0, Math.Max(1, options.Workers))
            .Select(_ => Task.Factory.StartNew(RunAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap())
            .ToArray();
    }

    public int QueueDepth => Volatile.Read(ref _queued);

    /// <summary>Pairs ever accepted into the queue (monotonic).</summary>
    internal long EnqueuedPairs => Interlocked.Read(ref _enqueued);

    private long _enqueued;

    public Task<float[][]> RunAsync(IReadOnlyList<EncodedText> encodings, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (encodings.Count == 0)
        {
            return Task.FromResult(Array.Empty<float[]>());
        }
        var job = new Job(encodings, cancellationToken);
        AddQueued(encodings.Count);
        if (_channel.Writer.TryWrite(job))
        {
            Interlocked.Add(ref _enqueued, encodings.Count);
        }
        else
        {
            AddQueued(-encodings.Count);
            // Only reachable past --max-concurrent-requests or while shutting down: never queue without bound.
            throw new QueueFullException();
        }
        if (cancellationToken.CanBeCanceled)
        {
            job.Registration = cancellationToken.Register(static s => ((Job)s!).Cancel(), job);
        }
        return job.Completion.Task;
    }

    private void AddQueued(int delta)
    {
        var now = Interlocked.Add(ref _queued, delta);
        _metrics.QueueDepth.WithLabels(_model).Set(now);
    }

    private async Task RunAsync()
    {
        var reader = _channel.Reader;
        var pending = new Queue<PairRef>();
        var window = new List<PairRef>(_options.WindowPairs);
        while (true)
        {
            if (pending.Count == 0)
            {
                // Completes (false) only once the writer is completed and everything queued was read.
                if (!await reader.WaitToReadAsync().ConfigureAwait(false))
                {
                    break;
                }
            }
            // Take only what fills one window, so the other workers find work in the queue too.
            while (pending.Count < _options.WindowPairs && reader.TryRead(out var job))
            {
                for (var i = 0; i < job.Encodings.Count; i++)
                {
                    pending.Enqueue(new PairRef(job, i));
                }
            }

            // Oldest pairs first (requests are served in arrival order), skipping those whose client left.
            window.Clear();
            var dropped = 0;
            while (window.Count < _options.WindowPairs && pending.TryDequeue(out var p))
            {
                if (p.Job.IsDone)
                {
                    dropped++;
                    continue;
                }
                window.Add(p);
            }
            if (dropped > 0)
            {
                AddQueued(-dropped);
                _metrics.CancelledPairs.WithLabels(_model).Inc(dropped);
            }
            if (window.Count == 0)
            {
                continue;
            }

            // Stable length sort across requests: each forward pass pads to a near-equal length; the library's token
            // budget cuts the window into forward passes (the same planner CrossEncoder uses on a GPU).
            var sorted = window.OrderBy(p => p.Encoding.Length).ToList();
            foreach (var (start, end) in TokenBudget.Plan(sorted.Select(p => p.Encoding.Length).ToArray(), _options.MaxBatchTokens, _options.MaxBatchPairs))
            {
                RunBatch(sorted, start, end);
            }
        }
    }

    private void RunBatch(List<PairRef> sorted, int start, int end)
    {
        var batch = new List<PairRef>(end - start);
        var skipped = 0;
        for (var i = start; i < end; i++)
        {
            if (sorted[i].Job.IsDone)
            {
                skipped++;
            }
            else
            {
                batch.Add(sorted[i]);
            }
        }
        if (skipped > 0)
        {
            AddQueued(-skipped);
            _metrics.CancelledPairs.WithLabels(_model).Inc(skipped);
        }
        if (batch.Count == 0)
        {
            return;
        }

        var now = Stopwatch.GetTimestamp();
        foreach (var p in batch)
        {
            if (!p.Job.Started)
            {
                p.Job.Started = true;
                _metrics.QueueDuration.WithLabels(_model).Observe(Stopwatch.GetElapsedTime(p.Job.EnqueuedAt, now).TotalSeconds);
            }
        }
        var encodings = batch.Select(p => p.Encoding).ToList();
        var longest = encodings.Max(e => e.Length);
        try
        {
            var sw = Stopwatch.StartNew();
            var logits = _encoder.Run(encodings);
            _metrics.InferenceDuration.WithLabels(_model).Observe(sw.Elapsed.TotalSeconds);
            _metrics.BatchSize.WithLabels(_model).Observe(batch.Count);
            _metrics.BatchTokens.WithLabels(_model).Observe((double)batch.Count * longest);
            _metrics.PairsScored.WithLabels(_model).Inc(batch.Count);
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Job.SetResult(batch[i].Index, logits[i]);
            }
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Inference failed for a batch of {Count} pairs", batch.Count);
            foreach (var p in batch)
            {
                p.Job.Fail(ex);
            }
        }
        finally
        {
            AddQueued(-batch.Count);
        }
    }

    /// <summary>Stops taking work, finishes what is queued, then returns.</summary>
    public async ValueTask DisposeAsync()
    {
        _channel.Writer.TryComplete();
        await Task.WhenAll(_workers).ConfigureAwait(false);
    }

    private readonly record struct PairRef(Job Job, int Index)
    {
        public EncodedText Encoding => Job.Encodings[Index];
    }

    private sealed class Job
    {
        private readonly float[][] _results;
        private int _remaining;

        public Job(IReadOnlyList<EncodedText> encodings, CancellationToken cancellationToken)
        {
            Encodings = encodings;
            CancellationToken = cancellationToken;
            _results = new float[encodings.Count][];
            _remaining = encodings.Count;
            EnqueuedAt = Stopwatch.GetTimestamp();
        }

        public IReadOnlyList<EncodedText> Encodings { get; }
        public CancellationToken CancellationToken { get; }
        public TaskCompletionSource<float[][]> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }
        public long EnqueuedAt { get; }
        public bool Started { get; set; }
        public bool IsDone => Completion.Task.IsCompleted;

        public void SetResult(int index, float[] logits)
        {
            _results[index] = logits;
            if (Interlocked.Decrement(ref _remaining) == 0)
            {
                Registration.Dispose();
                Completion.TrySetResult(_results);
            }
        }

        public void Cancel() => Completion.TrySetCanceled(CancellationToken);

        public void Fail(Exception ex)
        {
            Registration.Dispose();
            Completion.TrySetException(ex);
        }
    }
}
