using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Sift.Tokenizers.Models;
using Sift.Tokenizers.Normalizers;
using Sift.Tokenizers.PostProcessors;
using Sift.Tokenizers.PreTokenizers;

namespace Sift.Tokenizers;

public sealed partial class HfTokenizer
{
    private const string SupportedNormalizers = "BertNormalizer, Lowercase, NFC, NFD, NFKC, NFKD, StripAccents, Replace, Nmt, Prepend, Strip, Sequence, Precompiled";
    private const string SupportedPreTokenizers = "BertPreTokenizer, Whitespace, WhitespaceSplit, Metaspace, ByteLevel, Split, Punctuation, Digits, Sequence";
    private const string SupportedModels = "WordPiece, Unigram, BPE";
    private const string SupportedPostProcessors = "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence";

    /// <summary>
    /// Loads a model directory: tokenizer.json when present (plus tokenizer_config.json for model_max_length /
    /// pad_token), else a BERT WordPiece vocab.txt configured by tokenizer_config.json and special_tokens_map.json.
    /// </summary>
    public static HfTokenizer FromDirectory(string modelDir)
    {
        ArgumentNullException.ThrowIfNull(modelDir);
        if (!Directory.Exists(modelDir)) throw new TokenizerException($"{modelDir}: model directory does not exist");
        var json = Path.Combine(modelDir, "tokenizer.json");
        var config = Path.Combine(modelDir, "tokenizer_config.json");
        if (File.Exists(json)) return FromTokenizerJson(json, File.Exists(config) ? config : null);
        var vocab = Path.Combine(modelDir, "vocab.txt");
        if (File.Exists(vocab)) return FromBertVocab(vocab, File.Exists(config) ? config : null, Path.Combine(modelDir, "special_tokens_map.json"));
        throw new TokenizerException($"{modelDir}: no tokenizer found: neither tokenizer.json nor vocab.txt exists in the directory");
    }

    public static HfTokenizer FromTokenizerJson(string tokenizerJsonPath, string? tokenizerConfigPath = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizerJsonPath);
        using var doc = ParseJson(tokenizerJsonPath);
        var cfg = tokenizerConfigPath is null ? null : ParseJson(tokenizerConfigPath);
        try
        {
            var src = tokenizerJsonPath;
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new TokenizerException($"{src}: expected a JSON object at the top level");
            var model = ParseModel(Prop(root, "model") ?? throw new TokenizerException($"{src}: missing \"model\""), src);
            var added = new List<AddedToken>();
            if (Prop(root, "added_tokens") is { ValueKind: JsonValueKind.Array } arr)
            {
                foreach (var t in arr.EnumerateArray())
                {
                    added.Add(new AddedToken(
                        Str(t, "content") ?? throw new TokenizerException($"{src}: an added token has no \"content\""),
                        Int(t, "id") ?? throw new TokenizerException($"{src}: added token '{Str(t, "content")}' has no \"id\""),
                        Bool(t, "single_word") ?? false, Bool(t, "lstrip") ?? false, Bool(t, "rstrip") ?? false,
                        Bool(t, "normalized") ?? !(Bool(t, "special") ?? false), Bool(t, "special") ?? false));
                }
            }
            var normalizer = ParseNormalizer(Prop(root, "normalizer"), src);
            var pre = ParsePreTokenizer(Prop(root, "pre_tokenizer"), src);
            int TokenId(string token) => model.Vocab.TryGetValue(token, out int id) ? id
                : added.FirstOrDefault(a => a.Content == token)?.Id
                  ?? throw new TokenizerException($"{src}: special token '{token}' is not in the vocabulary");
            var post = ParsePostProcessor(Prop(root, "post_processor"), src, TokenId);
            int? padId = Prop(root, "padding") is { ValueKind: JsonValueKind.Object } padding ? Int(padding, "pad_id") : null;
            var (maxLen, padToken) = ReadConfig(cfg?.RootElement, tokenizerConfigPath);
            if (padId is null && padToken is not null)
            {
                padId = model.Vocab.TryGetValue(padToken, out int pid) ? pid : added.FirstOrDefault(a => a.Content == padToken)?.Id;
            }
            return new HfTokenizer(normalizer, pre, model, post, added, maxLen, padId ?? 0);
        }
        finally
        {
            cfg?.Dispose();
        }
    }

    private static HfTokenizer FromBertVocab(string vocabPath, string? configPath, string specialMapPath)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        string[] lines;
        try { lines = File.ReadAllLines(vocabPath); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TokenizerException($"{vocabPath}: cannot read the vocabulary: {ex.Message}", ex);
        }
        for (int i = 0; i < lines.Length; i++) vocab[lines[i].TrimEnd()] = i; // WordPiece::read_file trims line ends
        if (vocab.Count == 0) throw new TokenizerException($"{vocabPath}: the vocabulary is empty");
        using var cfg = configPath is null ? null : ParseJson(configPath);
        using var map = File.Exists(specialMapPath) ? ParseJson(specialMapPath) : null;
        var c = cfg?.RootElement;
        string Special(string key, string dflt) =>
            (map is not null ? TokenContent(Prop(map.RootElement, key)) : null) ?? (c is { } cc ? TokenContent(Prop(cc, key)) : null) ?? dflt;
        bool lower = c is { } c1 ? Bool(c1, "do_lower_case") ?? true : true;
        bool? strip = c is { } c2 ? Bool(c2, "strip_accents") : null;
        bool chinese = c is { } c3 ? Bool(c3, "tokenize_chinese_chars") ?? true : true;
        string unk = Special("unk_token", "[UNK]"), sep = Special("sep_token", "[SEP]"), cls = Special("cls_token", "[CLS]");
        string pad = Special("pad_token", "[PAD]"), mask = Special("mask_token", "[MASK]");
        var model = new WordPieceModel(vocab, unk, "##", 100, vocabPath);
        int Id(string t) => vocab.TryGetValue(t, out int id) ? id : throw new TokenizerException($"{vocabPath}: special token '{t}' is not in the vocabulary");
        // Like the slow->fast BertConverter: special tokens are added tokens matched in the raw text.
        var added = new[] { pad, unk, cls, sep, mask }.Distinct().Where(vocab.ContainsKey)
            .Select(t => new AddedToken(t, vocab[t], false, false, false, false, true)).ToList();
        var (maxLen, _) = ReadConfig(c, configPath);
        return new HfTokenizer(new BertNormalizer(true, chinese, strip ?? lower, lower), new BertPreTokenizer(), model,
            TemplatePostProcessor.Bert(cls, Id(cls), sep, Id(sep)), added, maxLen, vocab.TryGetValue(pad, out int p) ? p : 0);
    }

    private static (int? MaxLength, string? PadToken) ReadConfig(JsonElement? cfg, string? path)
    {
        if (cfg is not { ValueKind: JsonValueKind.Object } c) return (null, null);
        int? maxLen = null;
        if (Prop(c, "model_max_length") is { ValueKind: JsonValueKind.Number } m && m.TryGetDouble(out double d)
            && d >= 1 && d <= 10_000_000)
        {
            maxLen = (int)d; // transformers uses int(1e30) as "no limit": treat absurd values as unknown
        }
        return (maxLen, TokenContent(Prop(c, "pad_token")));
    }

    private static string? TokenContent(JsonElement? e) => e switch
    {
        { ValueKind: JsonValueKind.String } s => s.GetString(),
        { ValueKind: JsonValueKind.Object } o => Str(o, "content"),
        _ => null,
    };

    private static JsonDocument ParseJson(string path)
    {
        if (!File.Exists(path)) throw new TokenizerException($"{path}: file not found");
        try
        {
            using var stream = File.OpenRead(path);
            return JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true, MaxDepth = 256 });
        }
        catch (JsonException ex)
        {
            throw new TokenizerException($"{path}: malformed JSON: {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TokenizerException($"{path}: cannot read the file: {ex.Message}", ex);
        }
    }

    private static JsonElement? Prop(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static string? Str(JsonElement e, string name) => Prop(e, name) is { ValueKind: JsonValueKind.String } v ? v.GetString() : null;

    private static bool? Bool(JsonElement e, string name) => Prop(e, name) switch
    {
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        _ => null,
    };

    private static int? Int(JsonElement e, string name) =>
        Prop(e, name) is { ValueKind: JsonValueKind.Number } v && v.TryGetInt32(out int i) ? i : null;

    private static string TypeOf(JsonElement e, string what, string src) =>
        Str(e, "type") ?? throw new TokenizerException($"{src}: {what} has no \"type\"");

    private static Regex PatternRegex(JsonElement? pattern, string what, string src)
    {
        if (pattern is { ValueKind: JsonValueKind.Object } p)
        {
            if (Str(p, "String") is string lit) return new Regex(Regex.Escape(lit), RegexOptions.CultureInvariant);
            if (Str(p, "Regex") is string re)
            {
                try { return new Regex(re, RegexOptions.CultureInvariant); }
                catch (ArgumentException ex) { throw new TokenizerException($"{src}: {what} regex '{re}' is not supported: {ex.Message}", ex); }
            }
        }
        throw new TokenizerException($"{src}: {what} has no \"pattern\" with \"String\" or \"Regex\"");
    }

    private static INormalizer? ParseNormalizer(JsonElement? element, string src)
    {
        if (element is not { } e) return null;
        var type = TypeOf(e, "normalizer", src);
        switch (type)
        {
            case "BertNormalizer":
                bool lower = Bool(e, "lowercase") ?? true;
                return new BertNormalizer(Bool(e, "clean_text") ?? true, Bool(e, "handle_chinese_chars") ?? true,
                    Bool(e, "strip_accents") ?? lower, lower);
            case "Lowercase": return new LowercaseNormalizer();
            case "NFC": return new UnicodeNormalizer(false, true);
            case "NFD": return new UnicodeNormalizer(false, false);
            case "NFKC": return new UnicodeNormalizer(true, true);
            case "NFKD": return new UnicodeNormalizer(true, false);
            case "StripAccents": return new StripAccentsNormalizer();
            case "Nmt": return new NmtNormalizer();
            case "Prepend": return new PrependNormalizer(Str(e, "prepend") ?? "");
            case "Strip": return new StripNormalizer(Bool(e, "strip_left") ?? true, Bool(e, "strip_right") ?? true);
            case "Replace":
            {
                string content = Str(e, "content") ?? "";
                if (Prop(e, "pattern") is { ValueKind: JsonValueKind.Object } p && Str(p, "String") is string lit)
                    return new ReplaceNormalizer(lit, null, content);
                return new ReplaceNormalizer(null, PatternRegex(Prop(e, "pattern"), "Replace normalizer", src), content);
            }
            case "Sequence":
            {
                var list = new List<INormalizer>();
                if (Prop(e, "normalizers") is { ValueKind: JsonValueKind.Array } arr)
                    foreach (var x in arr.EnumerateArray()) if (ParseNormalizer(x, src) is { } n) list.Add(n);
                return new SequenceNormalizer(list);
            }
            case "Precompiled":
            {
                var b64 = Str(e, "precompiled_charsmap");
                if (string.IsNullOrEmpty(b64)) return null; // tokenizers treats an empty charsmap as identity
                byte[] bytes;
                try { bytes = Convert.FromBase64String(b64); }
                catch (FormatException ex) { throw new TokenizerException($"{src}: Precompiled precompiled_charsmap is not valid base64", ex); }
                return new PrecompiledNormalizer(bytes, src);
            }
            default:
                throw new TokenizerException($"{src}: normalizer type '{type}' is not supported (supported: {SupportedNormalizers})");
        }
    }

    private static SplitBehavior Behavior(string? s, string src) => s switch
    {
        null or "Isolated" => SplitBehavior.Isolated,
        "Removed" => SplitBehavior.Removed,
        "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
        "MergedWithNext" => SplitBehavior.MergedWithNext,
        "Contiguous" => SplitBehavior.Contiguous,
        _ => throw new TokenizerException($"{src}: split behavior '{s}' is not supported (supported: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)"),
    };

    private static IPreTokenizer? ParsePreTokenizer(JsonElement? element, string src)
    {
        if (element is not { } e) return null;
        var type = TypeOf(e, "pre_tokenizer", src);
        switch (type)
        {
            case "BertPreTokenizer": return new BertPreTokenizer();
            case "Whitespace": return new WhitespacePreTokenizer();
            case "WhitespaceSplit": return CharSplitPreTokenizer.WhitespaceSplit();
            case "Punctuation": return CharSplitPreTokenizer.Punctuation(Behavior(Str(e, "behavior"), src));
            case "Digits": return CharSplitPreTokenizer.Digits(Bool(e, "individual_digits") ?? false);
            case "ByteLevel": return new ByteLevelPreTokenizer(Bool(e, "add_prefix_space") ?? true, Bool(e, "use_regex") ?? true);
            case "Metaspace":
            {
                var rep = Str(e, "replacement") ?? "\u2581";
                if (rep.Length != 1) throw new TokenizerException($"{src}: Metaspace replacement '{rep}' must be a single character");
                // Older files carry add_prefix_space instead of prepend_scheme.
                string scheme = Str(e, "prepend_scheme") ?? ((Bool(e, "add_prefix_space") ?? true) ? "always" : "never");
                if (scheme is not ("always" or "first" or "never"))
                    throw new TokenizerException($"{src}: Metaspace prepend_scheme '{scheme}' is not supported (supported: always, first, never)");
                return new MetaspacePreTokenizer(rep[0], scheme, Bool(e, "split") ?? true);
            }
            case "Split":
                return new SplitPreTokenizer(PatternRegex(Prop(e, "pattern"), "Split pre_tokenizer", src), Behavior(Str(e, "behavior"), src),
                    Bool(e, "invert") ?? false);
            case "Sequence":
            {
                var list = new List<IPreTokenizer>();
                if (Prop(e, "pretokenizers") is { ValueKind: JsonValueKind.Array } arr)
                    foreach (var x in arr.EnumerateArray()) if (ParsePreTokenizer(x, src) is { } p) list.Add(p);
                return new SequencePreTokenizer(list);
            }
            default:
                throw new TokenizerException($"{src}: pre_tokenizer type '{type}' is not supported (supported: {SupportedPreTokenizers})");
        }
    }

    private static IModel ParseModel(JsonElement e, string src)
    {
        var type = Str(e, "type");
        if (type is null)
        {
            // Very old files omit the model type: infer it from its fields, like tokenizers' untagged deserializer.
            if (Prop(e, "merges") is not null) type = "BPE";
            else if (Prop(e, "vocab") is { ValueKind: JsonValueKind.Array }) type = "Unigram";
            else if (Prop(e, "continuing_subword_prefix") is not null || Prop(e, "max_input_chars_per_word") is not null) type = "WordPiece";
            else throw new TokenizerException($"{src}: model has no \"type\" (supported: {SupportedModels})");
        }
        switch (type)
        {
            case "WordPiece":
                return new WordPieceModel(ReadVocab(e, src), Str(e, "unk_token") ?? "[UNK]", Str(e, "continuing_subword_prefix") ?? "##",
                    Int(e, "max_input_chars_per_word") ?? 100, src);
            case "BPE":
            {
                var vocab = ReadVocab(e, src);
                var merges = new List<(string, string)>();
                if (Prop(e, "merges") is { ValueKind: JsonValueKind.Array } arr)
                {
                    foreach (var m in arr.EnumerateArray())
                    {
                        if (m.ValueKind == JsonValueKind.String)
                        {
                            var s = m.GetString()!;
                            int sp = s.IndexOf(' ', StringComparison.Ordinal);
                            if (sp <= 0) throw new TokenizerException($"{src}: BPE merge '{s}' is not of the form 'a b'");
                            merges.Add((s[..sp], s[(sp + 1)..]));
                        }
                        else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2)
                            merges.Add((m[0].GetString() ?? "", m[1].GetString() ?? ""));
                        else throw new TokenizerException($"{src}: a BPE merge is neither 'a b' nor [a, b]");
                    }
                }
                return new BpeModel(vocab, merges, Str(e, "unk_token"), Str(e, "continuing_subword_prefix"), Str(e, "end_of_word_suffix"),
                    Bool(e, "fuse_unk") ?? false, Bool(e, "byte_fallback") ?? false, Bool(e, "ignore_merges") ?? false, src);
            }
            case "Unigram":
            {
                var pieces = new List<(string, double)>();
                if (Prop(e, "vocab") is not { ValueKind: JsonValueKind.Array } arr)
                    throw new TokenizerException($"{src}: Unigram model has no \"vocab\" array");
                foreach (var p in arr.EnumerateArray())
                {
                    if (p.ValueKind != JsonValueKind.Array || p.GetArrayLength() != 2 || p[0].ValueKind != JsonValueKind.String)
                        throw new TokenizerException($"{src}: Unigram vocab entries must be [piece, score]");
                    pieces.Add((p[0].GetString()!, p[1].GetDouble()));
                }
                return new UnigramModel(pieces, Int(e, "unk_id"), Bool(e, "byte_fallback") ?? false, src);
            }
            default:
                throw new TokenizerException($"{src}: model type '{type}' is not supported (supported: {SupportedModels})");
        }
    }

    private static Dictionary<string, int> ReadVocab(JsonElement e, string src)
    {
        if (Prop(e, "vocab") is not { ValueKind: JsonValueKind.Object } v)
            throw new TokenizerException($"{src}: model has no \"vocab\" object");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in v.EnumerateObject())
        {
            if (!p.Value.TryGetInt32(out int id)) throw new TokenizerException($"{src}: vocab entry '{p.Name}' has a non-integer id");
            vocab[p.Name] = id;
        }
        return vocab;
    }

    private static TemplatePostProcessor ParsePostProcessor(JsonElement? element, string src, Func<string, int> tokenId)
    {
        if (element is not { } e) return TemplatePostProcessor.None;
        var type = TypeOf(e, "post_processor", src);
        switch (type)
        {
            case "ByteLevel": return TemplatePostProcessor.None; // only trims offsets
            case "BertProcessing":
            case "RobertaProcessing":
            {
                var (sep, sepId) = Pair(e, "sep", src);
                var (cls, clsId) = Pair(e, "cls", src);
                return type == "BertProcessing" ? TemplatePostProcessor.Bert(cls, clsId, sep, sepId) : TemplatePostProcessor.Roberta(cls, clsId, sep, sepId);
            }
            case "TemplateProcessing":
            {
                var specials = new Dictionary<string, (int[] Ids, string[] Tokens)>(StringComparer.Ordinal);
                if (Prop(e, "special_tokens") is { ValueKind: JsonValueKind.Object } st)
                {
                    foreach (var p in st.EnumerateObject())
                    {
                        var ids = Prop(p.Value, "ids") is { ValueKind: JsonValueKind.Array } ia ? ia.EnumerateArray().Select(x => x.GetInt32()).ToArray() : [];
                        var toks = Prop(p.Value, "tokens") is { ValueKind: JsonValueKind.Array } ta ? ta.EnumerateArray().Select(x => x.GetString() ?? "").ToArray() : [];
                        if (toks.Length != ids.Length) toks = ids.Select(_ => p.Name).ToArray();
                        specials[p.Name] = (ids, toks);
                    }
                }
                TemplatePiece[] Parse(string key)
                {
                    if (Prop(e, key) is not { ValueKind: JsonValueKind.Array } arr)
                        throw new TokenizerException($"{src}: TemplateProcessing has no \"{key}\" template");
                    var list = new List<TemplatePiece>();
                    foreach (var item in arr.EnumerateArray())
                    {
                        if (Prop(item, "Sequence") is { } seq)
                        {
                            list.Add(new TemplatePiece(true, Str(seq, "id") == "B", [], [], Int(seq, "type_id") ?? 0));
                        }
                        else if (Prop(item, "SpecialToken") is { } sp)
                        {
                            var id = Str(sp, "id") ?? "";
                            if (!specials.TryGetValue(id, out var t)) t = ([tokenId(id)], [id]);
                            list.Add(new TemplatePiece(false, false, t.Ids, t.Tokens, Int(sp, "type_id") ?? 0));
                        }
                        else throw new TokenizerException($"{src}: TemplateProcessing \"{key}\" has an item that is neither Sequence nor SpecialToken");
                    }
                    return list.ToArray();
                }
                return new TemplatePostProcessor(Parse("single"), Parse("pair"));
            }
            case "Sequence":
            {
                var adding = new List<TemplatePostProcessor>();
                if (Prop(e, "processors") is { ValueKind: JsonValueKind.Array } arr)
                    foreach (var x in arr.EnumerateArray())
                    {
                        var p = ParsePostProcessor(x, src, tokenId);
                        if (!ReferenceEquals(p, TemplatePostProcessor.None)) adding.Add(p);
                    }
                if (adding.Count > 1)
                    throw new TokenizerException($"{src}: post_processor Sequence with more than one token-adding processor is not supported");
                return adding.Count == 1 ? adding[0] : TemplatePostProcessor.None;
            }
            default:
                throw new TokenizerException($"{src}: post_processor type '{type}' is not supported (supported: {SupportedPostProcessors})");
        }
    }

    private static (string Token, int Id) Pair(JsonElement e, string name, string src)
    {
        if (Prop(e, name) is { ValueKind: JsonValueKind.Array } a && a.GetArrayLength() == 2 && a[0].ValueKind == JsonValueKind.String
            && a[1].TryGetInt32(out int id))
            return (a[0].GetString()!, id);
        throw new TokenizerException($"{src}: post_processor \"{name}\" must be [token, id]");
    }
}
