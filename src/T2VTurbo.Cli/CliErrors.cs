using Spectre.Console;

namespace T2VTurbo.Cli;

/// <summary>Turns the library's exceptions into one clear line on stderr and exit code 1, instead of a stack trace.</summary>
public static class CliErrors
{
    public static int Run(Action action)
    {
        try
        {
            action();
            return 0;
        }
        catch (Exception e) when (e.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"error: out of memory ({FirstLine(e.Message)}). Try --dtype bf16, a smaller --frame-chunk, " +
                                    "fewer --frames or --num-videos, or a smaller --height/--width.");
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return 130;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or NotSupportedException
                                       or KeyNotFoundException or InvalidOperationException or UnauthorizedAccessException)
        {
            AnsiConsole.Console.Profile.Out.Writer.Flush();
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();
}
