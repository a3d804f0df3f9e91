using T2VTurbo.IO;
using T2VTurbo.Models;
using T2VTurbo.Models.Unet;
using T2VTurbo.Pipelines;
using T2VTurbo.Schedulers;
using T2VTurbo.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Training;

/// <summary>The networks of a teacher training run: the VideoCrafter2 UNet being trained (no guidance or motion
/// inputs), and the frozen VAE and text encoder whose outputs it learns on.</summary>
public sealed class TeacherModels : IDisposable
{
    public VideoCrafter2Config Config { get; }
    public Unet3D Unet { get; }
    public KlAutoencoder Vae { get; }
    public OpenClipTextEncoder Text { get; }
    public ClipTokenizer Tokenizer { get; } = ClipTokenizer.Default;
    /// <summary>True when the text tower was not loaded but drawn from the seed (no CLIP weights yet).</summary>
    public bool RandomText { get; }

    private TeacherModels(VideoCrafter2Config config, Unet3D unet, KlAutoencoder vae, OpenClipTextEncoder text, bool randomText)
    {
        (Config, Unet, Vae, Text, RandomText) = (config, unet, vae, text, randomText);
        if (text.Config.width != unet.Config.context_dim)
            throw new ArgumentException($"text encoder width {text.Config.width} does not match the UNet's context_dim {unet.Config.context_dim}");
        if (vae.Config.embed_dim != unet.Config.in_channels || unet.Config.out_channels != unet.Config.in_channels)
            throw new ArgumentException($"VAE latent channels {vae.Config.embed_dim} do not match the UNet's in/out channels {unet.Config.in_channels}/{unet.Config.out_channels}");
        foreach (var p in vae.parameters()) p.requires_grad = false;
        foreach (var p in text.parameters()) p.requires_grad = false;
        vae.eval();
        text.eval();
    }

    /// <summary>Builds the UNet from <paramref name="config"/> (guidance/motion inputs off: this is a teacher) with
    /// torch's initialisation drawn from <paramref name="seed"/> and lvdm's zero-initialised layers; loads the VAE from <paramref name="vaePath"/> and the
    /// text tower from <paramref name="textPath"/> (keys with or without the first_stage_model. / cond_stage_model.
    /// prefix). Without a text file the tower is drawn from seed + 1 (so a re-run or resume gets the same one).</summary>
    public static TeacherModels Create(VideoCrafter2Config config, string vaePath, string? textPath, long seed, Device device)
    {
        torch.manual_seed(seed);
        var unet = new Unet3D(config.Unet with { time_cond_proj_dim = null, motion_cond_proj_dim = null }, device);
        FreshInit.ZeroInitLikeLvdm(unet);
        var vae = new KlAutoencoder(config.Vae);
        LoadPart(vae, vaePath, ModelLoader.VaePrefix);
        torch.manual_seed(seed + 1);
        var text = new OpenClipTextEncoder(config.Text);
        if (textPath is not null) LoadPart(text, textPath, ModelLoader.TextPrefix);
        return new TeacherModels(config, unet, vae.to(device), text.to(device), textPath is null);
    }

    private static void LoadPart(nn.Module module, string path, string prefix)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"weights not found: {path}", path);
        using var src = Checkpoint.Open(path);
        bool prefixed = src.Keys.Any(k => k.StartsWith(prefix, StringComparison.Ordinal));
        StateDictLoader.Load(module, src, new LoadOptions
        {
            Prefix = prefixed ? prefix : "",
            // a whole model file also holds the other parts' keys
            IgnoreUnexpected = prefixed ? src.Keys.Where(k => !k.StartsWith(prefix, StringComparison.Ordinal)).ToArray() : [],
        });
    }

    /// <summary>Prompt embeddings [N, 77, width] (penultimate layer, as VideoCrafter2), without gradients.</summary>
    public Tensor EncodeText(IReadOnlyList<string> captions)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var device = Text.parameters().First().device;
        return Text.forward(Tokenizer.Tokenize(captions).to(device)).MoveToOuterDisposeScope();
    }

    /// <summary>One VideoCrafter2-layout safetensors file: model.diffusion_model.* (the UNet), first_stage_model.*
    /// (the VAE), cond_stage_model.* (the text tower) — what <c>generate --mode teacher</c> and <c>distill</c> load.</summary>
    public void ExportModel(string path)
    {
        var tensors = ModelCheckpoint.StateDict(Unet, ModelLoader.UnetPrefix);
        foreach (var (prefix, module) in new (string, nn.Module)[] { (ModelLoader.VaePrefix, Vae), (ModelLoader.TextPrefix, Text) })
            foreach (var (k, v) in ModelCheckpoint.StateDict(module, prefix)) tensors[k] = v;
        try { SafeTensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" }); }
        finally { foreach (var v in tensors.Values) v.Dispose(); }
    }

    public void Dispose()
    {
        Unet.Dispose();
        Vae.Dispose();
        Text.Dispose();
    }
}

/// <summary>The teacher's objective (lvdm LatentDiffusion.p_losses with parameterization "eps", loss_type l2):
/// z = scale_factor · posterior sample of each frame; t ~ U{0, …, T−1}; x_t = q_sample(z, t, ε) with the model's
/// schedule (lvdm: √ᾱ_t · scale_arr[t] · z + √(1−ᾱ_t) · ε when use_scale is on, without scale_arr otherwise);
/// loss = mean (ε_θ(x_t, t, c, fps) − ε)². A fraction of captions (default 10 %) is replaced by "" so the model also
/// learns the unconditional prediction classifier-free guidance needs. All draws come from the run's generator.</summary>
public static class TeacherTraining
{
    public static TrainingStepFunction Step(TeacherModels m, int fps, double uncondProbability = 0.1, int vaeEncodeChunk = 16)
    {
        if (uncondProbability is < 0 or > 1) throw new ArgumentException($"the empty-caption probability must be in [0, 1], got {uncondProbability}");
        if (fps < 1) throw new ArgumentException($"fps must be ≥ 1, got {fps}");
        var schedule = new NoiseSchedule(m.Config.Schedule);
        var sqrtAc = schedule.SqrtAlphasCumprod;
        var sqrtOneMinus = schedule.SqrtOneMinusAlphasCumprod;
        var scaleArr = schedule.ScaleArr;
        return (batch, rng) =>
        {
            var device = m.Unet.parameters().First().device;
            long b = batch.Videos.shape[0];
            long down = m.Vae.Config.DownFactor;
            Tensor z, context;
            int dropped = 0;
            using (torch.no_grad())
            {
                var video = batch.Videos.to(ScalarType.Float32, device);                                     // [B, 3, T, H, W]
                if (video.shape[3] % down != 0 || video.shape[4] % down != 0)
                    throw new ArgumentException($"frame size {video.shape[3]}×{video.shape[4]} is not a multiple of the VAE's factor {down}");
                var postNoise = rng.Randn(new[] { b, (long)m.Vae.Config.embed_dim, video.shape[2], video.shape[3] / down, video.shape[4] / down });
                z = m.Vae.EncodeVideo(video, postNoise.to(device), vaeEncodeChunk);                      // [B, E, T, h, w], scaled
                var drop = rng.Rand(new[] { b }).data<float>().ToArray();
                var captions = batch.Captions.Select((c, i) => drop[i] < uncondProbability ? "" : c).ToList();
                dropped = captions.Count(c => c.Length == 0);
                context = m.EncodeText(captions);                                                          // [B, 77, D]
            }
            var t = rng.RandInt(schedule.NumTimesteps, new[] { b });                                        // [B]
            var noise = rng.Randn(z.shape).to(device);
            var tIdx = t.data<long>().ToArray();
            var a = torch.tensor(tIdx.Select(i => (float)(sqrtAc[i] * (scaleArr?[i] ?? 1.0))).ToArray()).to(device).view(b, 1, 1, 1, 1);
            var s = torch.tensor(tIdx.Select(i => (float)sqrtOneMinus[i]).ToArray()).to(device).view(b, 1, 1, 1, 1);
            var noisy = a * z + s * noise;                                                                 // x_t
            var fpsT = torch.full(new[] { b }, fps, dtype: ScalarType.Int64, device: device);
            var eps = m.Unet.forward(noisy, t.to(device), context, fpsT);
            var loss = torch.nn.functional.mse_loss(eps, noise);
            var terms = new Dictionary<string, double>
            {
                ["loss_mse"] = loss.item<float>(),
                ["t_mean"] = tIdx.Average(),
                ["empty_captions"] = dropped,
            };
            return (loss, terms);
        };
    }
}
