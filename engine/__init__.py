"""tonemorph.engine: the real-time engine (C++), bound for Python."""

from . import _core  # noqa: F401
