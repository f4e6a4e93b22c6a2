"""What `--keep-best` adds to generating: CPU seconds to score one 1-second sound (curate.score_sounds: its
embedding, the distances to 636 training embeddings, the kind classifier) against generating it through the C++
loop at the default settings, a sampler of the shipped size (random weights: time does not depend on them),
measured in the same run on one core. Least CPU seconds over ROUNDS calls (the cores are shared).
Run alone: `pytest benchmarks/test_sampler_curate_bench.py -s`.
"""

from __future__ import annotations

import numpy as np
import torch
from test_sampler_bench import one_thread  # noqa: F401 (fixture)
from timing import least_cpu_seconds  # benchmarks/timing.py
from tonemorph.engine import _core
from tonemorph.training.sampler import classifier
from tonemorph.training.sampler.export import export_onnx, metadata
from tonemorph.training.sampler.model import VelocityNet, condition_row
from tonemorph.training.sampler.train import SamplerConfig

from tonemorph.sampler import curate

SR = 24000
TRAIN_SOUNDS = 636  # the drums run's
KINDS = ["kick", "snare", "clap", "rim", "hat", "tom", "cymbal", "percussion"]
MAX_SCORE_SHARE = 0.5  # scoring a sound costs at most this share of generating it


def test_scoring_costs_a_fraction_of_generating(one_thread, tmp_path):  # noqa: F811
    config = SamplerConfig()
    torch.manual_seed(0)
    net = VelocityNet(**config.model_args(), audio_scale=0.1).eval()
    vocabulary = {"words": {}, "edges": {}, "kinds": {}}
    props = metadata(net, name="bench", sample_rate=SR, length=SR, config=config, vocabulary=vocabulary)
    export_onnx(net, tmp_path / "bench.onnx", props, SR)
    model = _core.sampler.SamplerModel(str(tmp_path / "bench.onnx"))
    conditions = condition_row({"kind": "snare"}).tolist()
    generate = least_cpu_seconds(lambda: _core.sampler.generate(model, conditions=conditions, seed=1))

    rng = np.random.default_rng(0)
    train = rng.normal(-20, 10, (TRAIN_SOUNDS, curate.EMBED_DIMS))
    kinds = [KINDS[i % len(KINDS)] for i in range(TRAIN_SOUNDS)]
    curation = classifier.build_curation(train, kinds, [f"{i}.wav" for i in range(TRAIN_SOUNDS)])
    sound = _core.sampler.generate(model, conditions=conditions, seed=1)[None]
    score = least_cpu_seconds(lambda: curate.score_sounds(sound, SR, curation, ["snare"]))
    print(
        f"\none 1-second sound, one core: generate (C++, 8 guided steps) {generate:.3f} s, score {score:.4f} s "
        f"({score / generate:.1%} of generating)"
    )
    assert score < MAX_SCORE_SHARE * generate
