namespace T2VTurbo.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.WriteLine("t2v-turbo");
        return 0;
    }
}
