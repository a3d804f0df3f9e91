using System.Text.Json.Nodes;
using T2VTurbo.IO;
using T2VTurbo.Lora;
using T2VTurbo.Pipelines;
using T2VTurbo.Rewards;
using T2VTurbo.Schedulers;
using T2VTurbo.Tests.Support;
using T2VTurbo.Training;
using T2VTurbo.Training.Data;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Training;

/// <summary>Distillation on <see cref="TinyModel"/> (CPU, float32, 4 frames): the step, rewards, checkpoints, resume.</summary>
[Collection(DistillCollection.Name)]
public class DistillerTests(ITestOutputHelper output)
{
    private const int Frames = 4;
    private const long Rank = 4;

    /// <summary>Pixel size: a multiple of what the VAE and the UNet's downsamplings need, about 32.</summary>
    private static int Size(DistillSession s)
    {
        int unit = s.Pipeline.Vae.Config.DownFactor * (1 << (s.Pipeline.Unet.Config.channel_mult.Length - 1));
        return unit * Math.Max(1, (32 + unit - 1) / unit);
    }

    private static DistillSession Load(long seed = 5) =>
        DistillSession.Load(TinyModel.WeightsPath, TinyModel.ConfigPath, torch.CPU, ScalarType.Float32, Rank, seed);

    private static SyntheticVideoBatches Data(DistillSession s, int count = 3) => new(count, Frames, Size(s), Size(s));

    private static DistillOptions Fast => new() { LearningRate = 1e-3, LoraRank = Rank, VaeEncodeChunk = 2 };

    private static RewardTerm[] BothRewards() =>
        [new(new BrightnessReward(RewardKind.Image), 1.0, 2), new(new BrightnessReward(RewardKind.Video), 2.0, 2)];

    private static string TempDir() => Path.Combine(Path.GetTempPath(), $"distill-{Guid.NewGuid():N}");

    private static float[] LoraValues(LoraInjection lora) =>
        lora.LoraParameters().SelectMany(p => p.detach().cpu().data<float>().ToArray()).ToArray();

    [Fact]
    public void Ten_steps_log_finite_terms_change_the_lora_and_write_checkpoints_and_validation_videos()
    {
        var dir = TempDir();
        try
        {
            using var s = Load();
            using var data = Data(s);
            using var d = new Distiller(s.Models, BothRewards(), Fast);
            var before = LoraValues(s.Lora);
            int size = Size(s);
            var opts = new DistillRunOptions
            {
                OutputDir = dir, MaxTrainSteps = 10, CheckpointingSteps = 5, CheckpointsTotalLimit = 1, ValidationSteps = 10,
                ValidationPrompts = ["a red ball"], ValidationFormat = "gif",
                ValidationOptions = new GenerateOptions { Frames = Frames, Height = size, Width = size, Seed = 1, DecodeFrameChunk = 2 },
            };
            Assert.Equal(10, DistillRun.Run(d, data, opts, s.Pipeline));

            var lines = File.ReadAllLines(Path.Combine(dir, DistillRun.LogFile)).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
            Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), lines.Select(l => l["step"]!.GetValue<long>()));
            string[] keys = ["loss", "loss_cd", "loss_brightness", "reward_brightness", "loss_video_brightness", "reward_video_brightness", "lr", "grad_norm", "seconds"];
            foreach (var l in lines)
                foreach (var k in keys)
                    Assert.True(l[k] is not null && double.IsFinite(l[k]!.GetValue<double>()), $"step {l["step"]}: {k} = {l[k]}");
            output.WriteLine(string.Join("\n", lines.Select(l => l.ToJsonString())));

            var after = LoraValues(s.Lora);
            double change = before.Zip(after).Max(p => Math.Abs(p.First - p.Second));
            output.WriteLine($"max LoRA weight change after 10 steps: {change:E3}");
            Assert.True(change > 1e-4, $"LoRA weights barely changed ({change})");

            var kept = TrainingCheckpoint.List(dir);
            Assert.Equal([10L], kept.Select(k => k.Step));
            foreach (var file in new[] { TrainingCheckpoint.LoraPt, TrainingCheckpoint.LoraSafetensors, TrainingCheckpoint.TimeCondProj, TrainingCheckpoint.OptimizerFile, TrainingCheckpoint.StateFile })
                Assert.True(File.Exists(Path.Combine(kept[0].Path, file)), file);
            foreach (int steps in new[] { 4, 8 })
                Assert.True(File.Exists(Path.Combine(dir, "validation", "step-10", $"0-{steps}steps.gif")), $"validation video {steps} steps");
            Assert.True(s.Pipeline.Unet.training, "the student is back in training mode after validation");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    /// <summary>The brightness of the student's single-step sample ŷ for a fixed batch, noise, n and w (eval mode).</summary>
    private static double SingleStepBrightness(DistillSession s, TrainingBatch batch)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        s.Pipeline.Unet.eval(); s.Lora.eval();
        try
        {
            var cd = new ConsistencyDistillation(new TurboScheduler());
            var z = s.Pipeline.Vae.EncodeVideo(batch.Videos);
            using var g = new Generator(77, torch.CPU);
            var noise = torch.randn(z.shape, generator: g);
            long b = z.shape[0];
            var index = torch.full(new[] { b }, 30L, dtype: ScalarType.Int64);
            var (tStart, _) = cd.Timesteps(index);
            var noisy = cd.Scheduler.AddNoise(z, noise, tStart);
            var wEmb = Embeddings.Guidance(7.5, b, (int)s.Pipeline.Unet.Config.time_cond_proj_dim!.Value);
            var ctx = s.Pipeline.EncodeText(batch.Captions);
            var eps = s.Pipeline.Unet.forward(noisy, tStart, ctx, 16L, wEmb);
            var yHat = cd.ConsistencyOutput(noisy, tStart, eps);
            var frames = (s.Pipeline.Vae.DecodeVideo(yHat) / 2 + 0.5).clamp(0, 1);
            return frames.mean().item<float>();
        }
        finally { s.Pipeline.Unet.train(); s.Lora.train(); }
    }

    [Fact]
    public void Training_on_a_reward_alone_raises_that_reward_of_the_single_step_sample()
    {
        // weight +1 must raise the brightness of ŷ's frames on a fixed batch; the control (weight −1) must lower it
        var results = new Dictionary<double, (double Before, double After)>();
        foreach (double weight in new[] { 1.0, -1.0 })
        {
            using var s = Load();
            using var data = Data(s, count: 1);
            using var fixedBatch = data.Next();
            data.Restore("0");
            using var d = new Distiller(s.Models, [new RewardTerm(new BrightnessReward(RewardKind.Image), weight, 2)],
                Fast with { ConsistencyWeight = 0, LearningRate = 1e-2 });
            double before = SingleStepBrightness(s, fixedBatch);
            var rewards = new List<double>();
            for (int i = 0; i < 8; i++) rewards.Add(d.TrainStep(data).Terms["reward_brightness"]);
            double after = SingleStepBrightness(s, fixedBatch);
            results[weight] = (before, after);
            output.WriteLine($"weight {weight:+0;-0}: single-step brightness {before:F5} → {after:F5}; training rewards {string.Join(", ", rewards.Select(r => r.ToString("F5")))}");
        }
        Assert.True(results[1.0].After > results[1.0].Before + 1e-3, $"reward did not rise: {results[1.0]}");
        Assert.True(results[-1.0].After < results[-1.0].Before - 1e-3, $"control (negative weight) did not fall: {results[-1.0]}");
    }

    private sealed class KilledException : Exception;

    [Fact]
    public void A_run_killed_after_step_k_and_resumed_equals_an_uninterrupted_run()
    {
        var dirA = TempDir();
        var dirB = TempDir();
        // alternate roles (1:1 → a CD+image and a video micro-step per update) with checkpointed UNet blocks
        var options = Fast with { Roles = RoleSplit.Alternate, ConsistencyRanks = 1, VideoRewardRanks = 1, Seed = 21 };
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            float[] uninterrupted;
            List<string> logA;
            using (var s = Load())
            using (var data = Data(s))
            using (var d = new Distiller(s.Models, BothRewards(), options))
            {
                DistillRun.Run(d, data, new DistillRunOptions { OutputDir = dirA, MaxTrainSteps = 4, CheckpointingSteps = 2, CheckpointsTotalLimit = 0 });
                uninterrupted = LoraValues(s.Lora);
                logA = File.ReadAllLines(Path.Combine(dirA, DistillRun.LogFile)).ToList();
            }
            output.WriteLine($"uninterrupted run: {clock.Elapsed.TotalSeconds:F1} s");
            using (var s = Load())
            using (var data = Data(s))
            using (var d = new Distiller(s.Models, BothRewards(), options))
                Assert.Throws<KilledException>(() => DistillRun.Run(d, data,
                    new DistillRunOptions { OutputDir = dirB, MaxTrainSteps = 4, CheckpointingSteps = 2, CheckpointsTotalLimit = 0 },
                    onStep: r => { if (r.Step == 3) throw new KilledException(); }));
            Assert.Equal([2L], TrainingCheckpoint.List(dirB).Select(c => c.Step));
            output.WriteLine($"+ killed run: {clock.Elapsed.TotalSeconds:F1} s");

            float[] resumed;
            using (var s = Load())
            using (var data = Data(s))
            using (var d = new Distiller(s.Models, BothRewards(), options))
            {
                DistillRun.Run(d, data, new DistillRunOptions { OutputDir = dirB, MaxTrainSteps = 4, CheckpointingSteps = 2, CheckpointsTotalLimit = 0, Resume = true });
                Assert.Equal(4, d.Step);
                resumed = LoraValues(s.Lora);
            }
            double err = uninterrupted.Zip(resumed).Max(p => Math.Abs(p.First - p.Second));
            double moved = uninterrupted.Max(Math.Abs);
            output.WriteLine($"resumed vs uninterrupted LoRA weights: max abs err {err:E3} (largest weight {moved:E3})");
            Assert.True(err <= 1e-6, $"resumed run differs by {err}");

            // the log of the resumed run: steps 1..5 once each, losses equal to the uninterrupted run's
            var logB = File.ReadAllLines(Path.Combine(dirB, DistillRun.LogFile)).ToList();
            static double Loss(string l) => JsonNode.Parse(l)!["loss"]!.GetValue<double>();
            Assert.Equal(logA.Count, logB.Count);
            for (int i = 0; i < logA.Count; i++) Assert.True(Math.Abs(Loss(logA[i]) - Loss(logB[i])) <= 1e-6, $"step {i + 1}: {logA[i]} vs {logB[i]}");
        }
        finally
        {
            foreach (var dir in new[] { dirA, dirB }) if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void The_saved_unet_lora_pt_loads_into_the_generate_pipeline_and_changes_its_output()
    {
        var dir = TempDir();
        try
        {
            int size;
            float[] trained;
            using (var s = Load())
            using (var data = Data(s))
            using (var d = new Distiller(s.Models, BothRewards(), Fast with { LearningRate = 5e-3 }))
            {
                size = Size(s);
                DistillRun.Run(d, data, new DistillRunOptions { OutputDir = dir, MaxTrainSteps = 3, CheckpointingSteps = 3 });
                trained = LoraValues(s.Lora);
            }
            var ckpt = TrainingCheckpoint.Latest(dir)!;
            string pt = Path.Combine(ckpt, TrainingCheckpoint.LoraPt);
            Assert.True(TorchCheckpoint.IsTensorList(pt));

            var options = new GenerateOptions { Frames = Frames, Height = size, Width = size, Steps = 2, Seed = 4, DecodeFrameChunk = 2 };
            using var basePipe = ModelLoader.Load(new ModelFiles(TinyModel.WeightsPath, Config: TinyModel.ConfigPath), GenerationMode.Turbo, torch.CPU, ScalarType.Float32);
            using (var read = LoraWeights.Read(pt, basePipe.Unet))
            {
                var fromFile = LoraTargets.Find(basePipe.Unet).SelectMany(t => new[] { read.Pairs[t.Name].Up, read.Pairs[t.Name].Down })
                    .SelectMany(x => x.data<float>().ToArray()).ToArray();
                Assert.Equal(trained, fromFile);   // bit-exact round trip through the pickle list
            }
            using var loraPipe = ModelLoader.Load(new ModelFiles(TinyModel.WeightsPath, Lora: pt, Config: TinyModel.ConfigPath), GenerationMode.Turbo, torch.CPU, ScalarType.Float32);
            using var a = basePipe.Generate(["a red ball"], options);
            using var b = loraPipe.Generate(["a red ball"], options);
            double diff = (a.Videos - b.Videos).abs().max().item<float>();
            output.WriteLine($"max abs difference of the generated video with the trained LoRA: {diff:E3}");
            Assert.True(b.Videos.isfinite().all().item<bool>());
            Assert.True(diff > 1e-4, $"the LoRA does not change the output ({diff})");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint()
    {
        var dir = TempDir();
        try
        {
            using var s = Load();
            using var data = Data(s);
            var nan = new BrightnessReward(RewardKind.Image) { NanFromCall = 3 };   // step 3's reward is NaN
            using var d = new Distiller(s.Models, [new RewardTerm(nan, 1.0, 2)], Fast);
            var e = Assert.Throws<NonFiniteLossException>(() =>
                DistillRun.Run(d, data, new DistillRunOptions { OutputDir = dir, MaxTrainSteps = 5, CheckpointingSteps = 2 }));
            output.WriteLine(e.Message);
            Assert.Equal(2, d.Step);
            Assert.Equal([2L], TrainingCheckpoint.List(dir).Select(c => c.Step));
            using var saved = LoraWeights.Read(Path.Combine(TrainingCheckpoint.Latest(dir)!, TrainingCheckpoint.LoraSafetensors), s.Pipeline.Unet);
            var savedValues = s.Lora.Targets.SelectMany(t => new[] { saved.Pairs[t.Name].Up, saved.Pairs[t.Name].Down }).SelectMany(x => x.data<float>().ToArray());
            Assert.Equal(savedValues, LoraValues(s.Lora));   // the failed step applied nothing
            var last = File.ReadAllLines(Path.Combine(dir, DistillRun.LogFile))[^1];
            Assert.Contains("error", last);
            Assert.Contains("step 3", e.Message);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Bf16_compute_keeps_float32_lora_weights_and_accumulation_takes_one_batch_per_micro_step()
    {
        using var s = DistillSession.Load(TinyModel.WeightsPath, TinyModel.ConfigPath, torch.CPU, ScalarType.BFloat16, Rank, 5);
        using var data = Data(s);
        using var d = new Distiller(s.Models, BothRewards(), Fast with { GradientAccumulationSteps = 2 });
        var before = LoraValues(s.Lora);
        var report = d.TrainStep(data);
        Assert.Equal("2", data.Position);
        Assert.Equal(ScalarType.BFloat16, s.Pipeline.Unet.parameters().First().dtype);
        Assert.All(d.TrainableParameters, p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.All(report.Terms, kv => Assert.True(double.IsFinite(kv.Value), $"{kv.Key} = {kv.Value}"));
        double change = before.Zip(LoraValues(s.Lora)).Max(p => Math.Abs(p.First - p.Second));
        output.WriteLine($"bf16 step: {DistillRun.Summary(report)}; max LoRA change {change:E3}");
        Assert.True(change > 0);
    }

    [Fact]
    public void The_teacher_is_the_base_unet_in_eval_mode_and_the_fresh_student_starts_from_it()
    {
        using var s = Load();
        using var d = new Distiller(s.Models, [], Fast);
        var teacher = ((Vc2Denoiser)s.Teacher).Unet;
        Assert.False(teacher.training);
        Assert.True(s.Pipeline.Unet.training);
        Assert.Null(teacher.Config.time_cond_proj_dim);
        Assert.All(teacher.parameters(), p => Assert.False(p.requires_grad));
        Assert.All(d.TrainableParameters, p => Assert.True(p.requires_grad));
        // LoRA up = 0 at the start: without the guidance input, student and teacher are the same network
        using var noGrad = torch.no_grad();
        s.Pipeline.Unet.eval(); s.Lora.eval();
        var cfg = teacher.Config;
        using var g = new Generator(9, torch.CPU);
        long hw = 4L << (cfg.channel_mult.Length - 1);   // divisible by every downsampling of this UNet
        using var x = torch.randn(new long[] { 1, cfg.in_channels, Frames, hw, hw }, generator: g);
        using var t = torch.tensor(new long[] { 499 });
        using var ctx = s.Pipeline.EncodeText(["a cat"]);
        using var yTeacher = teacher.forward(x, t, ctx, 16L);
        using var yStudent = s.Pipeline.Unet.forward(x, t, ctx, 16L);
        double err = (yTeacher - yStudent).abs().max().item<float>();
        output.WriteLine($"teacher vs fresh student (no guidance input): max abs err {err:E2}");
        Assert.True(err == 0, $"teacher and fresh student differ by {err}");
    }

    [Fact]
    public void Micro_step_roles_mimic_the_reference_rank_split()
    {
        var alt = new DistillOptions { Roles = RoleSplit.Alternate };
        Assert.Equal([MicroStepRole.ConsistencyAndImage, MicroStepRole.ConsistencyAndImage, MicroStepRole.ConsistencyAndImage, MicroStepRole.VideoReward],
            alt.MicroSteps(hasVideoReward: true));
        Assert.Equal([MicroStepRole.All], alt.MicroSteps(hasVideoReward: false));
        Assert.Equal([MicroStepRole.All, MicroStepRole.All], new DistillOptions { GradientAccumulationSteps = 2 }.MicroSteps(true));
        Assert.Throws<ArgumentException>(() => new DistillOptions { WMin = 9, WMax = 2 }.Validate());
    }
}
