using T2VTurbo.Tests.Support;
using System.Text.Json;
using T2VTurbo.ShapesBench;
using T2VTurbo.Training.Data;
using T2VTurbo.Video;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace T2VTurbo.Tests;

public class ShapesBenchTests
{
    private readonly ITestOutputHelper output;
    public ShapesBenchTests(ITestOutputHelper output) => this.output = output;

    private static string TempDir() => Path.Combine(Path.GetTempPath(), $"t2v-shapes-{Guid.NewGuid():N}");

    private static ShapesDatasetOptions Small(int count, int seed) =>
        new() { Count = count, Seed = seed, Size = 32, Frames = 8, TwoObjectFraction = 0.4 };

    [Fact]
    public void Same_seed_gives_the_same_files_and_another_seed_does_not()
    {
        string a = TempDir(), b = TempDir(), c = TempDir();
        try
        {
            ShapesDataset.Write(a, Small(4, 11));
            ShapesDataset.Write(b, Small(4, 11));
            ShapesDataset.Write(c, Small(4, 12));
            var files = Directory.EnumerateFiles(a, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a, f)).Order().ToList();
            Assert.Equal(4 * 3 + 2, files.Count);                                // per clip mp4/txt/json, plus csv and ground truth
            foreach (var f in files)
                Assert.True(File.ReadAllBytes(Path.Combine(a, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(b, f))), $"{f} differs between runs");
            Assert.NotEqual(File.ReadAllText(Path.Combine(a, ShapesDataset.GroundTruthName)), File.ReadAllText(Path.Combine(c, ShapesDataset.GroundTruthName)));

            // the first clips of a set do not depend on its count, and the rendering is pure
            var first = ShapesDataset.Specs(Small(2, 11));
            var truth = ShapesDataset.ReadGroundTruth(a);
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(JsonSerializer.Serialize(first[i], ShapesDataset.Json), JsonSerializer.Serialize(truth.Clips[i], ShapesDataset.Json));
                Assert.Equal(ShapesRenderer.Render(first[i]).Rgb, ShapesRenderer.Render(truth.Clips[i]).Rgb);
            }
        }
        finally { foreach (var d in new[] { a, b, c }) if (Directory.Exists(d)) Directory.Delete(d, true); }
    }

    /// <summary>Coverage-weighted centroid and area of one colour over a known background, from pixels.</summary>
    private static (double X, double Y, double Area) Measure(VideoFrames v, int t, Rgb bg, Rgb color)
    {
        var dir = (r: color.R - bg.R, g: color.G - bg.G, b: color.B - bg.B);
        double dd = dir.r * dir.r + dir.g * dir.g + dir.b * dir.b, area = 0, sx = 0, sy = 0;
        var f = v.Frame(t);
        for (int y = 0; y < v.Height; y++)
            for (int x = 0; x < v.Width; x++)
            {
                int i = 3 * (y * v.Width + x);
                double a = ((f[i] - bg.R) * dir.r + (f[i + 1] - bg.G) * dir.g + (f[i + 2] - bg.B) * dir.b) / dd;
                if (a < 0.02) continue;                                          // codec noise on the background
                area += a; sx += a * (x + 0.5); sy += a * (y + 0.5);
            }
        return (sx / area, sy / area, area);
    }

    [Fact]
    public void Ground_truth_trajectories_match_the_pixels_drawn_and_decoded()
    {
        string dir = TempDir();
        try
        {
            var opts = Small(6, 5) with { TwoObjectFraction = 0 };
            ShapesDataset.Write(dir, opts);
            var truth = ShapesDataset.ReadGroundTruth(dir);
            double worstRendered = 0, worstDecoded = 0, worstArea = 0;
            foreach (var clip in truth.Clips)
            {
                var perVideo = JsonSerializer.Deserialize<ShapesClipSpec>(File.ReadAllText(Path.Combine(dir, "videos", clip.Name + ".json")), ShapesDataset.Json)!;
                Assert.Equal(JsonSerializer.Serialize(clip, ShapesDataset.Json), JsonSerializer.Serialize(perVideo, ShapesDataset.Json));
                var rendered = ShapesRenderer.Render(clip);
                var decoded = VideoReader.ReadAll(Path.Combine(dir, "videos", clip.Name + ".mp4"));
                Assert.Equal((clip.Frames, clip.Size, clip.Size), (decoded.Frames, decoded.Height, decoded.Width));
                var o = clip.Objects.Single();
                var (bg, color) = (ShapesPalette.Of(clip.Background), ShapesPalette.Of(o.Color));
                for (int t = 0; t < clip.Frames; t++)
                {
                    var p = o.Trajectory[t];
                    double ey = p.Y + ShapesRenderer.CentroidOffsetY(o.Shape) * p.Size;       // area centroid of the shape
                    var r = Measure(rendered, t, bg, color);
                    var d = Measure(decoded, t, bg, color);
                    worstRendered = Math.Max(worstRendered, Math.Max(Math.Abs(r.X - p.X), Math.Abs(r.Y - ey)));
                    worstDecoded = Math.Max(worstDecoded, Math.Max(Math.Abs(d.X - p.X), Math.Abs(d.Y - ey)));
                    worstArea = Math.Max(worstArea, Math.Abs(r.Area / (ShapesRenderer.AreaFraction(o.Shape) * p.Size * p.Size) - 1));
                }
            }
            output.WriteLine($"max centre error: rendered {worstRendered:F3} px, decoded MP4 {worstDecoded:F3} px; max area error {worstArea:P1}");
            // 4×4 samples per pixel place each edge to within 1/8 pixel, so small shapes' centroids and areas move a little
            Assert.True(worstRendered < 0.15, $"rendered centre off by {worstRendered:F3} px");
            Assert.True(worstDecoded < 0.35, $"decoded centre off by {worstDecoded:F3} px");
            Assert.True(worstArea < 0.1, $"rendered area off by {worstArea:P1}");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Held_out_combinations_never_appear_in_the_train_split()
    {
        var train = ShapesDataset.Specs(new ShapesDatasetOptions { Count = 600, Seed = 1, Size = 16, Frames = 2, TwoObjectFraction = 0.5 });
        var trainCombos = train.SelectMany(c => c.Objects).Select(o => o.Combo).ToList();
        Assert.DoesNotContain(trainCombos, ShapesSplits.IsHeldOut);
        Assert.Contains(train, c => c.Objects.Count == 2);
        // every single colour, shape and motion is still trained on
        Assert.Equal(ShapesPalette.Colors.Count, trainCombos.Select(c => c.Color).Distinct().Count());
        Assert.Equal(ShapesPalette.Shapes.Count, trainCombos.Select(c => c.Shape).Distinct().Count());
        Assert.Equal(ShapesPalette.Motions.Count, trainCombos.Select(c => c.Motion).Distinct().Count());

        var heldout = ShapesDataset.Specs(new ShapesDatasetOptions { Count = 100, Seed = 1, Size = 16, Frames = 2, Split = ShapesSplit.Heldout });
        Assert.All(heldout, c => Assert.True(ShapesSplits.IsHeldOut(c.Objects[0].Combo), c.Caption));
        var all = ShapesDataset.Specs(new ShapesDatasetOptions { Count = 300, Seed = 1, Size = 16, Frames = 2, Split = ShapesSplit.All });
        Assert.Contains(all, c => c.Objects.Any(o => ShapesSplits.IsHeldOut(o.Combo)));
        Assert.Equal(ShapesSplit.Heldout, ShapesSplits.Parse("heldout"));
        Assert.Throws<ArgumentException>(() => ShapesSplits.Parse("validation"));
    }

    [Fact]
    public void Written_folder_and_csv_open_with_the_distillation_data_reader()
    {
        string dir = TempDir();
        try
        {
            var truth = ShapesDataset.Write(dir, Small(5, 9));
            var fromFolder = VideoCaptionDataset.Open(dir);
            var fromCsv = VideoCaptionDataset.Open(Path.Combine(dir, ShapesDataset.CsvName));
            Assert.Equal(5, fromFolder.Count);
            Assert.Equal(5, fromCsv.Count);
            for (int i = 0; i < 5; i++)
            {
                Assert.Equal(truth.Clips[i].Caption, fromFolder[i].Caption);
                Assert.Equal(truth.Clips[i].Caption, fromCsv[i].Caption);
                Assert.Equal(Path.GetFullPath(fromFolder[i].Path), Path.GetFullPath(fromCsv[i].Path));
                Assert.True(File.Exists(fromCsv[i].Path), fromCsv[i].Path);
            }
            var info = VideoReader.Probe(fromCsv[0].Path);
            Assert.Equal((32, 32, 8), (info.Width, info.Height, info.FrameCount));
            Assert.Equal(8, info.AvgFps, 3);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Captions_parse_back_to_their_objects()
    {
        var clips = ShapesDataset.Specs(new ShapesDatasetOptions { Count = 400, Seed = 3, Size = 16, Frames = 2, TwoObjectFraction = 0.4, Split = ShapesSplit.All });
        Assert.True(clips.Select(c => c.Caption).Distinct().Count() > 300, "captions should vary");
        foreach (var clip in clips)
        {
            var parsed = ShapesCaptions.Parse(clip.Caption);
            Assert.True(parsed.Objects.Count == clip.Objects.Count, $"'{clip.Caption}': {parsed.Objects.Count} objects parsed");
            for (int i = 0; i < clip.Objects.Count; i++)
            {
                var (o, p) = (clip.Objects[i], parsed.Objects[i]);
                Assert.True((o.Color, o.Shape, o.Motion) == (p.Color, p.Shape, p.Motion), $"'{clip.Caption}' parsed as {p}");
                Assert.True(p.Speed == null || p.Speed == o.Speed, $"'{clip.Caption}' speed {p.Speed}");
                Assert.True(p.Size == null || p.Size == o.Size, $"'{clip.Caption}' size {p.Size}");
            }
            Assert.True(parsed.Background == null || parsed.Background == clip.Background, $"'{clip.Caption}' background {parsed.Background}");
        }
        var free = ShapesCaptions.Parse("A big turquoise plus sign rises slowly, a red ball falls. Grey backdrop.");
        Assert.Equal(Backdrop.Gray, free.Background);
        Assert.Equal(new ParsedObject(ShapeColor.Cyan, ShapeKind.Cross, ShapeMotion.Up, MotionSpeed.Slow, SizeClass.Large), free.Objects[0]);
        Assert.Equal((ShapeColor.Red, ShapeKind.Circle, ShapeMotion.Down), (free.Objects[1].Color!.Value, free.Objects[1].Shape!.Value, free.Objects[1].Motion!.Value));
    }

    [Fact]
    public void Analyzer_recovers_colour_shape_and_motion_of_ground_truth_clips()
    {
        var sets = new[] { (32, 8), (32, 16), (64, 8), (64, 16) };
        int objects = 0, colour = 0, shape = 0, motion = 0, counts = 0, clips = 0;
        var misses = new List<string>();
        foreach (var (size, frames) in sets)
        {
            var specs = ShapesDataset.Specs(new ShapesDatasetOptions
                { Count = 30, Seed = 100 + size + frames, Size = size, Frames = frames, TwoObjectFraction = 0.3, Split = ShapesSplit.All });
            foreach (var clip in specs)
            {
                clips++;
                var seen = ShapesAnalyzer.Analyze(ShapesRenderer.Render(clip));
                if (seen.Objects.Count == clip.Objects.Count) counts++;
                Assert.Equal(clip.Background, seen.Background);
                foreach (var o in clip.Objects)
                {
                    objects++;
                    var m = seen.Objects.FirstOrDefault(s => s.Color == o.Color);
                    if (m != null) colour++;
                    if (m?.Shape == o.Shape) shape++;
                    if (m?.Motion == o.Motion) motion++;
                    if (m == null || m.Shape != o.Shape || m.Motion != o.Motion)
                        misses.Add($"{size}x{size}x{frames} {clip.Name} truth {o.Combo} seen {(m == null ? "nothing" : $"{m.Shape} {m.Motion}")}");
                }
            }
        }
        output.WriteLine($"{clips} clips, {objects} objects: colour {colour / (double)objects:P1}, shape {shape / (double)objects:P1}, " +
                         $"motion {motion / (double)objects:P1}, object count {counts / (double)clips:P1}");
        foreach (var m in misses) output.WriteLine("miss: " + m);
        Assert.True(colour >= 0.98 * objects, $"colour accuracy {colour}/{objects}");
        Assert.True(shape >= 0.98 * objects, $"shape accuracy {shape}/{objects}");
        Assert.True(motion >= 0.98 * objects, $"motion accuracy {motion}/{objects}");
        Assert.True(counts >= 0.98 * clips, $"object count right in {counts}/{clips} clips");
    }

    [Fact]
    public void Analyzer_reads_mp4s_from_shapes_make_and_scores_prompts()
    {
        string dir = TempDir();
        try
        {
            CliRun.Expect(0, new[] { "shapes", "make", "--count", "16", "--seed", "21", "--out", dir, "--size", "32", "--frames", "8", "--split", "all" });
            var truth = ShapesDataset.ReadGroundTruth(dir);
            int objects = 0, right = 0, agree = 0;
            foreach (var clip in truth.Clips)
            {
                string path = Path.Combine(dir, ShapesDataset.VideosFolder, clip.Name + ".mp4");
                var seen = ShapesAnalyzer.Analyze(path);
                foreach (var o in clip.Objects)
                {
                    objects++;
                    var m = seen.Objects.FirstOrDefault(s => s.Color == o.Color);
                    if (m != null && m.Shape == o.Shape && m.Motion == o.Motion) right++;
                }
                if (ShapesPromptScore.Score(seen, clip.Caption).All) agree++;
            }
            output.WriteLine($"decoded MP4s: {right}/{objects} objects fully right, {agree}/{truth.Clips.Count} clips agree with their caption");
            Assert.True(right >= 0.98 * objects, $"{right}/{objects} objects right from MP4");
            Assert.True(agree >= 0.98 * truth.Clips.Count, $"{agree}/{truth.Clips.Count} captions agree");

            // a prompt naming another colour, shape or motion disagrees on exactly that attribute
            var one = truth.Clips.First(c => c.Objects.Count == 1);
            var seenOne = ShapesAnalyzer.Analyze(Path.Combine(dir, ShapesDataset.VideosFolder, one.Name + ".mp4"));
            var o1 = one.Objects[0];
            var otherMotion = o1.Motion == ShapeMotion.Left ? "moving to the right" : "moving to the left";
            var wrong = ShapesPromptScore.Score(seenOne, $"a {o1.Color.ToString().ToLowerInvariant()} {o1.Shape.ToString().ToLowerInvariant()} {otherMotion}");
            Assert.Equal((true, true, false), (wrong.Objects[0].Color!.Value, wrong.Objects[0].Shape!.Value, wrong.Objects[0].Motion!.Value));
            Assert.False(wrong.All);
            Assert.Equal(2.0 / 3, wrong.Score, 6);

            // the tensor input [T, H, W, 3] sees the same as the frames record, and the CLI verb runs
            var frames = ShapesRenderer.Render(one);
            using var tensor = torch.tensor(frames.Rgb, new long[] { frames.Frames, frames.Height, frames.Width, 3 }, ScalarType.Byte);
            Assert.Equal(ShapesAnalyzer.Analyze(frames).Objects.Select(x => x.Shape), ShapesAnalyzer.Analyze(tensor).Objects.Select(x => x.Shape));
            CliRun.Expect(0, new[] { "shapes", "analyze", Path.Combine(dir, ShapesDataset.VideosFolder, one.Name + ".mp4"), "--prompt", one.Caption });
            CliRun.Expect(1, new[] { "shapes", "analyze", Path.Combine(dir, "missing.mp4") });
            CliRun.Expect(1, new[] { "shapes", "make", "--count", "1", "--out", Path.Combine(dir, "odd"), "--size", "33" });
            CliRun.Expect(1, new[] { "shapes", "make", "--count", "1", "--out", Path.Combine(dir, "bad"), "--split", "validation" });
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    /// <summary>Early model samples have washed-out colours on a noisy grey background; the analyzer's background
    /// normalisation (directions from the clip's own median colour) must still read them.</summary>
    [Fact]
    public void Analyzer_reads_washed_out_noisy_clips()
    {
        var rng = new Random(7);
        int objects = 0, right = 0;
        foreach (var clip in ShapesDataset.Specs(new ShapesDatasetOptions { Count = 40, Seed = 77, Size = 32, Frames = 8, TwoObjectFraction = 0.3, Split = ShapesSplit.All }))
        {
            var v = ShapesRenderer.Render(clip);
            var rgb = new byte[v.Rgb.Length];
            for (int i = 0; i < rgb.Length; i++)
            {
                // contrast 0.6 towards mid grey, plus Gaussian noise σ = 8 (Box–Muller)
                double noise = 8 * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                rgb[i] = (byte)Math.Clamp(Math.Round(0.6 * v.Rgb[i] + 0.4 * 128 + noise), 0, 255);
            }
            var seen = ShapesAnalyzer.Analyze(v with { Rgb = rgb });
            foreach (var o in clip.Objects)
            {
                objects++;
                var m = seen.Objects.FirstOrDefault(s => s.Color == o.Color);
                if (m != null && m.Shape == o.Shape && m.Motion == o.Motion) right++;
                else output.WriteLine($"miss: {clip.Name} truth {o.Combo} on {clip.Background} seen {(m == null ? "nothing" : $"{m.Shape} {m.Motion} errors {string.Join(",", m.ShapeErrors.Select(e => $"{e.Key}={e.Value:F2}"))}")}");
            }
        }
        output.WriteLine($"washed-out noisy clips: {right}/{objects} objects fully right");
        Assert.True(right >= 0.9 * objects, $"{right}/{objects} objects right on washed-out noisy clips");
    }
}
