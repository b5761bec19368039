namespace Sift.Evaluation.Loaders;

/// <summary>Recognises a test collection's layout from its files and loads it (BEIR, Cranfield, CISI, CACM, TREC).</summary>
public static class DatasetLoader
{
    /// <summary>Loads <paramref name="folder"/>; <paramref name="split"/> applies to BEIR folders (the others have one set of judgments).</summary>
    public static EvaluationDataset Load(string folder, string split = "test")
    {
        if (!Directory.Exists(folder))
            throw new SiftException($"Dataset folder not found: '{folder}'.");
        bool Has(string name) => File.Exists(Path.Combine(folder, name));
        if (Has("corpus.jsonl")) return BeirLoader.Load(folder, split);
        if (Has("cran.all.1400")) return SmartLoader.LoadCranfield(folder);
        if (Has("CISI.ALL")) return SmartLoader.LoadCisi(folder);
        if (Has("cacm.all")) return SmartLoader.LoadCacm(folder);
        if (TrecCollectionLoader.Detect(folder).LooksLikeTrec) return TrecCollectionLoader.Load(folder);
        throw new SiftException(
            $"{folder}: not a recognised dataset. Sift reads BEIR (corpus.jsonl + queries.jsonl + qrels/<split>.tsv), "
            + "the SMART releases of Cranfield (cran.all.1400, cran.qry, cranqrel), CISI (CISI.ALL, CISI.QRY, CISI.REL) and CACM "
            + "(cacm.all, query.text, qrels.text), and TREC layout (<DOC><DOCNO>… documents, <top><num>… topics, 'qid 0 docid rel' qrels). "
            + "To convert anything else, write BEIR: corpus.jsonl lines {\"_id\": \"d1\", \"title\": \"…\", \"text\": \"…\"}, "
            + "queries.jsonl lines {\"_id\": \"q1\", \"text\": \"…\"}, and qrels/test.tsv with the header 'query-id\tcorpus-id\tscore' "
            + "then one 'q1<TAB>d1<TAB>1' line per judgment.");
    }
}
