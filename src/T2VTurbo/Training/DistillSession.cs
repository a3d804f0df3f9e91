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
    public IDenoisingUnet Teacher { get; }
    public LoraInjection Lora { get; }
    public DistillModels Models { get; }
    public ModelFamily Family => Pipeline.Family;

    private DistillSession(TextToVideoPipeline pipeline, IDenoisingUnet teacher, LoraInjection lora)
    {
        Pipeline = pipeline;
        Teacher = teacher;
        Lora = lora;
        Models = new DistillModels(pipeline.Denoiser, lora, teacher, pipeline.Vae, pipeline.EncodeText);
    }

    /// <param name="teacherCheckpoint">VideoCrafter2 model.ckpt (or a safetensors copy), or a ModelScope diffusers folder
    /// / converted file: UNet, VAE and text encoder; the family is recognised from it.</param>
    /// <param name="config">architecture JSON for other VideoCrafter2 sizes (null: VideoCrafter2).</param>
    /// <param name="dtype">compute dtype of the UNets, VAE and text encoder; the LoRA weights stay float32.</param>
    public static DistillSession Load(string teacherCheckpoint, string? config, Device device, ScalarType dtype, long loraRank, long seed,
        Action<string>? warn = null, Action<string>? progress = null)
    {
        var files = new ModelFiles(teacherCheckpoint, Config: config);
        var pipeline = ModelLoader.Load(files, GenerationMode.Turbo, device, dtype, warn, progress);
        try
        {
            progress?.Invoke("teacher UNet");
            IDenoisingUnet teacher = pipeline.Family == ModelFamily.ModelScope
                ? new MsDenoiser(ModelScopeLoader.LoadTeacher(files, device, dtype))
                : new Vc2Denoiser(LoadVc2Teacher(teacherCheckpoint, config, device, dtype));
            using var g = new Generator((ulong)seed, torch.CPU);
            var lora = LoraInjection.Create(pipeline.Denoiser.Module, loraRank, generator: g);
            return new DistillSession(pipeline, teacher, lora);
        }
        catch
        {
            pipeline.Dispose();
            throw;
        }
    }

    private static Unet3D LoadVc2Teacher(string checkpoint, string? config, Device device, ScalarType dtype)
    {
        var cfg = config is null ? VideoCrafter2Config.Default : VideoCrafter2Config.FromFile(config);
        var teacher = new Unet3D(cfg.Unet with { time_cond_proj_dim = null, motion_cond_proj_dim = null }, device, dtype);
        using var src = Checkpoint.Open(checkpoint);
        StateDictLoader.Load(teacher, src, new LoadOptions
        {
            Prefix = ModelLoader.UnetPrefix,
            // a T2V-Turbo-layout checkpoint also carries the student-only inputs: the teacher never uses them
            IgnoreUnexpected = ["time_cond_proj.weight", "motion_cond_proj.weight", "combine_proj.weight"],
        });
        return teacher;
    }

    public void Dispose()
    {
        Lora.Dispose();
        Teacher.Module.Dispose();
        Pipeline.Dispose();
    }
}
