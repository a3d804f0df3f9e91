using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using T2VTurbo.ShapesBench;

namespace T2VTurbo.Cli.Commands;

/// <summary>`t2v-turbo shapes make|analyze`: the ShapesBench procedural data set and its pixel judge.</summary>
public static class ShapesCommand
{
    public static Command Create()
    {
        var cmd = new Command("shapes", "ShapesBench: procedural text-to-video clips of coloured shapes, and their pixel analyzer.");
        cmd.Subcommands.Add(Make());
        cmd.Subcommands.Add(Analyze());
        return cmd;
    }

    private static Command Make()
    {
        var count = new Option<int>("--count") { Description = "number of clips", Required = true };
        var seed = new Option<int>("--seed") { Description = "random seed (the same seed gives the same files)", DefaultValueFactory = _ => 0 };
        var output = new Option<DirectoryInfo>("--out") { Description = "output folder", Required = true };
        var size = new Option<int>("--size") { Description = "frame side in pixels", DefaultValueFactory = _ => 64 };
        var frames = new Option<int>("--frames") { DefaultValueFactory = _ => 16 };
        var fps = new Option<double>("--fps") { DefaultValueFactory = _ => 8 };
        var split = new Option<string>("--split") { Description = "train | heldout | all (held-out combinations: see ShapesSplits.HeldOut)", DefaultValueFactory = _ => "train" };
        var two = new Option<double>("--two-object-fraction") { Description = "chance that a clip has a second object", DefaultValueFactory = _ => 0.25 };
        var background = new Option<string>("--background") { Description = "black | gray | white | random", DefaultValueFactory = _ => "random" };
        var crf = new Option<int>("--crf") { Description = "H.264 CRF of the MP4s (low keeps colours exact)", DefaultValueFactory = _ => 2 };
        var cmd = new Command("make", "Render a ShapesBench set: videos/NAME.mp4 + .txt + .json, captions.csv, ground_truth.json.")
            { count, seed, output, size, frames, fps, split, two, background, crf };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            string bg = parse.GetValue(background)!.Trim().ToLowerInvariant();
            var options = new ShapesDatasetOptions
            {
                Count = parse.GetValue(count), Seed = parse.GetValue(seed), Size = parse.GetValue(size), Frames = parse.GetValue(frames),
                Fps = parse.GetValue(fps), Split = ShapesSplits.Parse(parse.GetValue(split)!), TwoObjectFraction = parse.GetValue(two),
                Background = bg == "random" ? null : Enum.TryParse<Backdrop>(bg == "grey" ? "gray" : bg, ignoreCase: true, out var b) ? b
                    : throw new ArgumentException($"unknown background '{bg}': use black, gray, white or random"),
                Crf = parse.GetValue(crf),
            };
            string dir = parse.GetValue(output)!.FullName;
            var truth = ShapesDataset.Write(dir, options, (i, n) => { if (i % 100 == 0 || i == n) Console.Error.WriteLine($"{i}/{n} clips"); });
            AnsiConsole.MarkupLine($"wrote {truth.Clips.Count} clips ({options.Split.ToString().ToLowerInvariant()} split, " +
                                   $"{options.Size}×{options.Size}, {options.Frames} frames) to [green]{Markup.Escape(dir)}[/]");
        }));
        return cmd;
    }

    private static Command Analyze()
    {
        var video = new Argument<FileInfo>("video") { Description = "video file (.mp4, .gif, ...)" };
        var prompt = new Option<string?>("--prompt") { Description = "also score agreement with this prompt" };
        var cmd = new Command("analyze", "Print the background and each object's colour, shape and motion that the pixel analyzer sees.") { video, prompt };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var path = parse.GetValue(video)!.FullName;
            var seen = ShapesAnalyzer.Analyze(path);
            AnsiConsole.MarkupLine($"background: {Lower(seen.Background)} (median {seen.BackgroundColor})");
            var table = new Table().AddColumns("object", "colour", "shape", "motion", "share", "dx", "dy", "dlog size");
            for (int i = 0; i < seen.Objects.Count; i++)
            {
                var o = seen.Objects[i];
                table.AddRow((i + 1).ToString(), Lower(o.Color), Lower(o.Shape), Lower(o.Motion), F(o.PixelShare),
                    F(o.DisplacementX), F(o.DisplacementY), F(o.LogSizeChange));
            }
            AnsiConsole.Write(table);
            if (seen.Objects.Count == 0) AnsiConsole.MarkupLine("no objects found");
            if (parse.GetValue(prompt) is { } p)
            {
                var score = ShapesPromptScore.Score(seen, p);
                foreach (var o in score.Objects)
                    AnsiConsole.MarkupLine($"prompt object {Markup.Escape(Describe(o.Prompt))}: colour {Mark(o.Color)}, shape {Mark(o.Shape)}, motion {Mark(o.Motion)}");
                AnsiConsole.MarkupLine($"agreement: {F(score.Score)} ({(score.All ? "[green]all match[/]" : "[red]mismatch[/]")})");
            }
        }));
        return cmd;
    }

    private static string Lower<T>(T v) where T : struct, Enum => v.ToString().ToLowerInvariant();
    private static string F(double v) => (Math.Round(v, 3) + 0.0).ToString("0.###", CultureInfo.InvariantCulture);   // + 0.0: no "-0"
    private static string Mark(bool? ok) => ok switch { true => "[green]yes[/]", false => "[red]no[/]", null => "(not named)" };

    private static string Describe(ParsedObject o) => string.Join(" ", new[]
    {
        o.Color is { } c ? Lower(c) : "?", o.Shape is { } s ? Lower(s) : "?", o.Motion is { } m ? Lower(m) : "?",
    });
}
