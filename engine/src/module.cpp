// tonemorph.engine._core: the real-time core, bound for Python.
#include <pybind11/pybind11.h>

#include "bindings.h"

PYBIND11_MODULE(_core, m) {
    m.doc() = "tonemorph's real-time C++ core: DSP blocks, the model runner and the Engine.";
    tonemorph::bind_analysis(m);
    tonemorph::bind_synths(m);
    tonemorph::bind_engine(m);
    tonemorph::bind_master(m);
    tonemorph::bind_transcribe(m);
    tonemorph::bind_midi(m);
    tonemorph::bind_midi_groove(m);
    tonemorph::bind_midi_interpolate(m);  // after bind_midi: adds to its submodule
    tonemorph::bind_sampler(m);
}
