namespace T2VTurbo.Pipelines;

/// <summary>The weight files a pipeline is assembled from (spec §3.1).</summary>
/// <param name="Model">VideoCrafter2 model.ckpt, the merged T2V-Turbo checkpoint, or a safetensors copy: the keys
/// model.diffusion_model.* (UNet), first_stage_model.* (VAE), cond_stage_model.* (text encoder). For ModelScope: a
/// diffusers folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/) or one converted safetensors file
/// (unet.*, vae.*, text_encoder.* and the three configs in its metadata).</param>
/// <param name="Lora">T2V-Turbo LoRA: the official unet_lora.pt list, or named safetensors; merged at load.</param>
/// <param name="Unet">A bare UNet state dict replacing the model's UNet (v2 unet_mg.pt / unet_no_mg.pt).</param>
/// <param name="Config">Architecture JSON (reference yaml names); null = VideoCrafter2.</param>
public sealed record ModelFiles(string Model, string? Lora = null, string? Unet = null, string? Config = null)
{
    /// <summary>The model family; null = recognised from the files (<see cref="ModelLoader.DetectFamily"/>).</summary>
    public ModelFamily? Family { get; init; }
}
