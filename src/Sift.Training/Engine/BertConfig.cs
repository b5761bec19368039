using System.Text.Json.Nodes;

namespace Sift.Training.Engine;

/// <summary>The BERT hyper-parameters the trainer needs, as Hugging Face's config.json names them.</summary>
public sealed record BertConfig(
    int VocabSize, int HiddenSize, int NumLayers, int NumHeads, int IntermediateSize,
    int MaxPositions = 512, int TypeVocabSize = 2, double LayerNormEps = 1e-12, int NumLabels = 1,
    double HiddenDropout = 0.1, double AttentionDropout = 0.1)
{
    public int HeadDim => HiddenSize / NumHeads;

    public static BertConfig FromJson(JsonObject c, int? numLabelsOverride = null)
    {
        int I(string k, int d) => c[k] is JsonValue v && v.TryGetValue(out int x) ? x : d;
        double D(string k, double d) => c[k] is JsonValue v && v.TryGetValue(out double x) ? x : d;
        var mt = c["model_type"]?.GetValue<string>();
        if (mt is not null and not "bert")
            throw new NotSupportedException($"model_type '{mt}': `sift train` supports BERT-family encoders (model_type bert) only.");
        var act = c["hidden_act"]?.GetValue<string>() ?? "gelu";
        if (act != "gelu") throw new NotSupportedException($"hidden_act '{act}': only the erf GELU (\"gelu\") is implemented.");
        int labels = numLabelsOverride ?? (c["id2label"] is JsonObject m ? m.Count : I("num_labels", 1));
        // A bi-encoder's config (BertModel) has no head: the cross-encoder gets a fresh one-label head.
        var arch = (c["architectures"] as JsonArray)?.FirstOrDefault()?.GetValue<string>();
        if (arch != "BertForSequenceClassification" && numLabelsOverride is null) labels = 1;
        return new BertConfig(I("vocab_size", 30522), I("hidden_size", 768), I("num_hidden_layers", 12), I("num_attention_heads", 12),
            I("intermediate_size", 3072), I("max_position_embeddings", 512), I("type_vocab_size", 2), D("layer_norm_eps", 1e-12), labels,
            D("hidden_dropout_prob", 0.1), D("attention_probs_dropout_prob", 0.1));
    }

    public static BertConfig FromDirectory(string dir, int? numLabelsOverride = null)
    {
        var path = Path.Combine(dir, "config.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"{dir}: config.json is missing (needed for the number of attention heads).", path);
        return FromJson(JsonNode.Parse(File.ReadAllText(path))!.AsObject(), numLabelsOverride);
    }
}
