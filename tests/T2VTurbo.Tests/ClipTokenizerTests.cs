using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using T2VTurbo.Tests.Support;
using T2VTurbo.Text;
using Xunit;
using Xunit.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>open_clip 2.24 tokenizer parity (clip_tokenizer fixture) and the HF CLIPTokenizer cases of text_ms.</summary>
public class ClipTokenizerTests(ITestOutputHelper output)
{
    private static string FixtureFile(string fixture, string name)
    {
        var path = Path.Combine(Fixture.Root, fixture, name);
        Assert.True(File.Exists(path), $"fixture file is missing: {path}");
        return path;
    }

    private static JsonArray Cases(string fixture, string file) =>
        JsonNode.Parse(File.ReadAllText(FixtureFile(fixture, file)))!["cases"]!.AsArray();

    private static long[] Ids(JsonNode node) => node.AsArray().Select(x => x!.GetValue<long>()).ToArray();

    /// <summary>open_clip behaviour with the fixture's context length.</summary>
    private static ClipTokenizer OpenClipFromGz()
    {
        using var f = Fixture.Load("clip_tokenizer");
        var contextLength = f.Config["context_length"]!.GetValue<int>();
        return ClipTokenizer.FromBpeGz(FixtureFile("clip_tokenizer", "bpe_simple_vocab_16e6.txt.gz"),
                                       ClipTokenizerOptions.OpenClip with { ContextLength = contextLength });
    }

    /// <summary>Counts exact rows; fails naming the first prompt that differs and where.</summary>
    private void AssertAllExact(IEnumerable<(string Text, long[] Expected)> cases, Func<string, long[]> encode, string label)
    {
        int total = 0, exact = 0;
        string? firstMismatch = null;
        foreach (var (text, expected) in cases)
        {
            total++;
            var actual = encode(text);
            if (actual.SequenceEqual(expected)) { exact++; continue; }
            if (firstMismatch != null) continue;
            var at = Enumerable.Range(0, Math.Min(actual.Length, expected.Length)).Where(i => actual[i] != expected[i]).ToList();
            firstMismatch = $"first mismatch: {JsonValue.Create(text)!.ToJsonString()} differs at [{string.Join(",", at)}]\n" +
                            $"  expected {string.Join(" ", expected.TakeWhile(x => x != 0))}\n  actual   {string.Join(" ", actual.TakeWhile(x => x != 0))}";
        }
        output.WriteLine($"{label}: {exact}/{total} exact");
        Console.WriteLine($"[parity] {label}: {exact}/{total} prompts exact");
        Assert.True(total > 0, $"{label}: no cases");
        Assert.True(exact == total, $"{label}: {exact}/{total} exact; {firstMismatch}");
    }

    [Fact]
    public void OpenClip_ids_match_every_case()
    {
        var tok = OpenClipFromGz();
        using var f = Fixture.Load("clip_tokenizer");
        var config = f.Config;
        Assert.Equal(config["context_length"]!.GetValue<int>(), tok.ContextLength);
        Assert.Equal(config["sot_token_id"]!.GetValue<long>(), tok.StartOfTextId);
        Assert.Equal(config["eot_token_id"]!.GetValue<long>(), tok.EndOfTextId);
        Assert.Equal(config["pad_token_id"]!.GetValue<long>(), tok.PadId);
        Assert.Equal(config["vocab_size"]!.GetValue<int>(), tok.VocabSize);

        var cases = Cases("clip_tokenizer", "cases.json").Select(c => (c!["text"]!.GetValue<string>(), Ids(c["ids"]!))).ToList();
        AssertAllExact(cases, tok.Encode, "clip_tokenizer/ids");
    }

    [Fact]
    public void OpenClip_cleaned_text_and_untruncated_length_match_every_case()
    {
        var tok = OpenClipFromGz();
        var failures = new List<string>();
        var cases = Cases("clip_tokenizer", "cases.json");
        foreach (var c in cases)
        {
            var text = c!["text"]!.GetValue<string>();
            var cleaned = tok.Clean(text);
            var expected = c["cleaned"]!.GetValue<string>();
            if (cleaned != expected) failures.Add($"{JsonValue.Create(text)!.ToJsonString()}: cleaned {JsonValue.Create(cleaned)!.ToJsonString()} != {JsonValue.Create(expected)!.ToJsonString()}");
            var length = tok.EncodeTokens(text).Count + 2;
            var expectedLength = c["untruncated_length"]!.GetValue<int>();
            if (length != expectedLength) failures.Add($"{JsonValue.Create(text)!.ToJsonString()}: untruncated length {length} != {expectedLength}");
        }
        output.WriteLine($"clip_tokenizer/cleaned: {cases.Count - failures.Count}/{cases.Count} without a difference");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Vocab_json_and_merges_give_the_same_ids_as_the_gz_and_the_embedded_default()
    {
        var fromGz = OpenClipFromGz();
        var fromFiles = ClipTokenizer.FromFiles(FixtureFile("clip_tokenizer", "vocab.json"), FixtureFile("clip_tokenizer", "merges.txt"), fromGz.Options);
        var embedded = ClipTokenizer.FromEmbedded(fromGz.Options);
        Assert.Equal(fromGz.VocabSize, fromFiles.VocabSize);
        var texts = Cases("clip_tokenizer", "cases.json").Select(c => c!["text"]!.GetValue<string>()).ToList();
        foreach (var text in texts)
        {
            var expected = fromGz.Encode(text);
            Assert.True(expected.SequenceEqual(fromFiles.Encode(text)), $"vocab.json+merges.txt differ from the .gz for {JsonValue.Create(text)!.ToJsonString()}");
            Assert.True(expected.SequenceEqual(embedded.Encode(text)), $"embedded default differs from the .gz for {JsonValue.Create(text)!.ToJsonString()}");
        }

        using var batch = embedded.Tokenize(texts);
        Assert.Equal(ScalarType.Int64, batch.dtype);
        Assert.Equal(new long[] { texts.Count, fromGz.ContextLength }, batch.shape);
        var row = batch[texts.Count - 1].data<long>().ToArray();
        Assert.Equal(fromGz.Encode(texts[^1]), row);
    }

    [Fact]
    public void HuggingFace_ids_match_every_text_ms_case()
    {
        using var f = Fixture.Load("text_ms");
        var maxLength = f.Config["tokenizer_config_json"]?["model_max_length"]?.GetValue<int>() ?? ClipTokenizerOptions.HuggingFace.ContextLength;
        var tok = ClipTokenizer.FromFiles(FixtureFile("clip_tokenizer", "vocab.json"), FixtureFile("clip_tokenizer", "merges.txt"),
                                          ClipTokenizerOptions.HuggingFace with { ContextLength = maxLength });
        var cases = Cases("text_ms", "tokenizer_cases.json").Select(c => (c!["text"]!.GetValue<string>(), Ids(c["hf_ids"]!))).ToList();
        AssertAllExact(cases, tok.Encode, "text_ms/hf_ids");

        // The same rows as the fixture's io tensor.
        using var expected = f.In("token_ids_all");
        using var actual = tok.Tokenize(cases.Select(c => c.Item1).ToList());
        Assert.True(actual.shape.SequenceEqual(expected.shape), $"token_ids_all shape [{string.Join(",", actual.shape)}] != [{string.Join(",", expected.shape)}]");
        Assert.True(actual.equal(expected.to(ScalarType.Int64)).all().item<bool>(), "token_ids_all differs from the HF ids");
    }

    [Fact]
    public void Missing_and_malformed_files_fail_with_clear_errors()
    {
        var dir = Directory.CreateTempSubdirectory("clip-tok-").FullName;
        try
        {
            var missing = Path.Combine(dir, "nope.txt.gz");
            var e1 = Assert.Throws<FileNotFoundException>(() => ClipTokenizer.FromBpeGz(missing));
            Assert.Contains(missing, e1.Message);

            var notGzip = Path.Combine(dir, "plain.txt.gz");
            File.WriteAllText(notGzip, "#version: 0.2\ni n\n");
            var e2 = Assert.Throws<InvalidDataException>(() => ClipTokenizer.FromBpeGz(notGzip));
            Assert.Contains("gzip", e2.Message);

            var tooShort = Path.Combine(dir, "short.txt.gz");
            WriteGz(tooShort, "header\ni n\nt h\n");
            var e3 = Assert.Throws<InvalidDataException>(() => ClipTokenizer.FromBpeGz(tooShort));
            Assert.Contains("merge lines", e3.Message);

            var goodMerges = FixtureFile("clip_tokenizer", "merges.txt");
            var goodVocab = FixtureFile("clip_tokenizer", "vocab.json");
            var badJson = Path.Combine(dir, "vocab.json");
            File.WriteAllText(badJson, "[1, 2, 3]");
            var e4 = Assert.Throws<InvalidDataException>(() => ClipTokenizer.FromFiles(badJson, goodMerges));
            Assert.Contains("vocab.json", e4.Message);

            var badMerges = Path.Combine(dir, "merges.txt");
            File.WriteAllText(badMerges, "#version: 0.2\ni n\nt h e\n");
            var e5 = Assert.Throws<InvalidDataException>(() => ClipTokenizer.FromFiles(goodVocab, badMerges));
            Assert.Contains("line 3", e5.Message);

            var e6 = Assert.Throws<FileNotFoundException>(() => ClipTokenizer.FromFiles(goodVocab, Path.Combine(dir, "absent.txt")));
            Assert.Contains("merges.txt", e6.Message);

            var unknownMerge = Path.Combine(dir, "merges2.txt");
            File.WriteAllText(unknownMerge, "#version: 0.2\nq zzzz\n");
            var e7 = Assert.Throws<InvalidDataException>(() => ClipTokenizer.FromFiles(goodVocab, unknownMerge));
            Assert.Contains("qzzzz", e7.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Truncation_keeps_context_minus_two_tokens_and_ends_with_eot()
    {
        var tok = ClipTokenizer.Default;
        var n = tok.ContextLength;
        var longText = string.Join(" ", Enumerable.Repeat("cat", n * 2));
        var ids = tok.Encode(longText);
        Assert.Equal(n, ids.Length);
        Assert.Equal(tok.StartOfTextId, ids[0]);
        Assert.Equal(tok.EndOfTextId, ids[^1]);
        Assert.DoesNotContain(tok.PadId, ids);
        var empty = tok.Encode("   ");
        Assert.Equal(new[] { tok.StartOfTextId, tok.EndOfTextId }, empty.Take(2));
        Assert.All(empty.Skip(2), x => Assert.Equal(tok.PadId, x));
        var shortContext = ClipTokenizer.FromEmbedded(ClipTokenizerOptions.OpenClip with { ContextLength = 5 });
        Assert.Equal(new[] { tok.StartOfTextId, ids[1], ids[2], ids[3], tok.EndOfTextId }, shortContext.Encode(longText));
    }

    // Expected values printed by CPython 3.11's html.unescape (open_clip runs it twice after ftfy).
    [Theory]
    [InlineData("&amp", "&")]
    [InlineData("&ampx", "&x")]
    [InlineData("&eacutex;", "\u00E9x;")]
    [InlineData("&#128;", "\u20AC")]
    [InlineData("&#0;", "\uFFFD")]
    [InlineData("&#xD800;", "\uFFFD")]
    [InlineData("&#99999999999999999999;", "\uFFFD")]
    [InlineData("&#xFFFE;", "")]
    [InlineData("&notit;", "\u00ACit;")]
    [InlineData("AT&T", "AT&T")]
    [InlineData("&Eacute", "\u00C9")]
    [InlineData("&EACUTE;", "&EACUTE;")]
    [InlineData("a &amp;amp; b", "a &amp; b")]
    [InlineData("&copy2024", "\u00A92024")]
    [InlineData("&#x1F600;", "\U0001F600")]
    public void Html_unescape_follows_python(string input, string expected) =>
        Assert.Equal(expected, HtmlEntities.PythonUnescape(input));

    // Expected values printed by CPython 3.11's str.lower (full mapping of U+0130, Final_Sigma rule).
    [Theory]
    [InlineData("\u039F\u0394\u039F\u03A3", "\u03BF\u03B4\u03BF\u03C2")]
    [InlineData("\u03A3", "\u03C3")]
    [InlineData("A\u03A3'A", "a\u03C3'a")]
    [InlineData("\u0130stanbul", "i\u0307stanbul")]
    [InlineData("\u0391\u03A3 \u0392\u03A3", "\u03B1\u03C2 \u03B2\u03C2")]
    [InlineData("A\u03A3\u0301", "a\u03C2\u0301")]
    public void Lower_case_follows_python(string input, string expected) =>
        Assert.Equal(expected, TextCleaner.PythonLower(input));

    [Fact]
    public void Decode_inverts_encode_up_to_cleaning_and_word_ends()
    {
        var tok = ClipTokenizer.Default;
        foreach (var text in new[] { "a photo of a cat", "Zürich Straße, 東京タワー 😀!", "don't 1080p" })
        {
            var decoded = tok.Decode(tok.EncodeTokens(text));
            Assert.Equal(string.Join("", ClipPreTokenizer.Split(tok.Clean(text), []).Select(p => p + " ")), decoded);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.Decode([tok.VocabSize]));
    }

    private static void WriteGz(string path, string text)
    {
        using var file = File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.Fastest);
        gz.Write(Encoding.UTF8.GetBytes(text));
    }
}
