using Microsoft.AspNetCore.Http;
using Sift.Onnx;
using Sift.Server.Hosting;
using Sift.Server.Http;
using Sift.Tokenizers;

namespace Sift.Server.Scoring;

/// <summary>Which end of an over-long pair is cut when truncation is on (TEI's <c>truncation_direction</c>).</summary>
public enum TruncationDirection { Right, Left }

/// <summary>A validated scoring request: one query against many texts.</summary>
/// <param name="Query">The query.</param>
/// <param name="Texts">The documents, in the caller's order.</param>
/// <param name="Truncate">Cut over-long pairs to the model's max length; false: over-long input is a 413 (TEI's rule).</param>
/// <param name="Direction">Which end is cut.</param>
/// <param name="MaxTokensPerDoc">Cut each document to this many tokens first (Cohere's <c>max_tokens_per_doc</c>).</param>
/// <param name="TextsField">The request field holding the texts, for error messages.</param>
/// <param name="MaxChunks">Cohere's <c>max_chunks_per_doc</c>: split long documents into at most this many windows and keep the best.</param>
internal sealed record ScoreRequest(string Query, IReadOnlyList<string> Texts, bool Truncate, TruncationDirection Direction, int? MaxTokensPerDoc, string TextsField, int? MaxChunks = null);

/// <summary>Logits per text (input order) and the tokens the model read.</summary>
internal sealed record ScoredPairs(float[][] Logits, int Tokens);

/// <summary>
/// Tokenization and validation in front of the batching queue: each pair is encoded exactly as
/// <see cref="CrossEncoder.EncodePair"/> does (so scores equal the library's), over-long pairs are refused or cut,
/// and the encodings go to the model's <see cref="Batching.IInferenceBackend"/>.
/// </summary>
internal static class PairScorer
{
    public static List<Encoding> Encode(CrossEncoder encoder, ScoreRequest request)
    {
        var tokenizer = encoder.Tokenizer;
        var max = encoder.MaxLength;
        var special = tokenizer.NumSpecialTokensToAdd(isPair: true);
        var query = tokenizer.Tokenize(request.Query);
        var encodings = new List<Encoding>(request.Texts.Count);
        for (var i = 0; i < request.Texts.Count; i++)
        {
            var doc = tokenizer.Tokenize(request.Texts[i]);
            if (request.MaxTokensPerDoc is { } cap && doc.Count > cap)
            {
                doc = Slice(doc, 0, cap);
            }
            var total = query.Count + doc.Count + special;
            if (total > max)
            {
                if (!request.Truncate)
                {
                    throw ApiException.TooLarge("input_too_long",
                        $"query + {request.TextsField}[{i}] is {total} tokens, more than the model's max of {max}; shorten it or send \"truncate\": true",
                        $"{request.TextsField}[{i}]");
                }
                if (request.Direction == TruncationDirection.Left)
                {
                    var (q, d) = TruncateLeft(query, doc, max - special);
                    encodings.Add(tokenizer.Build(q, d, max, TruncationStrategy.LongestFirst));
                    continue;
                }
            }
            // Right truncation (or a pair that fits) is exactly what the library does.
            encodings.Add(tokenizer.Build(query, doc, max, encoder.Options.Truncation));
        }
        return encodings;
    }

    public static async Task<ScoredPairs> ScoreAsync(ServedModel model, ScoreRequest request, CancellationToken cancellationToken)
    {
        var encoder = model.Encoder;
        if (encoder.Options.LongDocuments == LongDocumentStrategy.Chunk || request.MaxChunks is > 1)
        {
            // Chunk mode: long documents become several windows (never an over-length error); the batching queue
            // runs every window, and the library combines them per document (best window by default).
            var tokenizer = encoder.Tokenizer;
            var docs = request.Texts.Select(t =>
            {
                var d = tokenizer.Tokenize(t);
                return request.MaxTokensPerDoc is { } cap && d.Count > cap ? Slice(d, 0, cap) : d;
            }).ToArray();
            var plan = encoder.Plan(tokenizer.Tokenize(request.Query), docs, request.MaxChunks);
            var windowLogits = await model.Backend.PredictAsync(plan.Encodings, cancellationToken).ConfigureAwait(false);
            return new ScoredPairs(encoder.Combine(plan, windowLogits).Logits, plan.Encodings.Sum(e => e.Length));
        }
        var encodings = Encode(encoder, request);
        var tokens = encodings.Sum(e => e.Length);
        var logits = await model.Backend.PredictAsync(encodings, cancellationToken).ConfigureAwait(false);
        return new ScoredPairs(logits, tokens);
    }

    /// <summary>The ranking score of one row of logits: the model's activation, or the raw (last) logit.</summary>
    public static float Score(CrossEncoder encoder, float[] logits, bool raw) =>
        raw ? logits[^1] : encoder.ApplyActivation(logits);

    /// <summary>Indices ordered best first; ties keep input order and NaN sorts last (the library's order).</summary>
    public static int[] Rank(float[] scores) =>
        Enumerable.Range(0, scores.Length).OrderByDescending(i => float.IsNaN(scores[i]) ? float.NegativeInfinity : scores[i]).ToArray();

    private static TokenizedText Slice(TokenizedText t, int start, int end) =>
        new(t.Ids[start..end], t.Tokens[start..end], t.Offsets[start..end]);

    /// <summary>
    /// Hugging Face's longest-first split of a token budget between the two sequences, cutting from the left
    /// (the start) of each instead of the right.
    /// </summary>
    private static (TokenizedText Query, TokenizedText Doc) TruncateLeft(TokenizedText query, TokenizedText doc, int budget)
    {
        budget = Math.Max(budget, 0);
        int n1 = query.Count, n2 = doc.Count;
        var swap = n1 > n2;
        if (swap)
        {
            (n1, n2) = (n2, n1);
        }
        n2 = n1 > budget ? n1 : Math.Max(n1, budget - n1);
        if (n1 + n2 > budget)
        {
            n1 = budget / 2;
            n2 = n1 + budget % 2;
        }
        if (swap)
        {
            (n1, n2) = (n2, n1);
        }
        var keepQ = Math.Min(n1, query.Count);
        var keepD = Math.Min(n2, doc.Count);
        return (Slice(query, query.Count - keepQ, query.Count), Slice(doc, doc.Count - keepD, doc.Count));
    }
}

/// <summary>
/// The server's model as an <see cref="IReranker"/> for the search pipeline: same tokenization and batching queue as
/// /rerank, always truncating (as <c>sift search</c> does).
/// </summary>
internal sealed class BatchedReranker(ServedModel model) : IReranker
{
    public async Task<IReadOnlyList<RerankResult>> RerankAsync(string query, IReadOnlyList<Document> documents, RerankOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (documents.Count == 0)
        {
            return [];
        }
        var scored = await PairScorer.ScoreAsync(model, new ScoreRequest(query, documents.Select(d => d.Text).ToList(), true, TruncationDirection.Right, null, "candidates"), cancellationToken).ConfigureAwait(false);
        var scores = scored.Logits.Select(l => PairScorer.Score(model.Encoder, l, raw: false)).ToArray();
        IEnumerable<RerankResult> ranked = PairScorer.Rank(scores).Select(i => new RerankResult(i, scores[i], documents[i], scored.Logits[i]));
        if (options?.Threshold is { } t)
        {
            ranked = ranked.Where(r => r.Score >= t);
        }
        if (options?.TopK is { } k)
        {
            ranked = ranked.Take(k);
        }
        return ranked.ToList();
    }
}

internal static class StatusCodesExt
{
    public const int ClientClosedRequest = 499;
    public static bool IsSuccess(int status) => status is >= StatusCodes.Status200OK and < 300;
}
