using System.CommandLine;
using Spectre.Console;
using T2VTurbo.IO;

namespace T2VTurbo.Cli.Commands;

/// <summary>`t2v-turbo info FILE`: says what a checkpoint is.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "weight file (.safetensors, .ckpt, .pt)" };
        var cmd = new Command("info", "Describe a weight file: kind, sub-model prefixes, dtypes, parameter count, missing pieces.") { file };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var info = CheckpointInfo.Read(parse.GetValue(file)!.FullName);
            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(info.Path)}[/]");
            AnsiConsole.MarkupLine($"kind: [green]{Markup.Escape(info.Kind)}[/]");
            var table = new Table().AddColumns("prefix", "keys", "parameters");
            foreach (var (p, n) in info.KeysPerPrefix.OrderBy(x => x.Key))
                table.AddRow(Markup.Escape(p), n.ToString(), info.ParametersPerPrefix[p].ToString("N0"));
            AnsiConsole.Write(table);
            if (info.DTypes.Count > 0)
                AnsiConsole.MarkupLine("dtypes: " + string.Join(", ", info.DTypes.Select(d => $"{d.Key} ×{d.Value}")));
            AnsiConsole.MarkupLine($"parameters: {info.Parameters:N0}");
            foreach (var n in info.Notes) AnsiConsole.MarkupLine($"note: {Markup.Escape(n)}");
        }));
        return cmd;
    }
}
