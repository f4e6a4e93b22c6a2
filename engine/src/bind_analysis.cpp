// YinPitch, PitchDropGuard and Loudness: the analysis half of the signal path, streaming across calls.
#include <algorithm>
#include <sstream>
#include <vector>

#include <pybind11/complex.h>

#include "Loudness.h"
#include "PitchDropGuard.h"
#include "RealFft.h"
#include "YinPitch.h"
#include "bindings.h"

namespace tonemorph {

namespace {

// The C++ blocks count samples in int; longer arrays are fed in pieces (the result does not
// depend on the split).
constexpr py::ssize_t kMaxChunk = 1 << 24;

template <typename Block, typename Out>
std::vector<Out> stream(Block& block, const FloatArray& x, int hop) {
    const float* data = mono_data(x, "x");
    const py::ssize_t n = x.shape(0);
    std::vector<Out> out(static_cast<std::size_t>(n / hop + 1));
    std::size_t count = 0;
    for (py::ssize_t start = 0; start < n; start += kMaxChunk) {
        const int len = static_cast<int>(std::min(kMaxChunk, n - start));
        count += static_cast<std::size_t>(block.process(data + start, len, out.data() + count));
    }
    out.resize(count);
    return out;
}

}  // namespace

void bind_analysis(py::module_& m) {
    py::class_<YinPitch>(m, "YinPitch", R"doc(
Causal YIN pitch tracker (de Cheveigné & Kawahara 2002): one f0 estimate and confidence per hop.

Frame ``k`` analyses the input that ends at sample ``(k + 1) * hop``; nothing after it is used. The
difference function is computed through an FFT autocorrelation, the period is the first dip of the
cumulative-mean-normalised difference below ``threshold`` (octave-checked), refined to a fraction of
a cent (parabolic interpolation, then Newton steps on the band-limited difference).
``confidence = 1 - d'(period)``: near 1 on clean periodic input, near 0 on silence and noise. A frame
is voiced when ``confidence >= YinPitch.VOICED_CONFIDENCE`` (``1 - threshold`` for the default
threshold); on unvoiced frames ``f0`` holds the last voiced value (0 before the first).

The tracker keeps its input history between calls, so the result does not depend on how a signal is
split into calls. NaN and inf samples count as silence.

Args:
    sample_rate: input sample rate in Hz (the model rate, e.g. 24000).
    hop: samples per frame (e.g. 96, 4 ms at 24 kHz).
    fmin_hz: lowest pitch searched, Hz. Sets the history length (``window + sample_rate / fmin_hz``).
    fmax_hz: highest pitch searched, Hz; at most ``sample_rate / 2``.
    window_ms: integration window of the difference function, milliseconds.
    threshold: YIN's absolute threshold on the normalised difference (0.1 .. 0.2 is usual).
)doc")
        .def(py::init([](double sample_rate, int hop, double fmin_hz, double fmax_hz, double window_ms,
                         double threshold) {
                 auto pitch = std::make_unique<YinPitch>();
                 pitch->prepare({sample_rate, hop, fmin_hz, fmax_hz, window_ms, threshold});
                 return pitch;
             }),
             py::arg("sample_rate"), py::arg("hop"), py::arg("fmin_hz") = 50.0, py::arg("fmax_hz") = 2000.0,
             py::arg("window_ms") = 20.0, py::arg("threshold") = 0.15)
        .def(
            "process",
            [](YinPitch& self, const FloatArray& x) {
                const auto estimates = stream<YinPitch, PitchEstimate>(self, x, self.spec().hop);
                py::array_t<float> f0(static_cast<py::ssize_t>(estimates.size()));
                py::array_t<float> confidence(static_cast<py::ssize_t>(estimates.size()));
                auto f = f0.mutable_unchecked<1>();
                auto c = confidence.mutable_unchecked<1>();
                for (std::size_t i = 0; i < estimates.size(); ++i) {
                    f(static_cast<py::ssize_t>(i)) = estimates[i].f0_hz;
                    c(static_cast<py::ssize_t>(i)) = estimates[i].confidence;
                }
                return py::make_tuple(f0, confidence);
            },
            py::arg("x"), R"doc(
Push mono samples and return the estimates of every frame they complete.

Args:
    x: 1-D float32 array, any length (other float dtypes are converted).

Returns:
    ``(f0_hz, confidence)``: two float32 arrays of shape ``[frames]``, one entry per completed hop;
    samples left over wait for the next call.
)doc")
        .def("reset", &YinPitch::reset, "Forget the input history and the held f0, as if newly created.")
        .def_property_readonly("history_size", &YinPitch::history_size,
                               "Samples each frame looks back over: window + longest period + 1.")
        .def_property_readonly("latency_samples", &YinPitch::latency_samples,
                               "Samples from an estimate's time to the end of its frame: the centre of "
                               "what the difference function compares, (window + period) / 2, for a "
                               "period at the geometric centre of [fmin_hz, fmax_hz].")
        .def_property_readonly("sample_rate", [](const YinPitch& self) { return self.spec().sample_rate; })
        .def_property_readonly("hop", [](const YinPitch& self) { return self.spec().hop; })
        .def_property_readonly_static(
            "VOICED_CONFIDENCE", [](py::object) { return kVoicedConfidence; },
            "Confidence at or above which the engine treats a frame as voiced.")
        .def("__repr__", [](const YinPitch& self) {
            const auto& s = self.spec();
            std::ostringstream out;
            out << "<tonemorph.engine.YinPitch sample_rate=" << s.sample_rate << " hop=" << s.hop
                << " fmin_hz=" << s.fmin_hz << " fmax_hz=" << s.fmax_hz << " window_ms=" << s.window_ms
                << " threshold=" << s.threshold << ">";
            return out.str();
        });

    py::class_<PitchDropGuard>(m, "PitchDropGuard", R"doc(
Holds back sudden pitch drops until they prove to be notes: the engine's defence against a causal
tracker's period-multiple errors (a note read an octave, or an octave and a fifth, too low for a few
frames at its attack).

A fall of more than ``max_drop_semitones`` from the pitch in play is believed only once
``confirm_frames`` pitched frames in a row agree on it; until then the pitch in play is held, so a real
leap down sounds ``confirm_frames - 1`` frames late. Rises, small steps, bends and vibrato pass at once,
and so does a fall back to the pitch before a leap up that is younger than ``confirm_frames`` frames
(a grace note, or the tracker's own octave-up slip). Frames without a pitch (0, NaN) count for nothing.

Args:
    confirm_frames: frames a drop must hold (the engine: as many as make 16 ms).
    max_drop_semitones: falls up to this many semitones pass at once.
)doc")
        .def(py::init([](int confirm_frames, float max_drop_semitones) {
                 auto guard = std::make_unique<PitchDropGuard>();
                 guard->prepare({confirm_frames, max_drop_semitones});
                 return guard;
             }),
             py::arg("confirm_frames") = PitchDropGuard::Spec{}.confirm_frames,
             py::arg("max_drop_semitones") = PitchDropGuard::Spec{}.max_drop_semitones)
        .def(
            "process",
            [](PitchDropGuard& self, const FloatArray& f0) {
                const float* data = mono_data(f0, "f0_hz");
                py::array_t<float> out(f0.shape(0));
                float* o = out.mutable_data();
                for (py::ssize_t i = 0; i < f0.shape(0); ++i) o[i] = self.process(data[i]);
                return out;
            },
            py::arg("f0_hz"), R"doc(
Guard a sequence of pitched frames.

Args:
    f0_hz: 1-D float32 array, one pitch per frame in Hz (0 or NaN: no pitch, the pitch in play holds).

Returns:
    float32 array of the same shape: the pitch to play at each frame.
)doc")
        .def("reset", &PitchDropGuard::reset, "Forget the pitch in play: the next pitch passes as it is.")
        .def_property_readonly("current_hz", &PitchDropGuard::current_hz, "The pitch in play (0 before any).")
        .def("__repr__", [](const PitchDropGuard& self) {
            std::ostringstream out;
            out << "<tonemorph.engine.PitchDropGuard confirm_frames=" << self.spec().confirm_frames
                << " max_drop_semitones=" << self.spec().max_drop_semitones << ">";
            return out.str();
        });

    py::class_<Loudness>(m, "Loudness", R"doc(
A-weighted loudness in dB per hop, DDSP's definition (``spectral_ops.compute_loudness``) made causal.

Frame ``k`` takes the ``n_fft`` samples that end at ``(k + 1) * hop`` (zeros before the first sample),
applies a periodic Hann window, weights the power spectrum ``|X|^2`` by librosa's A-weighting
(floored at -80 dB), averages over bins and returns
``max(10 log10(max(mean, 10^(-range_db/10))) - ref_db, -range_db)``. Silence gives ``-range_db``.

The history is kept between calls, so the result does not depend on how a signal is split into calls.
NaN and inf samples count as silence.

Args:
    sample_rate: input sample rate in Hz (the model rate).
    hop: samples per frame.
    n_fft: analysis window in samples, even (the model's ``loudness_n_fft``).
    range_db: dynamic range; the floor of the output is ``-range_db``.
    ref_db: reference level subtracted from the result.
)doc")
        .def(py::init([](double sample_rate, int hop, int n_fft, double range_db, double ref_db) {
                 auto loudness = std::make_unique<Loudness>();
                 loudness->prepare({sample_rate, hop, n_fft, range_db, ref_db});
                 return loudness;
             }),
             py::arg("sample_rate"), py::arg("hop"), py::arg("n_fft") = 512, py::arg("range_db") = 80.0,
             py::arg("ref_db") = 0.0)
        .def(
            "process",
            [](Loudness& self, const FloatArray& x) {
                const auto values = stream<Loudness, float>(self, x, self.spec().hop);
                py::array_t<float> out(static_cast<py::ssize_t>(values.size()));
                std::copy(values.begin(), values.end(), out.mutable_data());
                return out;
            },
            py::arg("x"), R"doc(
Push mono samples and return the loudness of every frame they complete.

Args:
    x: 1-D float32 array, any length (other float dtypes are converted).

Returns:
    float32 array of shape ``[frames]`` in dB, one entry per completed hop; samples left over wait for
    the next call.
)doc")
        .def("reset", &Loudness::reset, "Forget the input history, as if newly created.")
        .def_static("a_weighting_db", &Loudness::a_weighting_db, py::arg("freq"),
                    "librosa.A_weighting(freq, min_db=-80) for one frequency in Hz, in dB.")
        .def_property_readonly("sample_rate", [](const Loudness& self) { return self.spec().sample_rate; })
        .def_property_readonly("hop", [](const Loudness& self) { return self.spec().hop; })
        .def_property_readonly("n_fft", [](const Loudness& self) { return self.spec().n_fft; })
        .def("__repr__", [](const Loudness& self) {
            const auto& s = self.spec();
            std::ostringstream out;
            out << "<tonemorph.engine.Loudness sample_rate=" << s.sample_rate << " hop=" << s.hop
                << " n_fft=" << s.n_fft << " range_db=" << s.range_db << " ref_db=" << s.ref_db << ">";
            return out.str();
        });

    m.attr("FFT_BACKEND") = RealFft::backend();
    m.def(
        "real_fft",
        [](const FloatArray& x) {
            const float* data = mono_data(x, "x");
            const auto n = static_cast<std::size_t>(x.shape(0));
            RealFft fft(n);  // refuses a size it cannot take: std::invalid_argument, a ValueError in Python
            py::array_t<std::complex<float>> out(static_cast<py::ssize_t>(fft.bins()));
            fft.forward(data, out.mutable_data());
            std::vector<float> back(n);
            fft.inverse(out.data(), back.data());
            return py::make_tuple(out, py::array_t<float>(static_cast<py::ssize_t>(n), back.data()));
        },
        py::arg("x"),
        R"doc(
The engine's real FFT (cpp/dsp/RealFft.h; FFT_BACKEND names the library) of a float32 array whose length is
even with length/2 a product of 2, 3 and 5: (numpy.fft.rfft(x) as complex64, and the unnormalised inverse of
that spectrum, len(x) * x).
)doc");
}

}  // namespace tonemorph
