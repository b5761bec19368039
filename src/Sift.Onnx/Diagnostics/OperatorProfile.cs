using System.Text.Json;

namespace Sift.Onnx;

/// <summary>Time per ONNX operator type, summed from an ONNX Runtime profiling trace.</summary>
internal sealed record OperatorTime(string Operator, double Milliseconds, int Calls, double Share);

/// <summary>Summarizes ONNX Runtime's Chrome-trace profile so a benchmark can say which operators dominate.</summary>
internal static class OperatorProfile
{
    public static IReadOnlyList<OperatorTime> Summarize(string traceFile)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(traceFile));
        var totals = new Dictionary<string, (double Us, int Calls)>();
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (e.TryGetProperty("cat", out var cat) && cat.GetString() == "Node"
                && e.TryGetProperty("args", out var args) && args.TryGetProperty("op_name", out var op)
                && e.TryGetProperty("name", out var name) && name.GetString()!.EndsWith("_kernel_time", StringComparison.Ordinal))
            {
                var key = op.GetString()!;
                var dur = e.GetProperty("dur").GetDouble();
                totals[key] = totals.TryGetValue(key, out var t) ? (t.Us + dur, t.Calls + 1) : (dur, 1);
            }
        }
        var all = totals.Values.Sum(t => t.Us);
        return totals.OrderByDescending(kv => kv.Value.Us)
            .Select(kv => new OperatorTime(kv.Key, kv.Value.Us / 1000, kv.Value.Calls, all == 0 ? 0 : kv.Value.Us / all))
            .ToArray();
    }
}
