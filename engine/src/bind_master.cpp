// tonemorph.engine._core.master: the mastering action (cpp/actions/master), streaming through Python objects.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "master/Master.h"

namespace tonemorph {

namespace {

using namespace master;

// Any object with soundfile.SoundFile's reading interface: samplerate, channels, seek(0),
// read(frames, dtype="float32", always_2d=True, out=array) -> [frames, channels]. It reads into the core's own
// buffer (out: a float32 [frames, channels] view of it, no array made per block: 24577-frame blocks of fresh
// memory cost a page fault each 4 KB, measured 0.1 s of a minute's mastering); a reader that returns another
// array is copied from.
class PySource final : public AudioSource {
public:
    explicit PySource(py::object file)
        : file_(std::move(file)),
          rate_(file_.attr("samplerate").cast<double>()),
          channels_(file_.attr("channels").cast<int>()) {}
    double sample_rate() const override { return rate_; }
    int channels() const override { return channels_; }
    void rewind() override {
        py::gil_scoped_acquire gil;
        file_.attr("seek")(0);
    }
    int read(float* interleaved, int max_frames) override {
        py::gil_scoped_acquire gil;
        // A view of `interleaved`: the base object keeps numpy from copying, the buffer outlives the call.
        const py::array_t<float> out({static_cast<py::ssize_t>(max_frames), static_cast<py::ssize_t>(channels_)},
                                     interleaved, py::none());
        const FloatArray block = file_.attr("read")(max_frames, py::arg("dtype") = "float32",
                                                    py::arg("always_2d") = true, py::arg("out") = out);
        if (block.ndim() != 2 || block.shape(1) != channels_ || block.shape(0) > max_frames)
            throw std::runtime_error("the audio reader returned a block of the wrong shape");
        if (block.data() != interleaved) std::copy(block.data(), block.data() + block.size(), interleaved);
        return static_cast<int>(block.shape(0));
    }

private:
    py::object file_;
    double rate_;
    int channels_;
};

// An object with begin() and write(array [frames, channels], float32 or int32 left-justified; the array is a
// view of the core's buffer, valid only during the call).
class PySink final : public AudioSink {
public:
    PySink(py::object sink, int channels) : sink_(std::move(sink)), channels_(channels) {}
    void begin() override {
        py::gil_scoped_acquire gil;
        sink_.attr("begin")();
    }
    void write_float(const float* interleaved, int frames) override { write(interleaved, frames); }
    void write_int(const std::int32_t* interleaved, int frames) override { write(interleaved, frames); }

private:
    py::object sink_;
    int channels_;
    template <typename T>
    void write(const T* interleaved, int frames) {
        py::gil_scoped_acquire gil;
        // A read-only view of the core's block, valid during the call (a sink that keeps blocks copies them).
        py::array_t<T> block({static_cast<py::ssize_t>(frames), static_cast<py::ssize_t>(channels_)}, interleaved,
                             py::none());
        block.attr("setflags")(py::arg("write") = false);
        sink_.attr("write")(block);
    }
};

py::dict to_dict(const Analysis& a) {
    py::dict d;
    d["sample_rate"] = a.sample_rate;
    d["channels"] = a.channels;
    d["frames"] = a.frames;
    d["integrated_lufs"] = a.integrated_lufs;
    d["loudness_range_lu"] = a.loudness_range_lu;
    d["true_peak_dbtp"] = a.true_peak_dbtp;
    d["sample_peak_dbfs"] = a.sample_peak_dbfs;
    d["width_db"] = a.width_db;
    d["clipped_runs"] = a.clipped_runs;
    d["mid_db"] = a.spectrum.mid_db;
    d["side_db"] = a.spectrum.side_db;
    return d;
}

// Calls progress(fraction, stage) with the GIL, and lets Ctrl-C through (KeyboardInterrupt ends the run).
Progress python_progress(const py::object& callback) {
    return [callback](double fraction, const std::string& stage) {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        if (!callback.is_none()) callback(fraction, stage);
    };
}

}  // namespace

void bind_master(py::module_& m) {
    auto sub = m.def_submodule("master", "Mastering (cpp/actions/master): analysis, match EQ, true-peak limiter.");
    sub.attr("GRID_HZ") = grid_hz();

    sub.def(
        "analyse",
        [](py::object file, py::object progress) {
            PySource source(std::move(file));
            const auto report = python_progress(progress);
            py::gil_scoped_release release;
            const Analysis a = analyse(source, report);
            py::gil_scoped_acquire gil;
            return to_dict(a);
        },
        py::arg("file"), py::arg("progress") = py::none(), R"doc(
Loudness (ITU-R BS.1770-4 integrated, EBU 3342 range), true peak (4x), sample peak, stereo width and the
mid/side long-term spectra (PSD in dB on GRID_HZ) of a readable audio file (soundfile.SoundFile or the same
interface), streamed in blocks.
)doc");

    sub.def(
        "run",
        [](py::object track, py::object reference, py::object sink, bool match_reference, double target_lufs,
           double strength, double max_eq_db, double ceiling_dbtp, const std::string& phase, int bits,
           std::uint64_t seed, const std::string& track_name, const std::string& reference_name, py::object progress) {
            Request r;
            r.match_reference = match_reference;
            r.target_lufs = target_lufs;
            r.strength = strength;
            r.max_eq_db = max_eq_db;
            r.ceiling_dbtp = ceiling_dbtp;
            if (phase != "linear" && phase != "minimum")
                throw py::value_error("phase must be 'linear' or 'minimum', got '" + phase + "'");
            r.phase = phase == "linear" ? Phase::Linear : Phase::Minimum;
            r.bits = bits;
            r.seed = seed;
            r.track_name = track_name;
            r.reference_name = reference_name;
            PySource track_source(std::move(track));
            std::unique_ptr<PySource> reference_source;
            if (!reference.is_none()) reference_source = std::make_unique<PySource>(std::move(reference));
            PySink out(std::move(sink), track_source.channels());
            const auto report = python_progress(progress);
            Result result;
            {
                py::gil_scoped_release release;
                result = master::run(r, track_source, reference_source.get(), out, report);
            }
            py::dict d;
            d["track"] = to_dict(result.track);
            d["reference"] = result.reference.frames ? py::object(to_dict(result.reference)) : py::object(py::none());
            d["result"] = to_dict(result.result);
            d["target_lufs"] = result.target_lufs;
            d["eq_mid_db"] = result.eq.mid_db;
            d["eq_side_db"] = result.eq.side_db;
            d["gain_db"] = result.gain_db;
            d["passes"] = result.passes;
            d["gain_reduction_step_s"] = result.gain_reduction_step_s;
            d["gain_reduction_db"] = result.gain_reduction_db;
            d["warnings"] = result.warnings;
            return d;
        },
        py::arg("track"), py::arg("reference"), py::arg("sink"), py::kw_only(), py::arg("match_reference") = true,
        py::arg("target_lufs") = -14.0, py::arg("strength") = 1.0, py::arg("max_eq_db") = 12.0,
        py::arg("ceiling_dbtp") = -1.0, py::arg("phase") = "linear", py::arg("bits") = 24, py::arg("seed") = 1,
        py::arg("track_name") = "the track", py::arg("reference_name") = "the reference",
        py::arg("progress") = py::none(), R"doc(
Master `track` to `reference` (or, with match_reference=False, to target_lufs and the neutral balance) into
`sink` (begin(); write(array [frames, channels]): float32 for bits=32, else int32 holding the dithered sample
times 2**(32 - bits)). Sources are soundfile.SoundFile objects or the same interface; they are read several
times (seek(0)). Returns a dict: track / reference / result analyses (see analyse), target_lufs, eq_mid_db and
eq_side_db (on GRID_HZ), gain_db, passes, gain_reduction_db (largest per gain_reduction_step_s), warnings.
Raises ValueError with a message for audio that cannot be mastered; KeyboardInterrupt (Ctrl-C) ends it.
)doc");
}

}  // namespace tonemorph
