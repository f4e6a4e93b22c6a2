"""tonemorph: a neural instrument (DDSP) with a real-time C++ engine."""

__version__ = "0.1.0"
