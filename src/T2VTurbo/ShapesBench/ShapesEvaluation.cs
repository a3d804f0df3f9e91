using System.Globalization;
using System.Text;
using System.Text.Json;
using T2VTurbo.Video;

namespace T2VTurbo.ShapesBench;

/// <summary>One object the analyzer found in a generated video.</summary>
public sealed record EvalFinding(ShapeColor Color, ShapeKind Shape, ShapeMotion Motion, double PixelShare);

/// <summary>Agreement of one video with its prompt: per attribute, how many prompt objects name it and how many of those
/// the analyzer agrees with (a prompt object with no observed object left disagrees on all it names); whether every
/// named attribute agrees; and the share of all named attributes that agree.</summary>
public sealed record EvalAgreement(int ColorNamed, int ColorAgree, int ShapeNamed, int ShapeAgree, int MotionNamed, int MotionAgree,
    bool AllCorrect, double Score);

/// <summary>One generated video: its prompt and seed, what the analyzer saw, how that agrees with the prompt, the judge
/// scores (null: no such judge) and the seconds the pipeline spent on it (text + sampling + decode).</summary>
public sealed record EvalVideo(string Prompt, long Seed, Backdrop Background, IReadOnlyList<EvalFinding> Findings,
    EvalAgreement Agreement, double? ImageJudge, double? VideoJudge, double Seconds);

/// <summary>What was evaluated and how.</summary>
public sealed record EvalSettings(string Model, string Mode, int Steps, double Guidance, int Frames, int Height, int Width,
    int Fps, IReadOnlyList<long> Seeds, string? ImageJudge = null, string? VideoJudge = null);

/// <summary>Aggregates over all videos: attribute agreement as the share of named-attribute checks (over every prompt
/// object of every video) that agree, all-correct as the share of videos whose every named attribute agrees.</summary>
public sealed record EvalSummary(int Videos, double? ColorPercent, double? ShapePercent, double? MotionPercent,
    double AllCorrectPercent, double? MeanImageJudge, double? MeanVideoJudge, double SecondsPerVideo);

public sealed record EvalReport(EvalSettings Settings, EvalSummary Summary, IReadOnlyList<EvalVideo> Videos);

/// <summary>ShapesBench evaluation of a text-to-video model: the deterministic analyzer's agreement with each prompt plus
/// optional learned judge scores, reported as eval.json and a one-row Markdown table.</summary>
public static class ShapesEvaluation
{
    public const string JsonName = "eval.json", MarkdownName = "eval.md";

    /// <summary>Prompts file: one prompt per line; blank lines and lines starting with # are skipped. A prompt in which the
    /// caption parser finds no object (no colour and no shape word) is an error naming its line.</summary>
    public static IReadOnlyList<string> ReadPrompts(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"prompts file not found: {path}", path);
        var prompts = new List<string>();
        var lines = File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (ShapesCaptions.Parse(line).Objects.Count == 0)
                throw new InvalidDataException(
                    $"{path}:{i + 1}: the ShapesBench caption parser finds no object in \"{line}\" (a prompt needs a colour or a shape word, e.g. \"a red circle moving left\")");
            prompts.Add(line);
        }
        if (prompts.Count == 0) throw new InvalidDataException($"{path}: no prompts (one per line; blank lines and # comments are skipped)");
        return prompts;
    }

    /// <summary>Analyzes one video and scores it against its prompt.</summary>
    public static EvalVideo Judge(string prompt, long seed, VideoFrames video, double? imageJudge = null, double? videoJudge = null, double seconds = 0)
    {
        var seen = ShapesAnalyzer.Analyze(video);
        var agreement = ShapesPromptScore.Score(seen, prompt);
        var findings = seen.Objects.Select(o => new EvalFinding(o.Color, o.Shape, o.Motion, o.PixelShare)).ToList();
        return new EvalVideo(prompt, seed, seen.Background, findings, Agree(agreement), imageJudge, videoJudge, seconds);
    }

    public static EvalAgreement Agree(PromptAgreement a)
    {
        (int Named, int Agree) Count(Func<ObjectAgreement, bool?> f) =>
            (a.Objects.Count(o => f(o) != null), a.Objects.Count(o => f(o) == true));
        var (c, s, m) = (Count(o => o.Color), Count(o => o.Shape), Count(o => o.Motion));
        return new EvalAgreement(c.Named, c.Agree, s.Named, s.Agree, m.Named, m.Agree, a.All, a.Score);
    }

    /// <summary>Aggregates; an attribute's percentage weights every named check (prompt object) equally; null where no
    /// prompt names the attribute, or (judges) where a judge was not run.</summary>
    public static EvalSummary Summarize(IReadOnlyList<EvalVideo> videos)
    {
        if (videos.Count == 0) throw new ArgumentException("no videos to summarize");
        double? Percent(Func<EvalAgreement, int> named, Func<EvalAgreement, int> agree)
        {
            int n = videos.Sum(v => named(v.Agreement));
            return n == 0 ? null : 100.0 * videos.Sum(v => agree(v.Agreement)) / n;
        }
        double? Mean(Func<EvalVideo, double?> f) => videos.All(v => f(v) != null) ? videos.Average(v => f(v)!.Value) : null;
        return new EvalSummary(videos.Count,
            Percent(a => a.ColorNamed, a => a.ColorAgree), Percent(a => a.ShapeNamed, a => a.ShapeAgree),
            Percent(a => a.MotionNamed, a => a.MotionAgree),
            100.0 * videos.Count(v => v.Agreement.AllCorrect) / videos.Count,
            Mean(v => v.ImageJudge), Mean(v => v.VideoJudge), videos.Average(v => v.Seconds));
    }

    public static EvalReport Report(EvalSettings settings, IReadOnlyList<EvalVideo> videos) => new(settings, Summarize(videos), videos);

    public static string ToJson(EvalReport report) => JsonSerializer.Serialize(report, ShapesDataset.Json);

    public static EvalReport FromJson(string json) =>
        JsonSerializer.Deserialize<EvalReport>(json, ShapesDataset.Json) ?? throw new InvalidDataException("empty eval report");

    public static readonly string[] MarkdownColumns =
    {
        "model", "mode", "steps", "colour %", "shape %", "motion %", "all-correct %", "image judge", "video judge", "s / video",
    };

    /// <summary>A Markdown table with one row per report (several reports compare models side by side).</summary>
    public static string Markdown(IEnumerable<EvalReport> reports)
    {
        var sb = new StringBuilder();
        sb.Append("| ").Append(string.Join(" | ", MarkdownColumns)).Append(" |\n");
        sb.Append('|').Append(string.Concat(MarkdownColumns.Select(_ => "---|"))).Append('\n');
        foreach (var r in reports)
        {
            var s = r.Summary;
            var cells = new[]
            {
                Cell(r.Settings.Model), r.Settings.Mode, r.Settings.Steps.ToString(CultureInfo.InvariantCulture),
                Num(s.ColorPercent, "F1"), Num(s.ShapePercent, "F1"), Num(s.MotionPercent, "F1"), Num(s.AllCorrectPercent, "F1"),
                Num(s.MeanImageJudge, "F4"), Num(s.MeanVideoJudge, "F4"), Num(s.SecondsPerVideo, "F2"),
            };
            sb.Append("| ").Append(string.Join(" | ", cells)).Append(" |\n");
        }
        return sb.ToString();
    }

    private static string Num(double? x, string format) => x is double v ? v.ToString(format, CultureInfo.InvariantCulture) : "–";
    private static string Cell(string s) => s.Replace("|", "\\|");

    /// <summary>Writes eval.json and eval.md into <paramref name="dir"/>.</summary>
    public static void Write(string dir, EvalReport report)
    {
        Directory.CreateDirectory(dir);
        IO.AtomicFile.WriteAllText(Path.Combine(dir, JsonName), ToJson(report));
        var md = new StringBuilder($"# ShapesBench evaluation\n\n{report.Summary.Videos} videos: {report.Videos.Select(v => v.Prompt).Distinct().Count()} prompts × seeds " +
                                   $"{string.Join(", ", report.Settings.Seeds)}; {report.Settings.Frames} frames of {report.Settings.Width}×{report.Settings.Height} at {report.Settings.Fps} fps, guidance {report.Settings.Guidance.ToString(CultureInfo.InvariantCulture)}.\n\n");
        md.Append(Markdown(new[] { report }));
        IO.AtomicFile.WriteAllText(Path.Combine(dir, MarkdownName), md.ToString());
    }
}
