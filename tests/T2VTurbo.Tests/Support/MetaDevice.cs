using System.Diagnostics;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Support;

/// <summary>Builds full-size modules on the META device (shapes without storage). The default device is process-wide
/// state, so tests that use this belong to <see cref="MetaDeviceCollection"/>, which xunit runs alone.</summary>
public static class MetaDevice
{
    public const string Collection = "META default device (runs alone)";

    /// <summary>Runs <paramref name="build"/> with META as the default device, restores the previous default, and
    /// asserts that every state-dict tensor is on META and the process did not grow by <paramref name="maxGrowthMb"/>.</summary>
    public static T Build<T>(Func<T> build, long maxGrowthMb = 256) where T : nn.Module
    {
        var previous = torch.get_default_device();
        GC.Collect();
        long rssBefore = Process.GetCurrentProcess().WorkingSet64;
        torch.set_default_device(torch.META);
        T module;
        try { module = build(); }
        finally { torch.set_default_device(previous); }
        long grownMb = (Process.GetCurrentProcess().WorkingSet64 - rssBefore) >> 20;

        Assert.Equal(previous.type, torch.get_default_device().type);
        var real = module.state_dict().Where(kv => kv.Value.device_type != DeviceType.META).Select(kv => kv.Key).ToList();
        Assert.True(real.Count == 0, $"{typeof(T).Name}: {real.Count} tensors were allocated off the META device, e.g. {string.Join(", ", real.Take(5))}");
        Assert.True(grownMb < maxGrowthMb, $"{typeof(T).Name}: building on META grew the process by {grownMb} MB");
        return module;
    }
}

[CollectionDefinition(MetaDevice.Collection, DisableParallelization = true)]
public sealed class MetaDeviceCollection { }
