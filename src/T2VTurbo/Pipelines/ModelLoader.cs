using T2VTurbo.IO;
using T2VTurbo.Lora;
using T2VTurbo.Models;
using T2VTurbo.Models.Unet;
using T2VTurbo.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Pipelines;

/// <summary>Builds a <see cref="TextToVideoPipeline"/> from weight files: every module is created directly on the
/// target device in the target dtype and filled one tensor at a time, so weights are read once and never held twice.</summary>
public static class ModelLoader
{
    public const string UnetPrefix = "model.diffusion_model.";
    public const string VaePrefix = "first_stage_model.";
    public const string TextPrefix = "cond_stage_model.";
    /// <summary>Seed of the stand-in for time_cond_proj.weight when the weights do not carry it (see <see cref="Load"/>).</summary>
    public const ulong TimeCondProjSeed = 0;

    /// <summary>Loads the pipeline. <paramref name="mode"/> decides the UNet's extra inputs: turbo adds time_cond_proj,
    /// turbo-v2 also motion_cond_proj + combine_proj. The base weight of time_cond_proj is in neither VideoCrafter2's
    /// model.ckpt nor the official unet_lora.pt (spec §3.5: the reference leaves it at a random init, different in every
    /// process); when absent it is set to PyTorch's default Linear init U(−1/√256, 1/√256) drawn from a fixed seed,
    /// so results are reproducible, and <paramref name="warn"/> says so. The merged checkpoint carries the real one.</summary>
    public static TextToVideoPipeline Load(ModelFiles files, GenerationMode mode, Device device, ScalarType dtype,
        Action<string>? warn = null, Action<string>? progress = null)
    {
        if ((files.Family ?? DetectFamily(files.Model)) == ModelFamily.ModelScope)
            return ModelScopeLoader.Load(files, mode, device, dtype, warn, progress);
        if (Directory.Exists(files.Model))
            throw new ArgumentException($"{files.Model} is a folder without model_index.json; VideoCrafter2 weights are one file (model.ckpt or .safetensors)");
        var cfg = files.Config is null ? VideoCrafter2Config.Default : VideoCrafter2Config.FromFile(files.Config);
        using var model = Checkpoint.Open(files.Model);
        RequirePrefix(model, TextPrefix, "text encoder");
        RequirePrefix(model, VaePrefix, "VAE");

        progress?.Invoke("text encoder");
        var text = Build(() => new OpenClipTextEncoder(cfg.Text), device, dtype);
        text.LoadFrom(model, TextPrefix);
        progress?.Invoke("VAE");
        var vae = Build(() => new KlAutoencoder(cfg.Vae), device, dtype);
        vae.LoadFrom(model, VaePrefix);

        progress?.Invoke("UNet");
        using var bare = files.Unet is null ? null : Checkpoint.Open(files.Unet);
        var unetSource = bare ?? model;
        string unetPrefix = bare is null ? UnetPrefix : bare.Keys.Any(k => k.StartsWith(UnetPrefix, StringComparison.Ordinal)) ? UnetPrefix : "";
        if (!unetSource.Keys.Any(k => k.StartsWith(unetPrefix + "input_blocks.", StringComparison.Ordinal)))
            throw new InvalidDataException($"{unetSource.Path}: no UNet weights (no key starts with \"{unetPrefix}input_blocks.\")");
        bool hasTimeCond = unetSource.Contains(unetPrefix + "time_cond_proj.weight");
        bool hasMotion = unetSource.Contains(unetPrefix + "motion_cond_proj.weight");
        if (mode == GenerationMode.TurboV2 && !hasMotion)
            throw new InvalidDataException($"{unetSource.Path}: turbo-v2 needs a motion-guided UNet (motion_cond_proj.weight is absent); use --mode turbo for v1 weights");
        bool wantTimeCond = hasTimeCond || files.Lora is not null || mode != GenerationMode.Teacher;
        var unetCfg = cfg.Unet with
        {
            time_cond_proj_dim = wantTimeCond ? cfg.Unet.time_cond_proj_dim ?? 256 : null,
            motion_cond_proj_dim = hasMotion ? cfg.Unet.motion_cond_proj_dim ?? 256 : null,
        };
        var unet = new Unet3D(unetCfg, device, dtype);
        var allowMissing = wantTimeCond && !hasTimeCond ? new[] { "time_cond_proj.weight" } : Array.Empty<string>();
        StateDictLoader.Load(unet, unetSource, new LoadOptions { Prefix = unetPrefix, AllowMissing = allowMissing });
        if (allowMissing.Length > 0)
        {
            InitConditionProjection(unet, "time_cond_proj.weight");
            warn?.Invoke("time_cond_proj.weight is not in these weights (it never is in VideoCrafter2's model.ckpt or the official " +
                         "unet_lora.pt): using PyTorch's default init from a fixed seed, as the reference app uses a random one. " +
                         "The merged T2V-Turbo checkpoint carries the trained value.");
        }
        if (files.Lora is not null)
        {
            progress?.Invoke("LoRA");
            using var lora = LoraWeights.Read(files.Lora, unet);
            LoraMerge.Merge(unet, lora);
        }
        var tokenizer = ClipTokenizer.Default;
        return new TextToVideoPipeline(tokenizer, text, unet, vae, cfg.Schedule) { ModelName = Path.GetFileName(files.Model) };
    }

    private static void RequirePrefix(ICheckpointSource src, string prefix, string what)
    {
        if (!src.Keys.Any(k => k.StartsWith(prefix, StringComparison.Ordinal)))
            throw new InvalidDataException($"{src.Path}: no {what} weights (no key starts with \"{prefix}\"); " +
                                           $"expected a VideoCrafter2-layout checkpoint ({CheckpointInfo.Describe(src).Kind})");
    }

    /// <summary>The family a model path belongs to: a diffusers folder or diffusers UNet names → ModelScope.</summary>
    public static ModelFamily DetectFamily(string path) =>
        ModelScopeLoader.Recognises(path) ? ModelFamily.ModelScope : ModelFamily.VideoCrafter2;

    /// <summary>PyTorch's default Linear init U(−1/√in, 1/√in), drawn from a fixed seed, for a guidance projection whose
    /// base weight the files do not carry (spec §3.5).</summary>
    internal static void InitConditionProjection(nn.Module unet, string key)
    {
        var w = unet.named_parameters().FirstOrDefault(p => p.name == key).parameter
                ?? throw new InvalidOperationException($"the UNet has no parameter {key}");
        double bound = 1.0 / Math.Sqrt(w.shape[1]);
        using var g = new Generator(TimeCondProjSeed, torch.CPU);
        using var noGrad = torch.no_grad();
        using var v = torch.rand(w.shape, dtype: ScalarType.Float32, generator: g) * (2 * bound) - bound;
        w.copy_(v);
    }

    /// <summary>A VideoCrafter2-architecture pipeline with freshly initialised weights (each class's own init, lvdm's
    /// zero output convolution included) and a guidance projection: what `bench` times, and the baseline a trained model
    /// must beat (ShapesBench).</summary>
    public static TextToVideoPipeline RandomWeights(VideoCrafter2Config cfg, Device device, ScalarType dtype, long seed = 0)
    {
        torch.manual_seed(seed);
        var unetCfg = cfg.Unet with { time_cond_proj_dim = cfg.Unet.time_cond_proj_dim ?? 256 };
        return new TextToVideoPipeline(ClipTokenizer.Default, Build(() => new OpenClipTextEncoder(cfg.Text), device, dtype),
            new Unet3D(unetCfg, device, dtype), Build(() => new KlAutoencoder(cfg.Vae), device, dtype), cfg.Schedule);
    }

    /// <summary>Constructs a module with its parameters created on <paramref name="device"/> in <paramref name="dtype"/>
    /// (no CPU float32 copy first).</summary>
    public static T Build<T>(Func<T> create, Device device, ScalarType dtype) where T : nn.Module
    {
        var oldDevice = torch.get_default_device();
        var oldDtype = torch.get_default_dtype();
        try
        {
            torch.set_default_device(device);
            torch.set_default_dtype(dtype);
            return create();
        }
        finally
        {
            torch.set_default_device(oldDevice);
            torch.set_default_dtype(oldDtype);
        }
    }
}
