using System.Diagnostics;
using System.Text.Json;
using Spectre.Console;
using T2VTurbo.Lora;
using T2VTurbo.Models.Unet;
using T2VTurbo.Pipelines;
using T2VTurbo.Rewards;
using T2VTurbo.Rewards.ViClip;
using T2VTurbo.Training;
using T2VTurbo.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Cli.Commands;

/// <summary>`t2v-turbo bench --distill`: times whole T2V-Turbo distillation steps (consistency loss + HPSv2 on decoded
/// frames + ViCLIP on the clip, LoRA rank 64, AdamW, the reference's defaults) on random weights of the full-size
/// models and synthetic videos, so the step of the paper's recipe can be timed without checkpoints or data.</summary>
internal static class DistillBench
{
    /// <param name="imageRewardConfig">OpenCLIP architecture of the image reward (null: HPSv2's ViT-H/14).</param>
    /// <param name="videoRewardConfig">ViCLIP architecture of the video reward (null: ViCLIP-L/14).</param>
    public static void Run(VideoCrafter2Config cfg, Device dev, ScalarType dt, int frames, int height, int width, int repeats,
        bool gradientCheckpointing, OpenClipModelConfig? imageRewardConfig, ViClipConfig? videoRewardConfig, string? jsonPath)
    {
        var build = Stopwatch.StartNew();
        using var pipe = ModelLoader.RandomWeights(cfg, dev, dt);
        using var teacher = new Unet3D(cfg.Unet with { time_cond_proj_dim = null, motion_cond_proj_dim = null }, dev, dt);
        using var g = new Generator(0, torch.CPU);
        using var lora = LoraInjection.Create(pipe.Denoiser.Module, 64, generator: g);
        var rewards = new List<RewardTerm>
        {
            new(new HpsV2Reward(ModelLoader.Build(() => new OpenClipModel(imageRewardConfig), dev, dt)), 1.0, 5),           // β_img 1, M = 5 frames
            new(new ViClipReward(ModelLoader.Build(() => new ViClipModel(videoRewardConfig), dev, dt)), 2.0, 8),             // β_vid 2, 8 frames
        };
        try
        {
            var models = new DistillModels(pipe.Denoiser, lora, new Vc2Denoiser(teacher), pipe.Vae, pipe.EncodeText);
            var options = new DistillOptions { Fps = 16, GradientCheckpointing = gradientCheckpointing };
            using var distiller = new Distiller(models, rewards, options);
            using var data = new SyntheticVideoBatches(2, frames, height, width, batchSize: 1);
            double buildSeconds = build.Elapsed.TotalSeconds;
            AnsiConsole.MarkupLine($"distillation step on {dev} ({dt}): video {frames}×{height}×{width}, LoRA {distiller.TrainableParameters.Sum(p => p.numel()):N0} weights, " +
                                   $"rewards hpsv2 ×1 (5 frames) + vi_clip ×2 (8 frames), gradient checkpointing {(gradientCheckpointing ? "on" : "off")}");
            var times = new List<double>();
            for (int i = 0; i <= Math.Max(1, repeats); i++)          // step 0 is the warm-up
            {
                var sw = Stopwatch.StartNew();
                var report = distiller.TrainStep(data);
                if (dev.type == DeviceType.CUDA) torch.cuda.synchronize(dev);
                if (i > 0) times.Add(sw.Elapsed.TotalSeconds);
                AnsiConsole.MarkupLine(Markup.Escape($"step {report.Step}: {sw.Elapsed.TotalSeconds:F3} s · {DistillRun.Summary(report)}"));
            }
            times.Sort();
            double median = times[times.Count / 2];
            AnsiConsole.MarkupLine($"median distillation step: [bold]{median:F3} s[/] over {times.Count} steps (models built in {buildSeconds:F1} s)");
            if (jsonPath != null)
                IO.AtomicFile.WriteAllText(jsonPath, JsonSerializer.Serialize(new
                {
                    device = dev.ToString(), dtype = dt.ToString(), frames, height, width, gradient_checkpointing = gradientCheckpointing,
                    rewards = "hpsv2 x1 on 5 frames, vi_clip x2 on 8 frames", lora_rank = 64, step_seconds = times, median_step_s = median,
                }, new JsonSerializerOptions { WriteIndented = true }));
        }
        finally
        {
            foreach (var r in rewards) r.Model.Dispose();
        }
    }
}
