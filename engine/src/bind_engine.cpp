#include <pybind11/stl.h>

#include <map>
#include <vector>

#include "Engine.h"
#include "Model.h"
#include "Parameters.h"
#include "Resampler.h"
#include "bindings.h"
#include "midi/ClipRender.h"

namespace tonemorph {

namespace {

WeightFormat weight_format(const std::string& name) {
    if (name == "int8") return WeightFormat::Int8;
    if (name == "float32") return WeightFormat::Float32;
    throw py::value_error("weights must be 'int8' or 'float32', got '" + name + "'");
}

Param param_by_name(const std::string& name) {
    for (std::size_t i = 0; i < kParamCount; ++i)
        if (name == kParamSpecs[i].name) return static_cast<Param>(i);
    std::string known;
    for (const auto& s : kParamSpecs) known += std::string(known.empty() ? "" : ", ") + s.name;
    throw py::key_error("unknown parameter '" + name + "'; known: " + known);
}

py::dict model_info_dict(const ModelInfo& info) {
    py::dict d;
    d["path"] = info.path;
    d["name"] = info.name;
    d["version"] = info.version;
    d["description"] = info.description;
    d["sample_rate"] = info.sample_rate;
    d["hop_size"] = info.hop_size;
    d["n_harmonics"] = info.n_harmonics;
    d["n_noise_bands"] = info.n_noise_bands;
    d["loudness_n_fft"] = info.loudness_n_fft;
    d["loudness_mean"] = info.loudness_mean;
    d["loudness_std"] = info.loudness_std;
    d["f0_min_hz"] = info.f0_min_hz;
    d["f0_max_hz"] = info.f0_max_hz;
    d["reverb_ir_length"] = info.reverb_ir.size();
    d["state_shape"] = info.state_shape;
    d["kind"] = info.kind;
    d["runner"] = info.runner;
    return d;
}

std::vector<MidiEvent> to_events(const std::vector<std::pair<int, std::vector<int>>>& midi) {
    std::vector<MidiEvent> events;
    events.reserve(midi.size());
    for (const auto& [offset, bytes] : midi) {
        if (bytes.empty() || bytes.size() > 3)
            throw py::value_error("a MIDI event is (sample_offset, [status, data1, data2]); got " +
                                  std::to_string(bytes.size()) + " bytes");
        MidiEvent e;
        e.offset = offset;
        for (std::size_t i = 0; i < bytes.size(); ++i) e.data[i] = static_cast<std::uint8_t>(bytes[i] & 0xFF);
        events.push_back(e);
    }
    std::stable_sort(events.begin(), events.end(),
                     [](const MidiEvent& a, const MidiEvent& b) { return a.offset < b.offset; });
    return events;
}

}  // namespace

void bind_engine(py::module_& m) {
    py::register_exception<ModelError>(m, "ModelError", PyExc_ValueError);

    py::class_<Resampler>(m, "Resampler", R"doc(
Streaming polyphase resampler (Kaiser-windowed sinc, 80 dB stopband) between two integer rates.
Output depends only on the input samples, not on how they were split into calls.

Args:
    in_rate, out_rate: rates in Hz (integers).
    passband, stopband: the filter's band as fractions of the lower rate's Nyquist: flat up to
        `passband`, 80 dB down from `stopband` on. A wider transition gives a shorter filter and less
        latency; stopband > 1 lets the band just above Nyquist through partly attenuated.)doc")
        .def(py::init([](double in_rate, double out_rate, double passband, double stopband) {
                 auto r = std::make_unique<Resampler>();
                 try {
                     r->prepare(in_rate, out_rate, Engine::kMaxBlock, Resampler::Band{passband, stopband});
                 } catch (const std::invalid_argument& e) {
                     throw py::value_error(e.what());
                 }
                 return r;
             }),
             py::arg("in_rate"), py::arg("out_rate"), py::arg("passband") = Resampler::Band{}.pass,
             py::arg("stopband") = Resampler::Band{}.stop)
        .def(
            "process",
            [](Resampler& r, const FloatArray& x) {
                const float* in = mono_data(x, "x");
                const int n = static_cast<int>(x.shape(0));
                py::array_t<float> out(r.max_output(n));
                const int written = r.process(in, n, out.mutable_data());
                return py::array_t<float>(written, out.data());
            },
            py::arg("x"), "Push samples, get the output samples they complete.")
        .def("reset", &Resampler::reset)
        .def_property_readonly("latency", &Resampler::latency_in, "Group delay in input samples.")
        .def_property_readonly("taps_per_phase", &Resampler::taps_per_phase)
        .def_property_readonly("ratio", [](const Resampler& r) { return py::make_tuple(r.up(), r.down()); },
                               "(L, M): out_rate / in_rate = L / M.");

    py::class_<Model, std::shared_ptr<Model>>(m, "Model", "A loaded tonemorph model (.onnx with metadata).")
        .def_static(
            "load",
            [](const std::string& path, const std::string& weights) {
                return std::const_pointer_cast<Model>(Model::load(path, weight_format(weights)));
            },
            py::arg("path"), py::arg("weights") = "int8",
            R"doc(Load and validate a model file. Raises ModelError naming the file and the problem.

weights: how the native runner stores the decoder's matrices, "int8" (the engine's default: a quarter of
the memory traffic) or "float32" (exactly ONNX Runtime's numbers, within rounding).)doc")
        .def_property_readonly("native", [](const Model& model) { return model.native() != nullptr; },
                               "True when the decoder runs natively, inline on the audio thread.")
        .def_property_readonly("runner", [](const Model& model) { return model.info().runner; },
                               "How the decoder runs, and if not natively, why.")
        .def_property_readonly("info", [](const Model& model) { return model_info_dict(model.info()); })
        .def_property_readonly("name", [](const Model& model) { return model.info().name; })
        .def_property_readonly("path", [](const Model& model) { return model.info().path; })
        .def_property_readonly("reverb_ir", [](const Model& model) {
            const auto& ir = model.info().reverb_ir;
            return py::array_t<float>(static_cast<py::ssize_t>(ir.size()), ir.data());
        })
        .def("__repr__", [](const Model& model) {
            return "<tonemorph Model '" + model.info().name + "' from " + model.info().path + ">";
        });

    py::class_<Decoder>(m, "Decoder", R"doc(Runs a model frame by frame (GRU state carried), as the engine does.

runner: "auto" (native where the graph allows, as the engine), "native" or "onnxruntime" (the reference).)doc")
        .def(py::init([](std::shared_ptr<Model> model, const std::string& runner) {
                 const Decoder::Runner r = runner == "native"        ? Decoder::Runner::Native
                                           : runner == "onnxruntime" ? Decoder::Runner::OnnxRuntime
                                           : runner == "auto"        ? Decoder::Runner::Auto
                                                                     : throw py::value_error("runner must be auto, native or onnxruntime");
                 return std::make_unique<Decoder>(model, r);
             }),
             py::arg("model"), py::arg("runner") = "auto")
        .def("reset", &Decoder::reset)
        .def_property_readonly("native", &Decoder::native)
        .def_property_readonly("state", [](const Decoder& d) {
            return py::array_t<float>(static_cast<py::ssize_t>(d.state().size()), d.state().data());
        }, "The GRU state after the last frame, flattened.")
        .def(
            "run",
            [](Decoder& d, const FloatArray& f0, const FloatArray& loudness) {
                const float* f = mono_data(f0, "f0_hz");
                const float* l = mono_data(loudness, "loudness_db");
                if (f0.shape(0) != loudness.shape(0))
                    throw py::value_error("f0_hz and loudness_db must have the same length");
                const auto& info = d.model().info();
                const py::ssize_t t = f0.shape(0);
                py::array_t<float> amp(t), dist({t, static_cast<py::ssize_t>(info.n_harmonics)}),
                    noise({t, static_cast<py::ssize_t>(info.n_noise_bands)});
                ControlFrame frame;
                for (py::ssize_t i = 0; i < t; ++i) {
                    d.run(f[i], l[i], frame);
                    amp.mutable_at(i) = frame.amplitude;
                    std::copy(frame.harmonic_distribution.begin(), frame.harmonic_distribution.end(),
                              dist.mutable_data(i, 0));
                    std::copy(frame.noise_magnitudes.begin(), frame.noise_magnitudes.end(), noise.mutable_data(i, 0));
                }
                py::dict out;
                out["amplitude"] = amp;
                out["harmonic_distribution"] = dist;
                out["noise_magnitudes"] = noise;
                return out;
            },
            py::arg("f0_hz"), py::arg("loudness_db"),
            "Run T frames one at a time. Returns amplitude [T], harmonic_distribution [T, K], noise_magnitudes [T, B].");

    py::list specs;
    for (const auto& s : kParamSpecs) {
        py::dict d;
        d["name"] = s.name;
        d["min"] = s.min;
        d["max"] = s.max;
        d["default"] = s.default_value;
        d["unit"] = s.unit;
        d["description"] = s.description;
        specs.append(d);
    }
    m.attr("PARAMETERS") = specs;

    m.def("matrix_kernels", &WeightMatrix::kernel_name,
          "The native decoder's matrix kernels in use on this CPU: 'avx512', 'avx2' or 'portable'.");
    m.def("use_matrix_kernels", &WeightMatrix::use_kernel, py::arg("name"),
          "Switch this process to another kernel family (tests, benchmarks); False if the CPU lacks it. Not while "
          "an engine plays.");

    py::class_<Engine>(m, "Engine", R"doc(
The real-time engine: audio (or MIDI) in, instrument out.

Models the native runner knows decode inline, on the calling thread, whatever `realtime` says. A model it
does not know decodes in ONNX Runtime on a worker thread: realtime=False (offline rendering) waits for every
frame, realtime=True holds the last controls when a frame is late, as a plugin playing live does.)doc")
        .def(py::init<bool>(), py::arg("realtime") = false)
        .def_property("offline", &Engine::offline, &Engine::set_offline,
                      "The host's offline flag: a worker-decoded model waits for every frame.")
        .def(
            "set_model", [](Engine& e, std::shared_ptr<Model> model) { e.set_model(model); }, py::arg("model"),
            "Switch model. Prepared engines crossfade to it (about 20 ms) without a click.")
        .def_property_readonly("model", [](const Engine& e) { return std::const_pointer_cast<Model>(e.model()); })
        .def(
            "prepare",
            [](Engine& e, double sample_rate, int max_block, int channels) {
                try {
                    e.prepare(sample_rate, max_block, channels);
                } catch (const std::invalid_argument& err) {
                    throw py::value_error(err.what());
                }
            },
            py::arg("sample_rate"), py::arg("max_block"), py::arg("channels") = 2,
            "Allocate for a host sample rate (8 kHz..768 kHz), a largest block (1..8192) and a channel count.")
        .def("reset", &Engine::reset, "Forget all state (signal history, GRU state, notes).")
        .def("latency_samples", &Engine::latency_samples, "Fixed delay from input to output, in host samples.")
        .def_property_readonly("sample_rate", &Engine::sample_rate)
        .def_property_readonly("max_block", &Engine::max_block)
        .def_property_readonly("channels", &Engine::channels)
        .def_property_readonly("swap_pending", &Engine::swap_pending)
        .def(
            "process",
            [](Engine& e, const FloatArray& audio, const std::vector<std::pair<int, std::vector<int>>>& midi) {
                if (!e.prepared()) throw py::value_error("Engine.process: call prepare(sample_rate, max_block) first");
                if (audio.ndim() != 1 && audio.ndim() != 2)
                    throw py::value_error("Engine.process: audio must be [samples] or [channels, samples] float32");
                const int channels = audio.ndim() == 1 ? 1 : static_cast<int>(audio.shape(0));
                const int n = static_cast<int>(audio.shape(audio.ndim() - 1));
                if (channels < 1 || channels > e.channels())
                    throw py::value_error("Engine.process: got " + std::to_string(channels) +
                                          " channels, prepared for at most " + std::to_string(e.channels()));
                py::array_t<float> out(audio.request().shape);
                std::vector<const float*> in_ptrs(static_cast<std::size_t>(channels));
                std::vector<float*> out_ptrs(static_cast<std::size_t>(channels));
                for (int c = 0; c < channels; ++c) {
                    in_ptrs[static_cast<std::size_t>(c)] = audio.data() + static_cast<std::size_t>(c) * n;
                    out_ptrs[static_cast<std::size_t>(c)] = out.mutable_data() + static_cast<std::size_t>(c) * n;
                }
                const std::vector<MidiEvent> events = to_events(midi);
                {
                    py::gil_scoped_release release;
                    e.process(in_ptrs.data(), out_ptrs.data(), channels, n, events.data(),
                              static_cast<int>(events.size()));
                }
                return out;
            },
            py::arg("audio"), py::arg("midi") = std::vector<std::pair<int, std::vector<int>>>{},
            R"doc(Process one block. audio: float32 [samples] or [channels, samples]; returns the same shape.
midi: optional [(sample_offset, [status, data1, data2]), ...] for the MIDI mode.)doc")
        .def(
            "set_param", [](Engine& e, const std::string& name, float value) { e.params().set(param_by_name(name), value); },
            py::arg("name"), py::arg("value"), "Set a parameter by name (clamped to its range); see PARAMETERS.")
        .def(
            "get_param", [](Engine& e, const std::string& name) { return e.params().get(param_by_name(name)); },
            py::arg("name"))
        .def_property_readonly("status", [](const Engine& e) {
            const auto& s = e.status();
            py::dict d;
            d["f0_hz"] = s.f0_hz.load();
            d["confidence"] = s.confidence.load();
            d["loudness_db"] = s.loudness_db.load();
            d["voiced"] = s.voiced.load();
            d["overruns"] = s.overruns.load();
            d["waits"] = s.waits.load();
            d["restarts"] = s.restarts.load();
            return d;
        });

    // On the MIDI tools' submodule (bind_midi adds the rest): a clip played through an instrument.
    m.def_submodule("midi").def(
        "render_clip",
        [](std::shared_ptr<Model> model, const midi::Clip& clip, double sample_rate, int channels, double tail_s,
           const std::map<std::string, float>& settings) {
            midi::ClipRenderRequest request;
            request.sample_rate = sample_rate;
            request.channels = channels;
            request.tail_s = tail_s;
            for (const auto& [name, value] : settings) request.settings.emplace_back(param_by_name(name), value);
            std::vector<float> interleaved;
            {
                py::gil_scoped_release release;
                interleaved = midi::render_clip(model, clip, request);
            }
            const auto frames = static_cast<py::ssize_t>(interleaved.size() / static_cast<std::size_t>(channels));
            py::array_t<float> out({static_cast<py::ssize_t>(channels), frames});
            auto o = out.mutable_unchecked<2>();
            for (py::ssize_t i = 0; i < frames; ++i)
                for (py::ssize_t c = 0; c < channels; ++c) o(c, i) = interleaved[static_cast<std::size_t>(i * channels + c)];
            return out;
        },
        py::arg("model"), py::arg("clip"), py::arg("sample_rate") = 48000.0, py::arg("channels") = 2,
        py::arg("tail_s") = 2.0, py::arg("settings") = std::map<std::string, float>{},
        R"doc(The clip played through `model` (a Model) in MIDI mode, offline: float32 [channels, samples], the
clip's length at its tempo plus tail_s, the engine's latency removed. settings: parameter name -> value
(midi_mode is always on). What the plugin's MIDI panel auditions.)doc");
}

}  // namespace tonemorph
