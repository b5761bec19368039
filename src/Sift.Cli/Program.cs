using System.CommandLine;
using Sift.Cli.Commands;

namespace Sift.Cli;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        // The bundled real models (all-MiniLM-L6-v2, arctic-embed-xs) install themselves on first use of their names.
        Sift.Models.BundledModels.Register(new InstallNotice());
        var root = BuildRoot();
        var parse = root.Parse(args);
        // `sift serve` handles SIGTERM/SIGINT itself (it drains, then exits 0); System.CommandLine's handler would end
        // the process with 143 two seconds after the signal, in the middle of the drain.
        var config = parse.CommandResult.Command.Name == "serve" ? new InvocationConfiguration { ProcessTerminationTimeout = null } : new InvocationConfiguration();
        return await parse.InvokeAsync(config).ConfigureAwait(false);
    }

    /// <summary>The whole command tree; each command lives in its own file under Commands/.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("Sift: two-stage retrieval with cross-encoder reranking.");
        // One line per command. Keep this list the only place commands are registered.
        root.Subcommands.Add(ScoreCommand.Create());
        root.Subcommands.Add(RerankCommand.Create());
        root.Subcommands.Add(ModelCommand.Create());
        root.Subcommands.Add(IndexCommand.Create());
        root.Subcommands.Add(SearchCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        return root;
    }

    /// <summary>One stderr line per install stage when a bundled model installs itself on first use.</summary>
    private sealed class InstallNotice : IProgress<Sift.Models.InstallProgress>
    {
        public void Report(Sift.Models.InstallProgress value)
        {
            if (value.Done == 0) Spectre.Console.AnsiConsoleExtensions.MarkupLine(CliCommon.StdErr, $"[grey]installing bundled model: {Spectre.Console.Markup.Escape(value.Stage)}[/]");
        }
    }
}
