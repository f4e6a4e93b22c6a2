// tonemorph.engine._core.transcribe: audio to notes through Basic Pitch (cpp/actions/midi/Transcribe.h), the
// C++ path the plugin runs; tonemorph/midi/transcribe.py calls it and writes the MIDI file.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "midi/Clip.h"
#include "midi/NoteExtraction.h"
#include "midi/Transcribe.h"
#include "midi/TranscribeAudio.h"

namespace tonemorph {

namespace {

using namespace midi;

// A flag Python sets (from another thread or a progress callback) to stop a run between windows or notes.
struct CancelFlag {
    std::atomic<bool> value{false};
};

// (start frame, end frame, pitch, amplitude, bends or None, start s, end s)
py::tuple to_tuple(const TranscribedNote& n) {
    return py::make_tuple(n.start_frame, n.end_frame, n.pitch, n.amplitude,
                          n.bends ? py::object(py::cast(*n.bends)) : py::object(py::none()), n.start_s, n.end_s);
}

py::list to_list(const std::vector<TranscribedNote>& notes) {
    py::list out;
    for (const auto& n : notes) out.append(to_tuple(n));
    return out;
}

py::array_t<float> to_array(const std::vector<float>& values, int rows, int columns) {
    py::array_t<float> a({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(columns)});
    std::copy(values.begin(), values.end(), a.mutable_data());
    return a;
}

// [frames, n] float32 into a Posteriorgrams field.
int grid_into(const FloatArray& a, std::vector<float>& target, const char* what) {
    if (a.ndim() != 2) throw py::value_error(std::string(what) + " must be [frames, n] float32");
    target.assign(a.data(), a.data() + a.size());
    return static_cast<int>(a.shape(1));
}

// Runs `work` without the GIL; the engine's errors become ValueError, a cancelled run Cancelled.
template <typename Work>
auto released(const py::object& cancelled_type, Work&& work) {
    try {
        py::gil_scoped_release release;
        return work();
    } catch (const MidiError& e) {
        throw py::value_error(e.what());
    } catch (const Cancelled&) {
        PyErr_SetString(cancelled_type.ptr(), "the transcription was cancelled");
        throw py::error_already_set();
    }
}

// Calls progress(fraction) with the GIL and lets Ctrl-C through (KeyboardInterrupt ends the run).
Progress python_progress(const py::object& callback) {
    return [callback](float fraction) {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        if (!callback.is_none()) callback(fraction);
    };
}

void init_model(py::module_& sub, const py::object& cancelled) {
    py::class_<TranscribeModel, std::shared_ptr<TranscribeModel>>(sub, "Model", R"doc(
A transcription model (kind midi-transcribe, e.g. models/midi/basic_pitch.onnx) opened in ONNX Runtime with its
metadata read. ValueError for a file that is not one (it names the kind it is).
)doc")
        .def(py::init([](const std::string& path, int threads) {
                 try {
                     return std::const_pointer_cast<TranscribeModel>(TranscribeModel::open(path, threads));
                 } catch (const MidiError& e) {
                     throw py::value_error(e.what());
                 }
             }),
             py::arg("path"), py::arg("threads") = 0, "threads: ONNX Runtime's intra-op threads (0: one per core).")
        .def_property_readonly("info",
                               [](const TranscribeModel& m) {
                                   const auto& i = m.info();
                                   py::dict d;
                                   d["path"] = i.path;
                                   d["name"] = i.name;
                                   d["version"] = i.version;
                                   d["sample_rate"] = i.sample_rate;
                                   d["hop"] = i.hop;
                                   d["window_samples"] = i.window_samples;
                                   d["frames_per_window"] = i.frames_per_window;
                                   d["lowest_note"] = i.lowest_note;
                                   d["bins_per_semitone"] = i.bins_per_semitone;
                                   d["pitches"] = i.pitches;
                                   d["contour_bins"] = i.contour_bins;
                                   return d;
                               })
        .def("min_frames", [](const TranscribeModel& m, double ms) { return m.info().min_frames(ms); }, py::arg("ms"))
        .def("frame_time", &TranscribeModel::frame_time, py::arg("frame"), "Seconds from the audio's start.")
        .def(
            "posteriorgrams",
            [cancelled](const TranscribeModel& m, const FloatArray& audio) {
                const float* x = mono_data(audio, "audio");
                const std::vector<float> signal(x, x + audio.size());
                const Posteriorgrams g = released(cancelled, [&] { return m.posteriorgrams(signal); });
                py::dict d;
                d["note"] = to_array(g.note, g.frames, g.pitches);
                d["onset"] = to_array(g.onset, g.frames, g.pitches);
                d["contour"] = to_array(g.contour, g.frames, g.bins);
                return d;
            },
            py::arg("audio"), R"doc(
Mono audio [samples] at the model's rate -> {"note": [frames, 88], "onset": [frames, 88], "contour":
[frames, 264]}, frames = floor(samples * frame_rate / sample_rate).
)doc");
}

void init_cancel_flag(py::module_& sub) {
    py::class_<CancelFlag>(sub, "CancelFlag", "Set it (from any thread) to stop a run; run() raises Cancelled.")
        .def(py::init<>())
        .def("set", [](CancelFlag& f) { f.value = true; })
        .def_property_readonly("is_set", [](const CancelFlag& f) { return f.value.load(); });
}

void init_run(py::module_& sub, const py::object& cancelled) {
    sub.def(
        "run",
        [cancelled](const TranscribeModel& model, const FloatArray& audio, double rate, bool mono, double onset_threshold,
                    double frame_threshold, double min_note_ms, int lowest, int highest, py::object progress,
                    CancelFlag* cancel) {
            if (audio.ndim() != 1 && audio.ndim() != 2)
                throw py::value_error("audio must be [samples] or [channels, samples] float32");
            TranscribeRequest r;
            r.audio.assign(audio.data(), audio.data() + audio.size());
            r.channels = audio.ndim() == 2 ? static_cast<int>(audio.shape(0)) : 1;
            r.sample_rate = rate;
            r.mono = mono;
            r.onset_threshold = onset_threshold;
            r.frame_threshold = frame_threshold;
            r.min_note_ms = min_note_ms;
            r.lowest = lowest;
            r.highest = highest;
            const Progress report = python_progress(progress);
            const TranscribeResult result = released(cancelled, [&] {
                try {
                    return transcribe(model, r, report, cancel ? &cancel->value : nullptr);
                } catch (const std::invalid_argument& e) {
                    throw MidiError(e.what());
                }
            });
            py::dict d;
            d["notes"] = to_list(result.notes);
            d["frames"] = result.frames;
            d["seconds"] = result.seconds;
            d["pitched"] = result.pitched;
            return d;
        },
        py::arg("model"), py::arg("audio"), py::arg("rate"), py::kw_only(), py::arg("mono") = false,
        py::arg("onset_threshold") = 0.5, py::arg("frame_threshold") = 0.3, py::arg("min_note_ms") = kDefaultMinNoteMs,
        py::arg("lowest") = 0, py::arg("highest") = 127, py::arg("progress") = py::none(),
        py::arg("cancel") = static_cast<CancelFlag*>(nullptr), R"doc(
Notes of `audio` ([samples] or [channels, samples] float32 at `rate`): a dict with notes (a list of (start
frame, end frame, pitch, amplitude, bends or None, start s, end s), sorted by start), frames, seconds and
pitched (a note reaches PITCHED_AMPLITUDE). mono keeps the loudest line; lowest/highest: MIDI notes kept.
ValueError for a setting out of range, Cancelled when `cancel` is set; Ctrl-C raises KeyboardInterrupt.
)doc");
}

void init_notes(py::module_& sub) {
    sub.def(
        "extract_notes",
        [](const FloatArray& note, const FloatArray& onset, const FloatArray& contour, double onset_threshold,
           double frame_threshold, int min_frames, int lowest_note, int bins_per_semitone, int lowest, int highest) {
            Posteriorgrams g;
            g.pitches = grid_into(note, g.note, "note");
            g.frames = static_cast<int>(note.shape(0));
            if (grid_into(onset, g.onset, "onset") != g.pitches || onset.shape(0) != g.frames)
                throw py::value_error("onset must have the note posteriorgram's shape");
            g.bins = grid_into(contour, g.contour, "contour");
            if (contour.shape(0) != g.frames || g.bins != g.pitches * bins_per_semitone)
                throw py::value_error("contour must be [frames, pitches * bins_per_semitone]");
            NoteSettings s{onset_threshold, frame_threshold, min_frames, lowest_note, bins_per_semitone, lowest, highest};
            std::vector<TranscribedNote> notes;
            {
                py::gil_scoped_release release;
                notes = extract_notes(g, s);
            }
            return to_list(notes);
        },
        py::arg("note"), py::arg("onset"), py::arg("contour"), py::kw_only(), py::arg("onset_threshold"),
        py::arg("frame_threshold"), py::arg("min_frames"), py::arg("lowest_note"), py::arg("bins_per_semitone"),
        py::arg("lowest") = 0, py::arg("highest") = 127,
        "Notes from posteriorgrams ([frames, pitches] x 2, [frames, bins]), as tonemorph.midi.notes.extract_notes: "
        "(start frame, end frame, pitch, amplitude, bends or None, 0, 0) tuples.");

    sub.def(
        "loudest_line",
        [](const std::vector<std::tuple<int, int, int, double, std::optional<std::vector<int>>>>& notes,
           int min_frames) {
            std::vector<TranscribedNote> in;
            for (const auto& [start, end, pitch, amplitude, bends] : notes) in.push_back({start, end, pitch, amplitude, bends});
            return to_list(loudest_line(std::move(in), min_frames));
        },
        py::arg("notes"), py::arg("min_frames"),
        "One voice of (start, end, pitch, amplitude, bends or None) notes, as tonemorph.midi.notes.one_voice.");

    sub.def(
        "midi_file",
        [](const std::vector<std::tuple<int, int, int, double, std::optional<std::vector<int>>, double, double>>& notes,
           int bins_per_semitone) {
            std::vector<TranscribedNote> in;
            for (const auto& [start, end, pitch, amplitude, bends, start_s, end_s] : notes)
                in.push_back({start, end, pitch, amplitude, bends, start_s, end_s});
            return py::bytes(transcription_smf(in, bins_per_semitone));
        },
        py::arg("notes"), py::arg("bins_per_semitone"),
        "The MIDI file's bytes for (start frame, end frame, pitch, amplitude, bends or None, start s, end s) notes "
        "(run()'s): what tonemorph.midi.transcribe.notes_to_midi writes, byte for byte; the plugin's writer.");

    sub.def(
        "resample",
        [](const FloatArray& audio, double in_rate, double out_rate) {
            const float* x = mono_data(audio, "audio");
            const std::vector<float> in(x, x + audio.size());
            std::vector<float> out;
            {
                py::gil_scoped_release release;
                out = resample_whole(in, in_rate, out_rate);
            }
            return py::array_t<float>(static_cast<py::ssize_t>(out.size()), out.data());
        },
        py::arg("audio"), py::arg("in_rate"), py::arg("out_rate"),
        "Mono audio to out_rate as transcription hears it (zero-phase windowed sinc, soxr HQ's band).");
}

}  // namespace

void bind_transcribe(py::module_& m) {
    auto sub = m.def_submodule("transcribe", "Transcribe (cpp/actions/midi/Transcribe.h): audio to notes, Basic Pitch.");
    sub.attr("KIND") = kTranscribeKind;
    sub.attr("PITCHED_AMPLITUDE") = kPitchedAmplitude;
    const py::object cancelled = py::reinterpret_steal<py::object>(
        PyErr_NewException("tonemorph.engine._core.transcribe.Cancelled", PyExc_RuntimeError, nullptr));
    sub.attr("Cancelled") = cancelled;
    init_model(sub, cancelled);
    init_cancel_flag(sub);
    init_run(sub, cancelled);
    init_notes(sub);
}

}  // namespace tonemorph
