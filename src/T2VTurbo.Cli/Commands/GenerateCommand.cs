using System.CommandLine;
using Spectre.Console;
using T2VTurbo.IO;
using T2VTurbo.Pipelines;
using T2VTurbo.Video;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Cli.Commands;

/// <summary>`t2v-turbo generate "prompt" [--model model.ckpt [--lora unet_lora.pt | --unet unet_mg.pt]] …`; without --model,
/// the embedded ShapesBench T2V-Turbo (<see cref="EmbeddedModel"/>) at its own size.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var prompt = new Argument<string?>("prompt") { Description = "what the video shows", Arity = ArgumentArity.ZeroOrOne };
        var model = new Option<string?>("--model") { Description = "VideoCrafter2 model.ckpt, the merged T2V-Turbo checkpoint, a safetensors copy, or a ModelScope diffusers folder (default: the embedded ShapesBench T2V-Turbo, 32×32, 8 frames)" };
        var lora = new Option<FileInfo?>("--lora") { Description = "T2V-Turbo LoRA (unet_lora.pt or .safetensors), merged at load" };
        var unet = new Option<FileInfo?>("--unet") { Description = "bare UNet weights replacing the model's UNet (v2 unet_mg.pt)" };
        var config = new Option<FileInfo?>("--config") { Description = "architecture JSON (reference yaml names) for models of another size; its generation_defaults (size, frames, fps, steps, guidance) apply" };
        var mode = new Option<string>("--mode") { Description = "turbo | turbo-v2 | teacher", DefaultValueFactory = _ => "turbo" };
        var steps = new Option<int?>("--steps") { Description = "sampling steps (default: 4 turbo, 16 turbo-v2, 50 teacher)" };
        var guidance = new Option<double?>("--guidance") { Description = "guidance scale w (default: 7.5; teacher CFG 12)" };
        var frames = new Option<int?>("--frames") { Description = "frames per video (default: 16, or the model's generation_defaults)" };
        var fps = new Option<int?>("--fps") { Description = "frame rate for conditioning and output (default: 16; turbo-v2 and ModelScope 8)" };
        var height = new Option<int?>("--height") { Description = "height in pixels, a multiple of 8 (default: 320; ModelScope 256)" };
        var width = new Option<int?>("--width") { Description = "width in pixels, a multiple of 8 (default: 512; ModelScope 256)" };
        var family = new Option<string?>("--family") { Description = "vc2 | ms (default: recognised from the weights)" };
        var seed = new Option<long?>("--seed") { Description = "random seed (default: random, printed)" };
        var numVideos = new Option<int>("--num-videos") { Description = "videos per prompt", DefaultValueFactory = _ => 1 };
        var prompts = new Option<FileInfo?>("--prompts") { Description = "file with one prompt per line" };
        var device = new Option<string>("--device") { Description = "cpu | cuda | cuda:N", DefaultValueFactory = _ => "cpu" };
        var dtype = new Option<string?>("--dtype") { Description = "fp32 | bf16 | fp16 (default: fp32 on cpu, bf16 on cuda)" };
        var output = new Option<string?>("--output") { Description = "output .mp4, .gif, .webp, or a folder for PNG frames (default: outputs/<prompt>-<seed>.mp4, .gif where ffmpeg is not installed)" };
        var crf = new Option<int>("--crf") { Description = "H.264 quality for MP4 (lower is better)", DefaultValueFactory = _ => 10 };
        var originSteps = new Option<int?>("--origin-steps") { Description = "consistency discretisation (default: 50 turbo, 200 turbo-v2)" };
        var motion = new Option<double>("--motion-strength") { Description = "turbo-v2 motion guidance λ", DefaultValueFactory = _ => 0.05 };
        var percentage = new Option<double>("--motion-percentage") { Description = "turbo-v2 share of high-noise steps with motion guidance", DefaultValueFactory = _ => 0.5 };
        var offload = new Option<bool>("--offload") { Description = "keep text encoder and VAE on the CPU between uses (less GPU memory)" };
        var frameChunk = new Option<int>("--frame-chunk") { Description = "frames per VAE decoder call (lower uses less memory)", DefaultValueFactory = _ => 4 };

        var cmd = new Command("generate", "Generate videos from text with T2V-Turbo (4-8 steps) or the VideoCrafter2 teacher.")
        {
            prompt, model, lora, unet, config, mode, steps, guidance, frames, fps, height, width, seed, numVideos, prompts,
            device, dtype, output, crf, originSteps, motion, percentage, frameChunk, offload, family,
        };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var texts = new List<string>();
            if (parse.GetValue(prompt) is { Length: > 0 } p) texts.Add(p);
            if (parse.GetValue(prompts) is { } pf)
            {
                if (!pf.Exists) throw new FileNotFoundException($"prompts file not found: {pf.FullName}");
                texts.AddRange(File.ReadAllLines(pf.FullName).Select(l => l.Trim()).Where(l => l.Length > 0));
            }
            if (texts.Count == 0) throw new ArgumentException("give a prompt, or --prompts FILE with one prompt per line");
            var files = ChooseModel(parse.GetValue(model), parse.GetValue(lora), parse.GetValue(unet), parse.GetValue(config), parse.GetValue(family));
            var genMode = ParseMode(parse.GetValue(mode)!);
            var dev = ParseDevice(parse.GetValue(device)!);
            var dt = CheckpointInfo.ParseDType(parse.GetValue(dtype)) ?? (dev.type == DeviceType.CUDA ? ScalarType.BFloat16 : ScalarType.Float32);
            var options = new GenerateOptions
            {
                Mode = genMode, Steps = parse.GetValue(steps), Guidance = parse.GetValue(guidance), Frames = parse.GetValue(frames) ?? 16,
                Fps = parse.GetValue(fps), Height = parse.GetValue(height), Width = parse.GetValue(width), Seed = parse.GetValue(seed),
                VideosPerPrompt = parse.GetValue(numVideos), OriginSteps = parse.GetValue(originSteps),
                MotionStrength = parse.GetValue(motion), MotionPercentage = parse.GetValue(percentage), DecodeFrameChunk = parse.GetValue(frameChunk),
            };
            if (files.Config is { } cfgPath && GenerationDefaults.FromConfig(cfgPath) is { } defaults)
                options = defaults.ApplyTo(options, framesGiven: parse.GetValue(frames) is not null);
            options.Resolve(files.Family!.Value).Validate(8);
            Run(texts, files, options, dev, dt, parse.GetValue(output), parse.GetValue(crf), parse.GetValue(offload));
        }));
        return cmd;
    }

    /// <summary>The weights to load: --model (with --lora/--unet/--config), or the embedded default model.</summary>
    internal static ModelFiles ChooseModel(string? model, FileInfo? lora, FileInfo? unet, FileInfo? config, string? family)
    {
        if (lora is not null && unet is not null)
            throw new ArgumentException("--lora and --unet exclude each other: a LoRA is merged into VideoCrafter2's UNet, --unet replaces it");
        if (model is null)
        {
            if (lora is not null || unet is not null)
                throw new ArgumentException("--lora and --unet need --model (the VideoCrafter2 model.ckpt they apply to)");
            var embedded = EmbeddedModel.Files();
            return config is null ? embedded : embedded with { Config = config.FullName };
        }
        var path = Path.GetFullPath(model);
        if (!File.Exists(path) && !Directory.Exists(path)) throw new FileNotFoundException($"model not found: {path}");
        var fam = family is not null ? ParseFamily(family) : ModelLoader.DetectFamily(path);
        return new ModelFiles(path, lora?.FullName, unet?.FullName, config?.FullName) { Family = fam };
    }

    private static void Run(List<string> texts, ModelFiles files, GenerateOptions options, Device dev, ScalarType dt, string? output, int crf, bool offload)
    {
        var total = System.Diagnostics.Stopwatch.StartNew();
        TextToVideoPipeline? pipeline = null;
        var warnings = new List<string>();
        var stages = new[] { "text encoder", "VAE", "UNet", "LoRA" };
        Bars().Start(ctx =>
        {
            var task = ctx.AddTask("loading weights", maxValue: files.Lora is null ? 3 : 4);
            pipeline = ModelLoader.Load(files, options.Mode, dev, dt, warnings.Add, stage =>
            {
                task.Description = $"loading {stage}";
                task.Value = Array.IndexOf(stages, stage);
            });
            task.Value = task.MaxValue;
        });
        double loadSeconds = total.Elapsed.TotalSeconds;
        foreach (var w in warnings) AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(w)}");
        using var pipe = pipeline!;
        if (offload) pipe.OffloadTextAndVaeNow();
        long seed = options.Seed ?? Random.Shared.NextInt64(0, int.MaxValue);
        AnsiConsole.MarkupLine($"seed: [bold]{seed}[/]  mode: {options.Mode}  steps: {options.ResolvedSteps}  guidance: {options.ResolvedGuidance}  device: {dev}  dtype: {dt}");

        // One prompt at a time (its videos batched), each with the same seed, so a prompt's video is reproducible alone.
        var written = new List<string>();
        var timings = new List<StageTimings>();
        int videoCount = texts.Count * options.VideosPerPrompt, index = 0;
        foreach (var text in texts)
        {
            GenerationResult? result = null;
            Bars().Start(ctx =>
            {
                var sampling = ctx.AddTask($"sampling {Short(text)}", maxValue: options.ResolvedSteps);
                var decoding = ctx.AddTask("decoding", autoStart: false, maxValue: 1);
                result = pipe.Generate(new[] { text }, options with
                {
                    Seed = seed,
                    OnStep = (i, t, _) => sampling.Value = i + 1,
                    OnDecode = () => { sampling.Value = sampling.MaxValue; decoding.StartTask(); decoding.IsIndeterminate = true; },
                });
                decoding.IsIndeterminate = false;
                decoding.Value = 1;
            });
            using var res = result!;
            timings.Add(res.Timings);
            var videos = VideoFrames.FromBatch(res.Videos);
            for (int i = 0; i < videos.Count; i++, index++)
            {
                string path = OutputPath(output, text, seed, index, videoCount);
                var meta = new VideoMetadata(text, seed, options.ResolvedSteps, options.ResolvedGuidance, pipe.ModelName, options.Mode.ToString());
                VideoWriter.Write(path, videos[i], res.Fps, meta, crf);
                written.Add(path);
                AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(Path.GetFullPath(path))}[/]");
            }
        }
        var table = new Table().Title("stage timings").AddColumns("stage", "seconds");
        int calls = timings.Sum(x => x.UnetCallCount);
        table.AddRow("load weights", $"{loadSeconds:F2}");
        table.AddRow("text encoder", $"{timings.Sum(x => x.TextEncoder):F3}");
        table.AddRow($"sampling ({calls} UNet calls, {timings.Sum(x => x.UnetCalls) / Math.Max(1, calls) * 1000:F1} ms each)", $"{timings.Sum(x => x.Sampling):F3}");
        table.AddRow("VAE decode", $"{timings.Sum(x => x.VaeDecode):F3}");
        table.AddRow("per video (text + sampling + decode)", $"{timings.Sum(x => x.Total) / Math.Max(1, written.Count):F3}");
        table.AddRow("total", $"{total.Elapsed.TotalSeconds:F2}");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"{written.Count} video(s) in {total.Elapsed.TotalSeconds:F2} s " +
                               $"({timings.Sum(x => x.Total) / Math.Max(1, written.Count):F2} s per video after loading)");
    }

    private static Progress Bars() => AnsiConsole.Progress().AutoClear(false)
        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn());

    private static string Short(string s) => Markup.Escape(s.Length <= 40 ? s : s[..37] + "...");

    internal static string OutputPath(string? output, string prompt, long seed, int index, int count)
    {
        if (output is null)
        {
            var slug = new string(prompt.ToLowerInvariant().Select(c => char.IsLetterOrDigit(c) ? c : '_').ToArray()).Trim('_');
            if (slug.Length > 60) slug = slug[..60];
            // MP4 needs ffmpeg; without it (a fresh machine) the default is an animated GIF, which needs nothing.
            string defaultExt = VideoWriter.FfmpegOnPath ? ".mp4" : ".gif";
            output = Path.Combine("outputs", $"{(slug.Length > 0 ? slug : "video")}-{seed}{defaultExt}");
            return count == 1 ? output : Path.Combine("outputs", $"{Path.GetFileNameWithoutExtension(output)}-{index}{defaultExt}");
        }
        if (count == 1) return output;
        string ext = Path.GetExtension(output);
        string stem = ext.Length == 0 ? output.TrimEnd('/') : output[..^ext.Length];
        return $"{stem}_{index}{ext}";
    }

    internal static GenerationMode ParseMode(string s) => s.ToLowerInvariant() switch
    {
        "turbo" or "v1" => GenerationMode.Turbo,
        "turbo-v2" or "v2" => GenerationMode.TurboV2,
        "teacher" => GenerationMode.Teacher,
        _ => throw new ArgumentException($"unknown --mode '{s}': use turbo, turbo-v2 or teacher"),
    };

    internal static ModelFamily ParseFamily(string s) => s.ToLowerInvariant() switch
    {
        "vc2" or "videocrafter2" => ModelFamily.VideoCrafter2,
        "ms" or "modelscope" => ModelFamily.ModelScope,
        _ => throw new ArgumentException($"unknown --family '{s}': use vc2 or ms"),
    };

    internal static Device ParseDevice(string s)
    {
        if (s == "cpu") return torch.CPU;
        if (s.StartsWith("cuda", StringComparison.Ordinal))
        {
            if (!torch.cuda.is_available())
                throw new ArgumentException($"--device {s} was asked for, but CUDA is not available to TorchSharp here (no GPU, or the CPU-only libtorch is loaded); use --device cpu");
            return torch.device(s);
        }
        throw new ArgumentException($"unknown --device '{s}': use cpu, cuda or cuda:N");
    }
}
