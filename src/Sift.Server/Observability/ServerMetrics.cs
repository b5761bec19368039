using Prometheus;

namespace Sift.Server.Observability;

/// <summary>
/// The server's Prometheus metrics, in a registry of its own (so two servers in one process, as in tests, never
/// share counters). Exposed at <c>GET /metrics</c> in the Prometheus text format.
/// </summary>
public sealed class ServerMetrics
{
    public ServerMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        var f = Metrics.WithCustomRegistry(Registry);
        Requests = f.CreateCounter("sift_requests_total", "HTTP requests by endpoint and status code.",
            new CounterConfiguration { LabelNames = ["endpoint", "status"] });
        RequestDuration = f.CreateHistogram("sift_request_duration_seconds", "End-to-end request latency (body read to response written) by endpoint.",
            new HistogramConfiguration { LabelNames = ["endpoint"], Buckets = Histogram.ExponentialBuckets(0.001, 2, 16) });
        QueueDepth = f.CreateGauge("sift_queue_depth", "Pairs waiting in the batching queue.",
            new GaugeConfiguration { LabelNames = ["model"] });
        InFlight = f.CreateGauge("sift_requests_in_flight", "Inference requests being served (bounded by --max-concurrent-requests).");
        Rejected = f.CreateCounter("sift_requests_rejected_total", "Requests turned away with 429 because --max-concurrent-requests were in flight.");
        BatchSize = f.CreateHistogram("sift_batch_size", "Pairs per forward pass.",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] });
        BatchTokens = f.CreateHistogram("sift_batch_tokens", "Padded tokens (pairs x longest pair) per forward pass.",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = Histogram.ExponentialBuckets(16, 2, 13) });
        InferenceDuration = f.CreateHistogram("sift_inference_duration_seconds", "Time of one forward pass (model inference only).",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });
        QueueDuration = f.CreateHistogram("sift_queue_duration_seconds", "Time a request's pairs waited in the batching queue before their first forward pass.",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });
        PairsScored = f.CreateCounter("sift_pairs_scored_total", "Query-document pairs scored.",
            new CounterConfiguration { LabelNames = ["model"] });
        CancelledPairs = f.CreateCounter("sift_pairs_cancelled_total", "Queued pairs dropped because their client went away.",
            new CounterConfiguration { LabelNames = ["model"] });
    }

    public CollectorRegistry Registry { get; }
    public Counter Requests { get; }
    public Histogram RequestDuration { get; }
    public Gauge QueueDepth { get; }
    public Gauge InFlight { get; }
    public Counter Rejected { get; }
    public Histogram BatchSize { get; }
    public Histogram BatchTokens { get; }
    public Histogram InferenceDuration { get; }
    public Histogram QueueDuration { get; }
    public Counter PairsScored { get; }
    public Counter CancelledPairs { get; }
}
