using System.CommandLine;
using Spectre.Console;
using T2VTurbo.IO;
using T2VTurbo.Lora;
using T2VTurbo.Models.Unet;
using T2VTurbo.Pipelines;

namespace T2VTurbo.Cli.Commands;

/// <summary>`t2v-turbo convert IN OUT [--dtype bf16]`: rewrites any supported weight file as safetensors.</summary>
public static class ConvertCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("in") { Description = "weight file to read (.ckpt, .pt, .bin, .safetensors) or a ModelScope diffusers folder" };
        var output = new Argument<FileInfo>("out") { Description = "safetensors file to write" };
        var dtype = new Option<string?>("--dtype") { Description = "store floating tensors as fp32, bf16 or fp16 (default: as read)" };
        var config = new Option<FileInfo?>("--config") { Description = "architecture JSON of the model (default: VideoCrafter2): names an official LoRA list's modules, sizes the model --lora merges into" };
        var lora = new Option<FileInfo?>("--lora") { Description = "T2V-Turbo LoRA (unet_lora.pt or .safetensors) merged into the VideoCrafter2 model IN: OUT is then the merged one-file T2V-Turbo checkpoint" };
        var cmd = new Command("convert", "Convert a checkpoint to safetensors (written atomically). An official LoRA list " +
                                         "(unet_lora.pt) becomes named <module>.lora_up/lora_down.weight tensors; with --lora, " +
                                         "the LoRA is merged into the model and the result written as one T2V-Turbo checkpoint.") { input, output, dtype, config, lora };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var target = CheckpointInfo.ParseDType(parse.GetValue(dtype));
            var inPath = Path.GetFullPath(parse.GetValue(input)!);
            if (Directory.Exists(inPath))
            {
                AnsiConsole.Progress().Start(ctx =>
                {
                    var task = ctx.AddTask("converting");
                    task.IsIndeterminate = true;
                    ModelScopeLoader.ConvertFolder(inPath, Path.GetFullPath(parse.GetValue(output)!.FullName), target);
                    task.Value = task.MaxValue;
                });
                AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(parse.GetValue(output)!.FullName)}[/] (ModelScope unet/vae/text_encoder with their configs)");
                return;
            }
            var outPath = parse.GetValue(output)!.FullName;
            if (parse.GetValue(lora) is { } loraFile)
            {
                MergeLora(inPath, loraFile.FullName, outPath, target, parse.GetValue(config)?.FullName);
                return;
            }
            if (TorchCheckpoint.IsTensorList(inPath))
            {
                ConvertLoraList(inPath, outPath, target, parse.GetValue(config)?.FullName);
                return;
            }
            using var src = Checkpoint.Open(inPath);
            int count = src.Keys.Count();
            AnsiConsole.Progress().Start(ctx =>
            {
                var task = ctx.AddTask("converting", maxValue: count);
                var meta = new Dictionary<string, string> { ["format"] = "pt", ["source"] = Path.GetFileName(inPath) };
                SafeTensors.Save(outPath, src, meta, target, _ => task.Increment(1));
            });
            AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(outPath)}[/] ({count} tensors)");
        }));
        return cmd;
    }

    /// <summary>Names the list's tensors by pairing them, in order, with the LoRA targets of the UNet the list was made
    /// for (built on the META device: shapes only, no memory), checking every shape on the way.</summary>
    private static void ConvertLoraList(string inPath, string outPath, TorchSharp.torch.ScalarType? dtype, string? configPath)
    {
        // The first tensor tells the family: VideoCrafter2's list starts with time_embed.0 (Linear, 2-D up weight),
        // ModelScope's with conv_in (Conv2d, 4-D).
        bool ms = TorchCheckpoint.ListShapes(inPath) is { Count: > 0 } shapes && shapes[0].Shape.Length == 4;
        using TorchSharp.torch.nn.Module unet = ms
            ? new T2VTurbo.Models.ModelScope.UnetMs(T2VTurbo.Models.ModelScope.UnetMsConfig.Turbo, TorchSharp.torch.META)
            : new Unet3D(VideoCrafter2Unet(configPath), TorchSharp.torch.META);
        var list = TorchCheckpoint.ReadTensorList(inPath);
        using var weights = LoraWeights.FromList(list, unet, inPath);
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["source"] = Path.GetFileName(inPath), ["kind"] = "t2v-turbo-lora" };
        SafeTensors.Save(outPath, weights.ToNamed(), meta, dtype);
        AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(outPath)}[/] ({weights.Pairs.Count} LoRA modules, named)");
    }

    /// <summary>Loads IN with the LoRA merged (float32 on the CPU, so the merge itself loses nothing) and writes the whole
    /// model, time_cond_proj included (ModelLoader's fixed-seed value, the one distill trains the LoRA against).</summary>
    private static void MergeLora(string inPath, string loraPath, string outPath, TorchSharp.torch.ScalarType? dtype, string? configPath)
    {
        if (!File.Exists(inPath)) throw new FileNotFoundException($"model not found: {inPath}", inPath);
        if (!File.Exists(loraPath)) throw new FileNotFoundException($"LoRA not found: {loraPath}", loraPath);
        if (ModelLoader.DetectFamily(inPath) != ModelFamily.VideoCrafter2)
            throw new NotSupportedException($"{inPath}: --lora merges into a VideoCrafter2-layout model; load ModelScope LoRAs with generate --lora");
        var warnings = new List<string>();
        int count = 0;
        AnsiConsole.Progress().Start(ctx =>
        {
            var task = ctx.AddTask("merging");
            task.IsIndeterminate = true;
            using var pipe = ModelLoader.Load(new ModelFiles(inPath, loraPath, Config: configPath), GenerationMode.Turbo,
                TorchSharp.torch.CPU, TorchSharp.torch.ScalarType.Float32, warnings.Add);
            var meta = new Dictionary<string, string>
            {
                ["format"] = "pt", ["kind"] = "t2v-turbo-merged", ["source"] = Path.GetFileName(inPath), ["lora"] = Path.GetFileName(loraPath),
            };
            count = MergedCheckpoint.Save(pipe, outPath, dtype, meta);
            task.Value = task.MaxValue;
        });
        AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(outPath)}[/] ({count} tensors, LoRA merged)");
    }

    private static UnetConfig VideoCrafter2Unet(string? configPath)
    {
        var cfg = configPath is null ? VideoCrafter2Config.Default : VideoCrafter2Config.FromFile(configPath);
        return cfg.Unet with { time_cond_proj_dim = cfg.Unet.time_cond_proj_dim ?? 256 };
    }
}
