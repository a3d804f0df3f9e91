using System.Diagnostics;
using System.Text.Json.Nodes;
using T2VTurbo.Training.Data;
using T2VTurbo.Video;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

/// <summary>Tiny synthetic videos made once per test class with ffmpeg. The "ramp" videos are grey frames whose
/// level is 4·(frame index), so a decoded frame tells which source frame it came from.</summary>
public sealed class SyntheticVideos : IDisposable
{
    public const int RampStep = 4;
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), $"t2v-videodata-{Guid.NewGuid():N}");
    public string Ramp32 => P("ramp32.mp4");          // 64 frames at 32 fps, 48×32, lossless H.264
    public string Testsrc => P("testsrc.mp4");        // 50 frames at 25 fps, 64×48
    public string Slow => P("slow10.mp4");            // 20 frames at 10 fps
    public string Short => P("short25.mp4");          // 10 frames at 25 fps
    public string Exact => P("exact32.mp4");          // 16 frames at 32 fps: exactly 8 × stride 2
    public string Corrupt => P("corrupt.mp4");        // random bytes

    public SyntheticVideos()
    {
        Directory.CreateDirectory(Dir);
        string ramp = "nullsrc=size=48x32:rate=32";
        string rampVf = $"format=gray,geq=lum='N*{RampStep}'";
        Ffmpeg($"-f lavfi -i {ramp} -frames:v 64 -vf {rampVf} -c:v libx264 -crf 0 -pix_fmt yuv420p {Ramp32}");
        Ffmpeg($"-i {Ramp32} -c copy -output_ts_offset 1.5 {P("ramp32_offset.mkv")}");
        Ffmpeg($"-f lavfi -i {ramp} -frames:v 64 -vf {rampVf} -c:v libvpx-vp9 -crf 20 -b:v 0 -deadline realtime {P("ramp32.webm")}");
        Ffmpeg($"-f lavfi -i {ramp} -frames:v 64 -vf {rampVf} -c:v mpeg4 -q:v 2 {P("ramp32.avi")}");
        Ffmpeg($"-f lavfi -i {ramp} -frames:v 64 -vf {rampVf} -pix_fmt gray {P("ramp32.gif")}");
        Ffmpeg($"-f lavfi -i testsrc=size=64x48:rate=25 -t 2 -c:v libx264 -pix_fmt yuv420p {Testsrc}");
        Ffmpeg($"-f lavfi -i testsrc=size=32x32:rate=10 -t 2 -c:v libx264 -pix_fmt yuv420p {Slow}");
        Ffmpeg($"-f lavfi -i color=c=red:size=32x32:rate=25 -frames:v 10 -c:v libx264 -pix_fmt yuv420p {Short}");
        Ffmpeg($"-f lavfi -i {ramp} -frames:v 16 -vf {rampVf} -c:v libx264 -crf 0 -pix_fmt yuv420p {Exact}");
        var junk = new byte[4096];
        new Random(5).NextBytes(junk);
        File.WriteAllBytes(Corrupt, junk);
    }

    public string P(string name) => Path.Combine(Dir, name);

    /// <summary>A fresh folder inside <see cref="Dir"/> holding copies of the given videos (name → source) and captions.</summary>
    public string Folder(string name, IEnumerable<(string File, string Source)> videos, IEnumerable<(string File, string Text)> captions)
    {
        string dir = P(name);
        Directory.CreateDirectory(dir);
        foreach (var (file, source) in videos)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(dir, file))!);
            File.Copy(source, Path.Combine(dir, file));
        }
        foreach (var (file, text) in captions) File.WriteAllText(Path.Combine(dir, file), text);
        return dir;
    }

    private static void Ffmpeg(string args)
    {
        var psi = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in ("-hide_banner -loglevel error -nostdin -y " + args).Split(' ')) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"ffmpeg {args} failed: {err}");
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

public class VideoDataTests : IClassFixture<SyntheticVideos>
{
    private readonly SyntheticVideos v;
    private static readonly ClipOptions Small = new(n_frames: 8, fps: 16, height: 24, width: 40);

    public VideoDataTests(SyntheticVideos videos) => v = videos;

    [Fact]
    public void Probe_reports_size_fps_frame_count_and_timestamps()
    {
        var t = VideoReader.Probe(v.Testsrc);
        Assert.Equal((64, 48, 50), (t.Width, t.Height, t.FrameCount));
        Assert.Equal(25.0, t.AvgFps, 6);
        var mkv = VideoReader.Probe(v.P("ramp32_offset.mkv"));
        Assert.Equal(64, mkv.FrameCount);
        Assert.NotNull(mkv.FrameTimes);
        Assert.Equal(1.5, mkv.FrameTimes![0], 3);                 // container start offset kept: seeking uses absolute times
        Assert.Equal(1.5 + 63 / 32.0, mkv.FrameTimes[63], 2);
        Assert.Throws<VideoReadException>(() => VideoReader.Probe(v.Corrupt));
        Assert.Throws<VideoReadException>(() => VideoReader.Probe(v.P("missing.mp4")));
    }

    [Fact]
    public void Clip_is_n_frames_resized_to_height_width_in_minus_one_to_one()
    {
        var o = new ClipSampler(Small).Sample(v.Testsrc, new Random(1));
        Assert.True(o.Ok, o.Message);
        Assert.Equal((8, 24, 40), (o.Frames!.Frames, o.Frames.Height, o.Frames.Width));
        using var x = ClipSampler.ToTensor(o.Frames);
        Assert.Equal(new long[] { 3, 8, 24, 40 }, x.shape);
        Assert.Equal(ScalarType.Float32, x.dtype);
        float min = x.min().item<float>(), max = x.max().item<float>();
        Assert.InRange(min, -1f, -0.5f);                            // testsrc has saturated colours: the range is used
        Assert.InRange(max, 0.5f, 1f);
        // Element [c, t, h, w] is (byte/255 − 0.5)/0.5 of pixel (t, h, w) channel c.
        var rgb = o.Frames.Rgb;
        foreach (var (c, t, h, w) in new[] { (0, 0, 0, 0), (1, 3, 10, 17), (2, 7, 23, 39) })
        {
            byte b = rgb[((t * 24 + h) * 40 + w) * 3 + c];
            Assert.Equal((b / 255f - 0.5f) / 0.5f, x[c, t, h, w].item<float>(), 6);
        }
    }

    [Theory]
    [InlineData("ramp32.mp4")]
    [InlineData("ramp32.webm")]
    [InlineData("ramp32_offset.mkv")]
    public void Cached_decoding_cuts_the_same_clips_as_seeking(string name)
    {
        var plain = new ClipSampler(Small);
        var cached = new ClipSampler(Small, cacheBytes: 64L << 20);
        var tiny = new ClipSampler(Small, cacheBytes: 10);            // budget too small: falls back to seeking
        for (int seed = 0; seed < 4; seed++)
        {
            var a = plain.Sample(v.P(name), new Random(seed));
            var b = cached.Sample(v.P(name), new Random(seed));
            var c = tiny.Sample(v.P(name), new Random(seed));
            Assert.True(a.Ok && b.Ok && c.Ok, a.Message + b.Message + c.Message);
            Assert.Equal((a.Start, a.Stride), (b.Start, b.Stride));
            Assert.Equal(a.Frames!.Rgb, b.Frames!.Rgb);
            Assert.Equal(a.Frames!.Rgb, c.Frames!.Rgb);
        }
    }

    [Fact]
    public void The_decoded_cache_is_kept_on_disk_for_the_next_run_and_dropped_when_the_video_changes()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"t2v-diskcache-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var video = Path.Combine(dir, "a.mp4");
            File.Copy(v.Ramp32, video);
            var first = new ClipSampler(Small, cacheBytes: 64L << 20).Sample(video, new Random(1));
            Assert.True(first.Ok, first.Message);
            var stored = Path.Combine(dir, ClipSampler.DiskCacheFolder, $"a.mp4.{Small.width}x{Small.height}.rgb");
            Assert.True(File.Exists(stored), stored);
            Assert.True(File.Exists(Path.Combine(dir, ClipSampler.DiskCacheFolder, "a.mp4.probe.json")));

            // Overwrite the stored pixels (header kept): a fresh sampler must read them rather than decode again.
            var bytes = File.ReadAllBytes(stored);
            bytes.AsSpan(20).Fill(7);
            File.WriteAllBytes(stored, bytes);
            var second = new ClipSampler(Small, cacheBytes: 64L << 20).Sample(video, new Random(1));
            Assert.True(second.Ok, second.Message);
            Assert.All(second.Frames!.Rgb, b => Assert.Equal(7, b));

            // A changed source (another modification time) invalidates the stored copy.
            File.SetLastWriteTimeUtc(video, DateTime.UtcNow.AddMinutes(1));
            var third = new ClipSampler(Small, cacheBytes: 64L << 20).Sample(video, new Random(1));
            Assert.Equal(first.Frames!.Rgb, third.Frames!.Rgb);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Clip_frames_are_start_plus_k_times_stride(int seed)
    {
        // 32 fps at 16 fps sampling: stride 2; 64 frames, 8·2 needed: start ∈ [0, 48).
        var o = new ClipSampler(Small).Sample(v.Ramp32, new Random(seed));
        Assert.True(o.Ok, o.Message);
        Assert.Equal((32, 2), (o.NativeFps, o.Stride));
        Assert.InRange(o.Start, 0, 47);
        Assert.Equal(o.Start, ClipSampler.StartFrame(64, 8, 2, new Random(seed)));   // one draw from the given Random
        for (int k = 0; k < 8; k++)
        {
            var frame = o.Frames!.Frame(k);
            double mean = 0;
            foreach (var b in frame) mean += b;
            mean /= frame.Length;
            int index = (int)Math.Round(mean / SyntheticVideos.RampStep);
            Assert.True(index == o.Start + k * o.Stride,
                $"seed {seed}: clip frame {k} shows source frame {index} (mean {mean:0.0}), expected {o.Start} + {k}·{o.Stride}");
            Assert.InRange(frame.ToArray().Max() - frame.ToArray().Min(), 0, 2);  // a flat frame stays flat through Lanczos
        }
    }

    [Fact]
    public void Fps_and_stride_round_half_to_even_like_numpy()
    {
        Assert.Equal(30, ClipSampler.NativeFps(29.97));
        Assert.Equal(24, ClipSampler.NativeFps(23.976));
        Assert.Equal(12, ClipSampler.NativeFps(12.5));            // numpy rounds .5 to even
        Assert.Equal(2, ClipSampler.StrideFor(25, 16));
        Assert.Equal(2, ClipSampler.StrideFor(30, 16));
        Assert.Equal(2, ClipSampler.StrideFor(24, 16));           // 1.5 → 2
        Assert.Equal(2, ClipSampler.StrideFor(40, 16));           // 2.5 → 2
        Assert.Equal(1, ClipSampler.StrideFor(16, 16));
        Assert.Equal(3, ClipSampler.StrideFor(25, 8));
        Assert.Equal(new ClipOptions(8, 16, 24, 512), ClipOptions.FromJson(new JsonObject { ["n_frames"] = 8, ["height"] = 24 }));
        Assert.Throws<ArgumentException>(() => new ClipSampler(new ClipOptions(fps: 0)));
    }

    [Fact]
    public void Start_frame_is_uniform_below_len_minus_span_and_zero_when_exact()
    {
        Assert.Equal(-1, ClipSampler.StartFrame(15, 8, 2, new Random(0)));
        Assert.Equal(0, ClipSampler.StartFrame(16, 8, 2, new Random(0)));
        var rng = new Random(11);
        var seen = new int[5];
        for (int i = 0; i < 2000; i++) seen[ClipSampler.StartFrame(20, 8, 2, rng)]++;   // span 16: starts 0..3
        Assert.All(seen.Take(4), n => Assert.InRange(n, 400, 600));
        Assert.Equal(0, seen[4]);
    }

    [Theory]
    [InlineData("ramp32.mp4")]
    [InlineData("ramp32_offset.mkv")]
    [InlineData("ramp32.webm")]
    [InlineData("ramp32.avi")]
    [InlineData("ramp32.gif")]
    public void Seeking_decodes_the_same_frames_as_decoding_from_the_start(string name)
    {
        var info = VideoReader.Probe(v.P(name));
        Assert.Equal((64, 48, 32), (info.FrameCount, info.Width, info.Height));
        var seeked = VideoReader.ReadFrames(info, start: 21, stride: 3, count: 5, width: 20, height: 12, seek: true);
        var linear = VideoReader.ReadFrames(info, start: 21, stride: 3, count: 5, width: 20, height: 12, seek: false);
        Assert.Equal(5, seeked.Frames);
        Assert.Equal(linear.Rgb, seeked.Rgb);
        int first = (int)Math.Round(seeked.Frame(0).ToArray().Average(b => (double)b) / SyntheticVideos.RampStep);
        Assert.InRange(first, 20, 22);                          // lossy codecs: the level is close to 4·21, not exact
    }

    [Fact]
    public void Unreadable_too_short_and_too_slow_videos_come_back_as_skips()
    {
        var s = new ClipSampler(Small);
        Assert.Equal(SkipReason.Unreadable, s.Sample(v.Corrupt, new Random(0)).Skip);
        Assert.Equal(SkipReason.Unreadable, s.Sample(v.P("missing.mp4"), new Random(0)).Skip);
        var shortClip = s.Sample(v.Short, new Random(0));       // 10 frames, needs 8·2
        Assert.Equal(SkipReason.TooShort, shortClip.Skip);
        Assert.Contains("10 frames", shortClip.Message);
        Assert.Equal(SkipReason.LowFps, s.Sample(v.Slow, new Random(0)).Skip);   // 10 fps < 16
        var exact = s.Sample(v.Exact, new Random(0));
        Assert.True(exact.Ok, exact.Message);
        Assert.Equal(0, exact.Start);
        Assert.True(new ClipSampler(Small with { fps = 8 }).Sample(v.Slow, new Random(0)).Ok);   // 10 fps, stride 1
    }

    [Fact]
    public void Folder_source_pairs_videos_with_same_name_captions()
    {
        string dir = v.Folder("folder",
            new[] { ("b.webm", v.P("ramp32.webm")), ("a.mp4", v.Ramp32), ("c.mp4", v.Testsrc), ("d.mp4", v.Testsrc), ("sub/e.gif", v.P("ramp32.gif")) },
            new[] { ("a.txt", "a grey ramp"), ("b.txt", "  a webm ramp\n"), ("d.txt", "  \n"), ("notes.txt", "not a caption"), ("sub/e.txt", "a gif") });
        var warnings = new List<string>();
        var data = VideoCaptionDataset.Open(dir, warnings.Add);
        Assert.Equal(new[] { "a.mp4", "b.webm", Path.Combine("sub", "e.gif") }, data.Items.Select(i => Path.GetRelativePath(dir, i.Path)));
        Assert.Equal(new[] { "a grey ramp", "a webm ramp", "a gif" }, data.Items.Select(i => i.Caption));
        Assert.Equal(2, data.Counters.SkippedNoCaption);           // c (no file) and d (blank file)
        Assert.Equal(2, warnings.Count);
        Assert.Contains(warnings, w => w.Contains("c.mp4"));
    }

    [Fact]
    public void Csv_rows_follow_rfc_4180_quoting()
    {
        var rows = CsvRows.Read(new StringReader("a,\"b,c\",\"d \"\"e\"\"\"\r\n\"multi\nline\",,x\n\nlast")).ToList();
        Assert.Equal(3, rows.Count);                               // the blank line is no row
        Assert.Equal(new[] { "a", "b,c", "d \"e\"" }, rows[0]);
        Assert.Equal(new[] { "multi\nline", "", "x" }, rows[1]);
        Assert.Equal(new[] { "last" }, rows[2]);
        Assert.Throws<InvalidDataException>(() => CsvRows.Read(new StringReader("a,\"open")).ToList());
    }

    [Fact]
    public void Csv_source_reads_webvid_and_path_caption_layouts()
    {
        string dir = v.Folder("csv", new[] { ("pages/p1/1001.mp4", v.Ramp32), ("1002.webm", v.P("ramp32.webm")), ("clips/x.mp4", v.Testsrc) },
            Array.Empty<(string, string)>());
        File.WriteAllText(Path.Combine(dir, "webvid.csv"),
            "videoid,contentUrl,duration,page_dir,name\n" +
            "1001,https://example.com/1001.mp4,PT00H00M02S,pages/p1,\"A cat, sitting on a \"\"mat\"\"\"\n" +
            "1002,https://example.com/1002.mp4,PT00H00M02S,pages/p2,a webm clip\n" +
            "1003,https://example.com/1003.mp4,PT00H00M02S,pages/p3,\n");
        var warnings = new List<string>();
        var webvid = VideoCaptionDataset.Open(Path.Combine(dir, "webvid.csv"), warnings.Add);
        Assert.Equal(new[] { Path.Combine(dir, "pages", "p1", "1001.mp4"), Path.Combine(dir, "1002.webm") }, webvid.Items.Select(i => i.Path));
        Assert.Equal("A cat, sitting on a \"mat\"", webvid[0].Caption);
        Assert.Equal(1, webvid.Counters.SkippedNoCaption);
        Assert.Single(warnings);

        File.WriteAllText(Path.Combine(dir, "plain.csv"),
            $"Path,Caption\r\nclips/x.mp4,\"test pattern, moving\"\r\n{v.Ramp32},\"two\nlines\"\r\n,orphan caption\r\n");
        var plain = VideoCaptionDataset.FromCsv(Path.Combine(dir, "plain.csv"));
        Assert.Equal(new[] { Path.Combine(dir, "clips", "x.mp4"), v.Ramp32 }, plain.Items.Select(i => i.Path));
        Assert.Equal(new[] { "test pattern, moving", "two\nlines" }, plain.Items.Select(i => i.Caption));
        Assert.Equal(1, plain.Counters.SkippedUnreadable);         // the row without a path

        File.WriteAllText(Path.Combine(dir, "bad.csv"), "file_name,description\nx.mp4,hello\n");
        var e = Assert.Throws<InvalidDataException>(() => VideoCaptionDataset.FromCsv(Path.Combine(dir, "bad.csv")));
        Assert.Contains("file_name, description", e.Message);
    }

    /// <summary>Six captioned videos: four usable, one corrupt, one too short.</summary>
    private VideoCaptionDataset MixedDataset(string name)
    {
        string dir = v.Folder(name,
            new[] { ("g1.mp4", v.Ramp32), ("g2.mp4", v.Testsrc), ("g3.webm", v.P("ramp32.webm")), ("g4.mkv", v.P("ramp32_offset.mkv")),
                    ("bad.mp4", v.Corrupt), ("short.mp4", v.Short) },
            new[] { "g1", "g2", "g3", "g4", "bad", "short" }.Select(n => ($"{n}.txt", $"caption of {n}")));
        return VideoCaptionDataset.FromFolder(dir);
    }

    [Fact]
    public void Loader_fills_batches_past_skipped_videos_and_counts_them()
    {
        var data = MixedDataset("mixed-count");
        var warnings = new List<string>();
        using var loader = new VideoBatchLoader(data, new ClipSampler(Small), batchSize: 1, seed: 7, warn: warnings.Add);
        int expectUnreadable = 0, expectShort = 0;
        var firstEpoch = new List<string>();
        for (int b = 0; b < 6; b++)
        {
            using var batch = loader.Next();
            Assert.Equal(new long[] { 1, 3, 8, 24, 40 }, batch.Videos.shape);
            Assert.Equal(loader.Position, batch.Next);
            // The positions this batch consumed: skipped ones, then the one it used.
            var consumed = Positions(batch.Start, batch.Next, data.Count).Select(p => data[loader.EpochOrder(p.Epoch)[p.Index]]).ToList();
            Assert.Equal(consumed[^1].Path, batch.Paths[0]);
            Assert.Equal(consumed[^1].Caption, batch.Captions[0]);
            Assert.All(consumed.SkipLast(1), i => Assert.Contains(Path.GetFileName(i.Path), new[] { "bad.mp4", "short.mp4" }));
            expectUnreadable += consumed.Count(i => i.Path.EndsWith("bad.mp4"));
            expectShort += consumed.Count(i => i.Path.EndsWith("short.mp4"));
            if (b < 4) firstEpoch.Add(batch.Paths[0]);
        }
        Assert.Equal(4, firstEpoch.Distinct().Count());             // the first epoch uses every usable video once
        Assert.Equal(expectUnreadable, data.Counters.SkippedUnreadable);
        Assert.Equal(expectShort, data.Counters.SkippedTooShort);
        Assert.True(expectUnreadable >= 1 && expectShort >= 1, "six items over ≥ one epoch include both bad ones");
        Assert.Equal(expectUnreadable + expectShort, warnings.Count);
    }

    private static IEnumerable<DataPosition> Positions(DataPosition from, DataPosition to, int epochLength)
    {
        for (var p = from; p != to; p = p with { Index = p.Index + 1 })
        {
            if (p.Index >= epochLength) p = new DataPosition(p.Epoch + 1, 0);     // the loader wraps lazily, as here
            yield return p;
        }
    }

    [Fact]
    public void Order_and_clips_are_determined_by_the_seed()
    {
        var data = MixedDataset("mixed-seed");
        var a = Run(data, seed: 7, batches: 3, prefetch: false);
        var b = Run(data, seed: 7, batches: 3, prefetch: true);
        var c = Run(data, seed: 8, batches: 3, prefetch: false);
        Assert.Equal(a.Keys, b.Keys);
        Assert.Equal(a.Pixels, b.Pixels);
        Assert.NotEqual(a.Keys, c.Keys);
        using var l7 = new VideoBatchLoader(data, new ClipSampler(Small), 1, 7);
        using var l8 = new VideoBatchLoader(data, new ClipSampler(Small), 1, 8);
        Assert.Equal(Enumerable.Range(0, 6), l7.EpochOrder(0).Order());     // a permutation
        Assert.NotEqual(l7.EpochOrder(0), l7.EpochOrder(1));               // reshuffled each epoch
        Assert.NotEqual(l7.EpochOrder(0), l8.EpochOrder(0));
    }

    [Fact]
    public void Resumed_loader_continues_with_the_same_batches()
    {
        var data = MixedDataset("mixed-resume");
        var full = Run(data, seed: 3, batches: 4, prefetch: true, batchSize: 2);    // 8 clips: crosses into epoch 1
        var saved = JsonNode.Parse(full.Positions[1].ToJson().ToJsonString())!;          // as a checkpoint stores it
        var resumed = Run(data, seed: 3, batches: 2, prefetch: false, batchSize: 2, start: DataPosition.FromJson(saved));
        Assert.Equal(full.Keys.Skip(2), resumed.Keys);
        Assert.Equal(full.Pixels.Skip(2), resumed.Pixels);
        Assert.Equal(full.Positions[1], DataPosition.Parse(full.Positions[1].ToString()));
        Assert.True(full.Positions[^1].Epoch >= 1, $"the run should cross an epoch boundary, ended at {full.Positions[^1]}");
    }

    [Fact]
    public void Loader_refuses_a_dataset_without_usable_videos()
    {
        string dir = v.Folder("all-bad", new[] { ("bad.mp4", v.Corrupt), ("short.mp4", v.Short) },
            new[] { ("bad.txt", "x"), ("short.txt", "y") });
        using var loader = new VideoBatchLoader(VideoCaptionDataset.FromFolder(dir), new ClipSampler(Small), 1, 0);
        var e = Assert.Throws<InvalidOperationException>(() => loader.Next());
        Assert.Contains("no usable video", e.Message);
        string empty = v.Folder("empty", Array.Empty<(string, string)>(), Array.Empty<(string, string)>());
        Assert.Throws<ArgumentException>(() => new VideoBatchLoader(VideoCaptionDataset.FromFolder(empty), new ClipSampler(Small), 1, 0));
    }

    private sealed record RunResult(List<string> Keys, List<float[]> Pixels, List<DataPosition> Positions);

    /// <summary>Each batch as "path@start|caption" keys, its pixels, and the position after it.</summary>
    private static RunResult Run(VideoCaptionDataset data, long seed, int batches, bool prefetch, int batchSize = 1, DataPosition? start = null)
    {
        var r = new RunResult(new(), new(), new());
        using var loader = new VideoBatchLoader(data, new ClipSampler(Small), batchSize, seed, start, prefetch);
        for (int i = 0; i < batches; i++)
        {
            using var batch = loader.Next();
            Assert.Equal(new long[] { batchSize, 3, 8, 24, 40 }, batch.Videos.shape);
            r.Keys.Add(string.Join(";", batch.Paths.Select((p, k) => $"{Path.GetFileName(p)}@{batch.StartFrames[k]}|{batch.Captions[k]}")));
            r.Pixels.Add(batch.Videos.data<float>().ToArray());
            r.Positions.Add(batch.Next);
        }
        return r;
    }
}
