using System.Globalization;
using ScottPlot;

namespace Sift.Evaluation;

/// <summary>
/// PNG charts with ScottPlot 5 (SkiaSharp). Text needs at least one system font; on Debian/Ubuntu CI images install
/// <c>fonts-dejavu-core</c> (ScottPlot's Linux default family is "DejaVu Sans").
/// </summary>
internal static class Charts
{
    public static void WriteMetricBars(string path, IReadOnlyList<EvaluationReport> reports, IReadOnlyList<string> metrics, ComparisonOptions options)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var groupWidth = reports.Count + 1; // one empty slot between metric groups
        var bars = new List<Bar>();
        for (var mi = 0; mi < metrics.Count; mi++)
        {
            for (var ri = 0; ri < reports.Count; ri++)
            {
                var value = reports[ri].Aggregate.TryGetValue(metrics[mi], out var v) ? v : 0.0;
                bars.Add(new Bar
                {
                    Position = mi * groupWidth + ri,
                    Value = value,
                    FillColor = palette.GetColor(ri),
                    Label = value.ToString("0.000", CultureInfo.InvariantCulture),
                });
            }
        }
        var barPlot = plot.Add.Bars(bars);
        barPlot.ValueLabelStyle.FontSize = reports.Count * metrics.Count > 24 ? 9 : 11;

        var tickPositions = Enumerable.Range(0, metrics.Count).Select(mi => mi * groupWidth + (reports.Count - 1) / 2.0).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(tickPositions, [.. metrics]);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;

        for (var ri = 0; ri < reports.Count; ri++)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = reports[ri].Configuration, FillColor = palette.GetColor(ri) });
        }
        plot.ShowLegend(Alignment.UpperRight);

        var max = bars.Count == 0 ? 1.0 : Math.Max(bars.Max(b => b.Value), 1e-6);
        plot.Axes.SetLimitsY(0, max * 1.25);
        plot.Axes.SetLimitsX(-1, metrics.Count * groupWidth - 1);
        plot.Title(options.Title);
        plot.YLabel("score");

        var width = Math.Max(options.ChartWidth, 120 + bars.Count * 45);
        plot.SavePng(path, width, options.ChartHeight);
    }

    public static void WriteDeltaBars(
        string path, IReadOnlyList<(string QueryId, double Delta)> deltas, string baseline, string challenger, string metric, ComparisonOptions options)
    {
        var plot = new Plot();
        var sorted = deltas.OrderByDescending(d => d.Delta).ThenBy(d => d.QueryId, StringComparer.Ordinal).ToList();
        var bars = new List<Bar>(sorted.Count);
        for (var i = 0; i < sorted.Count; i++)
        {
            var d = sorted[i].Delta;
            bars.Add(new Bar
            {
                Position = i,
                Value = d,
                FillColor = d > options.TieTolerance ? Colors.SeaGreen : d < -options.TieTolerance ? Colors.Crimson : Colors.Gray,
                LineWidth = 0,
            });
        }
        if (bars.Count > 0)
        {
            plot.Add.Bars(bars);
        }
        plot.Add.HorizontalLine(0, 1, Colors.Black);

        int wins = sorted.Count(d => d.Delta > options.TieTolerance), losses = sorted.Count(d => d.Delta < -options.TieTolerance);
        var ties = sorted.Count - wins - losses;
        plot.Title($"{metric}: {challenger} − {baseline} per query (wins {wins}, ties {ties}, losses {losses})");
        plot.YLabel($"Δ {metric}");
        plot.XLabel("queries (sorted by Δ)");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([], []);
        var extent = sorted.Count == 0 ? 1.0 : Math.Max(sorted.Max(d => Math.Abs(d.Delta)), 0.05);
        plot.Axes.SetLimitsY(-extent * 1.1, extent * 1.1);
        plot.Axes.SetLimitsX(-1, Math.Max(sorted.Count, 1));
        plot.SavePng(path, options.ChartWidth, options.ChartHeight);
    }
}
