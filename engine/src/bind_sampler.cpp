// tonemorph.engine._core.sampler: the sampler's generator (cpp/actions/sampler/SoundGenerator.h).
#include <pybind11/stl.h>

#include "bindings.h"
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
    d["condition_values"] = i.condition_values;
    d["unspecified"] = i.unspecified;
    return d;
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
    init_sampler_model(sub);
    sub.def(
        "noise", [](std::uint64_t seed, int count) { return to_array(sampler_noise(seed, count)); }, py::arg("seed"),
        py::arg("count"), "N(0, 1) noise of count samples from seed (Box-Muller from Pcg32(seed)).");
    sub.def(
        "generate",
        [](const SamplerHandle& h, const std::vector<std::int64_t>& conditions, int steps, double guidance,
           std::uint64_t seed, py::object noise, int samples, py::object progress) {
            SampleRequest request{conditions, steps, guidance, seed, {}, samples};
            if (!noise.is_none()) {
                const FloatArray array = noise.cast<FloatArray>();
                request.noise.assign(mono_data(array, "noise"), array.data() + array.size());
            }
            const Progress report = [progress](float fraction) {
                py::gil_scoped_acquire gil;
                if (PyErr_CheckSignals() != 0) throw py::error_already_set();
                if (!progress.is_none()) progress(fraction);
            };
            std::vector<float> audio;
            {
                py::gil_scoped_release release;
                audio = generate(*h.model, request, report);
            }
            return to_array(audio);
        },
        py::arg("model"), py::kw_only(), py::arg("conditions") = std::vector<std::int64_t>{}, py::arg("steps") = 0,
        py::arg("guidance") = -1.0, py::arg("seed") = 0, py::arg("noise") = py::none(), py::arg("samples") = 0,
        py::arg("progress") = py::none(), R"doc(
One sound (float32 [samples] at the model's rate): Euler steps of the flow from noise (given, or drawn from
seed) with classifier-free guidance. conditions: 7 values (kind, then the descriptor bins; empty: none);
steps 0 and guidance < 0 take the model's defaults. progress(fraction) after each step; an exception it
raises (or Ctrl-C) stops the run. SamplerError (a ValueError) for settings out of range.
)doc");
}

}  // namespace tonemorph
