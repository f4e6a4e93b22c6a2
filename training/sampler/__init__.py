"""The sampler's generator: a rectified-flow model of 1-second sounds (model.py), its training (train.py) and
ONNX export (export.py)."""
