using System.CommandLine;

namespace Sift.Cli.Commands;

internal static class ScoreCommand
{
    public static Command Create()
    {
        var cmd = new Command("score", "Score (query, document) pairs with a cross-encoder.");
        cmd.SetAction((ParseResult pr, CancellationToken ct) => Task.FromResult(0));
        return cmd;
    }
}
