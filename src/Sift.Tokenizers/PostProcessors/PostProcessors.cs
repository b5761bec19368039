namespace Sift.Tokenizers.PostProcessors;

/// <summary>One element of a template: a special token (ids + tokens) or sequence A/B, each with a type id.</summary>
internal readonly record struct TemplatePiece(bool IsSequence, bool IsB, int[] Ids, string[] Tokens, int TypeId);

/// <summary>
/// Post-processors reduced to what they do to ids: a template for single and pair inputs. TemplateProcessing,
/// BertProcessing and RobertaProcessing are all expressed this way; ByteLevel only adjusts offsets (no-op here).
/// </summary>
internal sealed class TemplatePostProcessor
{
    private readonly TemplatePiece[] _single;
    private readonly TemplatePiece[] _pair;

    public TemplatePostProcessor(TemplatePiece[] single, TemplatePiece[] pair)
    {
        _single = single; _pair = pair;
        SingleAdded = single.Where(p => !p.IsSequence).Sum(p => p.Ids.Length);
        PairAdded = pair.Where(p => !p.IsSequence).Sum(p => p.Ids.Length);
    }

    public int SingleAdded { get; }
    public int PairAdded { get; }

    /// <summary>No post-processor: A (type 0) then B (type 1), as tokenizers' default_process leaves them.</summary>
    public static TemplatePostProcessor None { get; } = new(
        [new TemplatePiece(true, false, [], [], 0)],
        [new TemplatePiece(true, false, [], [], 0), new TemplatePiece(true, true, [], [], 1)]);

    public static TemplatePostProcessor Bert(string cls, int clsId, string sep, int sepId) => new(
        [Special(cls, clsId, 0), Seq(false, 0), Special(sep, sepId, 0)],
        [Special(cls, clsId, 0), Seq(false, 0), Special(sep, sepId, 0), Seq(true, 1), Special(sep, sepId, 1)]);

    /// <summary>RoBERTa: &lt;s&gt; A &lt;/s&gt;&lt;/s&gt; B &lt;/s&gt;, all type ids 0.</summary>
    public static TemplatePostProcessor Roberta(string cls, int clsId, string sep, int sepId) => new(
        [Special(cls, clsId, 0), Seq(false, 0), Special(sep, sepId, 0)],
        [Special(cls, clsId, 0), Seq(false, 0), Special(sep, sepId, 0), Special(sep, sepId, 0), Seq(true, 0), Special(sep, sepId, 0)]);

    private static TemplatePiece Special(string token, int id, int type) => new(false, false, [id], [token], type);
    private static TemplatePiece Seq(bool b, int type) => new(true, b, [], [], type);

    public int AddedTokens(bool pair) => pair ? PairAdded : SingleAdded;

    public EncodedText Apply(TokenizedText a, int aCount, TokenizedText? b, int bCount)
    {
        var template = b is null ? _single : _pair;
        int total = (b is null ? SingleAdded : PairAdded) + aCount + (b is null ? 0 : bCount);
        var ids = new int[total];
        var types = new int[total];
        var tokens = new string[total];
        int k = 0;
        foreach (var piece in template)
        {
            if (piece.IsSequence)
            {
                var src = piece.IsB ? b! : a;
                int n = piece.IsB ? bCount : aCount;
                Array.Copy(src.Ids, 0, ids, k, n);
                Array.Copy(src.Tokens, 0, tokens, k, n);
                types.AsSpan(k, n).Fill(piece.TypeId);
                k += n;
            }
            else
            {
                for (int i = 0; i < piece.Ids.Length; i++)
                {
                    ids[k] = piece.Ids[i]; tokens[k] = piece.Tokens[i]; types[k] = piece.TypeId; k++;
                }
            }
        }
        return new EncodedText(ids, types, tokens);
    }
}
