using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Spectre.Console;
using T2VTurbo.Models;
using T2VTurbo.Pipelines;
using T2VTurbo.Rewards;
using T2VTurbo.Training;
using T2VTurbo.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Cli.Commands;

/// <summary>`t2v-turbo train vae|teacher …` — trains the small components of a model from scratch with
/// <see cref="ModelTrainer"/> (progress, train_log.jsonl, atomic checkpoints, --resume).</summary>
public static class TrainCommand
{
    /// <summary>Opens the training videos at --data (a folder of videos with same-name .txt captions, or a CSV, e.g.
    /// what `shapes make` writes); replaceable so tests can feed batches from memory.</summary>
    public static Func<string, TrainingDataSpec, ITrainingBatches> OpenData { get; set; } = (path, spec) =>
        new VideoDataBatches(path, spec, w => AnsiConsole.MarkupLine($"[yellow]skipped:[/] {Markup.Escape(w)}"));

    public const string VaeFile = "vae.safetensors";
    public const string ModelFile = "model.safetensors";

    public static Command Create()
    {
        var cmd = new Command("train", "Train a model component from scratch (VAE, teacher UNet, CLIP and ViCLIP rewards) on a video folder or CSV.");
        cmd.Subcommands.Add(Vae());
        cmd.Subcommands.Add(Teacher());
        cmd.Subcommands.Add(Clip());
        cmd.Subcommands.Add(ViClip());
        return cmd;
    }

    /// <summary>The options every trainer has; defaults differ per trainer.</summary>
    private sealed class CommonOptions
    {
        public readonly Option<string> Data = new("--data") { Description = "training videos: a folder (videos + same-name .txt captions) or a CSV", Required = true };
        public readonly Option<FileInfo> Config = new("--config") { Description = "architecture JSON (reference yaml names): the sizes of the model to train", Required = true };
        public readonly Option<string> Output = new("--output") { Description = "run folder: checkpoints, train_log.jsonl, the trained weights", Required = true };
        public readonly Option<int> CacheMb = new("--data-cache-mb") { Description = "keep decoded videos in memory up to this many MB, and a copy in .t2v-cache/ beside them for later runs (small data sets: avoids decoding every clip every step)", DefaultValueFactory = _ => 0 };
        public readonly Option<bool> Resume = new("--resume") { Description = "continue from the newest checkpoint in --output" };
        public readonly Option<long> MaxSteps;
        public readonly Option<double?> MaxMinutes = new("--max-train-minutes") { Description = "also stop after this many minutes of training (checkpointed and exported like a finished run; a resume gets a fresh budget)" };
        public readonly Option<int> Batch;
        public readonly Option<int> Frames;
        public readonly Option<int> Size;
        public readonly Option<int> Fps = new("--fps") { Description = "frame rate clips are sampled at (and the teacher's fps input)", DefaultValueFactory = _ => 8 };
        public readonly Option<double> Lr;
        public readonly Option<int> Warmup = new("--lr-warmup-steps") { Description = "linear learning-rate warm-up", DefaultValueFactory = _ => 0 };
        public readonly Option<double> Clip = new("--max-grad-norm") { Description = "gradient-norm clipping (0 = off)", DefaultValueFactory = _ => 1.0 };
        public readonly Option<double> WeightDecay = new("--weight-decay") { Description = "AdamW weight decay", DefaultValueFactory = _ => 0.01 };
        public readonly Option<double> Ema = new("--ema-decay") { Description = "export an exponential moving average of the weights with this decay (0 = the last step's weights; e.g. 0.999)", DefaultValueFactory = _ => 0.0 };
        public readonly Option<long> Seed = new("--seed") { DefaultValueFactory = _ => 1234 };
        public readonly Option<int> CkptSteps = new("--checkpointing-steps") { DefaultValueFactory = _ => 500 };
        public readonly Option<int> CkptLimit = new("--checkpoints-total-limit") { DefaultValueFactory = _ => 3 };
        public readonly Option<string> Device = new("--device") { Description = "cpu | cuda | cuda:N", DefaultValueFactory = _ => "cpu" };

        public CommonOptions(long steps, int batch, int frames, int size, double lr)
        {
            MaxSteps = new("--max-train-steps") { DefaultValueFactory = _ => steps };
            Batch = new("--batch-size") { Description = "clips per step", DefaultValueFactory = _ => batch };
            Frames = new("--frames") { Description = "frames per clip", DefaultValueFactory = _ => frames };
            Size = new("--size") { Description = "clips are resized to size×size pixels", DefaultValueFactory = _ => size };
            Lr = new("--lr") { Description = "AdamW learning rate (constant after warm-up)", DefaultValueFactory = _ => lr };
        }

        public void AddTo(Command c)
        {
            foreach (Option o in new Option[] { Data, Config, Output, Resume, CacheMb, MaxSteps, MaxMinutes, Batch, Frames, Size, Fps, Lr, Warmup, Clip, WeightDecay, Ema, Seed, CkptSteps, CkptLimit, Device })
                c.Options.Add(o);
        }

        public TrainingDataSpec Spec(ParseResult p) =>
            new(p.GetValue(Batch), p.GetValue(Frames), p.GetValue(Size), p.GetValue(Size), p.GetValue(Fps), p.GetValue(Seed), p.GetValue(CacheMb));

        public ModelTrainerOptions Trainer(ParseResult p, JsonObject? logHeader = null)
        {
            var args = new JsonObject();
            foreach (var r in p.CommandResult.Children.OfType<System.CommandLine.Parsing.OptionResult>())
                args[r.Option.Name.TrimStart('-')] = string.Join(" ", r.Tokens.Select(t => t.Value));
            return new ModelTrainerOptions
            {
                OutputDir = p.GetValue(Output)!, MaxTrainSteps = p.GetValue(MaxSteps),
                MaxTrainTime = p.GetValue(MaxMinutes) is double m ? TimeSpan.FromMinutes(m) : null, LearningRate = p.GetValue(Lr), WarmupSteps = p.GetValue(Warmup),
                MaxGradNorm = p.GetValue(Clip), WeightDecay = p.GetValue(WeightDecay), EmaDecay = p.GetValue(Ema), Seed = p.GetValue(Seed), CheckpointingSteps = p.GetValue(CkptSteps),
                CheckpointsTotalLimit = p.GetValue(CkptLimit), Resume = p.GetValue(Resume), Args = args, LogHeader = logHeader,
            };
        }

        public VideoCrafter2Config Model(ParseResult p) => VideoCrafter2Config.FromFile(p.GetValue(Config)!.FullName);

        /// <summary>The --config file as a JSON object (the reward trainers' configs).</summary>
        public JsonObject Json(ParseResult p)
        {
            var path = p.GetValue(Config)!.FullName;
            if (!File.Exists(path)) throw new FileNotFoundException($"config not found: {path}", path);
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ArgumentException($"{path}: the config must be a JSON object");
        }
        public Device Dev(ParseResult p) => GenerateCommand.ParseDevice(p.GetValue(Device)!);
    }

    private static Command Vae()
    {
        var common = new CommonOptions(steps: 2000, batch: 16, frames: 1, size: 32, lr: 1e-4);
        var kl = new Option<double>("--kl-weight") { Description = "weight of the KL (LDM's kl_weight: KL and reconstruction both per image, see VaeTraining)", DefaultValueFactory = _ => 1e-6 };
        var rec = new Option<string>("--rec-loss") { Description = "reconstruction loss: l1 | mse", DefaultValueFactory = _ => "l1" };
        var cmd = new Command("vae", $"Train the KL autoencoder on single frames (reconstruction + KL); writes {VaeFile} (first_stage_model.* keys).") { kl, rec };
        common.AddTo(cmd);
        cmd.SetAction(p => CliErrors.Run(() =>
        {
            var recLoss = p.GetValue(rec) switch
            {
                "l1" => ReconstructionLoss.L1,
                "mse" => ReconstructionLoss.Mse,
                var r => throw new ArgumentException($"--rec-loss must be l1 or mse, got '{r}'"),
            };
            var cfg = common.Model(p);
            var dev = common.Dev(p);
            var options = common.Trainer(p, new JsonObject { ["reconstruction"] = recLoss.ToString().ToLowerInvariant(), ["kl_weight"] = p.GetValue(kl) });
            options.Validate();
            using var data = OpenData(p.GetValue(common.Data)!, common.Spec(p));
            torch.manual_seed(options.Seed);
            using var vae = new KlAutoencoder(cfg.Vae);
            vae.to(dev);
            using var trainer = new ModelTrainer(vae, VaeTraining.Step(vae, recLoss, p.GetValue(kl)), options);
            AnsiConsole.MarkupLine($"VAE: {Count(vae)} weights, latent ×{cfg.Vae.DownFactor} down, {cfg.Vae.embed_dim} channels; loss {recLoss} + {p.GetValue(kl):G3}·KL; on {dev}");
            RunWithProgress(trainer, data, "vae");
            string path = Path.Combine(options.OutputDir, VaeFile);
            VaeTraining.ExportWeights(vae, path);
            AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(path)}[/]");
        }));
        return cmd;
    }

    private static Command Teacher()
    {
        var common = new CommonOptions(steps: 5000, batch: 8, frames: 8, size: 32, lr: 1e-4);
        var vaePath = new Option<string>("--vae") { Description = "trained VAE weights (e.g. the vae run's vae.safetensors, or a model file)", Required = true };
        var textPath = new Option<string?>("--text") { Description = "text-tower weights (cond_stage_model.* or bare); omitted: a seeded random tower (logged)" };
        var uncond = new Option<double>("--uncond-prob") { Description = "share of captions replaced by \"\" (classifier-free guidance)", DefaultValueFactory = _ => 0.1 };
        var vaeChunk = new Option<int>("--vae-encode-batch-size") { Description = "frames per VAE encoder call", DefaultValueFactory = _ => 16 };
        var cmd = new Command("teacher", $"Train the VideoCrafter2 3D UNet (ε-prediction DDPM loss on VAE latents); writes {ModelFile}, a VideoCrafter2-layout model file.")
        {
            vaePath, textPath, uncond, vaeChunk,
        };
        common.AddTo(cmd);
        cmd.SetAction(p => CliErrors.Run(() =>
        {
            var cfg = common.Model(p);
            var dev = common.Dev(p);
            long seed = p.GetValue(common.Seed);
            string? text = p.GetValue(textPath);
            var header = new JsonObject
            {
                ["vae"] = Path.GetFullPath(p.GetValue(vaePath)!),
                ["text_tower"] = text is null ? $"random (seed {seed + 1}): no --text weights were given" : Path.GetFullPath(text),
                ["uncond_prob"] = p.GetValue(uncond),
            };
            var options = common.Trainer(p, header);
            options.Validate();
            var spec = common.Spec(p);
            using var data = OpenData(p.GetValue(common.Data)!, spec);
            using var models = TeacherModels.Create(cfg, p.GetValue(vaePath)!, text, seed, dev);
            if (models.RandomText)
                AnsiConsole.MarkupLine($"[yellow]note:[/] no --text weights: the text tower is random (seed {seed + 1}); it is saved in {ModelFile}");
            var step = TeacherTraining.Step(models, spec.Fps, p.GetValue(uncond), p.GetValue(vaeChunk));
            using var trainer = new ModelTrainer(models.Unet, step, options);
            AnsiConsole.MarkupLine($"UNet: {Count(models.Unet)} weights; latents {cfg.Vae.embed_dim}×{spec.Frames}×{spec.Height / cfg.Vae.DownFactor}×{spec.Width / cfg.Vae.DownFactor}; on {dev}");
            RunWithProgress(trainer, data, "teacher");
            string path = Path.Combine(options.OutputDir, ModelFile);
            models.ExportModel(path);
            AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(path)}[/] (generate with --model {Markup.Escape(path)} --config {Markup.Escape(p.GetValue(common.Config)!.FullName)} --mode teacher)");
        }));
        return cmd;
    }

    private static Command Clip()
    {
        var common = new CommonOptions(steps: 2000, batch: 32, frames: 1, size: 32, lr: 5e-4);
        var resize = new Option<string>("--resize") { Description = "how frames reach image_size: letterbox (HPSv2) | squash (clip reward)", DefaultValueFactory = _ => "letterbox" };
        var cmd = new Command("clip", $"Train an open_clip CLIP (image + text towers, symmetric InfoNCE) on (frame, caption) pairs; writes {ClipTraining.ClipFile} " +
            $"(open_clip keys: hpsv2/clip reward with --config) and {ClipTraining.TextFile} (cond_stage_model.model.* keys: train teacher --text).") { resize };
        common.AddTo(cmd);
        cmd.SetAction(p => CliErrors.Run(() =>
        {
            var mode = p.GetValue(resize) switch
            {
                "letterbox" => ClipResize.Letterbox,
                "squash" => ClipResize.Squash,
                var r => throw new ArgumentException($"--resize must be letterbox or squash, got '{r}'"),
            };
            var cfg = OpenClipModelConfig.FromJson(common.Json(p));
            var dev = common.Dev(p);
            var options = common.Trainer(p, new JsonObject { ["model"] = "open_clip", ["resize"] = p.GetValue(resize) });
            options.Validate();
            if (p.GetValue(common.Batch) < 2) throw new ArgumentException("--batch-size must be at least 2: the contrastive loss needs negatives");
            using var data = OpenData(p.GetValue(common.Data)!, common.Spec(p));
            torch.manual_seed(options.Seed);
            using var model = new OpenClipModel(cfg);
            model.to(dev);
            using var trainer = new ModelTrainer(model, ClipTraining.Step(model, mode), options);
            AnsiConsole.MarkupLine($"CLIP: {Count(model)} weights, image {cfg.vision_cfg.image_size}px / patch {cfg.vision_cfg.patch_size}, embed {cfg.embed_dim}; on {dev}");
            RunWithProgress(trainer, data, "clip");
            string clipPath = Path.Combine(options.OutputDir, ClipTraining.ClipFile), textPath = Path.Combine(options.OutputDir, ClipTraining.TextFile);
            ClipTraining.ExportClip(model, clipPath);
            ClipTraining.ExportText(model, textPath);
            AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(clipPath)}[/] and [green]{Markup.Escape(textPath)}[/]");
        }));
        return cmd;
    }

    private static Command ViClip()
    {
        var common = new CommonOptions(steps: 2000, batch: 16, frames: 8, size: 32, lr: 5e-4);
        var cmd = new Command("viclip", $"Train a ViCLIP (video + text towers, symmetric InfoNCE with its temp) on (clip, caption) pairs; writes {ViClipTraining.ViClipFile} (ViCLIP keys: vi_clip reward with --config).");
        common.AddTo(cmd);
        cmd.SetAction(p => CliErrors.Run(() =>
        {
            var cfg = T2VTurbo.Rewards.ViClip.ViClipConfig.FromJson(common.Json(p));
            var dev = common.Dev(p);
            var options = common.Trainer(p, new JsonObject { ["model"] = "viclip" });
            options.Validate();
            int frames = cfg.vision.num_frames * cfg.vision.kernel_size;
            if (p.GetValue(common.Frames) != frames)
                throw new ArgumentException($"--frames must be {frames} (the config's num_frames × kernel_size), got {p.GetValue(common.Frames)}");
            if (p.GetValue(common.Batch) < 2) throw new ArgumentException("--batch-size must be at least 2: the contrastive loss needs negatives");
            using var data = OpenData(p.GetValue(common.Data)!, common.Spec(p));
            torch.manual_seed(options.Seed);
            using var model = new T2VTurbo.Rewards.ViClip.ViClipModel(cfg);
            model.to(dev);
            using var trainer = new ModelTrainer(model, ViClipTraining.Step(model), options);
            AnsiConsole.MarkupLine($"ViCLIP: {Count(model)} weights, {frames} frames at {cfg.vision.input_resolution}px / patch {cfg.vision.patch_size}; on {dev}");
            RunWithProgress(trainer, data, "viclip");
            string path = Path.Combine(options.OutputDir, ViClipTraining.ViClipFile);
            ViClipTraining.Export(model, path);
            AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(path)}[/]");
        }));
        return cmd;
    }

    private static string Count(nn.Module m) => m.parameters().Sum(x => x.numel()).ToString("N0", CultureInfo.InvariantCulture);

    private static void RunWithProgress(ModelTrainer trainer, ITrainingBatches data, string what)
    {
        var o = trainer.Options;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask($"training {what}", maxValue: Math.Max(1, o.MaxTrainSteps));
                try
                {
                    trainer.Run(data, report =>
                    {
                        task.Value = report.Step;
                        task.Description = Markup.Escape($"{what} step {report.Step} · {DistillRun.Summary(report)} · gn {report.GradNorm:G3}");
                    });
                    task.Value = task.MaxValue;
                }
                catch (NonFiniteLossException e)
                {
                    string last = TrainingCheckpoint.Latest(o.OutputDir) ?? "none";
                    throw new InvalidOperationException($"{e.Message}. Last good checkpoint: {last} (continue with --resume)");
                }
            });
        if (trainer.StoppedByTime)
            AnsiConsole.MarkupLine($"stopped at step {trainer.Step} of {o.MaxTrainSteps}: the --max-train-minutes limit ({o.MaxTrainTime!.Value.TotalMinutes:G4} min) was reached");
        if (trainer.Ema is { } ema)
        {
            trainer.UseAveragedWeights();
            AnsiConsole.MarkupLine($"exporting the moving average of the weights (decay {ema.Decay})");
        }
        AnsiConsole.MarkupLine($"step {trainer.Step}: [green]{Markup.Escape(TrainingCheckpoint.Latest(o.OutputDir) ?? o.OutputDir)}[/]");
    }
}
