using System.CommandLine;
using Spectre.Console;
using T2VTurbo.IO;

namespace T2VTurbo.Cli.Commands;

/// <summary>`t2v-turbo convert IN OUT [--dtype bf16]`: rewrites any supported weight file as safetensors.</summary>
public static class ConvertCommand
{
    public static Command Create()
    {
        var input = new Argument<FileInfo>("in") { Description = "weight file to read (.ckpt, .pt, .safetensors)" };
        var output = new Argument<FileInfo>("out") { Description = "safetensors file to write" };
        var dtype = new Option<string?>("--dtype") { Description = "store floating tensors as fp32, bf16 or fp16 (default: as read)" };
        var cmd = new Command("convert", "Convert a checkpoint to safetensors (written atomically).") { input, output, dtype };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var target = CheckpointInfo.ParseDType(parse.GetValue(dtype));
            var inPath = parse.GetValue(input)!.FullName;
            var outPath = parse.GetValue(output)!.FullName;
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
}
