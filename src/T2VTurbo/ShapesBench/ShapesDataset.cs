using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using T2VTurbo.Video;

namespace T2VTurbo.ShapesBench;

/// <summary>Settings of a generated ShapesBench set.</summary>
public sealed record ShapesDatasetOptions
{
    public int Count { get; init; } = 100;
    public int Seed { get; init; }
    public int Size { get; init; } = 64;
    public int Frames { get; init; } = 16;
    public double Fps { get; init; } = 8;
    public ShapesSplit Split { get; init; } = ShapesSplit.Train;
    /// <summary>Chance that a clip has a second object (of another colour, never overlapping the first).</summary>
    public double TwoObjectFraction { get; init; } = 0.25;
    /// <summary>One background for every clip, or null for a random one per clip.</summary>
    public Backdrop? Background { get; init; }
    /// <summary>H.264 constant rate factor of the MP4s: low, so colours survive (0 is lossless in YUV 4:2:0).</summary>
    public int Crf { get; init; } = 2;
    public int Supersample { get; init; } = ShapesRenderer.DefaultSupersample;
}

/// <summary>The ground truth of a written set (ground_truth.json): its settings and every clip.</summary>
public sealed record ShapesGroundTruth(int Seed, string Split, int Size, int Frames, double Fps, int Crf,
    IReadOnlyList<ShapeCombo> HeldOut, IReadOnlyList<ShapesClipSpec> Clips);

/// <summary>Generates ShapesBench sets and writes them in the distillation data formats: videos/NAME.mp4 with
/// videos/NAME.txt (caption) and videos/NAME.json (that clip's ground truth), captions.csv (path,caption; paths relative
/// to the CSV) and ground_truth.json. Everything follows from the seed through one <see cref="Random"/>, so the same
/// options give the same files; the first k clips of a set do not depend on its count.</summary>
public static class ShapesDataset
{
    public const string VideosFolder = "videos", CsvName = "captions.csv", GroundTruthName = "ground_truth.json";

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static string ClipName(int index) => $"shapes_{index:D5}";

    /// <summary>The clips of a set, without drawing them.</summary>
    public static IReadOnlyList<ShapesClipSpec> Specs(ShapesDatasetOptions o)
    {
        if (o.Count < 0) throw new ArgumentException($"count must be ≥ 0, got {o.Count}");
        if (o.Fps <= 0) throw new ArgumentException($"fps must be positive, got {o.Fps}");
        if (o.TwoObjectFraction is < 0 or > 1) throw new ArgumentException($"two-object fraction must be in [0, 1], got {o.TwoObjectFraction}");
        var rng = new Random(o.Seed);
        return Enumerable.Range(0, o.Count)
            .Select(i => ShapesSampler.Clip(rng, ClipName(i), o.Size, o.Frames, o.Fps, o.Split, o.TwoObjectFraction, o.Background))
            .ToList();
    }

    /// <summary>Generates and writes a set into <paramref name="outDir"/>; returns its ground truth.</summary>
    public static ShapesGroundTruth Write(string outDir, ShapesDatasetOptions o, Action<int, int>? progress = null)
    {
        if (o.Size % 2 != 0) throw new ArgumentException($"MP4 (H.264, YUV 4:2:0) needs an even frame size, got {o.Size}");
        var clips = Specs(o);
        string videos = Path.Combine(outDir, VideosFolder);
        Directory.CreateDirectory(videos);
        var csv = new StringBuilder("path,caption\n");
        for (int i = 0; i < clips.Count; i++)
        {
            var clip = clips[i];
            string video = Path.Combine(videos, clip.Name + ".mp4");
            VideoWriter.Write(video, ShapesRenderer.Render(clip, o.Supersample), clip.Fps, crf: o.Crf);
            IO.AtomicFile.WriteAllText(Path.ChangeExtension(video, ".txt"), clip.Caption + "\n");
            IO.AtomicFile.WriteAllText(Path.ChangeExtension(video, ".json"), JsonSerializer.Serialize(clip, Json));
            csv.Append(CsvField($"{VideosFolder}/{clip.Name}.mp4")).Append(',').Append(CsvField(clip.Caption)).Append('\n');
            progress?.Invoke(i + 1, clips.Count);
        }
        IO.AtomicFile.WriteAllText(Path.Combine(outDir, CsvName), csv.ToString());
        var truth = new ShapesGroundTruth(o.Seed, o.Split.ToString().ToLowerInvariant(), o.Size, o.Frames, o.Fps, o.Crf,
            ShapesSplits.HeldOut, clips);
        IO.AtomicFile.WriteAllText(Path.Combine(outDir, GroundTruthName), JsonSerializer.Serialize(truth, Json));
        return truth;
    }

    /// <summary>Reads ground_truth.json from a set's folder (or the file itself).</summary>
    public static ShapesGroundTruth ReadGroundTruth(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, GroundTruthName) : path;
        if (!File.Exists(file)) throw new FileNotFoundException($"ShapesBench ground truth not found: {file}", file);
        return JsonSerializer.Deserialize<ShapesGroundTruth>(File.ReadAllText(file), Json)
               ?? throw new InvalidDataException($"{file}: empty ground truth");
    }

    /// <summary>RFC 4180 quoting: always quoted, inner quotes doubled (captions may hold commas).</summary>
    private static string CsvField(string s) => "\"" + s.Replace("\"", "\"\"") + "\"";
}
