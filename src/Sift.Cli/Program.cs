using System.CommandLine;
using Sift.Cli.Commands;

namespace Sift.Cli;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var root = BuildRoot();
        return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
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
}
