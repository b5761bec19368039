using Sift.Tokenizers.Models;
using Sift.Tokenizers.Normalizers;
using Sift.Tokenizers.PostProcessors;
using Sift.Tokenizers.PreTokenizers;
using Sift.Tokenizers.Text;

namespace Sift.Tokenizers;

/// <summary>
/// A Hugging Face <c>tokenizers</c>-compatible tokenizer (tokenizer.json, or a BERT vocab.txt), reproducing the Rust
/// library's ids: added tokens matched in the raw text, then normalizer, pre-tokenizer, model; truncation and the
/// post-processor template on top. Thread-safe; never throws on any input string.
/// </summary>
public sealed partial class HfTokenizer
{
    private readonly INormalizer? _normalizer;
    private readonly IPreTokenizer? _preTokenizer;
    private readonly IModel _model;
    private readonly TemplatePostProcessor _post;
    private readonly AddedVocabulary _rawAdded;
    private readonly AddedVocabulary _normalizedAdded;
    private readonly string[] _idToToken;

    private HfTokenizer(INormalizer? normalizer, IPreTokenizer? preTokenizer, IModel model, TemplatePostProcessor post,
        IReadOnlyList<AddedToken> addedTokens, int? modelMaxLength, int padTokenId)
    {
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _model = model;
        _post = post;
        ModelMaxLength = modelMaxLength;
        PadTokenId = padTokenId;
        _rawAdded = new AddedVocabulary(addedTokens.Where(t => !t.Normalized).Select(t => (t, t.Content)));
        // normalized=true added tokens are matched against the normalized text, so normalize their content first.
        _normalizedAdded = new AddedVocabulary(addedTokens.Where(t => t.Normalized).Select(t => (t, NormalizeContent(t.Content))));
        int max = -1;
        foreach (var id in model.Vocab.Values) max = Math.Max(max, id);
        foreach (var t in addedTokens) max = Math.Max(max, t.Id);
        _idToToken = new string[max + 1];
        foreach (var (tok, id) in model.Vocab) if (id >= 0) _idToToken[id] = tok;
        foreach (var t in addedTokens) if (t.Id >= 0) _idToToken[t.Id] = t.Content;
        for (int i = 0; i < _idToToken.Length; i++) _idToToken[i] ??= string.Empty;
    }

    private string NormalizeContent(string content)
    {
        if (_normalizer is null) return content;
        return _normalizer.Normalize(NormalizedString.FromOriginal(content, 0, content.Length)).ToString();
    }

    /// <summary>tokenizer_config.json model_max_length (null when absent or a "no limit" sentinel like 1e30).</summary>
    public int? ModelMaxLength { get; }

    /// <summary>Padding id from tokenizer.json "padding", else tokenizer_config.json pad_token, else 0.</summary>
    public int PadTokenId { get; }

    /// <summary>Vocabulary size including added tokens (largest id + 1).</summary>
    public int VocabSize => _idToToken.Length;

    /// <summary>The token string for an id (empty when unknown).</summary>
    public string IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : string.Empty;

    /// <summary>The id of a vocabulary or added token, or null.</summary>
    public int? TokenToId(string token)
    {
        if (_model.Vocab.TryGetValue(token, out int id)) return id;
        for (int i = 0; i < _idToToken.Length; i++) if (_idToToken[i] == token) return i;
        return null;
    }

    public int NumSpecialTokensToAdd(bool isPair) => _post.AddedTokens(isPair);

    /// <summary>
    /// Normalizer + pre-tokenizer + model, with added tokens matched first; no special tokens, no truncation.
    /// Offsets are UTF-16 [start, end) into <paramref name="text"/>. Lone surrogates are read as U+FFFD (Rust strings
    /// cannot hold them).
    /// </summary>
    public TokenizedText Tokenize(string text)
    {
        text ??= string.Empty;
        var src = Sanitize(text);
        var ids = new List<int>(Math.Min(src.Length / 3 + 4, 1 << 20));
        var offsets = new List<(int, int)>(ids.Capacity);
        var raw = new List<RawToken>();
        var matches = new List<(int Start, int End, int Id)>();
        _rawAdded.FindMatches(src, matches);
        int pos = 0;
        foreach (var (s, e, id) in matches)
        {
            if (s > pos) ProcessSegment(NormalizedString.FromOriginal(src, pos, s - pos), ids, offsets, raw);
            ids.Add(id); offsets.Add((s, e));
            pos = e;
        }
        if (pos < src.Length || src.Length == 0) ProcessSegment(NormalizedString.FromOriginal(src, pos, src.Length - pos), ids, offsets, raw);
        var idArr = ids.ToArray();
        var tokens = new string[idArr.Length];
        for (int i = 0; i < idArr.Length; i++) tokens[i] = IdToToken(idArr[i]);
        return new TokenizedText(idArr, tokens, offsets.ToArray());
    }

    private static ReadOnlySpan<char> Sanitize(string text)
    {
        // Replace lone surrogates (same length, so offsets stay valid); only allocates when there is one.
        char[]? copy = null;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (!char.IsSurrogate(c)) continue;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            copy ??= text.ToCharArray();
            copy[i] = '\uFFFD';
        }
        return copy ?? text.AsSpan();
    }

    private void ProcessSegment(NormalizedString segment, List<int> ids, List<(int, int)> offsets, List<RawToken> raw)
    {
        var normalized = _normalizer is null ? segment : _normalizer.Normalize(segment);
        if (_normalizedAdded.IsEmpty)
        {
            PreTokenizeAndModel(normalized, ids, offsets, raw);
            return;
        }
        var matches = new List<(int Start, int End, int Id)>();
        _normalizedAdded.FindMatches(normalized.Span, matches);
        int pos = 0;
        foreach (var (s, e, id) in matches)
        {
            if (s > pos) PreTokenizeAndModel(normalized.Slice(pos, s - pos), ids, offsets, raw);
            ids.Add(id); offsets.Add(normalized.OriginalSpan(s, e));
            pos = e;
        }
        if (pos < normalized.Length) PreTokenizeAndModel(normalized.Slice(pos, normalized.Length - pos), ids, offsets, raw);
    }

    private void PreTokenizeAndModel(NormalizedString normalized, List<int> ids, List<(int, int)> offsets, List<RawToken> raw)
    {
        if (normalized.IsEmpty) return;
        if (_preTokenizer is BertPreTokenizer)
        {
            BertSplitAndModel(normalized, ids, offsets, raw);
            return;
        }
        List<NormalizedString> pieces;
        if (_preTokenizer is null) pieces = [normalized];
        else
        {
            pieces = new List<NormalizedString>();
            _preTokenizer.PreTokenize([normalized], pieces);
        }
        foreach (var piece in pieces)
        {
            raw.Clear();
            _model.Tokenize(piece.Span, raw);
            foreach (var t in raw)
            {
                ids.Add(t.Id);
                offsets.Add(piece.OriginalSpan(t.Start, t.End));
            }
        }
    }

    /// <summary>
    /// BertPreTokenizer (split on whitespace, removed; isolate each punctuation char) fused with the model: pieces are
    /// ranges of <paramref name="normalized"/>, so no per-piece objects are created.
    /// </summary>
    private void BertSplitAndModel(NormalizedString normalized, List<int> ids, List<(int, int)> offsets, List<RawToken> raw)
    {
        var span = normalized.Span;
        int start = -1;
        for (int i = 0; i < span.Length;)
        {
            char c = span[i];
            int cp, len;
            if (c < 0x80) { cp = c; len = 1; }
            else cp = CharClass.ReadCodePoint(span, i, out len);
            if (CharClass.IsWhitespace(cp))
            {
                if (start >= 0) { ModelPiece(normalized, start, i - start, ids, offsets, raw); start = -1; }
            }
            else if (CharClass.IsBertPunctuation(cp))
            {
                if (start >= 0) { ModelPiece(normalized, start, i - start, ids, offsets, raw); start = -1; }
                ModelPiece(normalized, i, len, ids, offsets, raw);
            }
            else if (start < 0) start = i;
            i += len;
        }
        if (start >= 0) ModelPiece(normalized, start, span.Length - start, ids, offsets, raw);
    }

    private void ModelPiece(NormalizedString ns, int start, int length, List<int> ids, List<(int, int)> offsets, List<RawToken> raw)
    {
        raw.Clear();
        _model.Tokenize(ns.Span.Slice(start, length), raw);
        foreach (var t in raw)
        {
            ids.Add(t.Id);
            // Same as the piece's own OriginalSpan for non-empty tokens; an empty one needs the piece's bounds.
            offsets.Add(t.End > t.Start ? ns.OriginalSpan(start + t.Start, start + t.End) : ns.Slice(start, length).OriginalSpan(t.Start, t.End));
        }
    }

    /// <summary>
    /// Truncation (Hugging Face <c>truncate_encodings</c>, direction right, stride 0) to
    /// <paramref name="maxLength"/> minus the special tokens, then the post-processor template.
    /// <para>LongestFirst: the longer sequence is cut first; when both are long each keeps half the budget.</para>
    /// <para>OnlyFirst / OnlySecond: when the other sequence alone leaves no room (it is at least the whole budget),
    /// Hugging Face raises "Sequence to truncate too short to respect the provided max_length". We do the same with a
    /// clear <see cref="TokenizerException"/> rather than silently cutting the other sequence, because the caller
    /// asked for it to be kept whole. A single sequence is always cut to the budget, whatever the strategy.</para>
    /// <para><paramref name="truncateLeft"/>: cut tokens from the start of each sequence instead of its end (Hugging Face's
    /// <c>truncation_side="left"</c>); how many each sequence keeps is the same.</para>
    /// </summary>
    public EncodedText Build(TokenizedText first, TokenizedText? second, int maxLength, TruncationStrategy strategy = TruncationStrategy.LongestFirst, bool truncateLeft = false)
    {
        ArgumentNullException.ThrowIfNull(first);
        bool pair = second is not null;
        int budget = Math.Max(0, maxLength - NumSpecialTokensToAdd(pair));
        int n1 = first.Count, n2 = second?.Count ?? 0;
        if (n1 + n2 > budget)
        {
            if (budget == 0) { n1 = 0; n2 = 0; }
            else if (!pair) n1 = budget;
            else if (strategy == TruncationStrategy.LongestFirst) (n1, n2) = LongestFirst(n1, n2, budget);
            else
            {
                int toRemove = n1 + n2 - budget;
                bool cutFirst = strategy == TruncationStrategy.OnlyFirst;
                int target = cutFirst ? n1 : n2;
                if (target <= toRemove)
                {
                    int other = cutFirst ? n2 : n1;
                    string what = cutFirst ? "passage" : "query";
                    throw new TokenizerException(
                        $"{what} is {other} tokens, longer than the budget {budget - 1} that leaves room for the other sequence " +
                        $"(max_length {maxLength} minus {NumSpecialTokensToAdd(true)} special tokens is {budget}); " +
                        $"shorten the {what} or use longest_first");
                }
                if (cutFirst) n1 -= toRemove; else n2 -= toRemove;
            }
        }
        if (truncateLeft)
        {
            first = first.Slice(first.Count - n1, first.Count);
            second = second?.Slice(second.Count - n2, second.Count);
        }
        return _post.Apply(first, n1, second, n2);
    }

    private static (int, int) LongestFirst(int n1, int n2, int budget)
    {
        bool swap = n1 > n2;
        if (swap) (n1, n2) = (n2, n1);
        n2 = n1 > budget ? n1 : Math.Max(n1, budget - n1);
        if (n1 + n2 > budget)
        {
            n1 = budget / 2;
            n2 = n1 + budget % 2;
        }
        return swap ? (n2, n1) : (n1, n2);
    }

    /// <summary>Single sequence with special tokens; truncated to <paramref name="maxLength"/> when given.</summary>
    public EncodedText Encode(string text, int? maxLength = null) => Build(Tokenize(text), null, maxLength ?? int.MaxValue);

    /// <summary>
    /// A (query, passage) pair. Like sentence-transformers (which always tokenizes a batch of pairs), an empty passage
    /// still yields a pair: <c>[CLS] query [SEP] [SEP]</c>.
    /// </summary>
    public EncodedText EncodePair(string first, string second, int maxLength, TruncationStrategy strategy = TruncationStrategy.LongestFirst)
        => Build(Tokenize(first), Tokenize(second), maxLength, strategy);
}
