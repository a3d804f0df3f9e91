using System.Runtime.CompilerServices;
using TorchSharp;

namespace T2VTurbo.Tests.Support;

internal static class TorchThreads
{
    [ModuleInitializer]
    internal static void Init()
    {
        // Two cores on CI: one intra-op pool sized to the machine; fixtures are deterministic either way.
        torch.set_num_threads(Math.Max(1, Environment.ProcessorCount));
    }
}
