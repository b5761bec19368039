using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Sift.Onnx;
using Spectre.Console;

namespace Sift.Cli;

/// <summary>Output format of commands that print results.</summary>
internal enum OutputFormat { Table, Json }

/// <summary>Options and plumbing shared by commands. No retrieval or scoring logic lives here.</summary>
internal static class CliCommon
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false,
        // Keep non-ASCII text readable in output (CJK, accents) instead of \uXXXX escapes.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static Option<string?> ModelOption(string description = "Model directory, .onnx file or cached hub id (ORG/NAME). Default: the configured default model from the cache.") =>
        new("--model", "-m") { Description = description };

    public static Option<ModelPrecision> PrecisionOption() =>
        new("--precision") { Description = "Weights to load: fp32 (onnx/model.onnx), int8 (onnx/model_quantized.onnx) or fp16 (fp32 converted by Sift, cached; for GPUs).", DefaultValueFactory = _ => ModelPrecision.Fp32 };

    public static Option<ExecutionDevice> DeviceOption() => new("--device")
    {
        Description = "Run on cpu (default) or cuda[:N] (GPU N; needs the GPU build: dotnet publish -p:SiftGpu=true).",
        DefaultValueFactory = _ => ExecutionDevice.Cpu,
        CustomParser = r =>
        {
            try
            {
                return ExecutionDevice.Parse(r.Tokens.Count == 1 ? r.Tokens[0].Value : null);
            }
            catch (SiftException ex)
            {
                r.AddError("--device: " + ex.Message);
                return ExecutionDevice.Cpu;
            }
        },
    };

    public static Option<int?> MaxBatchTokensOption() =>
        new("--max-batch-tokens") { Description = $"Padded tokens per batch (pairs × longest), TEI-style; default: none on CPU, {CrossEncoderOptions.DefaultCudaBatchTokens} on CUDA." };

    /// <summary>--batch-size as given, else the device's default (8 on CPU, <see cref="CrossEncoderOptions.DefaultCudaBatchSize"/> on CUDA).</summary>
    public static int BatchSize(ParseResult pr, Option<int> option, ExecutionDevice device) =>
        pr.GetResult(option) is { Implicit: false } || !device.IsCuda ? pr.GetValue(option) : CrossEncoderOptions.DefaultCudaBatchSize;

    public static Option<ScoreActivation> ActivationOption() =>
        new("--activation") { Description = "Score activation: default (what the model declares), raw, sigmoid or softmax.", DefaultValueFactory = _ => ScoreActivation.Default };

    public static Option<OutputFormat> FormatOption(OutputFormat defaultFormat = OutputFormat.Table) =>
        new("--format") { Description = "Output format: table or json.", DefaultValueFactory = _ => defaultFormat };

    public static Option<int?> MaxLengthOption() =>
        new("--max-length") { Description = "Max tokens per pair (capped by the model's own limits)." };

    public static Option<int> BatchSizeOption(int defaultValue = 8) =>
        new("--batch-size") { Description = $"Pairs per inference call (length-sorted; default {defaultValue}, {CrossEncoderOptions.DefaultCudaBatchSize} on CUDA).", DefaultValueFactory = _ => defaultValue };

    public static Option<int> ThreadsOption() =>
        new("--threads") { Description = "Threads per batch (0: automatic; with several cores, batches run side by side single-threaded).", DefaultValueFactory = _ => 0 };

    public static Option<LongDocumentStrategy> LongDocsOption() =>
        new("--long-docs") { Description = "Long documents: truncate (sentence-transformers' behaviour) or chunk (score overlapping windows, keep the best).", DefaultValueFactory = _ => LongDocumentStrategy.Truncate };

    public static Option<int> ChunkOverlapOption() =>
        new("--chunk-overlap", "--stride") { Description = "Tokens of overlap between windows in chunk mode (--stride is its old name).", DefaultValueFactory = _ => 64 };

    public static Option<int> MaxChunksOption() =>
        new("--max-chunks") { Description = "At most this many windows per document in chunk mode; text past them is not scored.", DefaultValueFactory = _ => 8 };

    public static Option<float?> CalibrationOption() =>
        new("--calibration-factor") { Description = "Haystack-style calibration: score = sigmoid(logit × factor)." };

    /// <summary>An option's property name as its flag (TopN → --top-n), for library errors that name options.</summary>
    public static string FlagName(string field) =>
        "--" + string.Concat(field.Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    /// <summary>Writes JSON to stdout (one document, newline-terminated).</summary>
    public static void WriteJson<T>(T value)
    {
        Console.Out.Write(JsonSerializer.Serialize(value, Json));
        Console.Out.Write('\n');
        Console.Out.Flush();
    }

    /// <summary>Shortens text for a terminal table cell.</summary>
    public static string Clip(string? text, int max = 90)
    {
        if (string.IsNullOrEmpty(text)) return "";
        var flat = text.ReplaceLineEndings(" ");
        return Markup.Escape(flat.Length <= max ? flat : flat[..(max - 1)] + "…");
    }

    /// <summary>
    /// Runs a command body and turns user errors into one clear line on stderr (exit 2) instead of a stack trace.
    /// Unexpected exceptions also print one line (exit 1); set SIFT_DEBUG=1 for the full trace.
    /// </summary>
    public static async Task<int> Run(Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("sift: cancelled");
            return 130;
        }
        catch (Exception ex) when (ex is SiftException or ArgumentException or Sift.Tokenizers.TokenizerException or FileNotFoundException or DirectoryNotFoundException)
        {
            Console.Error.WriteLine($"sift: error: {ex.Message}");
            if (Environment.GetEnvironmentVariable("SIFT_DEBUG") == "1") Console.Error.WriteLine(ex);
            return 2;
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"sift: unexpected error ({ex.GetType().Name}): {ex.Message}");
            if (Environment.GetEnvironmentVariable("SIFT_DEBUG") == "1") Console.Error.WriteLine(ex);
            else Console.Error.WriteLine("sift: set SIFT_DEBUG=1 for details and report it.");
            return 1;
        }
    }

    /// <summary>A console for human-facing output (tables, progress) on stderr when stdout is not a terminal-friendly choice.</summary>
    public static IAnsiConsole StdErr { get; } = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
}

/// <summary>Progress display helpers.</summary>
/// <summary>Reports synchronously on the caller's thread (Progress&lt;T&gt; posts to the thread pool and can reorder).</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}

internal static class CliProgress
{
    /// <summary>
    /// Runs <paramref name="body"/> with a live progress display on stderr when it is a terminal; when stderr is
    /// redirected (CI logs, pipes) the display is skipped rather than printing a line per refresh.
    /// </summary>
    public static async Task RunAsync(Func<Func<string, double, ProgressTask?>, Task> body, params ProgressColumn[] columns)
    {
        if (Console.IsErrorRedirected)
        {
            await body((_, _) => null).ConfigureAwait(false);
            return;
        }
        await CliCommon.StdErr.Progress().AutoClear(false)
            .Columns(columns.Length > 0 ? columns : [new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn()])
            .StartAsync(ctx => body((name, max) => ctx.AddTask(name, maxValue: max)))
            .ConfigureAwait(false);
    }
}

/// <summary>Process age read from the kernel's monotonic clock (Process.StartTime mixes in wall-clock boot time, which drifts in containers).</summary>
internal static class ProcessClock
{
    public static TimeSpan Age()
    {
        try
        {
            if (OperatingSystem.IsLinux())
            {
                // /proc/self/stat field 22 is the start time in clock ticks since boot; /proc/uptime is seconds since boot.
                var stat = File.ReadAllText("/proc/self/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var startTicks = long.Parse(fields[19], System.Globalization.CultureInfo.InvariantCulture);
                var uptime = double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
                return TimeSpan.FromSeconds(uptime - startTicks / 100.0); // USER_HZ is 100 on Linux
            }
        }
        catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException)
        {
            // fall through to the portable estimate
        }
        using var p = System.Diagnostics.Process.GetCurrentProcess();
        return DateTime.Now - p.StartTime;
    }
}
