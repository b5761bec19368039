namespace Sift.Core.Tests;

public class PassagesTests
{
    [Fact]
    public void Windows_overlap_and_cover_every_word()
    {
        var text = "a b c d e f g";
        var windows = Passages.Split(text, new PassageChunking(3, 1));
        Assert.Equal(["a b c", "c d e", "e f g"], windows.Select(w => text[w.Start..w.End]));
        Assert.All(windows, w => Assert.Equal(3, w.WindowCount));

        var eight = "a b c d e f g h";
        Assert.Equal(["a b c", "c d e", "e f g", "g h"], Passages.Split(eight, new PassageChunking(3, 1)).Select(w => eight[w.Start..w.End]));
    }

    [Fact]
    public void Offsets_point_into_the_original_text()
    {
        var text = "  alpha  beta gamma\r\n delta ";
        var windows = Passages.Split(text, new PassageChunking(2));
        Assert.Equal(2, windows.Count);
        Assert.Equal((2, 13), (windows[0].Start, windows[0].End));
        Assert.Equal("alpha  beta", text[windows[0].Start..windows[0].End]);
        Assert.Equal("gamma\r\n delta", text[windows[1].Start..windows[1].End]);
    }

    [Fact]
    public void Short_and_empty_texts()
    {
        Assert.Single(Passages.Split("one two", new PassageChunking(5, 2)));
        Assert.Empty(Passages.Split(" \n\t ", new PassageChunking(5, 2)));
    }

    [Fact]
    public void Document_split_keeps_title_and_metadata_and_numbers_ids()
    {
        var doc = new Document("w1 w2 w3 w4 w5", "notes/a.md", "Title", new Dictionary<string, object?> { ["source"] = "notes/a.md" });
        var parts = Passages.Split(doc, new PassageChunking(3, 1)).ToList();
        Assert.Equal(["notes/a.md#0", "notes/a.md#1"], parts.Select(p => p.Id));
        Assert.Equal(["w1 w2 w3", "w3 w4 w5"], parts.Select(p => p.Text));
        Assert.All(parts, p => Assert.Equal("Title", p.Title));
        Assert.Equal("notes/a.md", parts[1].Metadata!["source"]);
        Assert.Equal("notes/a.md", parts[1].Metadata!["parent"]);
        Assert.Equal(6L, parts[1].Metadata!["start"]);
        Assert.Equal(14L, parts[1].Metadata!["end"]);
        Assert.Equal(1L, parts[1].Metadata!["passage"]);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(10, 10)]
    [InlineData(10, -1)]
    public void Invalid_settings_are_user_errors(int tokens, int overlap)
    {
        Assert.Throws<SiftException>(() => Passages.Split("a b", new PassageChunking(tokens, overlap)));
    }
}
