using static TorchSharp.torch;

namespace T2VTurbo.Models.Unet;

/// <summary>PyTorch's module order. TorchSharp's named_modules() lists all children of a module before descending
/// into them (time_cond_proj before time_embed.0), while PyTorch's is depth-first pre-order (time_embed,
/// time_embed.0, ...). The released LoRA files are lists in PyTorch's order, so code that maps them must walk this.</summary>
public static class ModuleOrder
{
    /// <summary>Every submodule with its dotted name, depth-first pre-order, children in registration order (the
    /// module itself excluded, like torch's named_modules() minus its first "" entry).</summary>
    public static IEnumerable<(string name, nn.Module module)> NamedModulesPreOrder(this nn.Module module, string prefix = "")
    {
        foreach (var (name, child) in module.named_children())
        {
            string full = prefix.Length == 0 ? name : $"{prefix}.{name}";
            yield return (full, child);
            foreach (var inner in child.NamedModulesPreOrder(full)) yield return inner;
        }
    }
}
