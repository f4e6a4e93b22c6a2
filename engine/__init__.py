"""tonemorph.engine: the real-time engine (C++), bound for Python.

    from tonemorph.engine import Engine, load_model
    engine = Engine(load_model("trumpet"))
    engine.prepare(48000, 512)
    out = engine.process(audio)          # float32 [samples] or [channels, samples]
"""

from __future__ import annotations

import os

from . import _core
from .models import ModelEntry, ModelError, find_model, list_models, load_model

PARAMETERS = _core.PARAMETERS


class Engine(_core.Engine):
    """The engine; `model` may be a Model, a model name or a path. See `PARAMETERS` for set_param names."""

    def __init__(self, model: _core.Model | str | os.PathLike | None = None, realtime: bool = False):
        super().__init__(realtime)
        if model is not None:
            self.set_model(model)

    def set_model(self, model: _core.Model | str | os.PathLike) -> None:
        super().set_model(load_model(model))


__all__ = ["PARAMETERS", "Engine", "ModelEntry", "ModelError", "find_model", "list_models", "load_model"]
