using System.Globalization;
using System.Text.Json;

namespace Sift.Evaluation.Loaders;

/// <summary>One query of a fixed candidate list: its text and the first-stage hits (with passage text).</summary>
/// <param name="QueryId">The query id (TREC topic number).</param>
/// <param name="Query">The query text.</param>
/// <param name="Candidates">Hits in file order; each <see cref="Candidate.Document"/> has Id = docid and Text = content.</param>
public sealed record CandidateQuery(string QueryId, string Query, IReadOnlyList<Candidate> Candidates)
{
    /// <summary>
    /// The first-stage scores exactly as written in the file (doubles), parallel to <see cref="Candidates"/>;
    /// <see cref="Candidate.Score"/> is a float and may round them. Null when not available.
    /// </summary>
    public IReadOnlyList<double>? SourceScores { get; init; }
}

/// <summary>
/// A fixed first-stage candidate list to rerank, e.g. rank_llm's
/// <c>retrieve_results_dl19_top100.json</c>: a JSON array of
/// <c>{"query": text, "hits": [{"content", "qid", "docid", "rank", "score"}, ...]}</c>.
/// </summary>
public sealed class CandidateList
{
    public CandidateList(IReadOnlyList<CandidateQuery> queries) => Queries = queries;

    /// <summary>The queries in file order.</summary>
    public IReadOnlyList<CandidateQuery> Queries { get; }

    /// <summary>Query id → query text.</summary>
    public IReadOnlyDictionary<string, string> QueryTexts =>
        Queries.ToDictionary(q => q.QueryId, q => q.Query, StringComparer.Ordinal);

    /// <summary>
    /// The candidate list itself as a run, using the given first-stage scores and ranks (the "BM25 order" baseline).
    /// </summary>
    public Run ToRun(string tag = "first-stage")
    {
        var run = new Run(tag);
        foreach (var q in Queries)
        {
            for (var i = 0; i < q.Candidates.Count; i++)
            {
                var c = q.Candidates[i];
                var score = q.SourceScores is { } exact && exact.Count == q.Candidates.Count ? exact[i] : c.Score;
                run.Add(q.QueryId, c.Document.Id!, score, c.Rank);
            }
        }
        return run;
    }
}

/// <summary>Loads candidate-list JSON files (see <see cref="CandidateList"/>).</summary>
public static class CandidateListLoader
{
    public static CandidateList Load(string path)
    {
        DataFile.RequireFile(path, "Candidate-list JSON");
        JsonDocument json;
        try
        {
            using var stream = File.OpenRead(path);
            json = JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            var line = ex.LineNumber is { } l ? (int)l + 1 : 0;
            throw DataFile.Error(path, line, $"invalid JSON ({JsonErrors.Describe(ex)})", "The file must be a JSON array of {\"query\", \"hits\"} objects");
        }
        using (json)
        {
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Array)
            {
                throw new SiftException($"{path}: expected a JSON array of {{\"query\", \"hits\"}} objects but found {root.ValueKind}. Use a rank_llm retrieve_results_*.json file.");
            }
            var queries = new List<CandidateQuery>();
            var index = 0;
            foreach (var entry in root.EnumerateArray())
            {
                index++;
                string Where() => $"{path}: query entry #{index}";
                if (entry.ValueKind != JsonValueKind.Object || !entry.TryGetProperty("query", out var queryEl) || queryEl.ValueKind != JsonValueKind.String)
                {
                    throw new SiftException($"{Where()} has no string \"query\" field. Each entry must look like {{\"query\": \"...\", \"hits\": [...]}}.");
                }
                if (!entry.TryGetProperty("hits", out var hitsEl) || hitsEl.ValueKind != JsonValueKind.Array)
                {
                    throw new SiftException($"{Where()} has no \"hits\" array. Each entry must look like {{\"query\": \"...\", \"hits\": [...]}}.");
                }
                string? qid = null;
                var candidates = new List<Candidate>();
                var scores = new List<double>();
                var hitIndex = 0;
                foreach (var hit in hitsEl.EnumerateArray())
                {
                    hitIndex++;
                    string HitWhere() => $"{Where()}, hit #{hitIndex}";
                    var hitQid = IdOf(hit, "qid") ?? throw new SiftException($"{HitWhere()} has no \"qid\". Hits need qid, docid, content, rank and score.");
                    if (qid is null)
                    {
                        qid = hitQid;
                    }
                    else if (qid != hitQid)
                    {
                        throw new SiftException($"{HitWhere()} has qid '{hitQid}' but earlier hits of this entry have '{qid}'. One entry must hold one query's hits.");
                    }
                    var docid = IdOf(hit, "docid") ?? throw new SiftException($"{HitWhere()} has no \"docid\". Hits need qid, docid, content, rank and score.");
                    var content = hit.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "";
                    if (!hit.TryGetProperty("score", out var scoreEl) || scoreEl.ValueKind != JsonValueKind.Number)
                    {
                        throw new SiftException($"{HitWhere()} has no numeric \"score\". Hits need qid, docid, content, rank and score.");
                    }
                    var score = scoreEl.GetDouble();
                    var rank = hit.TryGetProperty("rank", out var rankEl) && rankEl.ValueKind == JsonValueKind.Number ? rankEl.GetInt32() : hitIndex;
                    var candidate = new Candidate(new Document(content, docid), (float)score, rank);
                    candidates.Add(candidate);
                    scores.Add(score);
                }
                if (qid is null)
                {
                    throw new SiftException($"{Where()} has no hits, so its query id is unknown. Remove the entry or add its hits.");
                }
                queries.Add(new CandidateQuery(qid, queryEl.GetString()!, candidates) { SourceScores = scores });
            }
            return new CandidateList(queries);
        }
    }

    private static string? IdOf(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v))
        {
            return null;
        }
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Number => v.TryGetInt64(out var l) ? l.ToString(CultureInfo.InvariantCulture) : v.GetRawText(),
            _ => null,
        };
    }
}
