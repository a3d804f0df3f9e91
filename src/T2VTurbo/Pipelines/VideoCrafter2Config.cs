using System.Text.Json.Nodes;
using T2VTurbo.Models;
using T2VTurbo.Models.Unet;
using T2VTurbo.Schedulers;
using T2VTurbo.Text;

namespace T2VTurbo.Pipelines;

/// <summary>The architecture of a VideoCrafter2-family model: UNet, first stage (VAE), text encoder and noise schedule.
/// Defaults are configs/inference_t2v_512_v2.0.yaml; <see cref="FromJson"/> reads the same yaml as JSON (its
/// <c>model.params</c> tree, parameter names unchanged), so any other size can be built.</summary>
public sealed record VideoCrafter2Config
{
    public UnetConfig Unet { get; init; } = new();
    public AutoencoderConfig Vae { get; init; } = new();
    public OpenClipTextConfig Text { get; init; } = new();
    public NoiseScheduleConfig Schedule { get; init; } = new();

    public static VideoCrafter2Config Default { get; } = new();

    public static VideoCrafter2Config FromFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"model config not found: {path}", path);
        JsonObject json;
        try { json = JsonNode.Parse(File.ReadAllText(path))!.AsObject(); }
        catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{path}: not valid JSON: {e.Message}"); }
        try { return FromJson(json); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: {e.Message}");
        }
    }

    /// <summary>Accepts {model: {params: {...}}}, {params: {...}} or the params object itself, with
    /// <c>unet_config</c>, <c>first_stage_config</c>, <c>cond_stage_config</c> (each {params: ...} or flat) and the
    /// schedule's <c>linear_start</c>/<c>linear_end</c>/<c>timesteps</c>. Missing parts keep the VideoCrafter2 values.</summary>
    public static VideoCrafter2Config FromJson(JsonObject json)
    {
        var p = json["model"]?["params"] as JsonObject ?? json["params"] as JsonObject ?? json;
        static JsonObject? Params(JsonNode? n) => n?["params"] as JsonObject ?? n as JsonObject;
        var d = Default;
        var vae = Params(p["first_stage_config"]) is { } v ? AutoencoderConfig.FromJson(v) : d.Vae;
        // lvdm's yaml keeps scale_factor beside the sub-configs (model.params.scale_factor), not inside first_stage_config.
        if (p["scale_factor"] is { } sf)
        {
            double outer = sf.GetValue<double>();
            if (Params(p["first_stage_config"])?["scale_factor"] is { } inner && inner.GetValue<double>() != outer)
                throw new ArgumentException($"scale_factor is {outer} in model.params but {inner.GetValue<double>()} in first_stage_config: give it once");
            vae = vae with { scale_factor = outer };
            vae.Validate();
        }
        return new VideoCrafter2Config
        {
            Unet = Params(p["unet_config"]) is { } u ? UnetConfig.FromJson(u) : d.Unet,
            Vae = vae,
            Text = Params(p["cond_stage_config"]) is { } t && t.ContainsKey("width") ? OpenClipTextConfig.FromJson(t) : d.Text,
            Schedule = NoiseScheduleConfig.FromJson(p),
        };
    }
}
