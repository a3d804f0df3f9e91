using static TorchSharp.torch;

namespace T2VTurbo.Pipelines;

/// <summary>How the video is sampled.</summary>
public enum GenerationMode
{
    /// <summary>T2V-Turbo v1 (spec §2.3): consistency multistep sampling, one UNet call per step, w as an embedding.</summary>
    Turbo,
    /// <summary>T2V-Turbo v2 (spec §2.7): as Turbo, plus the motion-strength embedding on every step.</summary>
    TurboV2,
    /// <summary>The VideoCrafter2 teacher (spec §2.9): DDIM with classifier-free guidance against the empty prompt.</summary>
    Teacher,
}

/// <summary>Options of <see cref="TextToVideoPipeline.Generate"/>. Null means "the mode's default" (spec §2.5).</summary>
public sealed record GenerateOptions
{
    public GenerationMode Mode { get; init; } = GenerationMode.Turbo;
    /// <summary>Sampling steps: 4 (turbo), 16 (turbo-v2, the v2 release default), 50 (teacher DDIM).</summary>
    public int? Steps { get; init; }
    /// <summary>Guidance scale: the w fed to the student (7.5), or the teacher's CFG scale (12, VideoCrafter2's script).</summary>
    public double? Guidance { get; init; }
    public int Frames { get; init; } = 16;
    /// <summary>Frame rate used for conditioning (VideoCrafter2) and for the output file: 16 (v1), 8 (v2, ModelScope).</summary>
    public int? Fps { get; init; }
    /// <summary>Video size in pixels: 320×512 for VideoCrafter2, 256×256 for ModelScope.</summary>
    public int? Height { get; init; }
    public int? Width { get; init; }
    /// <summary>Seed of the one CPU generator that draws every noise (initial latent, then one per step). Null: random.</summary>
    public long? Seed { get; init; }
    public int VideosPerPrompt { get; init; } = 1;
    /// <summary>Discretisation of the consistency scheduler (lcm_origin_steps): 50 for v1, 200 for v2.</summary>
    public int? OriginSteps { get; init; }
    /// <summary>v2 motion strength λ (motion_gs) and the share of high-noise steps that get it (percentage).</summary>
    public double MotionStrength { get; init; } = 0.05;
    public double MotionPercentage { get; init; } = 0.5;
    /// <summary>Teacher DDIM η: 1.0 for VideoCrafter2 (its script), 0 for ModelScope (diffusers' default).</summary>
    public double? Eta { get; init; }
    /// <summary>Frames per VAE decoder call (memory bound for long or large videos). Null: all at once.</summary>
    public int? DecodeFrameChunk { get; init; } = 4;
    /// <summary>Called after every sampling step with (index, timestep, denoised latent). The latent is disposed after
    /// the call: clone what you keep.</summary>
    public Action<int, long, Tensor>? OnStep { get; init; }
    /// <summary>Called when sampling is done and VAE decoding starts.</summary>
    public Action? OnDecode { get; init; }

    public int ResolvedSteps => Steps ?? Mode switch { GenerationMode.Teacher => 50, GenerationMode.TurboV2 => 16, _ => 4 };
    public double ResolvedGuidance => Guidance ?? (Mode == GenerationMode.Teacher ? 12.0 : 7.5);
    public int ResolvedOriginSteps => OriginSteps ?? (Mode == GenerationMode.TurboV2 ? 200 : 50);
    public double ResolvedEta(ModelFamily family) => Eta ?? (family == ModelFamily.ModelScope ? 0.0 : 1.0);

    /// <summary>These options with the family's defaults filled in (size, fps).</summary>
    public GenerateOptions Resolve(ModelFamily family)
    {
        bool ms = family == ModelFamily.ModelScope;
        return this with
        {
            Height = Height ?? (ms ? 256 : 320),
            Width = Width ?? (ms ? 256 : 512),
            Fps = Fps ?? (ms || Mode == GenerationMode.TurboV2 ? 8 : 16),
        };
    }

    /// <summary>Throws one clear error per bad value, naming it.</summary>
    /// <summary>Checks resolved options (see <see cref="Resolve"/>).</summary>
    public void Validate(int latentDownFactor)
    {
        if (Height is null || Width is null || Fps is null) throw new InvalidOperationException("options must be resolved for a model family first");
        if (Height <= 0 || Width <= 0 || Height % 8 != 0 || Width % 8 != 0)
            throw new ArgumentException($"height and width must be positive multiples of 8, got {Height}x{Width}");
        if (Height % latentDownFactor != 0 || Width % latentDownFactor != 0)
            throw new ArgumentException($"height and width must be multiples of {latentDownFactor} for this model, got {Height}x{Width}");
        if (Frames < 1) throw new ArgumentException($"frames must be at least 1, got {Frames}");
        if (VideosPerPrompt < 1) throw new ArgumentException($"videos per prompt must be at least 1, got {VideosPerPrompt}");
        int steps = ResolvedSteps;
        if (Mode == GenerationMode.Teacher)
        {
            if (steps < 1 || steps > 1000) throw new ArgumentException($"teacher steps must be in 1..1000, got {steps}");
            Schedulers.DdimSampler.MakeTimesteps("uniform", steps, 1000);   // lvdm's grid must stay below t = 1000
        }
        else
        {
            int k = ResolvedOriginSteps;
            if (k < 1 || k > 1000) throw new ArgumentException($"origin steps must be in 1..1000, got {k}");
            if (steps < 1 || steps > k) throw new ArgumentException($"steps must be in 1..{k} (the origin steps) for {Mode}, got {steps}");
        }
        if (Fps < 1) throw new ArgumentException($"fps must be at least 1, got {Fps}");
        if (!double.IsFinite(ResolvedGuidance) || ResolvedGuidance < 0) throw new ArgumentException($"guidance must be a finite number ≥ 0, got {ResolvedGuidance}");
        if (MotionPercentage < 0 || MotionPercentage > 1) throw new ArgumentException($"motion percentage must be in [0, 1], got {MotionPercentage}");
        if (Eta is < 0) throw new ArgumentException($"eta must be ≥ 0, got {Eta}");
        if (DecodeFrameChunk is < 1) throw new ArgumentException($"decode frame chunk must be at least 1, got {DecodeFrameChunk}");
    }
}

/// <summary>What one Generate call produced: videos [N, 3, T, H, W] float32 on the CPU in about [−1, 1], N = prompts ×
/// videos per prompt (prompt-major), the seed used, and seconds per stage.</summary>
public sealed record GenerationResult(Tensor Videos, long Seed, IReadOnlyList<string> Prompts, StageTimings Timings) : IDisposable
{
    /// <summary>Frame rate the videos were conditioned on and should be played at.</summary>
    public int Fps { get; init; } = 16;
    public void Dispose() => Videos.Dispose();
}

/// <summary>Wall-clock seconds of each stage of a Generate call.</summary>
public sealed record StageTimings(double TextEncoder, double Sampling, double UnetCalls, int UnetCallCount, double VaeDecode)
{
    public double Total => TextEncoder + Sampling + VaeDecode;
    public double PerUnetCall => UnetCallCount == 0 ? 0 : UnetCalls / UnetCallCount;
}
