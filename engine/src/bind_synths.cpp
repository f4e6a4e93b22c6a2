#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "FilteredNoise.h"
#include "HarmonicSynth.h"
#include "Reverb.h"
#include "bindings.h"

namespace tonemorph {

namespace {

constexpr std::uint32_t kDefaultNoiseSeed = 0x9E3779B9u;  // FilteredNoise::reset's default

std::string shape_of(const FloatArray& a) {
    std::string s = "(";
    for (py::ssize_t d = 0; d < a.ndim(); ++d) s += (d ? ", " : "") + std::to_string(a.shape(d));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

struct NoiseBinding {
    FilteredNoise synth;
    py::ssize_t hop = 0;
};

}  // namespace

void bind_synths(py::module_& m) {
    py::class_<HarmonicSynth>(m, "HarmonicSynth", R"doc(
Phase-continuous additive synthesizer (DDSP's harmonic synth), one hop of audio per frame.

Per frame the harmonic distribution is masked at and above Nyquist, normalised to sum 1 and
scaled by ``amplitude``; per sample f0 and the harmonic amplitudes are interpolated linearly
from the previous frame, the phase advances in float64, and any harmonic whose instantaneous
frequency reaches Nyquist is silent. State (phase, previous frame) carries across calls to
:meth:`process`, so a signal rendered in pieces equals one rendered at once.
See ``docs/model-format.md`` for the exact formula.
)doc")
        .def(py::init([](double sample_rate, int hop, int n_harmonics) {
                 auto synth = std::make_unique<HarmonicSynth>();
                 synth->prepare(sample_rate, hop, n_harmonics);
                 return synth;
             }),
             py::arg("sample_rate"), py::arg("hop"), py::arg("n_harmonics"),
             "Create a synth at ``sample_rate`` Hz with ``hop`` samples per frame and ``n_harmonics`` "
             "harmonics.")
        .def(
            "process",
            [](HarmonicSynth& self, const FloatArray& f0_hz, const FloatArray& amplitude,
               const FloatArray& distribution) {
                const float* f0 = mono_data(f0_hz, "f0");
                const float* amp = mono_data(amplitude, "amplitude");
                const py::ssize_t frames = f0_hz.shape(0);
                if (amplitude.shape(0) != frames)
                    throw py::value_error("amplitude must have one value per frame like f0: f0 has " +
                                          std::to_string(frames) + " frames, amplitude has shape " +
                                          shape_of(amplitude));
                if (distribution.ndim() != 2 || distribution.shape(0) != frames ||
                    distribution.shape(1) != self.n_harmonics())
                    throw py::value_error("distribution must have shape [frames, n_harmonics] = (" +
                                          std::to_string(frames) + ", " + std::to_string(self.n_harmonics()) +
                                          "), got " + shape_of(distribution));
                const float* dist = distribution.data();
                const py::ssize_t hop = self.hop();
                FloatArray out(frames * hop);
                float* y = out.mutable_data();
                for (py::ssize_t k = 0; k < frames; ++k)
                    self.process_frame(f0[k], amp[k], dist + k * self.n_harmonics(), y + k * hop);
                return out;
            },
            py::arg("f0"), py::arg("amplitude"), py::arg("distribution"), R"doc(
Render ``T`` frames: ``f0`` [T] in Hz, ``amplitude`` [T] (linear, >= 0), ``distribution``
[T, n_harmonics] (>= 0, need not sum to 1). Returns float32 audio of shape [T * hop].
NaN, inf or negative controls are treated as 0.
)doc")
        .def("reset", &HarmonicSynth::reset,
             "Forget the phase and the previous frame: the next frame starts at phase 0 and fades in.")
        .def_property_readonly("hop", &HarmonicSynth::hop, "Samples per frame.")
        .def_property_readonly("n_harmonics", &HarmonicSynth::n_harmonics, "Number of harmonics.");


    // FilteredNoise does not expose its hop; the binding keeps it to size the output.
    py::class_<NoiseBinding>(m, "FilteredNoise", R"doc(
Filtered noise (DDSP's filtered noise synth, made causal), one hop of audio per frame.

Each frame's band magnitudes (linear, 0 Hz .. Nyquist) become a linear-phase FIR of
``ir_size = 2 (n_bands - 1)`` taps: ``roll(irfft(m), n_bands - 1) * hann_periodic(ir_size)``.
The hop's uniform noise in [-1, 1) is convolved with it and the tail is overlap-added into
the following hops. The built-in noise is a seeded xorshift32, so a render is reproducible;
state carries across calls to :meth:`process`.
)doc")
        .def(py::init([](int hop, int n_bands, std::uint32_t seed) {
                 auto binding = std::make_unique<NoiseBinding>();
                 binding->synth.prepare(hop, n_bands);
                 binding->synth.reset(seed);
                 binding->hop = hop;
                 return binding;
             }),
             py::arg("hop"), py::arg("n_bands"), py::arg("seed") = kDefaultNoiseSeed,
             "Create a noise synth for ``hop`` samples per frame and ``n_bands`` (>= 2) filter bands.")
        .def(
            "process",
            [](NoiseBinding& self, const FloatArray& magnitudes, const std::optional<FloatArray>& noise) {
                const int n_bands = self.synth.n_bands();
                if (magnitudes.ndim() != 2 || magnitudes.shape(1) != n_bands)
                    throw py::value_error("magnitudes must have shape [frames, n_bands] with n_bands = " +
                                          std::to_string(n_bands) + ", got " + shape_of(magnitudes));
                const py::ssize_t frames = magnitudes.shape(0);
                const py::ssize_t hop = self.hop;
                const float* noise_data = nullptr;
                if (noise) {
                    noise_data = mono_data(*noise, "noise");
                    if (noise->shape(0) != frames * hop)
                        throw py::value_error("noise must have frames * hop = " +
                                              std::to_string(frames * hop) + " samples (" +
                                              std::to_string(frames) + " frames of " + std::to_string(hop) +
                                              "), got " + std::to_string(noise->shape(0)));
                }
                const float* mags = magnitudes.data();
                FloatArray out(frames * hop);
                float* y = out.mutable_data();
                for (py::ssize_t k = 0; k < frames; ++k) {
                    const float* m_k = mags + k * n_bands;
                    if (noise_data)
                        self.synth.process_frame_with_noise(m_k, noise_data + k * hop, y + k * hop);
                    else
                        self.synth.process_frame(m_k, y + k * hop);
                }
                return out;
            },
            py::arg("magnitudes"), py::arg("noise") = py::none(), R"doc(
Render ``T`` frames from ``magnitudes`` [T, n_bands] (linear, >= 0). Returns float32 audio of
shape [T * hop]. ``noise`` [T * hop], if given, replaces the built-in generator for these frames
(it does not advance the generator); use it to compare against another implementation.
)doc")
        .def(
            "reset", [](NoiseBinding& self, std::uint32_t seed) { self.synth.reset(seed); },
            py::arg("seed") = kDefaultNoiseSeed,
            "Clear the overlap-add tail and reseed the generator (seed 0 is replaced by the default).")
        .def_property_readonly(
            "hop", [](const NoiseBinding& self) { return self.hop; }, "Samples per frame.")
        .def_property_readonly(
            "n_bands", [](const NoiseBinding& self) { return self.synth.n_bands(); },
            "Number of filter bands.")
        .def_property_readonly(
            "ir_size", [](const NoiseBinding& self) { return self.synth.ir_size(); },
            "Taps of each frame's FIR: 2 (n_bands - 1).");

    py::class_<Reverb>(m, "Reverb", R"doc(
Convolution reverb: uniformly partitioned overlap-save FFT convolution with partition = hop.

:meth:`process` returns only the wet signal ``(x * ir)[:len(x)]``, with no added latency; the
caller mixes the dry path (``out = x + mix * wet``). State carries across calls, so a signal
processed in pieces equals one processed at once. An empty ``ir`` gives silence.
)doc")
        .def(py::init([](const FloatArray& ir, int hop) {
                 const float* data = mono_data(ir, "ir");
                 auto reverb = std::make_unique<Reverb>();
                 reverb->prepare(data, static_cast<int>(ir.shape(0)), hop);
                 return reverb;
             }),
             py::arg("ir"), py::arg("hop"),
             "Create a reverb from a 1-D float32 impulse response ``ir``, ``hop`` samples per frame.")
        .def(
            "process",
            [](Reverb& self, const FloatArray& x) {
                const float* in = mono_data(x, "x");
                const py::ssize_t n = x.shape(0);
                const py::ssize_t hop = self.hop();
                if (n % hop != 0)
                    throw py::value_error("x must hold a whole number of hops (hop = " + std::to_string(hop) +
                                          "), got " + std::to_string(n) + " samples; pad it to " +
                                          std::to_string((n / hop + 1) * hop));
                FloatArray out(n);
                float* y = out.mutable_data();
                for (py::ssize_t i = 0; i < n; i += hop) self.process_frame(in + i, y + i);
                return out;
            },
            py::arg("x"), R"doc(
Convolve ``x`` [n * hop] (float32) with the impulse response; returns the wet signal [n * hop].
Non-finite input samples are treated as 0.
)doc")
        .def("reset", &Reverb::reset, "Clear the input history (the reverb tail stops).")
        .def_property_readonly("hop", &Reverb::hop, "Samples per frame.")
        .def_property_readonly("ir_length", &Reverb::ir_length, "Length of the impulse response in samples.");
}

}  // namespace tonemorph
