// One registration function per binding source file.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <atomic>
#include <functional>
#include <stdexcept>
#include <string>

namespace tonemorph {

namespace py = pybind11;
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

void bind_analysis(py::module_& m);  // YinPitch, Loudness
void bind_synths(py::module_& m);    // HarmonicSynth, FilteredNoise, Reverb
void bind_engine(py::module_& m);    // Resampler, Model, Decoder, Engine
void bind_master(py::module_& m);    // the mastering action (submodule master)
void bind_transcribe(py::module_& m);  // Transcribe, Basic Pitch (submodule transcribe)
void bind_midi(py::module_& m);      // the MIDI tools (submodule midi)
void bind_midi_groove(py::module_& m);  // Groove and Drumify (on submodule midi; after bind_midi)
void bind_midi_interpolate(py::module_& m);  // Interpolate, on submodule midi (after bind_midi)
void bind_sampler(py::module_& m);  // the sampler's generator (submodule sampler)

// A 1-D float32 view of `a`, or a ValueError naming `what`.
inline const float* mono_data(const FloatArray& a, const char* what) {
    if (a.ndim() != 1)
        throw py::value_error(std::string(what) + " must be a 1-D float32 array, got " +
                              std::to_string(a.ndim()) + " dimensions");
    return a.data();
}

// A core's progress(fraction) that calls the Python `callback` (None: no call) with the GIL and lets Ctrl-C
// through (KeyboardInterrupt ends the run); with `cancel`, a callback that returns False sets it, which the core
// sees at its next step (as the plugin's Cancel button does).
inline std::function<void(float)> fraction_progress(const py::object& callback, std::atomic<bool>* cancel = nullptr) {
    return [callback, cancel](float fraction) {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        if (callback.is_none()) return;
        const py::object answer = callback(fraction);
        if (cancel != nullptr && answer.ptr() == Py_False) cancel->store(true);
    };
}

}  // namespace tonemorph
