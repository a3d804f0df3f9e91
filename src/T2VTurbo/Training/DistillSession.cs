using T2VTurbo.IO;
using T2VTurbo.Lora;
using T2VTurbo.Models.Unet;
using T2VTurbo.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Training;

/// <summary>Everything a distillation run loads from a VideoCrafter2 checkpoint (spec §4.2): the student pipeline
/// (text encoder, VAE and a T2V-Turbo UNet with time_cond_proj, LoRA injected — also used for validation videos),
/// and the frozen teacher UNet. The student's base <c>time_cond_proj.weight</c> is ModelLoader's fixed-seed stand-in
/// when the checkpoint has none, so a LoRA trained here and loaded by ModelLoader meets the same base weight; it is
/// also saved with every checkpoint (spec §3.5).</summary>
public sealed class DistillSession : IDisposable
{
    public TextToVideoPipeline Pipeline { get; }
    public Unet3D Teacher { get; }
    public LoraInjection Lora { get; }
    public DistillModels Models { get; }

    private DistillSession(TextToVideoPipeline pipeline, Unet3D teacher, LoraInjection lora)
    {
        Pipeline = pipeline;
        Teacher = teacher;
        Lora = lora;
        Models = new DistillModels(pipeline.Unet, lora, teacher, pipeline.Vae, pipeline.EncodeText);
    }

    /// <param name="teacherCheckpoint">VideoCrafter2 model.ckpt (or a safetensors copy) with UNet, VAE and text encoder.</param>
    /// <param name="config">architecture JSON for other model sizes (null: VideoCrafter2).</param>
    /// <param name="dtype">compute dtype of the UNets, VAE and text encoder; the LoRA weights stay float32.</param>
    public static DistillSession Load(string teacherCheckpoint, string? config, Device device, ScalarType dtype, long loraRank, long seed,
        Action<string>? warn = null, Action<string>? progress = null)
    {
        var pipeline = ModelLoader.Load(new ModelFiles(teacherCheckpoint, Config: config), GenerationMode.Turbo, device, dtype, warn, progress);
        try
        {
            progress?.Invoke("teacher UNet");
            var cfg = config is null ? VideoCrafter2Config.Default : VideoCrafter2Config.FromFile(config);
            var teacherCfg = cfg.Unet with { time_cond_proj_dim = null, motion_cond_proj_dim = null };
            var teacher = ModelLoader.Build(() => new Unet3D(teacherCfg, device, dtype), device, dtype);
            using (var src = Checkpoint.Open(teacherCheckpoint))
                StateDictLoader.Load(teacher, src, new LoadOptions
                {
                    Prefix = ModelLoader.UnetPrefix,
                    // a T2V-Turbo-layout checkpoint also carries the student-only inputs: the teacher never uses them
                    IgnoreUnexpected = ["time_cond_proj.weight", "motion_cond_proj.weight", "combine_proj.weight"],
                });
            using var g = new Generator((ulong)seed, torch.CPU);
            var lora = LoraInjection.Create(pipeline.Unet, loraRank, generator: g);
            return new DistillSession(pipeline, teacher, lora);
        }
        catch
        {
            pipeline.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Lora.Dispose();
        Teacher.Dispose();
        Pipeline.Dispose();
    }
}
