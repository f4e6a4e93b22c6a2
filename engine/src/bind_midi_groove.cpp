// tonemorph.engine._core.midi: Groove and Drumify (cpp/actions/midi/Groove.h), beside the other MIDI tools
// (bind_midi.cpp registers the submodule, Clip and Note; this adds GrooveModel, groove, drumify).
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "midi/Groove.h"

namespace tonemorph {

namespace {

using namespace midi;

struct GrooveHandle {  // pybind11 cannot hold a shared_ptr<const T>
    std::shared_ptr<const GrooveModel> model;
};

using GrooveTool = ToolResult (*)(const GrooveModel&, const GrooveRequest&, const Progress&, const std::atomic<bool>*);

// Runs `tool` without the GIL; progress(fraction) is called with it, and Ctrl-C raises KeyboardInterrupt.
py::dict run_tool(GrooveTool tool, const GrooveHandle& h, const Clip& clip, int variations, double temperature,
                  std::uint64_t seed, const py::object& progress) {
    const GrooveRequest request{clip, variations, temperature, seed};
    const Progress report = fraction_progress(progress);
    ToolResult result;
    {
        py::gil_scoped_release release;
        result = tool(*h.model, request, report, nullptr);
    }
    py::dict out;
    out["clips"] = result.clips;
    out["messages"] = result.messages;
    return out;
}

}  // namespace

void bind_midi_groove(py::module_& m) {
    py::module_ sub = py::hasattr(m, "midi") ? py::module_(m.attr("midi"))
                                              : m.def_submodule("midi", "The MIDI tools' core (cpp/actions/midi).");
    sub.attr("GROOVE_WINDOW_STEPS") = kGrooveWindowSteps;
    sub.attr("GROOVE_MAX_BARS") = kGrooveMaxBars;
    sub.attr("GROOVE_MAX_OFFSET") = kGrooveMaxOffset;
    sub.def("groove_drum_class", &groove_drum_class, py::arg("pitch"),
            "The drum class (0..8) of a General MIDI note, or -1.");
    sub.def(
        "groove_latent",
        [](std::uint64_t seed, int count, double temperature) {
            Pcg32 rng(seed);
            return groove_latent(rng, count, temperature);
        },
        py::arg("seed"), py::arg("count"), py::arg("temperature"),
        "The latent z a variation with this seed draws first (Box-Muller from Pcg32(seed), times temperature).");
    py::class_<GrooveHandle>(sub, "GrooveModel", "A midi-groove ONNX model (Groove and Drumify).")
        .def(py::init([](const std::string& path) {
                 py::gil_scoped_release release;
                 return GrooveHandle{GrooveModel::open(path)};
             }),
             py::arg("path"), "Opens a midi-groove model; MidiError names the file when it is not one.")
        .def_property_readonly("info",
                               [](const GrooveHandle& h) {
                                   const GrooveModelInfo& i = h.model->info();
                                   py::dict d;
                                   d["path"] = i.path;
                                   d["kind"] = std::string(kGrooveKind);
                                   d["name"] = i.name;
                                   d["version"] = i.version;
                                   d["description"] = i.description;
                                   d["latent"] = i.latent;
                                   return d;
                               })
        .def(
            "run",
            [](const GrooveHandle& h, const std::vector<float>& condition, const std::vector<float>& z) {
                const GrooveWindow w = h.model->run(condition, z);
                return py::make_tuple(w.hit_logits, w.velocity, w.offset);
            },
            py::arg("condition"), py::arg("z"),
            "One 2-bar window: condition [32 * 14] and z [latent] -> (hit_logits, velocity, offset), [32 * 9] each.");
    sub.def(
        "groove",
        [](const GrooveHandle& h, const Clip& clip, int variations, double temperature, std::uint64_t seed,
           py::object progress) { return run_tool(&groove, h, clip, variations, temperature, seed, progress); },
        py::arg("model"), py::arg("clip"), py::kw_only(), py::arg("variations") = 4, py::arg("temperature") = 1.0,
        py::arg("seed") = 0, py::arg("progress") = py::none(), R"doc(
Groove: a drum clip given each variation's velocities and micro-timing; which notes hit stays. Returns a
dict: clips (one per variation), messages. Raises MidiError (a ValueError) for a clip it cannot take.
)doc");
    sub.def(
        "drumify",
        [](const GrooveHandle& h, const Clip& clip, int variations, double temperature, std::uint64_t seed,
           py::object progress) { return run_tool(&drumify, h, clip, variations, temperature, seed, progress); },
        py::arg("model"), py::arg("clip"), py::kw_only(), py::arg("variations") = 4, py::arg("temperature") = 1.0,
        py::arg("seed") = 0, py::arg("progress") = py::none(), R"doc(
Drumify: a drum clip as long as `clip` following its onsets and accents, one per variation. A dict as groove.
)doc");
}

}  // namespace tonemorph
