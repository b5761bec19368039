using System.Globalization;
using System.Text;

namespace Sift.Evaluation;

/// <summary>Options for <see cref="ComparisonReport.Write"/>.</summary>
public sealed record ComparisonOptions
{
    /// <summary>Heading of the Markdown report.</summary>
    public string Title { get; init; } = "Evaluation comparison";

    /// <summary>File name stem: writes <c>{stem}.md</c>, <c>{stem}.png</c> and <c>{stem}-delta-*.png</c>.</summary>
    public string FileStem { get; init; } = "comparison";

    /// <summary>Metric keys to show (any accepted spelling); null = every aggregate key of the baseline, in its order.</summary>
    public IReadOnlyList<string>? Metrics { get; init; }

    /// <summary>Write one per-query delta chart per non-baseline configuration.</summary>
    public bool IncludeDeltaCharts { get; init; } = true;

    /// <summary>The metric of the delta charts; null = the first metric shown.</summary>
    public string? DeltaMetric { get; init; }

    /// <summary>Per-query differences smaller than this count as ties.</summary>
    public double TieTolerance { get; init; } = 1e-9;

    /// <summary>
    /// A .ttf/.otf file for chart text. Null = the <c>SIFT_CHART_FONT</c> environment variable, else the system fonts.
    /// Useful on minimal images without fonts (otherwise install <c>fonts-dejavu-core</c>).
    /// </summary>
    public string? FontFile { get; init; }

    /// <summary>Chart size in pixels (width is widened for many bars).</summary>
    public int ChartWidth { get; init; } = 900;
    public int ChartHeight { get; init; } = 500;
}

/// <summary>Per-query outcome of one configuration against the baseline on one metric.</summary>
/// <param name="Configuration">The challenger.</param>
/// <param name="Metric">Metric key.</param>
/// <param name="Wins">Queries where the challenger scores higher than the baseline.</param>
/// <param name="Ties">Queries with equal scores (within the tie tolerance).</param>
/// <param name="Losses">Queries where the baseline scores higher.</param>
/// <param name="MeanDelta">Mean of challenger − baseline over the compared queries.</param>
public sealed record WinTieLoss(string Configuration, string Metric, int Wins, int Ties, int Losses, double MeanDelta);

/// <summary>What <see cref="ComparisonReport.Write"/> produced.</summary>
/// <param name="MarkdownPath">The Markdown report.</param>
/// <param name="ChartPath">The metrics bar chart, or null when charts could not be drawn (see <paramref name="Warnings"/>).</param>
/// <param name="DeltaChartPaths">Per-query delta charts, one per non-baseline configuration.</param>
/// <param name="WinTieLoss">Win/tie/loss of every non-baseline configuration against the baseline, per metric.</param>
/// <param name="Warnings">Problems that did not stop the report (e.g. no fonts for chart text); also noted in the Markdown.</param>
public sealed record ComparisonReportFiles(
    string MarkdownPath,
    string? ChartPath,
    IReadOnlyList<string> DeltaChartPaths,
    IReadOnlyList<WinTieLoss> WinTieLoss,
    IReadOnlyList<string> Warnings);

/// <summary>
/// Writes a Markdown comparison of several configurations: a metrics table, a grouped bar chart (PNG, ScottPlot),
/// win/tie/loss counts of every configuration against the first one (the baseline), and optionally per-query
/// delta charts.
/// </summary>
public static class ComparisonReport
{
    public static ComparisonReportFiles Write(IReadOnlyList<EvaluationReport> reports, string outputDirectory, ComparisonOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(reports);
        options ??= new ComparisonOptions();
        if (reports.Count == 0)
        {
            throw new SiftException("Nothing to compare: no evaluation reports were given. Pass at least one report (the first is the baseline).");
        }
        var names = reports.Select(r => r.Configuration).ToList();
        var duplicate = names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new SiftException($"Two reports have the configuration name '{duplicate.Key}'. Give each configuration a distinct name.");
        }
        var baseline = reports[0];
        var metrics = ResolveMetrics(reports, options);

        Directory.CreateDirectory(outputDirectory);
        var warnings = new List<string>();
        var fontProblem = Charts.PrepareFonts(options, out var fontName);
        var drawCharts = fontProblem is null;
        if (!drawCharts)
        {
            warnings.Add(fontProblem!);
        }
        string? chartPath = null;
        if (drawCharts)
        {
            chartPath = Path.Combine(outputDirectory, options.FileStem + ".png");
            Charts.WriteMetricBars(chartPath, reports, metrics, options, fontName);
        }

        var wtl = new List<WinTieLoss>();
        foreach (var challenger in reports.Skip(1))
        {
            foreach (var metric in metrics)
            {
                wtl.Add(Compare(baseline, challenger, metric, options.TieTolerance));
            }
        }

        var deltaPaths = new List<string>();
        var deltaMetric = options.DeltaMetric is null ? metrics[0] : Metric.Parse(options.DeltaMetric).Key;
        if (options.IncludeDeltaCharts && drawCharts)
        {
            foreach (var challenger in reports.Skip(1))
            {
                var path = Path.Combine(outputDirectory, $"{options.FileStem}-delta-{SafeName(challenger.Configuration)}.png");
                var deltas = PerQueryDeltas(baseline, challenger, deltaMetric);
                Charts.WriteDeltaBars(path, deltas, baseline.Configuration, challenger.Configuration, deltaMetric, options, fontName);
                deltaPaths.Add(path);
            }
        }

        var mdPath = Path.Combine(outputDirectory, options.FileStem + ".md");
        File.WriteAllText(mdPath, BuildMarkdown(reports, metrics, wtl, chartPath, deltaPaths, deltaMetric, warnings, options));
        return new ComparisonReportFiles(mdPath, chartPath, deltaPaths, wtl, warnings);
    }

    /// <summary>Win/tie/loss of <paramref name="challenger"/> against <paramref name="baseline"/> over the queries both evaluated.</summary>
    public static WinTieLoss Compare(EvaluationReport baseline, EvaluationReport challenger, string metric, double tieTolerance = 1e-9)
    {
        var key = Metric.TryParse(metric, out var m) ? m.Key : metric;
        int wins = 0, ties = 0, losses = 0;
        double sum = 0;
        var deltas = PerQueryDeltas(baseline, challenger, key);
        foreach (var (_, d) in deltas)
        {
            sum += d;
            if (Math.Abs(d) <= tieTolerance)
            {
                ties++;
            }
            else if (d > 0)
            {
                wins++;
            }
            else
            {
                losses++;
            }
        }
        return new WinTieLoss(challenger.Configuration, key, wins, ties, losses, deltas.Count == 0 ? 0 : sum / deltas.Count);
    }

    /// <summary>(query id, challenger − baseline) for every query present in both reports' per-query values.</summary>
    public static IReadOnlyList<(string QueryId, double Delta)> PerQueryDeltas(EvaluationReport baseline, EvaluationReport challenger, string metricKey)
    {
        var list = new List<(string, double)>();
        foreach (var (queryId, baseValues) in baseline.PerQuery)
        {
            if (challenger.PerQuery.TryGetValue(queryId, out var values)
                && baseValues.TryGetValue(metricKey, out var b)
                && values.TryGetValue(metricKey, out var c))
            {
                list.Add((queryId, c - b));
            }
        }
        return list;
    }

    private static List<string> ResolveMetrics(IReadOnlyList<EvaluationReport> reports, ComparisonOptions options)
    {
        List<string> metrics;
        if (options.Metrics is { Count: > 0 } requested)
        {
            metrics = requested.Select(s => Metric.TryParse(s, out var m) ? m.Key : s).Distinct(StringComparer.Ordinal).ToList();
        }
        else
        {
            metrics = reports[0].Aggregate.Keys.ToList();
            foreach (var r in reports.Skip(1))
            {
                metrics.AddRange(r.Aggregate.Keys.Where(k => !metrics.Contains(k)));
            }
        }
        if (metrics.Count == 0)
        {
            throw new SiftException("The reports contain no aggregate metrics to compare. Evaluate with at least one metric (e.g. ndcg@10).");
        }
        foreach (var metric in metrics)
        {
            var lacking = reports.FirstOrDefault(r => !r.Aggregate.ContainsKey(metric));
            if (lacking is not null && options.Metrics is not null)
            {
                throw new SiftException($"Configuration '{lacking.Configuration}' has no '{metric}' value. Evaluate every configuration with the same metrics.");
            }
        }
        return metrics;
    }

    private static string BuildMarkdown(
        IReadOnlyList<EvaluationReport> reports, IReadOnlyList<string> metrics, IReadOnlyList<WinTieLoss> wtl,
        string? chartPath, IReadOnlyList<string> deltaPaths, string deltaMetric, IReadOnlyList<string> warnings, ComparisonOptions options)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("# ").AppendLine(options.Title).AppendLine();
        var datasets = reports.Select(r => r.Dataset).Where(d => !string.IsNullOrEmpty(d)).Distinct().ToList();
        if (datasets.Count > 0)
        {
            sb.Append("Dataset: ").AppendLine(string.Join(", ", datasets)).AppendLine();
        }
        sb.Append("Baseline: **").Append(Escape(reports[0].Configuration)).Append("**. ");
        sb.Append("Queries evaluated: ").Append(string.Join(", ", reports.Select(r => r.QueryCount.ToString(ci)).Distinct()));
        sb.Append(". Relevance level (binary measures): ").Append(string.Join(", ", reports.Select(r => r.RelevanceLevel.ToString(ci)).Distinct()));
        sb.AppendLine(".").AppendLine();

        sb.AppendLine("## Metrics").AppendLine();
        sb.Append("| configuration |");
        foreach (var m in metrics)
        {
            sb.Append(' ').Append(m).Append(" |");
        }
        sb.AppendLine(" queries |");
        sb.Append("|---|");
        foreach (var _ in metrics)
        {
            sb.Append("---:|");
        }
        sb.AppendLine("---:|");
        var best = metrics.ToDictionary(m => m, m => reports.Max(r => r.Aggregate.TryGetValue(m, out var v) ? v : double.NegativeInfinity));
        foreach (var r in reports)
        {
            sb.Append("| ").Append(Escape(r.Configuration)).Append(" |");
            foreach (var m in metrics)
            {
                if (r.Aggregate.TryGetValue(m, out var v))
                {
                    var text = v.ToString("F4", ci);
                    sb.Append(' ').Append(reports.Count > 1 && v == best[m] ? $"**{text}**" : text).Append(" |");
                }
                else
                {
                    sb.Append(" – |");
                }
            }
            sb.Append(' ').Append(r.QueryCount.ToString(ci)).AppendLine(" |");
        }
        sb.AppendLine();
        if (chartPath is not null)
        {
            sb.Append("![metrics per configuration](").Append(Path.GetFileName(chartPath)).AppendLine(")").AppendLine();
        }
        foreach (var w in warnings)
        {
            sb.Append("> **Note:** ").AppendLine(w).AppendLine();
        }

        if (wtl.Count > 0)
        {
            sb.Append("## Per-query wins / ties / losses vs ").AppendLine(Escape(reports[0].Configuration)).AppendLine();
            sb.AppendLine("| configuration | metric | wins | ties | losses | mean Δ |");
            sb.AppendLine("|---|---|---:|---:|---:|---:|");
            foreach (var w in wtl)
            {
                sb.Append("| ").Append(Escape(w.Configuration)).Append(" | ").Append(w.Metric)
                  .Append(" | ").Append(w.Wins.ToString(ci))
                  .Append(" | ").Append(w.Ties.ToString(ci))
                  .Append(" | ").Append(w.Losses.ToString(ci))
                  .Append(" | ").Append(w.MeanDelta.ToString("+0.0000;-0.0000;0.0000", ci)).AppendLine(" |");
            }
            sb.AppendLine();
        }

        if (deltaPaths.Count > 0)
        {
            sb.Append("## Per-query ").Append(deltaMetric).AppendLine(" deltas").AppendLine();
            for (var i = 0; i < deltaPaths.Count; i++)
            {
                var name = reports[i + 1].Configuration;
                sb.Append("![").Append(Escape(name)).Append(" − ").Append(Escape(reports[0].Configuration)).Append("](")
                  .Append(Path.GetFileName(deltaPaths[i])).AppendLine(")").AppendLine();
            }
        }

        var stages = reports.SelectMany(r => r.TimingsMs.Keys).Distinct(StringComparer.Ordinal).ToList();
        if (stages.Count > 0)
        {
            sb.AppendLine("## Timings (ms)").AppendLine();
            sb.Append("| configuration |");
            foreach (var s in stages)
            {
                sb.Append(' ').Append(Escape(s)).Append(" |");
            }
            sb.AppendLine();
            sb.Append("|---|").AppendLine(string.Concat(stages.Select(_ => "---:|")));
            foreach (var r in reports)
            {
                sb.Append("| ").Append(Escape(r.Configuration)).Append(" |");
                foreach (var s in stages)
                {
                    sb.Append(' ').Append(r.TimingsMs.TryGetValue(s, out var t) ? t.ToString("F1", ci) : "–").Append(" |");
                }
                sb.AppendLine();
            }
            sb.AppendLine();
        }
        return sb.ToString();
    }

    private static string Escape(string s) => s.Replace("|", "\\|", StringComparison.Ordinal);

    internal static string SafeName(string name)
    {
        var sb = new StringBuilder();
        foreach (var c in name)
        {
            sb.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        }
        return sb.Length == 0 ? "config" : sb.ToString();
    }
}
