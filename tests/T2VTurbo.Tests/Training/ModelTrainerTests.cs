using System.Text.Json.Nodes;
using T2VTurbo.Models;
using T2VTurbo.Pipelines;
using T2VTurbo.Tests.Support;
using T2VTurbo.Training;
using T2VTurbo.Training.Data;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Training;

/// <summary><see cref="ModelTrainer"/> on the KL autoencoder of fixture "vae" (its config's sizes) with in-memory clips.</summary>
[Collection(DistillCollection.Name)]
public class ModelTrainerTests(ITestOutputHelper output)
{
    private static AutoencoderConfig VaeConfig()
    {
        using var f = Fixture.Load("vae");
        return AutoencoderConfig.FromJson(f.Config);
    }

    /// <summary>Small frames keep the tests fast; any multiple of the VAE's down factor works.</summary>
    private static int Size(AutoencoderConfig c) => 4 * c.DownFactor;

    private static ModelTrainer VaeTrainer(AutoencoderConfig cfg, string dir, long steps, bool resume = false, double lr = 1e-3,
        TrainingStepFunction? wrap = null, double ema = 0, TimeSpan? time = null)
    {
        torch.manual_seed(7);
        var vae = new KlAutoencoder(cfg);
        var options = new ModelTrainerOptions
        {
            OutputDir = dir, MaxTrainSteps = steps, LearningRate = lr, Seed = 5, CheckpointingSteps = 2, CheckpointsTotalLimit = 2, Resume = resume,
            EmaDecay = ema, MaxTrainTime = time,
        };
        return new ModelTrainer(vae, wrap ?? VaeTraining.Step(vae, ReconstructionLoss.L1, klWeight: 1e-6), options);
    }

    private static string TempDir() => Path.Combine(Path.GetTempPath(), $"model-trainer-{Guid.NewGuid():N}");

    [Fact]
    public void Vae_loss_is_finite_and_decreases_on_a_fixed_batch()
    {
        var cfg = VaeConfig();
        var dir = TempDir();
        try
        {
            // one clip of two frames, served as the same batch every step
            using var data = new SyntheticVideoBatches(1, 2, Size(cfg), Size(cfg), batchSize: 1);
            using var trainer = VaeTrainer(cfg, dir, 20);
            var losses = new List<double>();
            trainer.Run(data, r => losses.Add(r.Terms["loss"]));
            Assert.Equal(20, losses.Count);
            Assert.All(losses, l => Assert.True(double.IsFinite(l), $"loss {l}"));
            double first = losses.Take(3).Average(), last = losses.TakeLast(3).Average();
            output.WriteLine($"loss: first 3 steps {first:G4}, last 3 steps {last:G4}; all: {string.Join(", ", losses.Select(l => l.ToString("G3")))}");
            Assert.True(last < 0.8 * first, $"the loss should fall over 20 steps: {first:G4} → {last:G4}");
            Assert.Equal(20, File.ReadAllLines(Path.Combine(dir, DistillRun.LogFile)).Length);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_time_limit_stops_the_run_with_a_checkpoint_of_its_last_step()
    {
        var cfg = VaeConfig();
        var dir = TempDir();
        try
        {
            using var data = new SyntheticVideoBatches(1, 2, Size(cfg), Size(cfg), batchSize: 1);
            KlAutoencoder? vae = null;
            TrainingStepFunction slow = (batch, rng) => { Thread.Sleep(40); return VaeTraining.Step(vae!, ReconstructionLoss.L1)(batch, rng); };
            using var trainer = VaeTrainer(cfg, dir, 10_000, wrap: slow, time: TimeSpan.FromMilliseconds(300));
            vae = (KlAutoencoder)trainer.Model;
            long step = trainer.Run(data);
            output.WriteLine($"stopped at step {step} of 10000 after a 300 ms limit (≥ 40 ms a step)");
            Assert.True(trainer.StoppedByTime, "the run should report that the time limit stopped it");
            Assert.InRange(step, 1, 9);
            Assert.Equal(step, TrainingCheckpoint.List(dir).Last().Step);
            var last = JsonNode.Parse(File.ReadAllLines(Path.Combine(dir, DistillRun.LogFile)).Last())!;
            Assert.Equal(step, last["step"]!.GetValue<long>());
            Assert.Contains("time limit", last["stopped"]!.GetValue<string>());
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_run_stopped_and_resumed_equals_an_uninterrupted_run()
    {
        var cfg = VaeConfig();
        string a = TempDir(), b = TempDir();
        try
        {
            Dictionary<string, Tensor> Weights(ModelTrainer t) => t.Model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            Dictionary<string, Tensor> straight;
            using (var data = new SyntheticVideoBatches(3, 2, Size(cfg), Size(cfg), batchSize: 1))
            using (var t = VaeTrainer(cfg, a, 4))
            {
                t.Run(data);
                straight = Weights(t);
            }
            using (var data = new SyntheticVideoBatches(3, 2, Size(cfg), Size(cfg), batchSize: 1))
            using (var t = VaeTrainer(cfg, b, 2))
                t.Run(data);
            Dictionary<string, Tensor> resumed;
            using (var data = new SyntheticVideoBatches(3, 2, Size(cfg), Size(cfg), batchSize: 1))
            using (var t = VaeTrainer(cfg, b, 4, resume: true))
            {
                Assert.Equal(4, t.Run(data));
                resumed = Weights(t);
            }
            double maxErr = straight.Max(kv => (kv.Value - resumed[kv.Key]).abs().max().item<float>());
            output.WriteLine($"max |uninterrupted − resumed| over {straight.Count} tensors: {maxErr:G3}");
            Assert.True(maxErr <= 1e-6, $"resumed weights differ by {maxErr}");
            Assert.Equal([2L, 4L], TrainingCheckpoint.List(b).Select(c => c.Step));

            static IEnumerable<string> Losses(string dir) => File.ReadAllLines(Path.Combine(dir, DistillRun.LogFile))
                .Select(l => JsonNode.Parse(l)!).Select(n => $"{n["step"]}:{n["loss"]}");
            Assert.Equal(Losses(a), Losses(b));
            // the trained weights moved (the comparison above is not between two untouched models)
            torch.manual_seed(7);
            using var init = new KlAutoencoder(cfg);
            var initW = init.state_dict();
            Assert.True(straight.Max(kv => (kv.Value - initW[kv.Key]).abs().max().item<float>()) > 1e-4);
        }
        finally
        {
            foreach (var d in new[] { a, b }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    /// <summary>diffusers' EMAModel update, written out: shadow_t = d_t·shadow_{t−1} + (1 − d_t)·θ_t with
    /// d_t = min(decay, (1 + u)/(10 + u)), u = t − 1, d_1 = 0.</summary>
    [Fact]
    public void The_exported_average_follows_the_ema_formula_and_survives_a_resume()
    {
        var cfg = VaeConfig();
        string a = TempDir(), b = TempDir();
        const double decay = 0.3;    // below (1+u)/(10+u) from u = 3 on, so both branches of d_t are exercised
        try
        {
            Dictionary<string, Tensor>? expected = null;
            Dictionary<string, Tensor> averaged;
            using (var data = new SyntheticVideoBatches(3, 2, Size(cfg), Size(cfg), batchSize: 1))
            using (var t = VaeTrainer(cfg, a, 6, ema: decay))
            {
                t.Run(data, r =>
                {
                    double d = r.Step == 1 ? 0 : Math.Min(decay, r.Step / (9.0 + r.Step));
                    var now = t.TrainableParameters.ToDictionary(p => p.Name, p => p.Parameter.detach().clone());
                    expected = expected is null ? now : now.ToDictionary(kv => kv.Key, kv => expected[kv.Key] * d + kv.Value * (1 - d));
                });
                var raw = t.TrainableParameters.ToDictionary(p => p.Name, p => p.Parameter.detach().clone());
                t.UseAveragedWeights();
                averaged = t.TrainableParameters.ToDictionary(p => p.Name, p => p.Parameter.detach().clone());
                double moved = raw.Max(kv => (kv.Value - averaged[kv.Key]).abs().max().item<float>());
                Assert.True(moved > 1e-5, $"the average should differ from the last step's weights (max difference {moved:G3})");
            }
            double maxErr = expected!.Max(kv => (kv.Value - averaged[kv.Key]).abs().max().item<float>());
            output.WriteLine($"max |EMA − formula| over {expected!.Count} tensors: {maxErr:G3}");
            Assert.True(maxErr <= 1e-6, $"the exported average differs from the formula by {maxErr}");

            using (var data = new SyntheticVideoBatches(3, 2, Size(cfg), Size(cfg), batchSize: 1))
            using (var t = VaeTrainer(cfg, b, 4, ema: decay))
                t.Run(data);
            Assert.True(File.Exists(Path.Combine(TrainingCheckpoint.Latest(b)!, WeightEma.FileName)));
            using (var data = new SyntheticVideoBatches(3, 2, Size(cfg), Size(cfg), batchSize: 1))
            using (var t = VaeTrainer(cfg, b, 6, resume: true, ema: decay))
            {
                t.Run(data);
                t.UseAveragedWeights();
                double resumedErr = averaged.Max(kv => (kv.Value - t.TrainableParameters.First(p => p.Name == kv.Key).Parameter).abs().max().item<float>());
                output.WriteLine($"max |uninterrupted EMA − resumed EMA|: {resumedErr:G3}");
                Assert.True(resumedErr <= 1e-6, $"the resumed run's average differs by {resumedErr}");
            }
            using (var data = new SyntheticVideoBatches(3, 2, Size(cfg), Size(cfg), batchSize: 1))
            using (var t = VaeTrainer(cfg, b, 8, resume: true))
            {
                var e = Assert.Throws<ArgumentException>(() => t.Run(data));
                Assert.Contains("--ema-decay", e.Message);
            }
        }
        finally
        {
            foreach (var d in new[] { a, b }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    [Fact]
    public void A_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint()
    {
        var cfg = VaeConfig();
        var dir = TempDir();
        try
        {
            using var data = new SyntheticVideoBatches(2, 2, Size(cfg), Size(cfg), batchSize: 1);
            torch.manual_seed(7);
            var vae = new KlAutoencoder(cfg);
            var inner = VaeTraining.Step(vae);
            int calls = 0;
            TrainingStepFunction poisoned = (batch, rng) =>
            {
                var (loss, terms) = inner(batch, rng);
                return ++calls == 3 ? (loss * double.NaN, terms) : (loss, terms);
            };
            var options = new ModelTrainerOptions { OutputDir = dir, MaxTrainSteps = 5, LearningRate = 1e-3, CheckpointingSteps = 2 };
            using var trainer = new ModelTrainer(vae, poisoned, options);
            var e = Assert.Throws<NonFiniteLossException>(() => trainer.Run(data));
            Assert.Contains("step 3", e.Message);
            Assert.Equal(2, trainer.Step);
            Assert.Equal([2L], TrainingCheckpoint.List(dir).Select(c => c.Step));
            var lastLine = JsonNode.Parse(File.ReadAllLines(Path.Combine(dir, DistillRun.LogFile))[^1])!;
            Assert.Equal(3, lastLine["step"]!.GetValue<long>());
            Assert.NotNull(lastLine["error"]);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Teacher_run_stopped_and_resumed_equals_an_uninterrupted_run()
    {
        var cfg = VideoCrafter2Config.FromFile(TinyModel.ConfigPath);
        int size = 2 * cfg.Vae.DownFactor * (1 << (cfg.Unet.channel_mult.Length - 1));
        string a = TempDir(), b = TempDir();
        try
        {
            Dictionary<string, Tensor> Train(string dir, long steps, bool resume)
            {
                using var models = TeacherModels.Create(cfg, TinyModel.WeightsPath, null, seed: 9, torch.CPU);
                using var data = new SyntheticVideoBatches(3, 3, size, size, batchSize: 2);
                var options = new ModelTrainerOptions { OutputDir = dir, MaxTrainSteps = steps, LearningRate = 1e-3, Seed = 9, CheckpointingSteps = 1, Resume = resume };
                using var t = new ModelTrainer(models.Unet, TeacherTraining.Step(models, fps: 8, uncondProbability: 0.5), options);
                t.Run(data);
                return models.Unet.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            }
            using (var fresh = TeacherModels.Create(cfg, TinyModel.WeightsPath, null, seed: 9, torch.CPU))
            {
                // lvdm's zero-initialised output conv: an untrained teacher predicts ε = 0
                using var x = torch.randn(new long[] { 1, cfg.Unet.in_channels, 2, size / cfg.Vae.DownFactor, size / cfg.Vae.DownFactor });
                using var y = fresh.Unet.forward(x, torch.tensor(new long[] { 500 }), fresh.EncodeText(["a red circle"]), 8);
                Assert.Equal(0f, y.abs().max().item<float>());
                Assert.True(fresh.RandomText);
            }
            var straight = Train(a, 3, false);
            Train(b, 1, false);
            var resumed = Train(b, 3, true);
            double maxErr = straight.Max(kv => (kv.Value - resumed[kv.Key]).abs().max().item<float>());
            output.WriteLine($"teacher: max |uninterrupted − resumed| over {straight.Count} tensors: {maxErr:G3}");
            Assert.True(maxErr <= 1e-6, $"resumed UNet weights differ by {maxErr}");
            static IEnumerable<string> Losses(string dir) => File.ReadAllLines(Path.Combine(dir, DistillRun.LogFile))
                .Select(l => JsonNode.Parse(l)!).Select(n => $"{n["step"]}:{n["loss"]}:{n["empty_captions"]}");
            Assert.Equal(Losses(a), Losses(b));
        }
        finally
        {
            foreach (var d in new[] { a, b }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }
}
