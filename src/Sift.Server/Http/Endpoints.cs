using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Sift.Hosting;
using Sift.Server.Runtime;
using Sift.Onnx;

namespace Sift.Server.Http;

/// <summary>The HTTP surface: TEI, Cohere/Jina, search, health, info.</summary>
internal static class Endpoints
{
    public static void Map(WebApplication app, Observability.ServerMetrics metrics)
    {
        app.Use((context, next) =>
        {
            // MapOpenApi answers an unknown document name in plain text; only v1 exists.
            if (context.Request.Path.StartsWithSegments("/openapi", StringComparison.OrdinalIgnoreCase) &&
                !context.Request.Path.Equals("/openapi/v1.json", StringComparison.OrdinalIgnoreCase))
            {
                throw new ApiException(StatusCodes.Status404NotFound, "not_found", $"no OpenAPI document at {context.Request.Path}; the document is /openapi/v1.json");
            }
            return next(context);
        });
        app.MapOpenApi().WithName("openapi");

        app.MapPost("/rerank", (Func<HttpContext, Task<IResult>>)TeiRerank)
            .WithName("rerank").WithSummary("Rerank texts for a query (Hugging Face TEI API).")
            .Accepts<TeiRerankRequest>("application/json", "*/*")
            .Produces<List<TeiRank>>()
            .ProducesErrors(ScoringErrors);

        app.MapPost("/v1/rerank", (Func<HttpContext, Task<IResult>>)(c => CohereRerank(c, "1")))
            .WithName("rerank_v1").WithSummary("Rerank documents (Cohere v1 / Jina API).")
            .Accepts<CohereRerankRequest>("application/json", "*/*")
            .Produces<CohereRerankResponse>()
            .ProducesErrors(ScoringErrors);

        app.MapPost("/v2/rerank", (Func<HttpContext, Task<IResult>>)(c => CohereRerank(c, "2")))
            .WithName("rerank_v2").WithSummary("Rerank documents (Cohere v2 API).")
            .Accepts<CohereRerankRequest>("application/json", "*/*")
            .Produces<CohereRerankResponse>()
            .ProducesErrors(ScoringErrors);

        app.MapPost("/search", (Func<HttpContext, Task<IResult>>)Search)
            .WithName("search").WithSummary("Retrieve from the server's index and rerank (needs --index).")
            .Accepts<SearchRequest>("application/json", "*/*")
            .Produces<SearchResponse>()
            .ProducesErrors(ScoringErrors);

        app.MapMethods("/health", [HttpMethods.Get, HttpMethods.Head], Health)
            .WithName("health").WithSummary("200 once every model is loaded and warmed up; 503 before.")
            .Produces<HealthResponse>().ProducesErrors(StatusCodes.Status503ServiceUnavailable);

        app.MapGet("/info", Info)
            .WithName("info").WithSummary("Served models and limits (TEI's /info shape, plus Sift's fields).")
            .Produces<InfoResponse>().ProducesErrors(StatusCodes.Status503ServiceUnavailable);

        // A minimal-API handler rather than prometheus-net's MapMetrics, so the route is in the OpenAPI document.
        app.MapGet("/metrics", (Func<HttpContext, Task<IResult>>)(async c =>
            {
                c.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                await metrics.Registry.CollectAndExportAsTextAsync(c.Response.Body, c.RequestAborted).ConfigureAwait(false);
                return TypedResults.Empty;
            }))
            .WithName("metrics").WithSummary("Prometheus metrics (text exposition format 0.0.4).")
            .Produces<string>(200, "text/plain").ProducesErrors(StatusCodes.Status401Unauthorized);

        var sources = ((IEndpointRouteBuilder)app).DataSources;
        app.MapFallback((HttpContext c) =>
        {
            // A route that exists for other methods: 405 with Allow (RFC 9110), not 404.
            var allowed = AllowedMethods(sources, c.Request.Path);
            if (allowed.Count > 0)
            {
                throw new ApiException(StatusCodes.Status405MethodNotAllowed, "method_not_allowed",
                    $"{c.Request.Method} {c.Request.Path} is not allowed: the route takes {string.Join(" or ", allowed)}; see /openapi/v1.json") { Allow = string.Join(", ", allowed) };
            }
            throw new ApiException(StatusCodes.Status404NotFound, "not_found", $"no endpoint {c.Request.Method} {c.Request.Path}; see /openapi/v1.json");
        }).ExcludeFromDescription();
    }

    /// <summary>The errors a scoring or search route can answer (the body is <see cref="ErrorResponse"/> in the route's protocol shape).</summary>
    private static readonly int[] ScoringErrors =
    [
        StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status404NotFound, StatusCodes.Status413PayloadTooLarge,
        StatusCodes.Status422UnprocessableEntity, StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable,
    ];

    /// <summary>Declares the error responses of a route for the OpenAPI document, all with the one error body.</summary>
    private static RouteHandlerBuilder ProducesErrors(this RouteHandlerBuilder route, params int[] statuses)
    {
        foreach (var status in statuses)
        {
            route.Produces<ErrorResponse>(status);
        }
        return route;
    }

    /// <summary>The methods the routes whose (literal) pattern is <paramref name="path"/> accept.</summary>
    private static List<string> AllowedMethods(ICollection<EndpointDataSource> sources, PathString path)
    {
        var p = (path.Value ?? "").TrimEnd('/');
        return sources.SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .Where(e => string.Equals("/" + (e.RoutePattern.RawText ?? "").Trim('/'), p, StringComparison.OrdinalIgnoreCase))
            .SelectMany(e => e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? [])
            .Distinct(StringComparer.OrdinalIgnoreCase).ToList();
    }

    private static ServerOptions Options(HttpContext c) => c.RequestServices.GetRequiredService<ServerOptions>();
    private static ModelRegistry Registry(HttpContext c) => c.RequestServices.GetRequiredService<ModelRegistry>();

    private static async Task<JsonDocument> ReadBody(HttpContext c) =>
        await JsonBody.ReadAsync(c.Request, Options(c).MaxPayloadBytes, c.RequestAborted).ConfigureAwait(false);

    private static async Task<IResult> TeiRerank(HttpContext c)
    {
        var registry = Registry(c);
        registry.EnsureReady();
        using var lease = c.RequestServices.GetRequiredService<ConcurrencyLimiter>().Enter();
        using var doc = await ReadBody(c).ConfigureAwait(false);
        var request = TeiRerankRequest.Parse(JsonBody.RequireObject(doc), Options(c).MaxClientBatchSize);
        var model = registry.Resolve(request.Model);
        var texts = request.Texts;
        var returnText = request.ReturnText;
        var scored = await RerankAsync(model, request.Query, texts, request.ToRerankOptions(), "texts", c.RequestAborted).ConfigureAwait(false);
        var ranks = scored.Results.Select(r => new TeiRank(r.Index, r.Score, returnText ? texts[r.Index] : null)).ToList();
        c.Response.Headers["x-prompt-tokens"] = scored.Tokens.ToString(CultureInfo.InvariantCulture);
        return TypedResults.Ok(ranks);
    }

    /// <summary>Scores through the library (<see cref="CrossEncoder.RerankWithUsageAsync"/>, batched by the model's runner); an over-long pair is a 413 naming the field.</summary>
    private static async Task<RerankOutput> RerankAsync(ServedModel model, string query, IReadOnlyList<string> texts, RerankOptions options, string field, CancellationToken cancellationToken)
    {
        try
        {
            return await model.Encoder.RerankWithUsageAsync(query, texts.Select(t => new Document(t)).ToList(), options, cancellationToken).ConfigureAwait(false);
        }
        catch (InputTooLongException ex)
        {
            throw ApiException.TooLarge("input_too_long",
                $"query + {field}[{ex.DocumentIndex}] is {ex.Tokens} tokens, more than the model's max of {ex.MaxTokens}; shorten it or send \"truncate\": true",
                $"{field}[{ex.DocumentIndex}]");
        }
    }

    private static async Task<IResult> CohereRerank(HttpContext c, string apiVersion)
    {
        var registry = Registry(c);
        registry.EnsureReady();
        using var lease = c.RequestServices.GetRequiredService<ConcurrencyLimiter>().Enter();
        using var doc = await ReadBody(c).ConfigureAwait(false);
        var root = JsonBody.RequireObject(doc);
        var model = registry.Resolve(JsonBody.OptionalString(root, "model"));
        var request = CohereRerankRequest.Parse(root, Options(c).MaxClientBatchSize);
        var scored = await RerankAsync(model, request.Query, request.Texts, request.ToRerankOptions(), "documents", c.RequestAborted).ConfigureAwait(false);
        var results = scored.Results.Select(r => new CohereResult(r.Index, r.Score, request.ReturnDocuments ? request.Original(r.Index) : null)).ToList();
        return TypedResults.Ok(new CohereRerankResponse(
            Guid.NewGuid().ToString(),
            model.Name,
            results,
            new CohereMeta(new ApiVersion(apiVersion), new BilledUnits(1), new TokenCounts(scored.Tokens, 0)),
            new Usage(scored.Tokens)));
    }

    private static async Task<IResult> Search(HttpContext c)
    {
        var registry = Registry(c);
        registry.EnsureReady();
        var search = registry.Search ?? throw new ApiException(StatusCodes.Status404NotFound, "no_index",
            "this server has no index; start it with --index DIR to enable /search");
        using var lease = c.RequestServices.GetRequiredService<ConcurrencyLimiter>().Enter();
        using var doc = await ReadBody(c).ConfigureAwait(false);
        var request = SearchRequest.Parse(JsonBody.RequireObject(doc), Options(c).MaxClientBatchSize);
        var mode = request.Mode switch
        {
            null => search.DefaultMode,
            "bm25" => RetrievalMode.Bm25,
            "fts" => RetrievalMode.Fts,
            "dense" => RetrievalMode.Dense,
            "hybrid" => RetrievalMode.Hybrid,
            _ => throw ApiException.Invalid("mode", $"'mode' must be {search.Corpus.LexicalName}, dense or hybrid (got '{request.Mode}')"),
        };
        var query = request.Query;
        var options = new SearchOptions { TopN = request.TopN, TopK = request.TopK, Threshold = request.Threshold };
        try
        {
            _ = search.Retriever(mode); // the corpus can search this way (vectors, lexical kind); loads the bi-encoder once
        }
        catch (SiftException ex)
        {
            throw new ApiException(StatusCodes.Status422UnprocessableEntity, "mode_unavailable", ex.Message, "mode");
        }
        SearchResult result;
        try
        {
            options.Validate(hasReranker: true, JsonName); // errors name the request's fields (top_n), not the library's
            result = await search.SearchAsync(query, mode, options, c.RequestAborted).ConfigureAwait(false);
        }
        catch (SiftException ex) when (ex.Data[SearchOptions.FieldKey] is string field)
        {
            throw ApiException.Invalid(JsonName(field), ex.Message);
        }
        var hits = result.Hits.Select(h => new SearchHitDto(h.Document.Id, h.Rank, h.Score, h.Stage1Rank, h.Stage1Score, h.Document.Text, h.Document.Title,
            h.Window is { } w ? new WindowDto(w.Ordinal, w.Start, w.End, w.WindowCount) : null)).ToList();
        return TypedResults.Ok(new SearchResponse(query, ModeName(mode), registry.Models[0].Name, result.Candidates, hits,
            new SearchTimingsDto(result.Timings.RetrieveMs, result.Timings.RerankMs, result.Timings.TotalMs)));
    }

    private static string ModeName(RetrievalMode mode) => mode.ToString().ToLowerInvariant();

    /// <summary>TopN → top_n: an option as the request spells it.</summary>
    internal static string JsonName(string field) => JsonNamingPolicy.SnakeCaseLower.ConvertName(field);

    private static IResult Health(HttpContext c)
    {
        var registry = Registry(c);
        registry.EnsureReady(); // 503 with the reason otherwise
        return TypedResults.Ok(new HealthResponse("ok"));
    }

    private static IResult Info(HttpContext c)
    {
        var registry = Registry(c);
        registry.EnsureReady();
        var o = Options(c);
        var first = registry.Models[0].Encoder;
        var labels = Enumerable.Range(0, first.NumLabels).ToDictionary(i => i.ToString(CultureInfo.InvariantCulture), i => LabelName(first, i));
        var precision = o.Precision.ToString().ToLowerInvariant();
        var models = registry.Models.Select(m => new ModelInfo(m.Name, Path.GetFileName(m.Encoder.Model.OnnxPath), m.Sha256, m.Encoder.NumLabels,
            m.Encoder.MaxLength, precision, m.Encoder.Activation.ToString().ToLowerInvariant(), m.Encoder.UsesTokenTypeIds)).ToList();
        var search = registry.Search is { } s ? new SearchInfo(s.Corpus.Location.Contains("://", StringComparison.Ordinal) ? s.Corpus.Location /* a store address, already without its password */ : Path.GetFileName(Path.TrimEndingDirectorySeparator(s.Corpus.Location)), s.HasDense, ModeName(s.DefaultMode)) : null;
        return TypedResults.Ok(new InfoResponse(
            registry.Models[0].Name,
            registry.Models[0].Sha256,
            o.Precision switch { Onnx.ModelPrecision.Int8 => "int8", Onnx.ModelPrecision.Fp16 => "float16", _ => "float32" },
            new ModelTypeInfo(new RerankerInfo(labels, labels.ToDictionary(kv => kv.Value, kv => int.Parse(kv.Key, CultureInfo.InvariantCulture)))),
            o.MaxConcurrentRequests,
            first.MaxLength,
            o.MaxBatchTokens,
            o.MaxBatchRequests,
            o.MaxClientBatchSize,
            o.MaxPayloadBytes,
            false,
            o.DynamicBatching,
            o.ApiKey is not null,
            typeof(Endpoints).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
            models,
            search));
    }

    private static string LabelName(Onnx.CrossEncoder encoder, int i) =>
        encoder.Model.Config["id2label"]?[i.ToString(CultureInfo.InvariantCulture)]?.GetValue<string>() ?? $"LABEL_{i}";
}
