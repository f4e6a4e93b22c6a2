"""tonemorph.training: from a folder of recordings to a single .onnx instrument."""
