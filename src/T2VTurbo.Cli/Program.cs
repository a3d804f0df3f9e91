using System.CommandLine;
using T2VTurbo.Cli.Commands;

namespace T2VTurbo.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("T2VTurbo.NET: fast text-to-video generation (T2V-Turbo / VideoCrafter2) on TorchSharp.");
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(ConvertCommand.Create());
        root.Subcommands.Add(DistillCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ShapesCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        return root.Parse(args).Invoke();
    }
}
