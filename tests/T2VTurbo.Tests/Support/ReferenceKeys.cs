using System.Text;
using System.Text.Json.Nodes;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Support;

/// <summary>One key of a full-size reference state dict (as listed in shared/reference/*_keys.json).</summary>
public sealed record ReferenceKey(string Key, long[] Shape);

/// <summary>Compares a module's state-dict names and shapes with the real checkpoint's, as listed in
/// shared/reference/videocrafter2_keys.json (entries {key, shape}) or modelscope_t2v_keys.json (entries also carry
/// {component}). Works on META-device modules: only names and shapes are read.</summary>
public static class ReferenceKeys
{
    public const string VideoCrafter2 = "videocrafter2_keys.json";
    public const string ModelScope = "modelscope_t2v_keys.json";

    /// <summary>$T2V_REFERENCE, else the reference/ folder next to the fixture root, else the nearest ancestor's
    /// shared/reference.</summary>
    public static string Root
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("T2V_REFERENCE");
            if (!string.IsNullOrEmpty(env)) return env;
            var besideFixtures = Path.GetFullPath(Path.Combine(Fixture.Root, "..", "reference"));
            if (Directory.Exists(besideFixtures)) return besideFixtures;
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            {
                var candidate = Path.Combine(d.FullName, "shared", "reference");
                if (Directory.Exists(candidate)) return candidate;
            }
            throw new DirectoryNotFoundException("no shared/reference folder found and T2V_REFERENCE is not set");
        }
    }

    private static JsonObject Read(string file)
    {
        var path = Path.Combine(Root, file);
        Assert.True(File.Exists(path), $"reference key list is missing: {path}");
        return JsonNode.Parse(File.ReadAllText(path))!.AsObject();
    }

    private static ReferenceKey ToKey(JsonNode n) =>
        new(n["key"]!.GetValue<string>(), n["shape"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray());

    /// <summary>The reference keys that start with <paramref name="prefix"/> (and belong to <paramref name="component"/>
    /// when given), with the prefix removed.</summary>
    public static IReadOnlyList<ReferenceKey> Load(string prefix, string file = VideoCrafter2, string? component = null)
    {
        var keys = Read(file)["keys"]!.AsArray();
        return keys.Where(n => component is null || n!["component"]?.GetValue<string>() == component)
            .Select(n => ToKey(n!))
            .Where(k => k.Key.StartsWith(prefix, StringComparison.Ordinal))
            .Select(k => k with { Key = k.Key[prefix.Length..] })
            .ToList();
    }

    /// <summary>A section's <c>extra_keys</c> list, e.g. <c>Extra("t2v_turbo_unet")</c> (time_cond_proj etc.).</summary>
    public static IReadOnlyList<ReferenceKey> Extra(string section, string file = VideoCrafter2) =>
        Read(file)[section]!["extra_keys"]!.AsArray().Select(n => ToKey(n!)).ToList();

    /// <summary>Asserts that <paramref name="module"/>'s state dict has exactly the reference keys under
    /// <paramref name="prefix"/> (plus <paramref name="extraKeys"/>, which the module must also have), with equal
    /// shapes. All differences are reported together.</summary>
    public static void AssertMatches(nn.Module module, string prefix, IEnumerable<ReferenceKey>? extraKeys = null,
        string file = VideoCrafter2, string? component = null)
    {
        var expected = Load(prefix, file, component).Concat(extraKeys ?? Array.Empty<ReferenceKey>())
            .ToDictionary(k => k.Key, k => k.Shape, StringComparer.Ordinal);
        Assert.True(expected.Count > 0, $"{file}: no reference key starts with \"{prefix}\"" + (component is null ? "" : $" in component {component}"));
        var actual = module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);

        var missing = expected.Keys.Where(k => !actual.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var unexpected = actual.Keys.Where(k => !expected.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var shapes = expected.Where(kv => actual.TryGetValue(kv.Key, out var s) && !s.SequenceEqual(kv.Value))
            .Select(kv => $"{kv.Key}: reference [{string.Join(",", kv.Value)}] vs module [{string.Join(",", actual[kv.Key])}]")
            .ToList();
        if (missing.Count + unexpected.Count + shapes.Count == 0) return;

        var msg = new StringBuilder($"{module.GetType().Name} vs {file} (prefix \"{prefix}\"): {missing.Count} reference keys missing from the module, " +
                                    $"{unexpected.Count} module keys not in the reference, {shapes.Count} shape mismatches");
        foreach (var (label, list) in new[] { ("missing", missing), ("unexpected", unexpected), ("shape", shapes) })
        {
            foreach (var item in list.Take(30)) msg.Append($"\n  {label}: {item}");
            if (list.Count > 30) msg.Append($"\n  ... and {list.Count - 30} more");
        }
        Assert.Fail(msg.ToString());
    }
}
