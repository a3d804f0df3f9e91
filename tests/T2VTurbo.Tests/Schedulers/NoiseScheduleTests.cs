using T2VTurbo.Schedulers;
using T2VTurbo.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace T2VTurbo.Tests.Schedulers;

/// <summary>Fixture noise_schedule: every lvdm buffer (float64 tables and their float32 casts) and scale_arr.</summary>
public class NoiseScheduleTests
{
    [Fact]
    public void Lvdm_schedule_matches_every_reference_buffer()
    {
        using var f = Fixture.Load("noise_schedule");
        var schedule = new NoiseSchedule(NoiseScheduleConfig.FromJson(f.Config));
        double tolF64 = f.Config["tolerance"]!["f64"]!.GetValue<double>();
        double tolF32 = f.Config["tolerance"]!["f32"]!.GetValue<double>();
        var tables = new Dictionary<string, double[]>(schedule.Buffers) { ["alphas"] = schedule.Alphas };
        Assert.NotEmpty(f.Io.Keys);
        foreach (var key in f.Io.Keys)
        {
            bool isF64 = key.EndsWith("_f64"), isF32 = key.EndsWith("_f32");
            Assert.True(isF64 || isF32, $"noise_schedule: unexpected tensor '{key}' (no _f32/_f64 suffix)");
            var name = key[..^4];
            Assert.True(tables.TryGetValue(name, out var values), $"noise_schedule: no schedule table for '{key}'");
            using var expected = f.In(key);
            Assert.Equal(isF64 ? ScalarType.Float64 : ScalarType.Float32, expected.dtype);
            using var actual = NoiseSchedule.ToTensor(values!, isF64 ? ScalarType.Float64 : ScalarType.Float32);
            f.AssertClose(actual, key, isF64 ? tolF64 : tolF32);
        }
    }

    [Fact]
    public void Lvdm_schedule_matches_spec_test_vectors()
    {
        // spec §1.1 (float64, 8 significant digits): t, β_t, ᾱ_t, a_t, s_t
        var rows = new (int t, double beta, double ac, double a, double s)[]
        {
            (0, 8.5000e-4, 0.99915000, 0.99957491, 0.02915476),
            (19, 9.41489e-4, 0.98224399, 0.99108223, 0.13325168),
            (249, 2.41984e-3, 0.67543241, 0.82184695, 0.56970833),
            (499, 4.80379e-3, 0.27766965, 0.52694369, 0.84990020),
            (759, 8.14175e-3, 0.05221293, 0.22850148, 0.97354356),
            (999, 1.2000e-2, 0.00466010, 0.06826491, 0.99766723),
        };
        var s = new NoiseSchedule();
        foreach (var r in rows)
        {
            Assert.True(Math.Abs(s.Betas[r.t] - r.beta) <= 1e-8, $"beta[{r.t}] = {s.Betas[r.t]} vs {r.beta}");
            Assert.True(Math.Abs(s.AlphasCumprod[r.t] - r.ac) <= 1e-8, $"alphas_cumprod[{r.t}] = {s.AlphasCumprod[r.t]} vs {r.ac}");
            Assert.True(Math.Abs(s.SqrtAlphasCumprod[r.t] - r.a) <= 1e-8, $"sqrt_alphas_cumprod[{r.t}] = {s.SqrtAlphasCumprod[r.t]} vs {r.a}");
            Assert.True(Math.Abs(s.SqrtOneMinusAlphasCumprod[r.t] - r.s) <= 1e-8, $"sqrt_one_minus[{r.t}] = {s.SqrtOneMinusAlphasCumprod[r.t]} vs {r.s}");
        }
        Assert.Equal(1400, s.ScaleArr!.Length);   // VideoCrafter2's scale bug: mid_step + T entries
    }
}
