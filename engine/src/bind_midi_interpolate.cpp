// tonemorph.engine._core.midi, Interpolate's part (cpp/actions/midi/Interpolate.h): the melody VAE and the
// interpolate tool, registered on the `midi` submodule that bind_midi.cpp makes (module.cpp calls this after it).
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "midi/Interpolate.h"

namespace tonemorph {

namespace {

using namespace midi;

// pybind11 cannot hold a shared_ptr<const T>; the model is immutable, so a wrapper holds it.
struct VaeHandle {
    std::shared_ptr<const MelodyVae> model;
};

py::dict vae_info(const MelodyVaeInfo& i) {
    py::dict d;
    d["encoder_path"] = i.encoder_path;
    d["decoder_path"] = i.decoder_path;
    d["kind"] = std::string(kMelodyVaeKind);
    d["name"] = i.name;
    d["version"] = i.version;
    d["description"] = i.description;
    d["latent"] = i.latent;
    d["window"] = i.window;
    d["num_events"] = i.events.num_events;
    d["start_token"] = i.events.start_token;
    d["min_pitch"] = i.events.min_pitch;
    d["max_pitch"] = i.events.max_pitch;
    d["layers"] = i.events.layers;
    d["hidden"] = i.events.hidden;
    return d;
}

}  // namespace

void bind_midi_interpolate(py::module_& m) {
    py::module_ sub = py::hasattr(m, "midi") ? py::module_(m.attr("midi")) : m.def_submodule("midi");
    sub.attr("MAX_INTERPOLATE_BARS") = kMaxInterpolateBars;
    sub.attr("MIN_INTERPOLATE_STEPS") = kMinInterpolateSteps;
    sub.attr("MAX_INTERPOLATE_STEPS") = kMaxInterpolateSteps;
    py::class_<VaeHandle>(sub, "MelodyVae", "Interpolate's melody VAE: <stem>_encoder.onnx and <stem>_decoder.onnx.")
        .def(py::init([](const std::string& path) {
                 py::gil_scoped_release release;
                 return VaeHandle{MelodyVae::open(path)};
             }),
             py::arg("path"),
             "Opens the model from either file or their stem; MidiError names the file when it is not one.")
        .def_property_readonly("info", [](const VaeHandle& h) { return vae_info(h.model->info()); })
        .def(
            "encode", [](const VaeHandle& h, const std::vector<int>& events) { return h.model->encode(events); },
            py::arg("events"), "window events -> the mean latent point (latent floats).")
        .def(
            "decode",
            [](const VaeHandle& h, const std::vector<float>& z, double temperature, std::uint64_t seed) {
                Pcg32 rng(seed);
                py::gil_scoped_release release;
                return h.model->decode(z, temperature, rng);
            },
            py::arg("z"), py::arg("temperature") = 0.0, py::arg("seed") = 0,
            "window events decoded from z (argmax at temperature 0, else drawn with Pcg32(seed)).");
    sub.def("slerp", &slerp, py::arg("a"), py::arg("b"), py::arg("t"),
            "Spherical interpolation between two latent points at t in 0..1.");
    sub.def(
        "interpolate",
        [](const VaeHandle& h, const Clip& a, const Clip& b, int steps, double temperature, std::uint64_t seed,
           const std::string& a_name, const std::string& b_name, py::object progress) {
            InterpolateRequest r{a, b, a_name, b_name, steps, temperature, seed};
            const Progress report = fraction_progress(progress);
            InterpolateResult result;
            {
                py::gil_scoped_release release;
                result = interpolate(*h.model, r, report);
            }
            py::dict d;
            d["clips"] = result.clips;
            d["positions"] = result.positions;
            d["chunks"] = result.chunks;
            d["transpose"] = result.transpose;
            d["messages"] = result.messages;
            return d;
        },
        py::arg("model"), py::arg("a"), py::arg("b"), py::kw_only(), py::arg("steps") = 5,
        py::arg("temperature") = 0.0, py::arg("seed") = 0, py::arg("a_name") = "A", py::arg("b_name") = "B",
        py::arg("progress") = py::none(), R"doc(
Interpolate: `steps` clips morphing from melody a to melody b (both included) through the VAE's latent space,
2 bars at a time (up to 4 bars). Returns a dict: clips, positions (0..1), chunks, transpose, messages.
Raises MidiError (a ValueError) for drums, empty clips, clips of different lengths or over 4 bars, bad steps or
temperature; Ctrl-C (KeyboardInterrupt) ends it.
)doc");
}

}  // namespace tonemorph
