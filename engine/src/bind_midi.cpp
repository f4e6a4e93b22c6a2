// tonemorph.engine._core.midi: the MIDI tools' core (cpp/actions/midi): clips, MIDI files, event models, the
// sampling loop, Continue and Generate.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "midi/Encoding.h"
#include "midi/SmfReader.h"
#include "midi/SmfWriter.h"
#include "midi/Tools.h"

namespace tonemorph {

namespace {

using namespace midi;

// pybind11 cannot hold a shared_ptr<const T>; the model is immutable, so a wrapper holds it.
struct ModelHandle {
    std::shared_ptr<const EventModel> model;
};

ClipKind clip_kind(const std::string& kind) {
    if (kind == "auto") return ClipKind::Auto;
    if (kind == "melody") return ClipKind::Melody;
    if (kind == "drums") return ClipKind::Drums;
    throw py::value_error("kind must be 'auto', 'melody' or 'drums', not '" + kind + "'");
}

py::dict read_result(const SmfRead& r) {
    py::dict d;
    d["clip"] = r.clip;
    d["format"] = r.format;
    d["ticks_per_quarter"] = r.ticks_per_quarter;
    d["tempo_changes"] = r.tempo_changes;
    d["notes_in_file"] = r.notes_in_file;
    d["messages"] = r.messages;
    return d;
}

py::dict tool_result(const ToolResult& r) {
    py::dict d;
    d["clips"] = r.clips;
    d["new_from_step"] = r.new_from_step;
    d["primed_steps"] = r.primed_steps;
    d["messages"] = r.messages;
    return d;
}

py::dict info_dict(const EventModelInfo& i) {
    py::dict d;
    d["path"] = i.path;
    d["kind"] = i.kind;
    d["name"] = i.name;
    d["version"] = i.version;
    d["description"] = i.description;
    d["num_events"] = i.num_events;
    d["num_inputs"] = i.num_inputs;
    d["start_token"] = i.start_token;
    d["steps_per_bar"] = i.steps_per_bar;
    d["layers"] = i.layers;
    d["hidden"] = i.hidden;
    if (i.kind == kMelodyKind) {
        d["no_event"] = i.no_event;
        d["note_off"] = i.note_off;
        d["first_note_on"] = i.first_note_on;
        d["min_pitch"] = i.min_pitch;
        d["max_pitch"] = i.max_pitch;
    } else {
        d["drum_classes"] = i.drum_classes;
    }
    return d;
}

// Runs a tool without the GIL; tonemorph::Cancelled becomes the submodule's Cancelled (a RuntimeError).
template <typename Run>
py::dict run_tool(const py::object& progress, const py::object& cancelled, Run run) {
    std::atomic<bool> cancel{false};
    const Progress report = fraction_progress(progress, &cancel);
    ToolResult result;
    try {
        py::gil_scoped_release release;
        result = run(report, &cancel);
    } catch (const Cancelled&) {
        PyErr_SetString(cancelled.ptr(), "cancelled");
        throw py::error_already_set();
    }
    return tool_result(result);
}

void init_note(py::module_& m) {
    py::class_<Note>(m, "Note", "A note on the sixteenth-note grid; offsets are micro-timing in fractions of a step.")
        .def(py::init([](int start_step, int end_step, int pitch, int velocity, float start_offset, float end_offset) {
                 return Note{start_step, end_step, pitch, velocity, start_offset, end_offset};
             }),
             py::arg("start_step"), py::arg("end_step"), py::arg("pitch"), py::arg("velocity") = 100,
             py::arg("start_offset") = 0.0f, py::arg("end_offset") = 0.0f)
        .def_readwrite("start_step", &Note::start_step)
        .def_readwrite("end_step", &Note::end_step)
        .def_readwrite("pitch", &Note::pitch)
        .def_readwrite("velocity", &Note::velocity)
        .def_readwrite("start_offset", &Note::start_offset)
        .def_readwrite("end_offset", &Note::end_offset)
        .def("__eq__", [](const Note& a, const Note& b) {
            return a.start_step == b.start_step && a.end_step == b.end_step && a.pitch == b.pitch &&
                   a.velocity == b.velocity && a.start_offset == b.start_offset && a.end_offset == b.end_offset;
        })
        .def("__repr__", [](const Note& n) {
            return "Note(" + std::to_string(n.start_step) + ", " + std::to_string(n.end_step) + ", pitch=" +
                   std::to_string(n.pitch) + ", velocity=" + std::to_string(n.velocity) + ")";
        });
}

void init_clip(py::module_& m) {
    py::class_<Clip>(m, "Clip", R"doc(
A clip on the sixteenth-note grid (16 steps per 4/4 bar): notes (a list of Note; assign a new list to
change them), steps (its length), bpm, drums (General MIDI drum map on channel 10).
)doc")
        .def(py::init([](std::vector<Note> notes, int steps, double bpm, bool drums) {
                 Clip c{std::move(notes), steps, bpm, drums};
                 sort_notes(c.notes);
                 return c;
             }),
             py::arg("notes") = std::vector<Note>{}, py::arg("steps") = 0, py::arg("bpm") = 120.0,
             py::arg("drums") = false)
        .def_readwrite("notes", &Clip::notes)
        .def_readwrite("steps", &Clip::steps)
        .def_readwrite("bpm", &Clip::bpm)
        .def_readwrite("drums", &Clip::drums)
        .def("__repr__", [](const Clip& c) {
            return "Clip(" + std::to_string(c.notes.size()) + " notes, " + std::to_string(c.steps) + " steps, " +
                   std::to_string(c.bpm) + " bpm" + (c.drums ? ", drums)" : ")");
        });
}

void init_files(py::module_& m) {
    m.def(
        "read_clip",
        [](py::bytes data, const std::string& name, const std::string& kind) {
            const std::string bytes = data;
            const ClipKind k = clip_kind(kind);
            SmfRead r;
            {
                py::gil_scoped_release release;
                r = read_smf(bytes, name, k);
            }
            return read_result(r);
        },
        py::arg("data"), py::arg("name") = "the MIDI file", py::arg("kind") = "auto", R"doc(
A Standard MIDI File's bytes (type 0 or 1) as a clip. kind: "auto" (channel 10 alone -> drums, else the notes
outside channel 10), "melody" or "drums". Returns a dict: clip, format, ticks_per_quarter, tempo_changes,
notes_in_file, messages (what was left out). Raises MidiError (a ValueError) naming `name` for type 2, SMPTE,
corrupt, truncated or oversized files and files without notes of the kind asked for.
)doc");
    m.def(
        "read_clip_file",
        [](const std::string& path, const std::string& kind) {
            const ClipKind k = clip_kind(kind);
            SmfRead r;
            {
                py::gil_scoped_release release;
                r = read_smf_file(path, k);
            }
            return read_result(r);
        },
        py::arg("path"), py::arg("kind") = "auto", "read_clip on a file (UTF-8 path); refuses one over 16 MB unread.");
    m.def(
        "write_clip", [](const Clip& clip, const std::string& name) { return py::bytes(write_smf(clip, name)); },
        py::arg("clip"), py::arg("track_name") = "tonemorph",
        "The clip as a type 0 Standard MIDI File (480 ticks per quarter, its tempo, drums on channel 10): bytes.");
    m.def(
        "one_voice",
        [](const Clip& clip) {
            const OneVoice r = one_voice(clip);
            return py::make_tuple(r.clip, r.dropped, r.shortened);
        },
        py::arg("clip"),
        "(clip, dropped, shortened): the highest note at each onset, each cut where the next one starts.");
}

void init_model(py::module_& m) {
    py::class_<ModelHandle>(m, "EventModel", "An ONNX next-event model (kind midi-melody or midi-drums).")
        .def(py::init([](const std::string& path, const std::string& kind) {
                 py::gil_scoped_release release;
                 return ModelHandle{EventModel::open(path, kind)};
             }),
             py::arg("path"), py::arg("kind"),
             "Opens a model of `kind`; MidiError names the file when it is not one ('it is a X model, not ...').")
        .def_property_readonly("info", [](const ModelHandle& h) { return info_dict(h.model->info()); })
        .def(
            "step",
            [](const ModelHandle& h, std::int64_t event, FloatArray state) {
                std::vector<float> s(state.data(), state.data() + state.size()), logits;
                h.model->step(event, s, logits);
                return py::make_tuple(py::array_t<float>(logits.size(), logits.data()),
                                      py::array_t<float>(s.size(), s.data()));
            },
            py::arg("event"), py::arg("state"),
            "One step: (logits [num_events], state [2 * layers * hidden]) after `event` from `state` (flat).")
        .def(
            "encode",
            [](const ModelHandle& h, const Clip& clip) {
                const Encoded e = encode(clip, h.model->info());
                return py::make_tuple(e.events, e.transpose, e.messages);
            },
            py::arg("clip"), "(events [clip.steps], transpose, messages): the clip as this model's events.")
        .def(
            "decode",
            [](const ModelHandle& h, const std::vector<int>& events, int first_step, int transpose, int velocity) {
                return decode(events, first_step, h.model->info(), transpose, velocity);
            },
            py::arg("events"), py::arg("first_step") = 0, py::arg("transpose") = 0, py::arg("velocity") = 100,
            "Events from first_step on as notes.");
}

void init_sampling(py::module_& m) {
    py::class_<Pcg32>(m, "Pcg32", "The sampler's random numbers: PCG32 seeded through splitmix64 (Sampler.h).")
        .def(py::init<std::uint64_t>(), py::arg("seed"))
        .def("next", &Pcg32::next)
        .def("uniform", &Pcg32::uniform, "(next() >> 8) * 2**-24");
    m.def(
        "sample_event",
        [](FloatArray logits, double temperature, Pcg32& rng) {
            return sample_event(mono_data(logits, "logits"), static_cast<int>(logits.size()), temperature, rng);
        },
        py::arg("logits"), py::arg("temperature"), py::arg("rng"), "One draw (Sampler.h says how).");
    m.def(
        "sample",
        [](const ModelHandle& h, const std::vector<int>& primer, int steps, double temperature, std::uint64_t seed) {
            py::gil_scoped_release release;
            return sample(*h.model, primer, steps, temperature, seed);
        },
        py::arg("model"), py::arg("primer"), py::arg("steps"), py::arg("temperature"), py::arg("seed"),
        "START, then `primer`, then `steps` events drawn and fed back: the drawn events.");
}

void init_tools(py::module_& m) {
    const py::object cancelled = py::exception<Cancelled>(m, "Cancelled", PyExc_RuntimeError);
    m.def(
        "continue_clip",
        [cancelled](const ModelHandle& h, const Clip& clip, int bars, int variations, double temperature,
                    std::uint64_t seed, py::object progress) {
            const ContinueRequest r{clip, bars, variations, temperature, seed};
            return run_tool(progress, cancelled, [&](const Progress& report, const std::atomic<bool>* cancel) {
                return continue_clip(*h.model, r, report, cancel);
            });
        },
        py::arg("model"), py::arg("clip"), py::kw_only(), py::arg("bars") = 2, py::arg("variations") = 4,
        py::arg("temperature") = 1.0, py::arg("seed") = 0, py::arg("progress") = py::none(), R"doc(
Continue: the model primed on the clip's last (up to) 4 bars, `bars` new bars appended after the clip, one
clip per variation (variation v drawn with seed + v). Returns a dict: clips, new_from_step, primed_steps,
messages (one voice kept, bars used, octaves moved). Raises MidiError; progress(fraction) returning False
raises Cancelled; Ctrl-C (KeyboardInterrupt) ends it.
)doc");
    m.def(
        "generate",
        [cancelled](const ModelHandle& h, int bars, int variations, double temperature, std::uint64_t seed,
                    double bpm, py::object progress) {
            const GenerateRequest r{bars, variations, temperature, seed, bpm};
            return run_tool(progress, cancelled, [&](const Progress& report, const std::atomic<bool>* cancel) {
                return generate(*h.model, r, report, cancel);
            });
        },
        py::arg("model"), py::kw_only(), py::arg("bars") = 4, py::arg("variations") = 8, py::arg("temperature") = 1.0,
        py::arg("seed") = 0, py::arg("bpm") = 120.0, py::arg("progress") = py::none(),
        "Generate: `bars` bars from nothing per variation; a dict as continue_clip returns.");
}

}  // namespace

void bind_midi(py::module_& m) {
    auto sub = m.def_submodule("midi", "The MIDI tools' core (cpp/actions/midi): clips, files, models, sampling.");
    py::register_exception<MidiError>(sub, "MidiError", PyExc_ValueError);
    sub.attr("STEPS_PER_BAR") = kStepsPerBar;
    sub.attr("MAX_BARS") = kMaxBars;
    sub.attr("MAX_VARIATIONS") = kMaxVariations;
    sub.attr("PRIME_BARS") = kPrimeBars;
    sub.attr("MAX_SMF_BYTES") = kMaxSmfBytes;
    init_note(sub);
    init_clip(sub);
    init_files(sub);
    init_model(sub);
    init_sampling(sub);
    init_tools(sub);
}

}  // namespace tonemorph
