using System.Text.Json.Nodes;
using T2VTurbo.Lora;
using T2VTurbo.Pipelines;
using T2VTurbo.Rewards;
using T2VTurbo.Tests.Support;
using T2VTurbo.Training;
using T2VTurbo.Training.Data;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Training;

/// <summary>Distillation with a ModelScope teacher (<see cref="TinyMsModel"/>): same Distiller, family from the weights.</summary>
[Collection(DistillCollection.Name)]
public class ModelScopeDistillTests
{
    [Fact]
    public void Five_steps_with_a_tiny_modelscope_teacher_train_the_lora_and_save_an_ms_lora()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ms-distill-{Guid.NewGuid():N}");
        try
        {
            using var s = DistillSession.Load(TinyMsModel.Folder, null, torch.CPU, ScalarType.Float32, loraRank: 4, seed: 3);
            Assert.Equal(ModelFamily.ModelScope, s.Family);
            Assert.Null(s.Teacher.GuidanceEmbeddingDim);
            var options = new DistillOptions { LearningRate = 1e-3, LoraRank = 4, VaeEncodeChunk = 2, GradientCheckpointing = false, Fps = 8 };
            RewardTerm[] rewards = [new(new BrightnessReward(RewardKind.Image), 2.0, 2), new(new BrightnessReward(RewardKind.Video), 3.0, 2)];
            using var data = new SyntheticVideoBatches(2, 3, TinyMsModel.Size(), TinyMsModel.Size());
            using var d = new Distiller(s.Models, rewards, options);
            var before = s.Lora.LoraParameters().Select(p => p.detach().clone()).ToList();
            var opts = new DistillRunOptions { OutputDir = dir, MaxTrainSteps = 5, CheckpointingSteps = 5, ValidationSteps = 0 };
            Assert.Equal(5, DistillRun.Run(d, data, opts));

            var lines = File.ReadAllLines(Path.Combine(dir, DistillRun.LogFile)).Select(l => JsonNode.Parse(l)!).ToList();
            Assert.Equal(5, lines.Count);
            Assert.All(lines, l => Assert.True(double.IsFinite(l["loss"]!.GetValue<double>()) && double.IsFinite(l["loss_cd"]!.GetValue<double>()), l.ToJsonString()));
            double change = before.Zip(s.Lora.LoraParameters()).Max(p => (p.First - p.Second).abs().max().item<float>());
            Assert.True(change > 0, "the LoRA weights did not change");

            // the saved official list names its modules by the MS UNet's order and loads back into a fresh MS pipeline
            var ckpt = TrainingCheckpoint.List(dir).Last();
            var loraPt = Path.Combine(ckpt.Path, "unet_lora.pt");
            using var pipe = ModelLoader.Load(new ModelFiles(TinyMsModel.Folder, Lora: loraPt), GenerationMode.Turbo, torch.CPU, ScalarType.Float32);
            using var w = LoraWeights.Read(loraPt, pipe.Denoiser.Module);
            Assert.Equal(LoraTargets.Find(pipe.Denoiser.Module).Count, w.Pairs.Count);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
