using System.CommandLine;
using Sift.Server;

namespace Sift.Cli.Commands;

/// <summary>
/// <c>sift serve</c>: the HTTP reranking service (TEI, Cohere and Jina APIs). Only parses options; the server lives
/// in Sift.Server, and so does reading the settings (<see cref="ServerOptions.Load"/>: --config, then SIFT_*
/// environment variables, then the flags given here, each flag under its own name).
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var model = new Option<string[]>("--model", "-m")
        {
            Description = "Model to serve: DIR, or NAME=DIR to choose the name requests use in \"model\". Repeat to serve several; the first is the default. Env: SIFT_MODEL (',' separated).",
            AllowMultipleArgumentsPerToken = false,
        };
        var index = new Option<string?>("--index") { Description = "Index directory: enables POST /search (retrieve + rerank). Env: SIFT_INDEX." };
        var store = new Option<string?>("--store") { Description = "Shared PostgreSQL store instead of --index: postgres://USER@HOST:PORT/DB?schema=NAME (password from PGPASSWORD or ~/.pgpass). Env: SIFT_STORE." };
        var host = new Option<string?>("--host") { Description = "Address to bind (default 127.0.0.1, loopback only; 0.0.0.0 for all interfaces). Env: SIFT_HOST." };
        var port = new Option<int?>("--port", "-p") { Description = "Port (default 8080). Env: SIFT_PORT." };
        var maxBatchTokens = new Option<int?>("--max-batch-tokens") { Description = "Padded tokens per forward pass of the batching queue (default 16384). Env: SIFT_MAX_BATCH_TOKENS." };
        var maxBatchRequests = new Option<int?>("--max-batch-requests") { Description = "Pairs per forward pass (default 16; small batches are faster on CPU). Env: SIFT_MAX_BATCH_REQUESTS." };
        var batchWorkers = new Option<int?>("--batch-workers") { Description = "Forward passes run at once by the batching queue (default 2). Env: SIFT_BATCH_WORKERS." };
        var maxConcurrent = new Option<int?>("--max-concurrent-requests") { Description = "Requests in flight before answering 429 (default 64). Env: SIFT_MAX_CONCURRENT_REQUESTS." };
        var maxClientBatch = new Option<int?>("--max-client-batch-size") { Description = "Documents per request before answering 413 (default 1000). Env: SIFT_MAX_CLIENT_BATCH_SIZE." };
        var maxPayload = new Option<long?>("--max-payload-bytes") { Description = "Request body limit before answering 413 (default 2000000). Env: SIFT_MAX_PAYLOAD_BYTES." };
        var apiKey = new Option<string?>("--api-key") { Description = "Require 'Authorization: Bearer KEY' (all endpoints but /health). Prefer the env var SIFT_API_KEY: flags show up in process lists." };
        var precision = new Option<string?>("--precision") { Description = "Weights: fp32 (onnx/model.onnx, default), int8 (onnx/model_quantized.onnx) or fp16 (converted by Sift; for GPUs). Env: SIFT_PRECISION." };
        var device = new Option<string?>("--device") { Description = "Run the models on cpu (default) or cuda[:N] (needs the GPU build; raise --max-batch-requests, e.g. 256). Env: SIFT_DEVICE." };
        var threads = new Option<int?>("--threads") { Description = "ONNX Runtime intra-op threads (0: one per core). Env: SIFT_THREADS." };
        var maxLength = new Option<int?>("--max-length") { Description = "Max tokens per pair (capped by the model). Env: SIFT_MAX_LENGTH." };
        var noBatching = new Option<bool>("--no-dynamic-batching") { Description = "Run each request on its own instead of mixing concurrent requests in batches (for comparison). Env: SIFT_DYNAMIC_BATCHING=false." };
        var shutdown = new Option<int?>("--shutdown-timeout") { Description = "Seconds SIGTERM waits for in-flight requests (default 30). Env: SIFT_SHUTDOWN_TIMEOUT." };
        var longDocs = new Option<string?>("--long-docs") { Description = "Long documents: truncate (default) or chunk (score overlapping windows, keep the best). Env: SIFT_LONG_DOCS." };
        var chunkOverlap = new Option<int?>("--chunk-overlap", "--stride") { Description = "Tokens of overlap between windows in chunk mode (default 64; --stride is its old name). Env: SIFT_CHUNK_OVERLAP." };
        var maxChunks = new Option<int?>("--max-chunks") { Description = "Windows per document at most in chunk mode (default 8). Env: SIFT_MAX_CHUNKS." };
        var config = new Option<FileInfo?>("--config") { Description = "JSON config file with the same settings (keys like \"max_batch_tokens\"; \"model\": string or array)." };

        var cmd = new Command("serve", "Serve cross-encoder reranking over HTTP (Hugging Face TEI /rerank, Cohere and Jina /v1/rerank and /v2/rerank, /search with --index).")
        {
            model, index, store, host, port, maxBatchTokens, maxBatchRequests, batchWorkers, maxConcurrent, maxClientBatch, maxPayload, apiKey, precision, threads,
            maxLength, device, noBatching, shutdown, longDocs, chunkOverlap, maxChunks, config,
        };
        cmd.SetAction((pr, ct) => CliCommon.Run(async () =>
        {
            var options = ServerOptions.Load(pr.GetValue(config)?.FullName, flags: Flags(pr, cmd.Options.Where(o => o != config)));
            return await SiftServer.RunAsync(options, ct).ConfigureAwait(false);
        }));
        return cmd;
    }

    /// <summary>The flags given on the command line as settings: name without dashes → value (repeated ones as name:0, name:1...).</summary>
    private static IEnumerable<KeyValuePair<string, string?>> Flags(ParseResult pr, IEnumerable<Option> options)
    {
        foreach (var option in options)
        {
            if (pr.GetResult(option) is not { Implicit: false } given)
            {
                continue;
            }
            var key = option.Name.TrimStart('-');
            var tokens = given.Tokens.Select(t => t.Value).ToList();
            if (tokens.Count == 0)
            {
                yield return new(key, "true"); // a switch (--no-dynamic-batching)
            }
            else if (option.Arity.MaximumNumberOfValues > 1)
            {
                for (var i = 0; i < tokens.Count; i++)
                {
                    yield return new($"{key}:{i}", tokens[i]);
                }
            }
            else
            {
                yield return new(key, tokens[^1]);
            }
        }
    }
}
