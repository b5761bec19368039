using System.Diagnostics;
using System.Numerics.Tensors;

namespace Sift.Retrieval;

/// <summary>
/// Clustered synthetic embeddings for ANN benchmarks: a seeded Gaussian mixture with low-rank clusters, normalized.
/// <para>
/// <see cref="Clusters"/> centres are standard-normal vectors scaled to unit length. Each cluster gets <see cref="Rank"/>
/// random unit directions; a vector is its cluster's centre + Σ zⱼ·<see cref="Spread"/>·directionⱼ (zⱼ ~ N(0,1)) +
/// isotropic N(0, <see cref="Noise"/>²/d) noise, normalized to unit length. Cluster of vector i: a seeded uniform draw.
/// Real sentence embeddings are similar in the way that matters here: they fill a low-dimensional, clumpy part of the
/// space (an isotropic Gaussian in 384 dimensions would have no meaningful neighbours at all). Vector i depends only on
/// (seed, i), so any prefix of a larger set is the smaller set, and queries are fresh draws from the same mixture.
/// </para>
/// </summary>
public sealed record SyntheticVectors
{
    public int Dimension { get; init; } = 384;
    public int Clusters { get; init; } = 1000;
    public int Rank { get; init; } = 16;
    public float Spread { get; init; } = 0.25f;
    public float Noise { get; init; } = 0.1f;
    public int Seed { get; init; } = 42;

    /// <summary>Writes vector <paramref name="index"/> of stream <paramref name="stream"/> (0: corpus, 1: queries) into <paramref name="into"/>.</summary>
    public void Fill(long index, int stream, Span<float> into, Basis basis)
    {
        var rng = new Random(HashCode.Combine(Seed, stream, index));
        var cluster = rng.Next(Clusters);
        basis.Centre(cluster).CopyTo(into);
        for (var j = 0; j < Rank; j++)
        {
            TensorPrimitives.MultiplyAdd(basis.Direction(cluster, j), Gaussian(rng) * Spread, into, into);
        }
        var noise = Noise / MathF.Sqrt(Dimension);
        for (var k = 0; k < into.Length; k++)
        {
            into[k] += Gaussian(rng) * noise;
        }
        TensorPrimitives.Divide(into, TensorPrimitives.Norm(into), into);
    }

    /// <summary>The mixture's centres and directions (seeded).</summary>
    public Basis CreateBasis() => new(this);

    private static float Gaussian(Random rng)
    {
        // Box-Muller
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }

    public sealed class Basis
    {
        private readonly float[] _centres;
        private readonly float[] _directions;
        private readonly int _dim, _rank;

        internal Basis(SyntheticVectors spec)
        {
            _dim = spec.Dimension;
            _rank = spec.Rank;
            var rng = new Random(spec.Seed);
            _centres = new float[spec.Clusters * _dim];
            _directions = new float[spec.Clusters * _rank * _dim];
            foreach (var (buffer, rows) in new[] { (_centres, spec.Clusters), (_directions, spec.Clusters * _rank) })
            {
                for (var r = 0; r < rows; r++)
                {
                    var row = buffer.AsSpan(r * _dim, _dim);
                    for (var k = 0; k < _dim; k++) row[k] = Gaussian(rng);
                    TensorPrimitives.Divide(row, TensorPrimitives.Norm(row), row);
                }
            }
        }

        public ReadOnlySpan<float> Centre(int c) => _centres.AsSpan(c * _dim, _dim);
        public ReadOnlySpan<float> Direction(int c, int j) => _directions.AsSpan((c * _rank + j) * _dim, _dim);
    }
}

/// <summary>One search expansion's figures in an <see cref="AnnBenchmark"/> run.</summary>
/// <param name="ExpansionSearch">ef.</param>
/// <param name="Recall">Recall@k against exact search (mean over queries of |ANN ∩ exact| / k).</param>
/// <param name="P50Ms">Median single-query latency (one thread).</param>
/// <param name="P95Ms">95th percentile.</param>
/// <param name="SpeedupP50">Exact p50 / this p50.</param>
/// <param name="RescoredRecall">Recall@k of what <see cref="SiftIndex"/> returns: the graph's max(k, ef) candidates
/// rescored with the exact float32 vectors, top k kept.</param>
/// <param name="RescoredP50Ms">Median latency of that search + rescoring (one thread).</param>
/// <param name="RescoredP95Ms">95th percentile of it.</param>
/// <param name="RescoredSpeedupP50">Exact p50 / rescored p50.</param>
public sealed record AnnSweepPoint(int ExpansionSearch, double Recall, double P50Ms, double P95Ms, double SpeedupP50,
    double RescoredRecall, double RescoredP50Ms, double RescoredP95Ms, double RescoredSpeedupP50);

/// <summary>Figures of one <see cref="AnnBenchmark.Run"/>. When <paramref name="Complete"/> is false the graph is not
/// finished yet (the build ran out of its time budget and was saved to continue); only the build figures are set.</summary>
public sealed record AnnBenchmarkResult(
    bool Complete, long Built, int BuildRuns,
    long Vectors, int Dimension, int Queries, int K, AnnOptions Options, string Library,
    double GenerateSeconds, double BuildSeconds, double BuildVectorsPerSecond, int BuildThreads,
    long GraphMemoryBytes, long GraphFileBytes, double GraphBytesPerVector, double ExactBytesPerVector,
    double ViewOpenMs, double ExactP50Ms, double ExactP95Ms, IReadOnlyList<AnnSweepPoint> Sweep);

/// <summary>
/// HNSW against exact search on <see cref="SyntheticVectors"/>: the same components a <see cref="SiftIndex"/> uses
/// (<see cref="VectorStore"/> for exact search, <see cref="HnswIndex"/> saved and reopened as a memory-mapped view for
/// HNSW), measured side by side in one process. Exact search runs on all cores (as in Sift); HNSW queries run one at
/// a time on one thread; latency is per query, wall clock.
/// </summary>
public static class AnnBenchmark
{
    public sealed record Settings
    {
        public long Count { get; init; } = 1_000_000;
        public int Queries { get; init; } = 1000;
        public int K { get; init; } = 10;
        public AnnOptions Ann { get; init; } = new();
        public IReadOnlyList<int> ExpansionSearch { get; init; } = [16, 32, 64, 128, 256];
        public SyntheticVectors Data { get; init; } = new();
        /// <summary>Folder that keeps the generated vectors and the graph between runs, so a build longer than
        /// <see cref="BuildBudget"/> continues in the next run (null: a temporary folder, one run does everything).</summary>
        public string? WorkDirectory { get; init; }

        /// <summary>With <see cref="WorkDirectory"/>: build for at most this long, then save and stop.</summary>
        public TimeSpan BuildBudget { get; init; } = TimeSpan.FromMinutes(7);
    }

    public static AnnBenchmarkResult Run(Settings settings, IProgress<(string Stage, long Done, long Total)>? progress = null, CancellationToken ct = default)
    {
        settings.Ann.Validate();
        var spec = settings.Data;
        var dim = spec.Dimension;
        var clock = Stopwatch.StartNew();
        var basis = spec.CreateBasis();

        // Corpus into the exact store, in parallel chunks (vector i depends only on the seed and i); cached in the
        // work folder as raw float32 rows.
        var count = checked((int)settings.Count);
        var store = new VectorStore(dim, "synthetic");
        var ids = new string[count];
        for (var i = 0; i < count; i++) ids[i] = "v" + i.ToString("D7");
        var persistent = settings.WorkDirectory is not null;
        var workDir = settings.WorkDirectory ?? Directory.CreateTempSubdirectory("sift-bench-ann-").FullName;
        Directory.CreateDirectory(workDir);
        var dataTag = $"{count}x{dim}-c{spec.Clusters}-r{spec.Rank}-s{spec.Seed}";
        var vectorsPath = Path.Combine(workDir, $"synthetic-{dataTag}.f32");
        const int chunk = 8192;
        var buffer = new float[Math.Min(count, chunk * Environment.ProcessorCount * 2) * dim];
        if (persistent && File.Exists(vectorsPath) && new FileInfo(vectorsPath).Length == 4L * dim * count)
        {
            using var fs = File.OpenRead(vectorsPath);
            for (var start = 0; start < count; start += buffer.Length / dim)
            {
                var n = Math.Min(buffer.Length / dim, count - start);
                fs.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(buffer.AsSpan(0, n * dim)));
                for (var i = 0; i < n; i++) store.Upsert(ids[start + i], buffer.AsSpan(i * dim, dim));
                progress?.Report(("reading cached vectors", start + n, count));
            }
        }
        else
        {
            using var fs = persistent ? new FileStream(vectorsPath + ".tmp", FileMode.Create, FileAccess.Write) : null;
            for (var start = 0; start < count; start += buffer.Length / dim)
            {
                ct.ThrowIfCancellationRequested();
                var n = Math.Min(buffer.Length / dim, count - start);
                var s0 = start;
                Parallel.For(0, (n + chunk - 1) / chunk, c =>
                {
                    for (var i = c * chunk; i < Math.Min(n, (c + 1) * chunk); i++)
                    {
                        spec.Fill(s0 + i, 0, buffer.AsSpan(i * dim, dim), basis);
                    }
                });
                for (var i = 0; i < n; i++) store.Upsert(ids[s0 + i], buffer.AsSpan(i * dim, dim));
                fs?.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(buffer.AsSpan(0, n * dim)));
                progress?.Report(("generating vectors", s0 + n, count));
            }
            if (fs is not null)
            {
                fs.Dispose();
                File.Move(vectorsPath + ".tmp", vectorsPath, overwrite: true);
            }
        }
        store.TakeChanges();
        var generateSeconds = clock.Elapsed.TotalSeconds;

        // HNSW build (continued from an earlier run's saved graph when there is one), saved, reopened as a view.
        var live = store.Live();
        var o = settings.Ann;
        var graphPath = Path.Combine(workDir, $"hnsw-{dataTag}-m{o.Connectivity}-efadd{o.ExpansionAdd}-{AnnOptions.ScalarName(o.Scalar)}.usearch");
        var statePath = graphPath + ".state"; // "built seconds runs" of a graph not finished yet, or of a finished one
        long built = 0;
        double buildSeconds = 0;
        var runs = 0;
        if (persistent && File.Exists(graphPath) && File.Exists(statePath))
        {
            var state = File.ReadAllText(statePath).Split(' ');
            built = long.Parse(state[0], System.Globalization.CultureInfo.InvariantCulture);
            buildSeconds = double.Parse(state[1], System.Globalization.CultureInfo.InvariantCulture);
            runs = int.Parse(state[2], System.Globalization.CultureInfo.InvariantCulture);
        }
        long memory, fileBytes;
        int threads;
        try
        {
            if (built < count)
            {
                using var graph = built > 0 ? HnswIndex.Open(graphPath, view: false)
                    : HnswIndex.Create(dim, o.Scalar, o.Connectivity, o.ExpansionAdd, o.ExpansionSearch);
                graph.Reserve(count);
                var t = Stopwatch.StartNew();
                const int step = 20_000;
                while (built < count && (!persistent || t.Elapsed < settings.BuildBudget))
                {
                    var from = built;
                    var n = (int)Math.Min(step, count - from);
                    var keys = Enumerable.Range(0, n).Select(i => (ulong)(from + i)).ToArray();
                    graph.AddMany(keys, i => live[(int)from + i].Vector, null, ct);
                    built += n;
                    progress?.Report(("building HNSW", built, count));
                }
                buildSeconds += t.Elapsed.TotalSeconds;
                runs++;
                graph.Save(graphPath);
                File.WriteAllText(statePath, FormattableString.Invariant($"{built} {buildSeconds} {runs}"));
                if (built < count)
                {
                    return new AnnBenchmarkResult(false, built, runs, count, dim, settings.Queries, settings.K, o, "usearch " + HnswIndex.Version,
                        0, buildSeconds, built / buildSeconds, graph.Threads, graph.MemoryUsage, new FileInfo(graphPath).Length, 0, VectorStore.MatrixBytes(dim, 1), 0, 0, 0, []);
                }
            }
            using (var loaded = HnswIndex.Open(graphPath, view: false))
            {
                threads = loaded.Threads;
                memory = loaded.MemoryUsage;
            }
            fileBytes = new FileInfo(graphPath).Length;

            // Exact search: the ground truth, and the latency to compare with, in this same run.
            var queries = new float[settings.Queries][];
            for (var q = 0; q < queries.Length; q++)
            {
                queries[q] = new float[dim];
                spec.Fill(q, 1, queries[q], basis);
            }
            var truth = new HashSet<string>[queries.Length];
            var exactMs = new double[queries.Length];
            for (var q = 0; q < Math.Min(5, queries.Length); q++) store.Search(queries[q], settings.K); // warm-up
            for (var q = 0; q < queries.Length; q++)
            {
                ct.ThrowIfCancellationRequested();
                var t = Stopwatch.GetTimestamp();
                var hits = store.Search(queries[q], settings.K);
                exactMs[q] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                truth[q] = hits.Select(h => h.Id).ToHashSet(StringComparer.Ordinal);
                progress?.Report(("exact search", q + 1, queries.Length));
            }
            var open = Stopwatch.StartNew();
            using var view = HnswIndex.Open(graphPath, view: true);
            var viewOpenMs = open.Elapsed.TotalMilliseconds;

            var exactP50 = Percentile(exactMs, 0.5);
            var sweep = new List<AnnSweepPoint>();
            var keysOut = new ulong[Math.Max(settings.K, settings.ExpansionSearch.Max())];
            var distOut = new float[keysOut.Length];
            foreach (var ef in settings.ExpansionSearch)
            {
                view.ExpansionSearch = ef;
                // Warm the mapped pages and the JIT, untimed.
                for (var q = 0; q < Math.Min(50, queries.Length); q++) view.Search(queries[q], settings.K, keysOut, distOut);
                var ms = new double[queries.Length];
                double recall = 0;
                for (var q = 0; q < queries.Length; q++)
                {
                    var t = Stopwatch.GetTimestamp();
                    var found = view.Search(queries[q], settings.K, keysOut, distOut);
                    ms[q] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                    var hit = 0;
                    for (var i = 0; i < found; i++) if (truth[q].Contains(ids[(int)keysOut[i]])) hit++;
                    recall += hit / (double)truth[q].Count;
                }
                // What SiftIndex.SearchDense does: take all max(k, ef) candidates the search kept, rescore them with
                // the exact float32 vectors, keep the top k. Timed end to end, in the same run.
                var wanted = Math.Max(settings.K, ef);
                var rescoredMs = new double[queries.Length];
                var scored = new (float Score, ulong Key)[wanted];
                double rescoredRecall = 0;
                for (var q = 0; q < queries.Length; q++)
                {
                    var t = Stopwatch.GetTimestamp();
                    var found = view.Search(queries[q], wanted, keysOut, distOut);
                    for (var i = 0; i < found; i++)
                    {
                        scored[i] = (TensorPrimitives.Dot(live[(int)keysOut[i]].Vector.Span, queries[q]), keysOut[i]);
                    }
                    Array.Sort(scored, 0, found, BestFirst);
                    rescoredMs[q] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                    var hit = 0;
                    for (var i = 0; i < Math.Min(found, settings.K); i++) if (truth[q].Contains(ids[(int)scored[i].Key])) hit++;
                    rescoredRecall += hit / (double)truth[q].Count;
                }
                var p50 = Percentile(ms, 0.5);
                var rescoredP50 = Percentile(rescoredMs, 0.5);
                sweep.Add(new AnnSweepPoint(ef, recall / queries.Length, p50, Percentile(ms, 0.95), exactP50 / p50,
                    rescoredRecall / queries.Length, rescoredP50, Percentile(rescoredMs, 0.95), exactP50 / rescoredP50));
                progress?.Report(($"HNSW search ef={ef}", 1, 1));
            }
            return new AnnBenchmarkResult(true, built, runs, count, dim, queries.Length, settings.K, settings.Ann, "usearch " + HnswIndex.Version,
                generateSeconds, buildSeconds, count / buildSeconds, threads, memory, fileBytes, fileBytes / (double)count,
                VectorStore.MatrixBytes(dim, 1), viewOpenMs, exactP50, Percentile(exactMs, 0.95), sweep);
        }
        finally
        {
            if (!persistent) Directory.Delete(workDir, recursive: true);
        }
    }

    private static readonly Comparer<(float Score, ulong Key)> BestFirst = Comparer<(float Score, ulong Key)>.Create((a, b) => b.Score.CompareTo(a.Score));

    private static double Percentile(double[] values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(p * (sorted.Length - 1) + 0.5))];
    }

    private sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
