using System.Globalization;
using ScottPlot;

namespace Sift.Evaluation;

/// <summary>
/// PNG charts with ScottPlot 5 (SkiaSharp). The Linux SkiaSharp native asset ScottPlot uses
/// (SkiaSharp.NativeAssets.Linux.NoDependencies) does not use fontconfig: it scans <c>/usr/share/fonts/</c>.
/// With no font there, SkiaSharp draws every label as nothing (no error), so charts would come out without text.
/// On Debian/Ubuntu CI images install <c>fonts-dejavu-core</c>, or point <see cref="ComparisonOptions.FontFile"/> /
/// <c>SIFT_CHART_FONT</c> at a .ttf file.
/// </summary>
internal static class Charts
{
    private const string CustomFontName = "Sift Chart Font";
    private static readonly Lock FontLock = new();
    private static readonly Dictionary<string, string> FontNames = new(StringComparer.Ordinal);

    /// <summary>
    /// Makes sure chart text can be drawn. Returns null when fine, else a message saying what is missing and the fix.
    /// <paramref name="fontName"/> is the registered name of the custom font file, or null for ScottPlot's default.
    /// </summary>
    public static string? PrepareFonts(ComparisonOptions options, out string? fontName)
    {
        fontName = null;
        var file = options.FontFile ?? Environment.GetEnvironmentVariable("SIFT_CHART_FONT");
        lock (FontLock)
        {
            if (!string.IsNullOrEmpty(file))
            {
                if (!File.Exists(file))
                {
                    throw new SiftException($"Chart font file not found: '{file}'. Point FontFile / SIFT_CHART_FONT at an existing .ttf or .otf file.");
                }
                var full = Path.GetFullPath(file);
                if (!FontNames.TryGetValue(full, out var name))
                {
                    // ScottPlot's font registry is global: register each file once, for the regular and the bold
                    // style (titles are bold).
                    name = CustomFontName + " " + FontNames.Count.ToString(CultureInfo.InvariantCulture);
                    Fonts.AddFontFile(name, full, bold: false, italic: false);
                    Fonts.AddFontFile(name, full, bold: true, italic: false);
                    FontNames[full] = name;
                }
                fontName = name;
                return null;
            }
            if (!HasUsableFont())
            {
                return "Charts were not drawn: no fonts are installed, so their text would be blank. " +
                       "Install a font package (Debian/Ubuntu: 'apt-get install fonts-dejavu-core') or set SIFT_CHART_FONT to a .ttf file.";
            }
            return null;
        }
    }

    // FontFamilyCount is not a reliable signal (it is non-zero with an empty /usr/share/fonts); check that the
    // typeface ScottPlot will actually use has glyphs.
    private static bool HasUsableFont()
    {
        var typeface = Fonts.GetTypeface(Fonts.Default, bold: false, italic: false);
        return typeface is not null && typeface.GlyphCount > 0 && typeface.ContainsGlyph('0');
    }


    // Not plot.Font.Set(name): in ScottPlot 5.1.x that disposes the typeface it looks up (a cached, shared one) and
    // changes the global Fonts.Default, which corrupts text in every later chart of the process.
    private static void ApplyFont(Plot plot, string? name, LabelStyle? valueLabels = null)
    {
        if (name is null)
        {
            return;
        }
        plot.Axes.Title.Label.FontName = name;
        foreach (var axis in plot.Axes.GetAxes())
        {
            axis.Label.FontName = name;
            axis.TickLabelStyle.FontName = name;
        }
        plot.Legend.FontName = name;
        if (valueLabels is not null)
        {
            valueLabels.FontName = name;
        }
    }
    public static void WriteMetricBars(string path, IReadOnlyList<EvaluationReport> reports, IReadOnlyList<string> metrics, ComparisonOptions options, string? fontName)
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
        plot.ShowLegend(Edge.Bottom);

        var max = bars.Count == 0 ? 1.0 : Math.Max(bars.Max(b => b.Value), 1e-6);
        plot.Axes.SetLimitsY(0, max * 1.25);
        plot.Axes.SetLimitsX(-1, metrics.Count * groupWidth - 1);
        plot.Title(options.Title);
        plot.YLabel("score");

        ApplyFont(plot, fontName, barPlot.ValueLabelStyle);
        var width = Math.Max(options.ChartWidth, 120 + bars.Count * 45);
        plot.SavePng(path, width, options.ChartHeight);
    }

    public static void WriteDeltaBars(
        string path, IReadOnlyList<(string QueryId, double Delta)> deltas, string baseline, string challenger, string metric, ComparisonOptions options, string? fontName)
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
        ApplyFont(plot, fontName);
        plot.SavePng(path, options.ChartWidth, options.ChartHeight);
    }
}
