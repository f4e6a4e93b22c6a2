// tonemorph.engine._core.sampler: the sampler's generator (cpp/actions/sampler/SoundGenerator.h).
#include <pybind11/stl.h>

#include "bindings.h"
#include "sampler/NoiseFloor.h"
#include "sampler/SoundGenerator.h"

namespace tonemorph {

namespace {

using namespace sampler;

struct SamplerHandle {  // pybind11 cannot hold a shared_ptr<const T>
    std::shared_ptr<const SamplerModel> model;
};

py::array_t<float> to_array(const std::vector<float>& values) {
    py::array_t<float> out(static_cast<py::ssize_t>(values.size()));
    std::copy(values.begin(), values.end(), out.mutable_data());
    return out;
}

py::dict info_dict(const SamplerInfo& i) {
    py::dict d;
    d["path"] = i.path;
    d["kind"] = std::string(kSamplerKind);
    d["name"] = i.name;
    d["version"] = i.version;
    d["description"] = i.description;
    d["sample_rate"] = i.sample_rate;
    d["length"] = i.length;
    d["hop"] = i.hop;
    d["audio_scale"] = i.audio_scale;
    d["default_steps"] = i.default_steps;
    d["default_guidance"] = i.default_guidance;
    d["time_shift"] = i.time_shift;
    d["condition_values"] = i.condition_values;
    d["unspecified"] = i.unspecified;
    d["conditions"] = std::vector<std::string>(std::begin(kConditionNames), std::end(kConditionNames));
    d["has_words"] = i.vocabulary.present;
    py::list words;
    for (const auto& w : i.vocabulary.words)
        words.append(py::make_tuple(w.word, kConditionNames[w.condition], w.value));
    d["words"] = words;
    d["kind_names"] = i.vocabulary.kind_names;
    d["kind_sounds"] = i.vocabulary.kind_sounds;
    return d;
}

std::vector<float> vector_of(const py::object& array, const char* what) {
    if (array.is_none()) return {};
    const FloatArray a = array.cast<FloatArray>();
    return std::vector<float>(mono_data(a, what), a.data() + a.size());
}

// progress(fraction) in Python with the GIL; an exception it raises (or Ctrl-C) stops the run.
Progress python_progress(const py::object& progress) {
    return [progress](float fraction) {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        if (!progress.is_none()) progress(fraction);
    };
}

void init_sampler_model(py::module_& sub) {
    py::class_<SamplerHandle>(sub, "SamplerModel", "A sampler ONNX model (kind 'sampler') in ONNX Runtime.")
        .def(py::init([](const std::string& path) {
                 py::gil_scoped_release release;
                 return SamplerHandle{SamplerModel::open(path)};
             }),
             py::arg("path"), "Opens a sampler; SamplerError (a ValueError) names the file when it is not one.")
        .def_property_readonly("info", [](const SamplerHandle& h) { return info_dict(h.model->info()); })
        .def(
            "velocity",
            [](const SamplerHandle& h, const FloatArray& x, const FloatArray& t, const std::vector<std::int64_t>& c) {
                if (x.ndim() != 2) throw py::value_error("x must be [batch, samples] float32");
                const int batch = static_cast<int>(x.shape(0));
                const std::vector<float> xs(x.data(), x.data() + x.size()), ts(t.data(), t.data() + t.size());
                std::vector<float> v;
                {
                    py::gil_scoped_release release;
                    v = h.model->velocity(xs, ts, c, batch);
                }
                return to_array(v).reshape({x.shape(0), x.shape(1)});
            },
            py::arg("x"), py::arg("t"), py::arg("conditions"),
            "The network once: x [batch, samples], t [batch], conditions (batch x 7, flat) -> velocity.");
}

}  // namespace

void bind_sampler(py::module_& m) {
    py::module_ sub = m.def_submodule("sampler", "The sampler's generator (cpp/actions/sampler).");
    py::register_exception<SamplerError>(sub, "SamplerError", PyExc_ValueError);
    sub.attr("KIND") = std::string(kSamplerKind);
    sub.attr("CONDITION_COUNT") = kConditionCount;
    sub.attr("MAX_STEPS") = kMaxSteps;
    sub.attr("MAX_GUIDANCE") = kMaxGuidance;
    init_sampler_model(sub);
    sub.def(
        "noise", [](std::uint64_t seed, int count) { return to_array(sampler_noise(seed, count)); }, py::arg("seed"),
        py::arg("count"), "N(0, 1) noise of count samples from seed (Box-Muller from Pcg32(seed)).");
    sub.def("time_grid", &time_grid, py::arg("count"), py::arg("strength"), py::arg("shift"),
            "The times t_0 .. t_count of a run of count steps from 1 - strength to 1, spaced by shift "
            "(model.py's time_grid).");
    sub.def(
        "parse_prompt",
        [](const SamplerHandle& h, const std::string& prompt) { return parse_prompt(h.model->info(), prompt); },
        py::arg("model"), py::arg("prompt"), R"doc(
The prompt's conditions: 7 values (kind, then the descriptor bins), the model's unspecified value where no word
asks. "hi hat" is tried as "hihat" first. SamplerError naming an unknown word and the nearest known ones, two
words asking different values of one condition, or a model exported without its word list.
)doc");
    sub.def(
        "fit_sound",
        [](const SamplerHandle& h, const FloatArray& audio, double rate, int samples) {
            if (audio.ndim() != 1 && audio.ndim() != 2)
                throw py::value_error("audio must be [frames] or [channels, frames] float32");
            const int channels = audio.ndim() == 1 ? 1 : static_cast<int>(audio.shape(0));
            const std::vector<float> planar(audio.data(), audio.data() + audio.size());
            std::vector<float> sound;
            {
                py::gil_scoped_release release;
                sound = fit_sound(h.model->info(), planar, channels, rate, samples);
            }
            return to_array(sound);
        },
        py::arg("model"), py::arg("audio"), py::arg("rate"), py::arg("samples") = 0,
        "A sound for start/morph: audio [frames] or [channels, frames] at rate -> mono at the model's rate, cut "
        "or padded with silence to samples (0: the model's length).");
    sub.def(
        "morph_start",
        [](const FloatArray& a, const FloatArray& b, double position) {
            return to_array(morph_start(vector_of(a, "a"), vector_of(b, "b"), position));
        },
        py::arg("a"), py::arg("b"), py::arg("position"),
        "The start of a morph's item at position 0..1: cos(p pi/2) a + sin(p pi/2) b.");
    sub.def(
        "generate",
        [](const SamplerHandle& h, const std::vector<std::int64_t>& conditions, int steps, double guidance,
           std::uint64_t seed, py::object noise, int samples, py::object start, double strength,
           py::object progress, bool finish) {
            SampleRequest request{conditions, steps,   guidance,         seed, vector_of(noise, "noise"), samples,
                                  vector_of(start, "start"), strength, finish};
            const Progress report = python_progress(progress);
            std::vector<float> audio;
            {
                py::gil_scoped_release release;
                audio = generate(*h.model, request, report);
            }
            return to_array(audio);
        },
        py::arg("model"), py::kw_only(), py::arg("conditions") = std::vector<std::int64_t>{}, py::arg("steps") = 0,
        py::arg("guidance") = -1.0, py::arg("seed") = 0, py::arg("noise") = py::none(), py::arg("samples") = 0,
        py::arg("start") = py::none(), py::arg("strength") = 1.0, py::arg("progress") = py::none(),
        py::arg("finish") = true, R"doc(
One sound (float32 [samples] at the model's rate): Euler steps of the flow from noise (given, or drawn from
seed) with classifier-free guidance, then finished (its noise floor cleared, clear_noise_floor, and its peak
kept under full scale, keep_under_full_scale) unless finish is False. conditions: 7 values (kind, then the
descriptor bins; empty: none); steps 0 and guidance < 0 take the model's defaults. start (fit_sound's answer) makes a variation at strength
0..1 (0 returns it, 1 ignores it). progress(fraction) after each step; an exception it raises (or Ctrl-C)
stops the run. SamplerError (a ValueError) for settings out of range.
)doc");
    sub.def(
        "clear_noise_floor",
        [](const FloatArray& audio, int rate) {
            std::vector<float> values = vector_of(audio, "audio");
            const double gain = clear_noise_floor(values, rate);
            return py::make_tuple(to_array(values), gain);
        },
        py::arg("audio"), py::arg("rate"), R"doc(
(audio with its noise floor cleared, the gain at the floor in dB: 0 when left as it was): the downward
expander every generated sound goes through (cpp/actions/sampler/NoiseFloor.h).
)doc");
    sub.def(
        "keep_under_full_scale",
        [](const FloatArray& audio) {
            std::vector<float> values = vector_of(audio, "audio");
            const double gain = keep_under_full_scale(values);
            return py::make_tuple(to_array(values), gain);
        },
        py::arg("audio"), R"doc(
(audio turned down to peak at -0.2 dBFS if it peaked above, the gain in dB: 0 when left as it was): the
last thing every generated sound goes through (cpp/actions/sampler/NoiseFloor.h).
)doc");
    sub.def(
        "morph",
        [](const SamplerHandle& h, const FloatArray& a, const FloatArray& b, int count,
           const std::vector<std::int64_t>& conditions, int steps, double guidance, std::uint64_t seed,
           double strength, py::object progress) {
            SampleRequest request{conditions, steps, guidance, seed, {}, static_cast<int>(a.size()), {}, strength};
            const std::vector<float> va = vector_of(a, "a"), vb = vector_of(b, "b");
            const Progress report = python_progress(progress);
            std::vector<std::vector<float>> sounds;
            {
                py::gil_scoped_release release;
                sounds = morph(*h.model, request, va, vb, count, report);
            }
            py::list out;
            for (const auto& sound : sounds) out.append(to_array(sound));
            return out;
        },
        py::arg("model"), py::arg("a"), py::arg("b"), py::arg("count"), py::kw_only(),
        py::arg("conditions") = std::vector<std::int64_t>{}, py::arg("steps") = 0, py::arg("guidance") = -1.0,
        py::arg("seed") = 0, py::arg("strength") = 0.5, py::arg("progress") = py::none(), R"doc(
count sounds walking from a to b (fit_sound's answers): item i starts from morph_start(a, b, i / (count - 1))
at strength, all from the one noise of seed. progress(fraction) over all items.
)doc");
}

}  // namespace tonemorph
