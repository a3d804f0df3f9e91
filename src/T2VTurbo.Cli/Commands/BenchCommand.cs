using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Spectre.Console;
using T2VTurbo.Models;
using T2VTurbo.Models.Unet;
using T2VTurbo.Pipelines;
using T2VTurbo.Rewards;
using T2VTurbo.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace T2VTurbo.Cli.Commands;

/// <summary>`t2v-turbo bench`: times each stage of generation on random weights of a given architecture (VideoCrafter2
/// by default), side by side in one run: text encoder, one UNet step, VAE decode batched and in frame chunks, a whole
/// 4-step video. Speed is measured here, never in a unit test.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo?>("--config") { Description = "architecture JSON (default: VideoCrafter2 full size)" };
        var device = new Option<string>("--device") { Description = "cpu | cuda", DefaultValueFactory = _ => "cpu" };
        var dtype = new Option<string?>("--dtype") { Description = "fp32 | bf16 | fp16 (default: fp32 on cpu, bf16 on cuda)" };
        var frames = new Option<int?>("--frames") { Description = "frames (default: 16, or the embedded model's 8)" };
        var height = new Option<int?>("--height") { Description = "height in pixels (default: 320, or the embedded model's)" };
        var width = new Option<int?>("--width") { Description = "width in pixels (default: 512, or the embedded model's)" };
        var embedded = new Option<bool>("--embedded") { Description = "time the embedded default model (its real weights, config and size) instead of random weights" };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 4 };
        var repeats = new Option<int>("--repeats") { Description = "timed repetitions per stage (after one warm-up)", DefaultValueFactory = _ => 3 };
        var json = new Option<FileInfo?>("--json") { Description = "also write the numbers as JSON here" };
        var distill = new Option<bool>("--distill") { Description = "time T2V-Turbo distillation steps (consistency + HPSv2 + ViCLIP rewards, LoRA 64) instead of generation" };
        var noCheckpointing = new Option<bool>("--no-gradient-checkpointing") { Description = "with --distill: keep all UNet activations" };
        var imageRewardConfig = new Option<FileInfo?>("--image-reward-config") { Description = "with --distill: OpenCLIP architecture JSON of the image reward (default: ViT-H/14)" };
        var videoRewardConfig = new Option<FileInfo?>("--video-reward-config") { Description = "with --distill: ViCLIP architecture JSON of the video reward (default: ViCLIP-L/14)" };
        var cmd = new Command("bench", "Time text encoder, UNet step, VAE decode and a whole video on random weights (or the embedded model).")
            { config, device, dtype, frames, height, width, steps, repeats, json, embedded, distill, noCheckpointing, imageRewardConfig, videoRewardConfig };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var dev = GenerateCommand.ParseDevice(parse.GetValue(device)!);
            var dt = IO.CheckpointInfo.ParseDType(parse.GetValue(dtype)) ?? (dev.type == DeviceType.CUDA ? ScalarType.BFloat16 : ScalarType.Float32);
            bool real = parse.GetValue(embedded);
            if (real && parse.GetValue(config) is not null) throw new ArgumentException("--embedded uses the embedded model's own config: drop --config");
            var cfgPath = real ? EmbeddedModel.Files().Config : parse.GetValue(config)?.FullName;
            var cfg = cfgPath is null ? VideoCrafter2Config.Default : VideoCrafter2Config.FromFile(cfgPath);
            var d = real ? EmbeddedModel.Defaults() : null;
            if (parse.GetValue(distill))
            {
                if (real) throw new ArgumentException("--distill times random full-size weights: drop --embedded");
                DistillBench.Run(cfg, dev, dt, parse.GetValue(frames) ?? 16, parse.GetValue(height) ?? 320, parse.GetValue(width) ?? 512,
                    parse.GetValue(repeats), !parse.GetValue(noCheckpointing),
                    parse.GetValue(imageRewardConfig) is { } ic ? OpenClipModelConfig.FromJson(EvalCommand.ReadJson(ic)) : null,
                    parse.GetValue(videoRewardConfig) is { } vc ? T2VTurbo.Rewards.ViClip.ViClipConfig.FromJson(EvalCommand.ReadJson(vc)) : null,
                    parse.GetValue(json)?.FullName);
                return;
            }
            var load = Stopwatch.StartNew();
            using var pipe = real
                ? ModelLoader.Load(EmbeddedModel.Files(), GenerationMode.Turbo, dev, dt)
                : ModelLoader.RandomWeights(cfg, dev, dt);
            double loadSeconds = load.Elapsed.TotalSeconds;
            Run(pipe, cfg, dev, dt, parse.GetValue(frames) ?? d?.Frames ?? 16, parse.GetValue(height) ?? d?.Height ?? 320,
                parse.GetValue(width) ?? d?.Width ?? 512, parse.GetValue(steps), parse.GetValue(repeats), parse.GetValue(json)?.FullName,
                real ? loadSeconds : null);
        }));
        return cmd;
    }

    private static void Run(TextToVideoPipeline pipe, VideoCrafter2Config cfg, Device dev, ScalarType dt, int frames, int height, int width,
        int steps, int repeats, string? jsonPath, double? loadSeconds)
    {
        using var noGrad = torch.no_grad();
        var unetCfg = pipe.Unet.Config;
        AnsiConsole.MarkupLine($"device {dev}, dtype {dt}, video {frames}×{height}×{width}, UNet {pipe.Unet.parameters().Sum(p => p.numel()) / 1e6:F1} M parameters");
        long down = cfg.Vae.DownFactor;
        using var x = torch.randn(new long[] { 1, cfg.Unet.in_channels, frames, height / down, width / down }, device: dev);
        using var t = torch.full(new long[] { 1 }, 999L, dtype: ScalarType.Int64, device: dev);
        using var ctx = pipe.EncodeText(new[] { "a corgi surfing a wave" });
        using var wEmb = Schedulers.Embeddings.Guidance(7.5, 1, (int)unetCfg.time_cond_proj_dim!, dev);
        var results = new Dictionary<string, double>
        {
            ["text_encoder_s"] = Time(() => pipe.EncodeText(new[] { "a corgi surfing a wave" }).Dispose(), dev, repeats),
            ["unet_step_s"] = Time(() => pipe.Unet.forward(x, t, ctx, 16L, wEmb).Dispose(), dev, repeats),
            ["vae_decode_batched_s"] = Time(() => pipe.Vae.DecodeVideo(x.to(dt), null).Dispose(), dev, repeats),
            ["vae_decode_chunk4_s"] = Time(() => pipe.Vae.DecodeVideo(x.to(dt), 4).Dispose(), dev, repeats),
            ["vae_decode_per_frame_s"] = Time(() => pipe.Vae.DecodeVideo(x.to(dt), 1).Dispose(), dev, repeats),
        };
        var opts = new GenerateOptions { Steps = steps, Frames = frames, Height = height, Width = width, Seed = 0, DecodeFrameChunk = null };
        results["video_s"] = Time(() => pipe.Generate(new[] { "a corgi surfing a wave" }, opts).Dispose(), dev, repeats);

        if (loadSeconds is { } ls) results["load_weights_s"] = ls;
        var table = new Table().AddColumns("stage", "seconds");
        foreach (var (k, v) in results) table.AddRow(k, k.EndsWith("_gb") ? $"{v:F2} GB" : $"{v:F4}");
        AnsiConsole.Write(table);
        if (jsonPath != null)
            IO.AtomicFile.WriteAllText(jsonPath, JsonSerializer.Serialize(new { device = dev.ToString(), dtype = dt.ToString(), frames, height, width, steps, results },
                new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Median wall time of <paramref name="repeats"/> runs after one warm-up, synchronising the GPU.</summary>
    private static double Time(Action run, Device dev, int repeats)
    {
        void Sync() { if (dev.type == DeviceType.CUDA) torch.cuda.synchronize(dev); }
        using (torch.NewDisposeScope()) run();
        Sync();
        var times = new List<double>();
        for (int i = 0; i < Math.Max(1, repeats); i++)
        {
            using var scope = torch.NewDisposeScope();
            var sw = Stopwatch.StartNew();
            run();
            Sync();
            times.Add(sw.Elapsed.TotalSeconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
}
