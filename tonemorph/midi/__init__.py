"""MIDI tools (issue 12): Transcribe so far. The Python side; the C++ port for the plugin comes later."""
