"""Models for the MIDI tools (issue 12): data, training and export, beside the instrument code."""
