using System.CommandLine;
using System.Text.Json.Nodes;
using Spectre.Console;
using T2VTurbo.IO;
using T2VTurbo.Pipelines;
using T2VTurbo.Rewards;
using T2VTurbo.Training;
using T2VTurbo.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Cli.Commands;

/// <summary>`t2v-turbo distill --teacher model.ckpt --data DIR|CSV --output runs/NAME` — T2V-Turbo v1 LoRA distillation
/// (spec §4) with the reference's defaults (train_t2v_turbo_v1.sh).</summary>
public static class DistillCommand
{
    /// <summary>Opens the training videos at --data (a folder of videos with same-name .txt captions, or a CSV);
    /// replaceable so tests can feed batches from memory. Skipped videos are warned about and counted in the log.</summary>
    public static Func<string, TrainingDataSpec, ITrainingBatches> OpenData { get; set; } = (path, spec) =>
        new VideoDataBatches(path, spec, w => AnsiConsole.MarkupLine($"[yellow]skipped:[/] {Markup.Escape(w)}"));

    /// <summary>Creates a reward model by name (--image-reward / --video-reward) from its weights file; "none" never
    /// reaches it. Replaceable so tests can use small rewards.</summary>
    public static Func<string, string?, Device, ScalarType, string?, IRewardModel> CreateReward { get; set; } = RewardFactory.Create;

    public static Command Create()
    {
        var teacher = new Option<string>("--teacher") { Description = "VideoCrafter2 model.ckpt (teacher UNet, VAE, text encoder), or a ModelScope diffusers folder", Required = true };
        var data = new Option<string>("--data") { Description = "training videos: a folder or a CSV of (video, caption)", Required = true };
        var output = new Option<string>("--output") { Description = "run folder: checkpoints, train_log.jsonl, validation videos", Required = true };
        var config = new Option<FileInfo?>("--config") { Description = "architecture JSON (reference yaml names) for models of another size" };
        var resume = new Option<bool>("--resume") { Description = "continue from the newest checkpoint in --output" };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 453645634 };
        var maxSteps = new Option<long>("--max-train-steps") { DefaultValueFactory = _ => 10000 };
        var lr = new Option<double>("--learning-rate") { DefaultValueFactory = _ => 1e-5 };
        var warmup = new Option<int>("--lr-warmup-steps") { Description = "linear warm-up (the reference's constant schedule ignores it)", DefaultValueFactory = _ => 0 };
        var clip = new Option<double>("--max-grad-norm") { DefaultValueFactory = _ => 1.0 };
        var accumulation = new Option<int>("--gradient-accumulation-steps") { DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--train-batch-size") { DefaultValueFactory = _ => 1 };
        var frames = new Option<int>("--n-frames") { DefaultValueFactory = _ => 16 };
        var fps = new Option<int>("--fps") { DefaultValueFactory = _ => 16 };
        var height = new Option<int>("--height") { DefaultValueFactory = _ => 320 };
        var width = new Option<int>("--width") { DefaultValueFactory = _ => 512 };
        var ddim = new Option<int>("--num-ddim-timesteps") { DefaultValueFactory = _ => 50 };
        var topk = new Option<int>("--topk") { DefaultValueFactory = _ => 20 };
        var wMin = new Option<double>("--w-min") { DefaultValueFactory = _ => 5.0 };
        var wMax = new Option<double>("--w-max") { DefaultValueFactory = _ => 15.0 };
        var huber = new Option<double>("--huber-c") { DefaultValueFactory = _ => 0.001 };
        var rank = new Option<long>("--lora-rank") { DefaultValueFactory = _ => 64 };
        var imageReward = new Option<string>("--image-reward") { Description = "image-text reward model name, or none", DefaultValueFactory = _ => "hpsv2" };
        var imageRewardPath = new Option<string?>("--image-reward-path") { Description = "weights of the image reward model" };
        var imageRewardConfig = new Option<string?>("--image-reward-config") { Description = "architecture JSON of a non-standard image reward model (e.g. from `train clip`)" };
        var videoRewardConfig = new Option<string?>("--video-reward-config") { Description = "architecture JSON of a non-standard video reward model (e.g. from `train viclip`)" };
        var imageScale = new Option<double>("--reward-scale") { Description = "β_img", DefaultValueFactory = _ => 1.0 };
        var imageFrames = new Option<int>("--reward-frame-bsz") { Description = "M random frames for the image reward", DefaultValueFactory = _ => 5 };
        var videoReward = new Option<string>("--video-reward") { Description = "video-text reward model name, or none", DefaultValueFactory = _ => "vi_clip2" };
        var videoRewardPath = new Option<string?>("--video-rm-ckpt") { Description = "weights of the video reward model" };
        var videoScale = new Option<double>("--video-reward-scale") { Description = "β_vid", DefaultValueFactory = _ => 2.0 };
        var videoFrames = new Option<int>("--video-rm-batch-size") { Description = "frames for the video reward (strided)", DefaultValueFactory = _ => 8 };
        var roles = new Option<string>("--roles") { Description = "joint (all terms every step) | alternate (micro-steps mimic the 6:2 GPU split)", DefaultValueFactory = _ => "joint" };
        var ckptSteps = new Option<int>("--checkpointing-steps") { DefaultValueFactory = _ => 2000 };
        var ckptLimit = new Option<int>("--checkpoints-total-limit") { DefaultValueFactory = _ => 5 };
        var valSteps = new Option<int>("--validation-steps") { Description = "0 = no validation videos", DefaultValueFactory = _ => 500 };
        var valPrompts = new Option<string[]>("--validation-prompt") { Description = "prompt of a validation video (repeatable)", AllowMultipleArgumentsPerToken = false };
        var cacheMb = new Option<int>("--data-cache-mb") { Description = "keep decoded videos in memory up to this many MB, and a copy in .t2v-cache/ beside them for later runs (small data sets)", DefaultValueFactory = _ => 0 };
        var vaeChunk = new Option<int>("--vae-encode-batch-size") { DefaultValueFactory = _ => 8 };
        var noCheckpointing = new Option<bool>("--no-gradient-checkpointing") { Description = "keep all UNet activations (faster, more memory)" };
        var device = new Option<string>("--device") { Description = "cpu | cuda | cuda:N", DefaultValueFactory = _ => "cpu" };
        var dtype = new Option<string?>("--dtype") { Description = "fp32 | bf16 (default: fp32 on cpu, bf16 on cuda); LoRA weights stay fp32" };

        var cmd = new Command("distill", "Distil a VideoCrafter2 teacher into a 4-8 step T2V-Turbo LoRA (consistency distillation + reward feedback).")
        {
            teacher, data, output, config, resume, seed, maxSteps, lr, warmup, clip, accumulation, batch, frames, fps, height, width, ddim, topk,
            wMin, wMax, huber, rank, imageReward, imageRewardPath, imageRewardConfig, videoRewardConfig, imageScale, imageFrames, videoReward, videoRewardPath, videoScale, videoFrames,
            roles, ckptSteps, ckptLimit, valSteps, valPrompts, vaeChunk, cacheMb, noCheckpointing, device, dtype,
        };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var teacherPath = Path.GetFullPath(parse.GetValue(teacher)!);
            if (!File.Exists(teacherPath) && !Directory.Exists(teacherPath)) throw new FileNotFoundException($"teacher checkpoint not found: {teacherPath}");
            // ModelScope teacher: the paper's MS settings where the user gave none (spec §4.1 notes: LoRA rank 32,
            // HPSv2.1 ×2, ViCLIP ×3; 256×256 at 8 fps as the MS pipeline). Its UNet has no activation checkpointing yet.
            bool ms = ModelLoader.DetectFamily(teacherPath) == ModelFamily.ModelScope;
            bool Given(Option o) => parse.GetResult(o) is { Implicit: false };
            T Pick<T>(Option<T> o, T msDefault) => ms && !Given(o) ? msDefault : parse.GetValue(o)!;
            if (ms && !parse.GetValue(noCheckpointing))
                AnsiConsole.MarkupLine("[yellow]note:[/] the ModelScope UNet trains without activation checkpointing (more memory)");
            var dev = GenerateCommand.ParseDevice(parse.GetValue(device)!);
            var dt = CheckpointInfo.ParseDType(parse.GetValue(dtype)) ?? (dev.type == DeviceType.CUDA ? ScalarType.BFloat16 : ScalarType.Float32);
            var options = new DistillOptions
            {
                Seed = parse.GetValue(seed), LearningRate = parse.GetValue(lr), WarmupSteps = parse.GetValue(warmup), MaxGradNorm = parse.GetValue(clip),
                GradientAccumulationSteps = parse.GetValue(accumulation), NumDdimTimesteps = parse.GetValue(ddim), Topk = parse.GetValue(topk),
                WMin = parse.GetValue(wMin), WMax = parse.GetValue(wMax), HuberC = parse.GetValue(huber), Fps = Pick(fps, 8),
                LoraRank = Pick(rank, 32L), VaeEncodeChunk = parse.GetValue(vaeChunk), GradientCheckpointing = !ms && !parse.GetValue(noCheckpointing),
                Roles = parse.GetValue(roles) switch
                {
                    "joint" => RoleSplit.Joint,
                    "alternate" => RoleSplit.Alternate,
                    var r => throw new ArgumentException($"--roles must be joint or alternate, got '{r}'"),
                },
            };
            options.Validate();
            var args = new JsonObject();
            foreach (var r in parse.CommandResult.Children.OfType<System.CommandLine.Parsing.OptionResult>())
                args[r.Option.Name.TrimStart('-')] = string.Join(" ", r.Tokens.Select(t => t.Value));
            var spec = new TrainingDataSpec(parse.GetValue(batch), parse.GetValue(frames), Pick(height, 256), Pick(width, 256), (int)options.Fps, options.Seed, parse.GetValue(cacheMb));
            var runOptions = new DistillRunOptions
            {
                OutputDir = parse.GetValue(output)!, MaxTrainSteps = parse.GetValue(maxSteps), CheckpointingSteps = parse.GetValue(ckptSteps),
                CheckpointsTotalLimit = parse.GetValue(ckptLimit), ValidationSteps = parse.GetValue(valSteps),
                ValidationPrompts = parse.GetValue(valPrompts) ?? [], Resume = parse.GetValue(resume), Args = args,
                ValidationOptions = new GenerateOptions { Frames = spec.Frames, Height = spec.Height, Width = spec.Width, Fps = spec.Fps, Seed = options.Seed },
            };
            var rewardSpecs = new List<(string Name, string? Path, string? Config, double Scale, int Frames)>
            {
                (parse.GetValue(imageReward)!, parse.GetValue(imageRewardPath), parse.GetValue(imageRewardConfig), Pick(imageScale, 2.0), parse.GetValue(imageFrames)),
                (Pick(videoReward, "vi_clip"), parse.GetValue(videoRewardPath), parse.GetValue(videoRewardConfig), Pick(videoScale, 3.0), parse.GetValue(videoFrames)),
            };
            Run(teacherPath, parse.GetValue(config)?.FullName, parse.GetValue(data)!, spec, options, runOptions, rewardSpecs, dev, dt);
        }));
        return cmd;
    }

    private static void Run(string teacher, string? config, string dataPath, TrainingDataSpec spec, DistillOptions options, DistillRunOptions runOptions,
        List<(string Name, string? Path, string? Config, double Scale, int Frames)> rewardSpecs, Device dev, ScalarType dt)
    {
        var rewards = new List<RewardTerm>();
        try
        {
            using var data = OpenData(dataPath, spec);
            foreach (var (name, path, cfg, scale, n) in rewardSpecs)
                if (!name.Equals("none", StringComparison.OrdinalIgnoreCase) && scale != 0)
                    rewards.Add(new RewardTerm(CreateReward(name, path, dev, dt, cfg), scale, n));
            AnsiConsole.MarkupLine($"loading [bold]{Markup.Escape(Path.GetFileName(teacher))}[/] on {dev} ({dt})");
            using var session = DistillSession.Load(teacher, config, dev, dt, options.LoraRank, options.Seed,
                warn: w => AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(w)}"));
            using var distiller = new Distiller(session.Models, rewards, options);
            AnsiConsole.MarkupLine($"LoRA: {session.Lora.Targets.Count} modules, {distiller.TrainableParameters.Sum(p => p.numel()):N0} trainable weights; " +
                                   $"rewards: {(rewards.Count == 0 ? "none" : string.Join(", ", rewards.Select(r => $"{r.Model.Name} ×{r.Weight}")))}");
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                    new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("distilling", maxValue: runOptions.MaxTrainSteps);
                    try
                    {
                        DistillRun.Run(distiller, data, runOptions, session.Pipeline, report =>
                        {
                            task.Value = report.Step;
                            task.Description = Markup.Escape($"step {report.Step} · {DistillRun.Summary(report)} · gn {report.GradNorm:G3}");
                        });
                    }
                    catch (NonFiniteLossException e)
                    {
                        string last = TrainingCheckpoint.Latest(runOptions.OutputDir) ?? "none";
                        throw new InvalidOperationException($"{e.Message}. Last good checkpoint: {last} (continue with --resume)");
                    }
                });
            AnsiConsole.MarkupLine($"done: [green]{Markup.Escape(TrainingCheckpoint.Latest(runOptions.OutputDir) ?? runOptions.OutputDir)}[/]");
        }
        finally
        {
            foreach (var r in rewards) r.Model.Dispose();
        }
    }
}
