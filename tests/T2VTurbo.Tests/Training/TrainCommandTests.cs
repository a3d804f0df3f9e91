using System.Text.Json.Nodes;
using T2VTurbo.Cli.Commands;
using T2VTurbo.IO;
using T2VTurbo.Models;
using T2VTurbo.Pipelines;
using T2VTurbo.ShapesBench;
using T2VTurbo.Tests.Support;
using T2VTurbo.Training;
using T2VTurbo.Training.Data;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Training;

/// <summary>`t2v-turbo train vae|teacher` end to end at <see cref="TinyModel"/>'s sizes, with in-memory clips plugged
/// into the command's data seam.</summary>
[Collection(DistillCollection.Name)]
public class TrainCommandTests(ITestOutputHelper output)
{
    private const int Size = 16, Frames = 4;

    private static T WithData<T>(Func<List<TrainingDataSpec>, T> body)
    {
        var previous = TrainCommand.OpenData;
        var asked = new List<TrainingDataSpec>();
        TrainCommand.OpenData = (path, spec) =>
        {
            Assert.Equal("shapes/captions.csv", path);
            asked.Add(spec);
            return new SyntheticVideoBatches(3, spec.Frames, spec.Height, spec.Width, spec.BatchSize);
        };
        try { return body(asked); }
        finally { TrainCommand.OpenData = previous; }
    }

    private static IReadOnlyList<JsonNode> Log(string dir) =>
        File.ReadAllLines(Path.Combine(dir, DistillRun.LogFile)).Select(l => JsonNode.Parse(l)!).ToList();

    [Fact]
    public void Cli_train_vae_runs_resumes_and_writes_first_stage_weights()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"train-vae-{Guid.NewGuid():N}");
        try
        {
            WithData(asked =>
            {
                string[] Args(int steps, params string[] extra) =>
                [
                    "train", "vae", "--data", "shapes/captions.csv", "--config", TinyModel.ConfigPath, "--output", dir,
                    "--max-train-steps", steps.ToString(), "--batch-size", "1", "--frames", "2", "--size", Size.ToString(),
                    "--lr", "1e-3", "--checkpointing-steps", "1", "--checkpoints-total-limit", "2", .. extra,
                ];
                CliRun.Expect(0, Args(2));
                Assert.Equal(new TrainingDataSpec(1, 2, Size, Size, 8, 1234), asked[0]);
                CliRun.Expect(0, Args(3, "--resume"));
                CliRun.Expect(1, Args(4, "--resume", "--rec-loss", "lpips"));
                CliRun.Expect(1, Args(4, "--resume", "--seed", "99"));   // another seed cannot continue the run
                return 0;
            });
            Assert.Equal([2L, 3L], TrainingCheckpoint.List(dir).Select(c => c.Step));   // the refused runs changed nothing
            var log = Log(dir);
            Assert.Equal([0L, 1L, 2L, 3L], log.Select(l => l["step"]!.GetValue<long>()));
            Assert.Equal("l1", log[0]["reconstruction"]!.GetValue<string>());
            Assert.All(log.Skip(1), l => Assert.True(double.IsFinite(l["loss_rec_l1"]!.GetValue<double>())));

            // vae.safetensors: first_stage_model.* keys that load strictly into the config's VAE = the last checkpoint's weights
            using var file = new SafeTensorsFile(Path.Combine(dir, TrainCommand.VaeFile));
            Assert.All(file.Keys, k => Assert.StartsWith(ModelLoader.VaePrefix, k));
            var cfg = VideoCrafter2Config.FromFile(TinyModel.ConfigPath);
            using var vae = new KlAutoencoder(cfg.Vae);
            vae.LoadFrom(file, ModelLoader.VaePrefix);
            using var ckpt = new SafeTensorsFile(Path.Combine(TrainingCheckpoint.Latest(dir)!, ModelCheckpoint.ModelFile));
            foreach (var k in ckpt.Keys)
            {
                using var a = ckpt.Load(k);
                using var b = file.Load(ModelLoader.VaePrefix + k);
                Assert.True(a.isfinite().all().item<bool>(), $"{k} is not finite");
                Assert.True(a.equal(b).all().item<bool>(), $"{k}: vae.safetensors differs from the last checkpoint by {(a - b).abs().max().item<float>()} ({string.Join(",", a.shape)} vs {string.Join(",", b.shape)}, {a.dtype} vs {b.dtype})");
            }
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Cli_train_teacher_resumes_and_writes_a_model_that_generate_loads_in_teacher_mode()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"train-teacher-{Guid.NewGuid():N}");
        try
        {
            WithData(asked =>
            {
                // the VAE comes from a whole VideoCrafter2-layout file (its first_stage_model.* part); no --text: random tower
                string[] Args(int steps, params string[] extra) =>
                [
                    "train", "teacher", "--data", "shapes/captions.csv", "--config", TinyModel.ConfigPath, "--output", dir,
                    "--vae", TinyModel.WeightsPath, "--max-train-steps", steps.ToString(), "--batch-size", "1", "--frames", Frames.ToString(),
                    "--size", Size.ToString(), "--lr", "1e-3", "--checkpointing-steps", "1", "--checkpoints-total-limit", "1", .. extra,
                ];
                CliRun.Expect(0, Args(1));
                CliRun.Expect(0, Args(2, "--resume"));
                Assert.Equal(new TrainingDataSpec(1, Frames, Size, Size, 8, 1234), asked[1]);
                return 0;
            });
            Assert.Equal([2L], TrainingCheckpoint.List(dir).Select(c => c.Step));
            var log = Log(dir);
            Assert.Equal([0L, 1L, 2L], log.Select(l => l["step"]!.GetValue<long>()));
            Assert.StartsWith("random", log[0]["text_tower"]!.GetValue<string>());
            Assert.All(log.Skip(1), l => Assert.True(double.IsFinite(l["loss_mse"]!.GetValue<double>())));

            string model = Path.Combine(dir, TrainCommand.ModelFile);
            using (var file = new SafeTensorsFile(model))
            {
                foreach (var prefix in new[] { ModelLoader.UnetPrefix, ModelLoader.VaePrefix, ModelLoader.TextPrefix })
                    Assert.Contains(file.Keys, k => k.StartsWith(prefix, StringComparison.Ordinal));
                Assert.DoesNotContain(ModelLoader.UnetPrefix + "time_cond_proj.weight", file.Keys);
            }

            using (var pipeline = ModelLoader.Load(new ModelFiles(model, Config: TinyModel.ConfigPath), GenerationMode.Teacher, torch.CPU, ScalarType.Float32))
            {
                var options = new GenerateOptions { Mode = GenerationMode.Teacher, Steps = 2, Frames = Frames, Height = Size, Width = Size, Fps = 8, Seed = 3 };
                using var result = pipeline.Generate(["a red circle moving to the left"], options);
                Assert.Equal(new long[] { 1, 3, Frames, Size, Size }, result.Videos.shape);
                Assert.True(result.Videos.isfinite().all().item<bool>(), "the teacher's video is finite");
                output.WriteLine($"teacher video: mean {result.Videos.mean().item<float>():G4}, std {result.Videos.std().item<float>():G4}");
            }

            var gif = Path.Combine(dir, "teacher.gif");
            CliRun.Expect(0, [
                "generate", "a red circle moving to the left", "--model", model, "--config", TinyModel.ConfigPath, "--mode", "teacher",
                "--steps", "2", "--frames", Frames.ToString(), "--height", Size.ToString(), "--width", Size.ToString(), "--fps", "8",
                "--seed", "3", "--output", gif,
            ]);
            Assert.True(File.Exists(gif), gif);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Cli_train_vae_learns_from_a_shapes_make_folder()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"train-shapes-{Guid.NewGuid():N}");
        try
        {
            var data = Path.Combine(dir, "shapes");
            ShapesDataset.Write(data, new ShapesDatasetOptions { Count = 3, Seed = 5, Size = Size, Frames = 4, Fps = 8 });
            var run = Path.Combine(dir, "run");
            CliRun.Expect(0, [
                "train", "vae", "--data", Path.Combine(data, ShapesDataset.CsvName), "--config", TinyModel.ConfigPath, "--output", run,
                "--max-train-steps", "2", "--batch-size", "2", "--frames", "1", "--size", Size.ToString(), "--fps", "8",
            ]);
            var log = Log(run);
            Assert.Equal([0L, 1L, 2L], log.Select(l => l["step"]!.GetValue<long>()));
            Assert.All(log.Skip(1), l => Assert.True(double.IsFinite(l["loss"]!.GetValue<double>())));
            Assert.All(log.Skip(1), l => Assert.Equal(0, l.AsObject().Where(kv => kv.Key.StartsWith("data_", StringComparison.Ordinal)).Sum(kv => kv.Value!.GetValue<long>())));
            Assert.True(File.Exists(Path.Combine(run, TrainCommand.VaeFile)));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
