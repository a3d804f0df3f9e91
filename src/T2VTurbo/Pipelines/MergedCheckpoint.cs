using T2VTurbo.IO;
using static TorchSharp.torch;

namespace T2VTurbo.Pipelines;

/// <summary>Writes a loaded VideoCrafter2-family pipeline as one self-contained file in the layout of VideoCrafter2's
/// model.ckpt (<c>cond_stage_model.*</c>, <c>first_stage_model.*</c>, <c>model.diffusion_model.*</c>): after a LoRA
/// merge this is the merged T2V-Turbo checkpoint, whose UNet carries <c>time_cond_proj.weight</c>, so loading it
/// needs neither the teacher nor the LoRA.</summary>
public static class MergedCheckpoint
{
    /// <summary>Saves atomically; floating tensors are stored as <paramref name="dtype"/> when given (fp16 halves the file).</summary>
    public static int Save(TextToVideoPipeline pipeline, string path, ScalarType? dtype = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (pipeline.Family != ModelFamily.VideoCrafter2)
            throw new NotSupportedException($"a merged one-file checkpoint is written for VideoCrafter2-family models; this pipeline is {pipeline.Family}");
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>();
        void Add(string prefix, nn.Module module)
        {
            foreach (var (name, t) in module.state_dict()) tensors[prefix + name] = t;
        }
        Add(ModelLoader.TextPrefix, pipeline.TextEncoder);
        Add(ModelLoader.VaePrefix, pipeline.Vae);
        Add(ModelLoader.UnetPrefix, pipeline.Unet);
        SafeTensors.Save(path, tensors, metadata, dtype);
        return tensors.Count;
    }
}
