using System.Diagnostics;
using T2VTurbo.Models;
using T2VTurbo.Models.Unet;
using T2VTurbo.Schedulers;
using T2VTurbo.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Pipelines;

/// <summary>Text-to-video for both families (spec §2): tokenizer → text encoder → 3-D UNet driven by a scheduler
/// (T2V-Turbo consistency sampling, or the teacher's DDIM + CFG against the empty prompt) → KL decoder in frame chunks.
/// The modules are owned by the pipeline and disposed with it.</summary>
public sealed class TextToVideoPipeline : IDisposable
{
    public ModelFamily Family { get; }
    public ClipTokenizer Tokenizer { get; }
    public IPromptEncoder Prompts { get; }
    public IDenoisingUnet Denoiser { get; }
    public KlAutoencoder Vae { get; }
    public NoiseScheduleConfig Schedule { get; }
    public Device Device { get; }
    public string ModelName { get; init; } = "";
    /// <summary>Keep the text encoder and the VAE in CPU memory and bring each to the device only while it runs, so the
    /// GPU holds just the UNet between stages (about 0.9 GB in bf16 at full size; costs the transfers).</summary>
    public bool Offload { get; set; }

    /// <summary>The VideoCrafter2 UNet (throws for ModelScope pipelines).</summary>
    public Unet3D Unet => (Denoiser as Vc2Denoiser)?.Unet ?? throw new InvalidOperationException($"a {Family} pipeline has no VideoCrafter2 UNet");
    /// <summary>The VideoCrafter2 text encoder (throws for ModelScope pipelines).</summary>
    public OpenClipTextEncoder TextEncoder => Prompts.Module as OpenClipTextEncoder ?? throw new InvalidOperationException($"a {Family} pipeline has no OpenCLIP text encoder");

    /// <summary>A VideoCrafter2-family pipeline.</summary>
    public TextToVideoPipeline(ClipTokenizer tokenizer, OpenClipTextEncoder textEncoder, Unet3D unet, KlAutoencoder vae,
        NoiseScheduleConfig? schedule = null)
        : this(ModelFamily.VideoCrafter2, tokenizer, new OpenClipPrompts(textEncoder), new Vc2Denoiser(unet), vae, schedule) { }

    public TextToVideoPipeline(ModelFamily family, ClipTokenizer tokenizer, IPromptEncoder prompts, IDenoisingUnet denoiser,
        KlAutoencoder vae, NoiseScheduleConfig? schedule = null)
    {
        Family = family;
        Tokenizer = tokenizer;
        Prompts = prompts;
        Denoiser = denoiser;
        Vae = vae;
        Schedule = schedule ?? (family == ModelFamily.ModelScope ? new NoiseScheduleConfig { use_scale = false } : new NoiseScheduleConfig());
        Device = denoiser.Module.parameters().First().device;
        if (prompts.Width != denoiser.ContextDim)
            throw new ArgumentException($"text encoder width {prompts.Width} does not match the UNet's context size {denoiser.ContextDim}");
        if (vae.Config.embed_dim != denoiser.InChannels)
            throw new ArgumentException($"VAE latent channels {vae.Config.embed_dim} do not match the UNet's in_channels {denoiser.InChannels}");
        foreach (var m in new[] { prompts.Module, denoiser.Module, vae }) m.eval();
    }

    /// <summary>Generates <c>prompts.Count × VideosPerPrompt</c> videos.</summary>
    public GenerationResult Generate(IReadOnlyList<string> prompts, GenerateOptions options, CancellationToken cancellationToken = default)
    {
        if (prompts.Count == 0) throw new ArgumentException("no prompt given");
        options = options.Resolve(Family);
        // Pixels → latent (VAE) → the UNet's deepest level: each halving needs an even size.
        options.Validate(Vae.Config.DownFactor * (1 << Denoiser.Downsamplings));
        CheckModeFits(options.Mode);
        long seed = options.Seed ?? Random.Shared.NextInt64(0, int.MaxValue);
        int n = prompts.Count * options.VideosPerPrompt;
        var expanded = prompts.SelectMany(p => Enumerable.Repeat(p, options.VideosPerPrompt)).ToList();

        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();          // every temporary of this call; the videos are moved out
        var clock = Stopwatch.StartNew();
        var context = EncodeText(expanded);                                              // [N, 77, D]
        var uncond = options.Mode == GenerationMode.Teacher ? EncodeText(Enumerable.Repeat("", n).ToList()) : null;
        Sync();
        double textSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        var generator = new Generator((ulong)seed, torch.CPU);
        long down = Vae.Config.DownFactor;
        long[] shape = { n, Denoiser.InChannels, options.Frames, options.Height!.Value / down, options.Width!.Value / down };
        var latents = torch.randn(shape, dtype: ScalarType.Float32, generator: generator).to(Device);   // [N, 4, T, h, w]
        var noise = NoiseProviders.FromGenerator(generator, ScalarType.Float32, Device);
        var fps = torch.full(new long[] { n }, options.Fps!.Value, dtype: ScalarType.Int64, device: Device);
        var unetClock = new Stopwatch();
        int unetCalls = 0;
        Tensor CallUnet(Tensor x, Tensor t, Tensor ctx, Tensor? wEmb, Tensor? mEmb)
        {
            unetClock.Start();
            var y = Denoiser.Predict(x, t, ctx, fps, wEmb, mEmb);
            Sync();
            unetClock.Stop();
            unetCalls++;
            return y;
        }
        Action<SamplerStep> onStep = s => options.OnStep?.Invoke(s.Step, s.Timestep, s.Denoised);
        Tensor x0;
        if (options.Mode == GenerationMode.Teacher)
        {
            var sampler = new DdimSampler(new NoiseSchedule(Schedule), options.ResolvedSteps, options.ResolvedEta(Family));
            x0 = sampler.Sample((x, t, cond) => CallUnet(x, t, cond ? context : uncond!, null, null),
                latents, options.ResolvedGuidance, noise, onStep, cancellationToken);
        }
        else
        {
            var scheduler = new TurboScheduler(new TurboSchedulerConfig { linear_start = Schedule.linear_start, linear_end = Schedule.linear_end });
            var wEmb = Embeddings.Guidance(options.ResolvedGuidance, n, (int)Denoiser.GuidanceEmbeddingDim!, Device);
            double threshold = 1000 * (1 - options.MotionPercentage);
            x0 = scheduler.Sample((x, t) =>
            {
                if (options.Mode != GenerationMode.TurboV2) return CallUnet(x, t, context, wEmb, null);
                // v2: λ only on the high-noise steps, but the embedding is passed on every step (spec §2.7).
                double lambda = t[0].item<long>() >= threshold ? options.MotionStrength : 0.0;
                using var mEmb = Embeddings.Guidance(lambda, n, (int)Denoiser.MotionEmbeddingDim!, Device);
                return CallUnet(x, t, context, wEmb, mEmb);
            }, latents, options.ResolvedSteps, options.ResolvedOriginSteps, noise, onStep, cancellationToken);
        }
        double samplingSeconds = clock.Elapsed.TotalSeconds;
        if (!x0.isfinite().all().item<bool>())
            throw new InvalidOperationException("the sampled latents contain NaN or Inf (fp16 overflow is the usual cause: try --dtype bf16 or fp32)");
        options.OnDecode?.Invoke();
        clock.Restart();
        Tensor videos;
        using (Visit(Vae))
        {
            var p = Vae.parameters().First();
            var frames = Vae.DecodeVideo(x0.to(p.dtype, p.device), options.DecodeFrameChunk);   // [N, 3, T, H, W]
            videos = frames.to(ScalarType.Float32).cpu().MoveToOuterDisposeScope();
        }
        Sync();
        double vaeSeconds = clock.Elapsed.TotalSeconds;
        return new GenerationResult(videos, seed, expanded,
            new StageTimings(textSeconds, samplingSeconds, unetClock.Elapsed.TotalSeconds, unetCalls, vaeSeconds)) { Fps = options.Fps.Value };
    }

    /// <summary>Prompt embeddings [N, 77, width] in the UNet's dtype, on its device.</summary>
    public Tensor EncodeText(IReadOnlyList<string> prompts)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        using var visit = Visit(Prompts.Module);
        var tokens = Tokenizer.Tokenize(prompts).to(Prompts.Module.parameters().First().device);   // [N, 77]
        var ctx = Prompts.Encode(tokens).to(Denoiser.Module.parameters().First().dtype, Device);
        return ctx.MoveToOuterDisposeScope();
    }

    /// <summary>Turns <see cref="Offload"/> on and moves the text encoder and VAE to the CPU now.</summary>
    public void OffloadTextAndVaeNow()
    {
        Offload = true;
        if (Device.type == DeviceType.CPU) return;
        Prompts.Module.to(torch.CPU);
        Vae.to(torch.CPU);
    }

    /// <summary>With <see cref="Offload"/>: moves the module to the device now and back to the CPU on dispose.</summary>
    private IDisposable? Visit(nn.Module module)
    {
        if (!Offload || Device.type == DeviceType.CPU) return null;
        module.to(Device);
        return new Returner(module);
    }

    private sealed class Returner(nn.Module module) : IDisposable
    {
        public void Dispose() => module.to(torch.CPU);
    }

    private void CheckModeFits(GenerationMode mode)
    {
        if (mode != GenerationMode.Teacher && Denoiser.GuidanceEmbeddingDim is null)
            throw new InvalidOperationException($"mode {mode} needs a T2V-Turbo UNet (guidance embedding input); this one is a teacher UNet: load a T2V-Turbo LoRA or merged checkpoint, or use --mode teacher");
        if (mode == GenerationMode.TurboV2 && Denoiser.MotionEmbeddingDim is null)
            throw new InvalidOperationException("mode turbo-v2 needs a motion-guided VideoCrafter2 UNet (motion_cond_proj, e.g. unet_mg.pt); use --mode turbo");
    }

    private void Sync()
    {
        if (Device.type == DeviceType.CUDA) torch.cuda.synchronize(Device);
    }

    public void Dispose()
    {
        Prompts.Module.Dispose();
        Denoiser.Module.Dispose();
        Vae.Dispose();
    }
}
