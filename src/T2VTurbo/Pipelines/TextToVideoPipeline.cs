using System.Diagnostics;
using T2VTurbo.Models;
using T2VTurbo.Models.Unet;
using T2VTurbo.Schedulers;
using T2VTurbo.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Pipelines;

/// <summary>Text-to-video with VideoCrafter2-family weights: tokenizer → OpenCLIP text encoder → 3-D UNet driven by a
/// scheduler (T2V-Turbo consistency sampling or the teacher's DDIM + CFG) → KL decoder, frame-chunked (spec §2).
/// The components are owned by the pipeline and disposed with it.</summary>
public sealed class TextToVideoPipeline : IDisposable
{
    public ClipTokenizer Tokenizer { get; }
    public OpenClipTextEncoder TextEncoder { get; }
    public Unet3D Unet { get; }
    public KlAutoencoder Vae { get; }
    public NoiseScheduleConfig Schedule { get; }
    public Device Device { get; }
    public string ModelName { get; init; } = "";
    /// <summary>Keep the text encoder and the VAE in CPU memory and bring each to the device only while it runs, so the
    /// GPU holds just the UNet between stages (saves about 0.9 GB in bf16 at full size; costs the transfers).</summary>
    public bool Offload { get; set; }

    public TextToVideoPipeline(ClipTokenizer tokenizer, OpenClipTextEncoder textEncoder, Unet3D unet, KlAutoencoder vae,
        NoiseScheduleConfig? schedule = null)
    {
        Tokenizer = tokenizer;
        TextEncoder = textEncoder;
        Unet = unet;
        Vae = vae;
        Schedule = schedule ?? new NoiseScheduleConfig();
        Device = unet.parameters().First().device;
        if (textEncoder.Config.width != unet.Config.context_dim)
            throw new ArgumentException($"text encoder width {textEncoder.Config.width} does not match the UNet's context_dim {unet.Config.context_dim}");
        if (vae.Config.embed_dim != unet.Config.in_channels)
            throw new ArgumentException($"VAE latent channels {vae.Config.embed_dim} do not match the UNet's in_channels {unet.Config.in_channels}");
        foreach (var m in new nn.Module[] { textEncoder, unet, vae }) m.eval();
    }

    /// <summary>Generates <c>prompts.Count × VideosPerPrompt</c> videos.</summary>
    public GenerationResult Generate(IReadOnlyList<string> prompts, GenerateOptions options, CancellationToken cancellationToken = default)
    {
        if (prompts.Count == 0) throw new ArgumentException("no prompt given");
        // Pixels → latent (VAE) → the UNet's deepest level: each halving needs an even size.
        int sizeFactor = Vae.Config.DownFactor * (1 << (Unet.Config.channel_mult.Length - 1));
        options.Validate(sizeFactor);
        CheckModeFits(options.Mode);
        long seed = options.Seed ?? Random.Shared.NextInt64(0, int.MaxValue);
        int n = prompts.Count * options.VideosPerPrompt;
        var expanded = prompts.SelectMany(p => Enumerable.Repeat(p, options.VideosPerPrompt)).ToList();

        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();          // every temporary of this call; the videos are moved out
        var clock = Stopwatch.StartNew();
        using var context = EncodeText(expanded);                                        // [N, 77, D]
        using var uncond = options.Mode == GenerationMode.Teacher ? EncodeText(Enumerable.Repeat("", n).ToList()) : null;
        Sync();
        double textSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        var generator = new Generator((ulong)seed, torch.CPU);
        long down = Vae.Config.DownFactor;
        long[] shape = { n, Unet.Config.in_channels, options.Frames, options.Height / down, options.Width / down };
        using var latents = torch.randn(shape, dtype: ScalarType.Float32, generator: generator).to(Device);   // [N, 4, T, h, w]
        var noise = NoiseProviders.FromGenerator(generator, ScalarType.Float32, Device);
        var unetClock = new Stopwatch();
        int unetCalls = 0;
        Tensor CallUnet(Func<Tensor> call)
        {
            unetClock.Start();
            var y = call();
            Sync();
            unetClock.Stop();
            unetCalls++;
            return y;
        }
        Action<SamplerStep> onStep = s => options.OnStep?.Invoke(s.Step, s.Timestep, s.Denoised);
        using var fps = torch.full(new long[] { n }, options.ResolvedFps, dtype: ScalarType.Int64, device: Device);
        Tensor x0;
        if (options.Mode == GenerationMode.Teacher)
        {
            var sampler = new DdimSampler(new NoiseSchedule(Schedule), options.ResolvedSteps, options.Eta);
            x0 = sampler.Sample((x, t, cond) => CallUnet(() => Unet.forward(x, t, cond ? context : uncond!, fps)),
                latents, options.ResolvedGuidance, noise, onStep, cancellationToken);
        }
        else
        {
            var scheduler = new TurboScheduler(new TurboSchedulerConfig { linear_start = Schedule.linear_start, linear_end = Schedule.linear_end });
            using var wEmb = Embeddings.Guidance(options.ResolvedGuidance, n, (int)Unet.Config.time_cond_proj_dim!, Device);
            double threshold = 1000 * (1 - options.MotionPercentage);
            x0 = scheduler.Sample((x, t) =>
            {
                if (options.Mode != GenerationMode.TurboV2) return CallUnet(() => Unet.forward(x, t, context, fps, wEmb));
                // v2: λ only on the high-noise steps, but the embedding is passed on every step (spec §2.7).
                double lambda = t[0].item<long>() >= threshold ? options.MotionStrength : 0.0;
                using var mEmb = Embeddings.Guidance(lambda, n, (int)Unet.Config.motion_cond_proj_dim!, Device);
                return CallUnet(() => Unet.forward(x, t, context, fps, wEmb, mEmb));
            }, latents, options.ResolvedSteps, options.ResolvedOriginSteps, noise, onStep, cancellationToken);
        }
        double samplingSeconds = clock.Elapsed.TotalSeconds;
        using (x0)
        {
            if (!x0.isfinite().all().item<bool>())
                throw new InvalidOperationException("the sampled latents contain NaN or Inf (fp16 overflow is the usual cause: try --dtype bf16 or fp32)");
            options.OnDecode?.Invoke();
            clock.Restart();
            using var visit = Visit(Vae);
            var vaeDtype = Vae.parameters().First().dtype;
            using var frames = Vae.DecodeVideo(x0.to(vaeDtype, Vae.parameters().First().device), options.DecodeFrameChunk);   // [N, 3, T, H, W]
            var videos = frames.to(ScalarType.Float32).cpu().MoveToOuterDisposeScope();
            Sync();
            double vaeSeconds = clock.Elapsed.TotalSeconds;
            return new GenerationResult(videos, seed, expanded,
                new StageTimings(textSeconds, samplingSeconds, unetClock.Elapsed.TotalSeconds, unetCalls, vaeSeconds));
        }
    }

    /// <summary>Prompt embeddings [N, 77, width] in the UNet's dtype.</summary>
    public Tensor EncodeText(IReadOnlyList<string> prompts)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        using var visit = Visit(TextEncoder);
        var tokens = Tokenizer.Tokenize(prompts).to(TextEncoder.parameters().First().device);   // [N, 77]
        var ctx = TextEncoder.forward(tokens).to(Unet.parameters().First().dtype, Device);
        return ctx.MoveToOuterDisposeScope();
    }

    /// <summary>Turns <see cref="Offload"/> on and moves the text encoder and VAE to the CPU now.</summary>
    public void OffloadTextAndVaeNow()
    {
        Offload = true;
        if (Device.type == DeviceType.CPU) return;
        TextEncoder.to(torch.CPU);
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
        if (mode != GenerationMode.Teacher && Unet.Config.time_cond_proj_dim is null)
            throw new InvalidOperationException($"mode {mode} needs a T2V-Turbo UNet (time_cond_proj); this one is a teacher UNet: load a T2V-Turbo LoRA or merged checkpoint, or use --mode teacher");
        if (mode == GenerationMode.TurboV2 && Unet.Config.motion_cond_proj_dim is null)
            throw new InvalidOperationException("mode turbo-v2 needs a motion-guided UNet (motion_cond_proj, e.g. unet_mg.pt); use --mode turbo for v1 weights");
    }

    private void Sync()
    {
        if (Device.type == DeviceType.CUDA) torch.cuda.synchronize(Device);
    }

    public void Dispose()
    {
        TextEncoder.Dispose();
        Unet.Dispose();
        Vae.Dispose();
    }
}
