using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Spectre.Console;
using T2VTurbo.IO;
using T2VTurbo.Pipelines;
using T2VTurbo.Rewards;
using T2VTurbo.Rewards.ViClip;
using T2VTurbo.ShapesBench;
using T2VTurbo.Video;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Cli.Commands;

/// <summary>`t2v-turbo eval --model FILE --prompts FILE --output DIR …`: one video per (prompt, seed), judged by the
/// ShapesBench analyzer and optional image/video judges; writes DIR/eval.json, DIR/eval.md and one GIF per prompt.</summary>
public static class EvalCommand
{
    public const string VideosFolder = "videos";

    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "model checkpoint (as for generate; default: the embedded ShapesBench T2V-Turbo)" };
        var label = new Option<string?>("--label") { Description = "name of this row in the tables (default: the model file's name)" };
        var prompts = new Option<FileInfo>("--prompts") { Description = "one ShapesBench prompt per line (# comments and blank lines skipped)", Required = true };
        var config = new Option<FileInfo?>("--config") { Description = "architecture JSON for models of another size" };
        var lora = new Option<FileInfo?>("--lora") { Description = "T2V-Turbo LoRA merged at load" };
        var mode = new Option<string>("--mode") { Description = "turbo | turbo-v2 | teacher", DefaultValueFactory = _ => "turbo" };
        var steps = new Option<int?>("--steps") { Description = "sampling steps (default: 4 turbo, 50 teacher)" };
        var guidance = new Option<double?>("--guidance") { Description = "guidance scale w (default: 7.5; teacher 12)" };
        var seeds = new Option<string>("--seeds") { Description = "comma-separated seeds; one video per prompt and seed", DefaultValueFactory = _ => "0" };
        var frames = new Option<int?>("--frames") { Description = "frames per video (default: 16, or the model's generation_defaults)" };
        var height = new Option<int?>("--height") { Description = "height in pixels" };
        var width = new Option<int?>("--width") { Description = "width in pixels" };
        var fps = new Option<int?>("--fps") { Description = "frame rate for conditioning and the GIFs" };
        var imageJudge = new Option<FileInfo?>("--image-judge") { Description = "open_clip CLIP / HPSv2 weights scoring every frame against its prompt" };
        var imageJudgeConfig = new Option<FileInfo?>("--image-judge-config") { Description = "open_clip config JSON of the image judge (default: ViT-H-14)" };
        var imageJudgeKind = new Option<string>("--image-judge-kind") { Description = "hpsv2 (letterbox) | clip (squash)", DefaultValueFactory = _ => "hpsv2" };
        var videoJudge = new Option<FileInfo?>("--video-judge") { Description = "ViCLIP weights scoring each video against its prompt" };
        var videoJudgeConfig = new Option<FileInfo?>("--video-judge-config") { Description = "ViCLIP config JSON of the video judge (default: ViCLIP-L)" };
        var device = new Option<string>("--device") { Description = "cpu | cuda | cuda:N", DefaultValueFactory = _ => "cpu" };
        var dtype = new Option<string?>("--dtype") { Description = "fp32 | bf16 | fp16 for the generator (default: fp32 on cpu, bf16 on cuda)" };
        var output = new Option<DirectoryInfo>("--output") { Description = "folder for eval.json, eval.md and videos/", Required = true };

        var cmd = new Command("eval", "Evaluate a model on ShapesBench prompts: analyzer agreement (colour, shape, motion) and judge scores.")
        {
            model, prompts, config, lora, mode, steps, guidance, seeds, frames, height, width, fps,
            imageJudge, imageJudgeConfig, imageJudgeKind, videoJudge, videoJudgeConfig, device, dtype, output, label,
        };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var texts = ShapesEvaluation.ReadPrompts(parse.GetValue(prompts)!.FullName);
            var seedList = ParseSeeds(parse.GetValue(seeds)!);
            if (parse.GetValue(frames) is < 2) throw new ArgumentException($"--frames: the analyzer measures motion over at least 2 frames, got {parse.GetValue(frames)}");
            var files = GenerateCommand.ChooseModel(parse.GetValue(model), parse.GetValue(lora), null, parse.GetValue(config), null);
            var dev = GenerateCommand.ParseDevice(parse.GetValue(device)!);
            var dt = CheckpointInfo.ParseDType(parse.GetValue(dtype)) ?? (dev.type == DeviceType.CUDA ? ScalarType.BFloat16 : ScalarType.Float32);
            var options = new GenerateOptions
            {
                Mode = GenerateCommand.ParseMode(parse.GetValue(mode)!), Steps = parse.GetValue(steps), Guidance = parse.GetValue(guidance),
                Frames = parse.GetValue(frames) ?? 16, Fps = parse.GetValue(fps), Height = parse.GetValue(height), Width = parse.GetValue(width),
            };
            if (files.Config is { } cfgPath && GenerationDefaults.FromConfig(cfgPath) is { } defaults)
                options = defaults.ApplyTo(options, framesGiven: parse.GetValue(frames) is not null);
            options = options.Resolve(files.Family!.Value);
            options.Validate(8);
            using var image = LoadImageJudge(parse.GetValue(imageJudge), parse.GetValue(imageJudgeConfig), parse.GetValue(imageJudgeKind)!, dev);
            using var video = LoadVideoJudge(parse.GetValue(videoJudge), parse.GetValue(videoJudgeConfig), dev);
            Run(texts, seedList, files, options, dev, dt, image, video, parse.GetValue(output)!.FullName,
                parse.GetValue(imageJudge)?.FullName, parse.GetValue(videoJudge)?.FullName,
                parse.GetValue(label) ?? Path.GetFileName(files.Model));
        }));
        return cmd;
    }

    internal static string ModeName(GenerationMode m) => m switch
    {
        GenerationMode.TurboV2 => "turbo-v2",
        _ => m.ToString().ToLowerInvariant(),
    };

    internal static IReadOnlyList<long> ParseSeeds(string s)
    {
        var parts = s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var seeds = new List<long>();
        foreach (var p in parts)
            seeds.Add(long.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
                ? v : throw new ArgumentException($"--seeds: '{p}' is not an integer (use e.g. --seeds 0,1,2)"));
        if (seeds.Count == 0) throw new ArgumentException("--seeds: give at least one seed, e.g. --seeds 0,1,2");
        return seeds;
    }

    private static IRewardModel? LoadImageJudge(FileInfo? weights, FileInfo? config, string kind, Device dev)
    {
        if (weights is null)
        {
            if (config is not null) throw new ArgumentException("--image-judge-config needs --image-judge");
            return null;
        }
        if (!weights.Exists) throw new FileNotFoundException($"image judge not found: {weights.FullName}");
        var cfg = config is null ? null : OpenClipModelConfig.FromJson(ReadJson(config));
        return kind.ToLowerInvariant() switch
        {
            "hpsv2" => HpsV2Reward.Load(weights.FullName, cfg, dev),
            "clip" => ClipReward.Load(weights.FullName, cfg, dev),
            _ => throw new ArgumentException($"unknown --image-judge-kind '{kind}': use hpsv2 or clip"),
        };
    }

    private static ViClipReward? LoadVideoJudge(FileInfo? weights, FileInfo? config, Device dev)
    {
        if (weights is null)
        {
            if (config is not null) throw new ArgumentException("--video-judge-config needs --video-judge");
            return null;
        }
        if (!weights.Exists) throw new FileNotFoundException($"video judge not found: {weights.FullName}");
        var model = new ViClipModel(config is null ? new ViClipConfig() : ViClipConfig.FromJson(ReadJson(config)));
        using (var source = Checkpoint.Open(weights.FullName))
            StateDictLoader.Load(model, source, new LoadOptions { Strict = true });
        model.to(dev);
        return new ViClipReward(model);
    }

    internal static JsonObject ReadJson(FileInfo f)
    {
        if (!f.Exists) throw new FileNotFoundException($"config not found: {f.FullName}");
        return JsonNode.Parse(File.ReadAllText(f.FullName)) as JsonObject
               ?? throw new InvalidDataException($"{f.FullName}: expected a JSON object");
    }

    private static void Run(IReadOnlyList<string> texts, IReadOnlyList<long> seeds, ModelFiles files, GenerateOptions options, Device dev, ScalarType dtype,
        IRewardModel? image, ViClipReward? video, string outDir, string? imagePath, string? videoPath, string label)
    {
        var warnings = new List<string>();
        using var pipe = ModelLoader.Load(files, options.Mode, dev, dtype, warnings.Add);
        foreach (var w in warnings) AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(w)}");
        Directory.CreateDirectory(Path.Combine(outDir, VideosFolder));
        var results = new List<EvalVideo>();
        int fps = options.Fps ?? 16, height = options.Height ?? 0, width = options.Width ?? 0;
        for (int p = 0; p < texts.Count; p++)
            foreach (var seed in seeds)
            {
                var clock = Stopwatch.StartNew();
                using var res = pipe.Generate(new[] { texts[p] }, options with { Seed = seed, VideosPerPrompt = 1 });
                double seconds = clock.Elapsed.TotalSeconds;
                (fps, height, width) = (res.Fps, (int)res.Videos.shape[3], (int)res.Videos.shape[4]);
                using var decoded = res.Videos[0];                                     // [3, T, H, W]
                var frames = VideoFrames.FromTensor(decoded);
                double? imageScore = image is null ? null : ImageJudgeScore(image, decoded, texts[p]);
                double? videoScore = video is null ? null : VideoJudgeScore(video, decoded, texts[p]);
                var entry = ShapesEvaluation.Judge(texts[p], seed, frames, imageScore, videoScore, seconds);
                results.Add(entry);
                if (seed == seeds[0])
                    VideoWriter.Write(Path.Combine(outDir, VideosFolder, $"prompt_{p:D3}.gif"), frames, res.Fps,
                        new VideoMetadata(texts[p], seed, options.ResolvedSteps, options.ResolvedGuidance, pipe.ModelName, options.Mode.ToString()));
                AnsiConsole.MarkupLine($"{Markup.Escape(texts[p])} (seed {seed}): all-correct {(entry.Agreement.AllCorrect ? "[green]yes[/]" : "[red]no[/]")}, " +
                                       $"score {entry.Agreement.Score:F2}, {seconds:F2} s");
            }
        var settings = new EvalSettings(label, ModeName(options.Mode), options.ResolvedSteps, options.ResolvedGuidance,
            options.Frames, height, width, fps, seeds, imagePath, videoPath);
        var report = ShapesEvaluation.Report(settings, results);
        ShapesEvaluation.Write(outDir, report);
        AnsiConsole.Console.Profile.Out.Writer.Write(ShapesEvaluation.Markdown(new[] { report }));   // unwrapped, unlike Spectre's text
        AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(Path.Combine(outDir, ShapesEvaluation.JsonName))}[/] and {ShapesEvaluation.MarkdownName}");
    }

    /// <summary>Mean image-judge score over every frame of one decoded video [3, T, H, W] in [−1, 1].</summary>
    internal static double ImageJudgeScore(IRewardModel judge, Tensor video, string prompt)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var frames = ((video.clamp(-1, 1) + 1) / 2).permute(1, 0, 2, 3);          // [T, 3, H, W] in [0, 1]
        return judge.Score(frames, new[] { prompt }).to(ScalarType.Float64).mean().item<double>();
    }

    /// <summary>Video-judge score of one decoded video [3, T, H, W] in [−1, 1]: the judge's frame count taken evenly
    /// over the clip (first and last included), centre crop so the score is deterministic.</summary>
    internal static double VideoJudgeScore(ViClipReward judge, Tensor video, string prompt)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        long t = video.shape[1], n = judge.Frames;
        var index = torch.tensor(Enumerable.Range(0, (int)n)
            .Select(i => n == 1 ? 0L : (long)Math.Round(i * (t - 1) / (double)(n - 1))).ToArray());
        var clip = ((video.clamp(-1, 1) + 1) / 2).index_select(1, index).permute(1, 0, 2, 3).unsqueeze(0);   // [1, N, 3, H, W]
        var (h, w) = judge.Preprocess.ResizedSize(video.shape[2], video.shape[3]);
        long s = judge.Preprocess.MinSize;
        return judge.Score(clip, new[] { prompt }, new CropOffset((h - s) / 2, (w - s) / 2)).to(ScalarType.Float64).item<double>();
    }
}
