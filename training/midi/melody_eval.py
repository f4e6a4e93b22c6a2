"""A next-event model's NLL on held-out data beside Markov chains fitted on the same training data.

    python -m tonemorph.training.midi.melody_eval [models/midi/melody.pt | models/midi/drums.pt]

The weights file says which model it is (melody or drums). For the melody model the Markov chains (order 1
and 2) see every training tune in every key the model's crops are drawn in (melody_data.transpositions); the
drums' chains see the training songs and grooves as they are. Each chain is shown with the add-k that suits
it best on the held-out data, which favours the baseline. NLL is in nats per sixteenth-note step over whole
held-out sequences, each from START.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import numpy as np
import torch

from . import drum_data
from . import melody_data as md
from .markov import MarkovChain
from .melody_model import MelodyRNN
from .melody_train import TASKS, sequence_nll

SMOOTHING = (1.0, 0.1, 0.01, 0.001)
MARKOV_ORDERS = (1, 2)


def markov_nlls(
    train: Sequence[np.ndarray], validation: Sequence[np.ndarray], num_events: int = md.NUM_EVENTS
) -> dict[str, dict]:
    """{"markov-1": {"nll": ..., "k": ...}, ...} on `validation`, fitted on `train`."""
    table = {}
    for order in MARKOV_ORDERS:
        chain = MarkovChain(order, num_events=num_events).fit(train)
        scores = {}
        for k in SMOOTHING:
            chain.k = k
            scores[k] = chain.nll(validation)
        best = min(scores, key=scores.get)
        table[f"markov-{order}"] = {"nll": scores[best], "k": best}
    return table


def markov_table(data: md.MelodyData) -> dict[str, dict]:
    """markov_nlls of the melody data: its training tunes in every key, its held-out tunes as they are."""
    train = [md.transpose(t, k) for t in data.side(validation=False) for k in md.transpositions(t)]
    return markov_nlls(train, data.side(validation=True))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("weights", nargs="?", default="models/midi/melody.pt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    saved = torch.load(args.weights, map_location="cpu", weights_only=True)
    model = MelodyRNN(**saved["model_args"])
    model.load_state_dict(saved["model"])
    if saved.get("kind") == TASKS["drums"].weights_kind:
        data = drum_data.drum_data()
        markov = markov_nlls(data.side(False), data.side(True), drum_data.NUM_EVENTS)
    else:
        data = md.melody_data()
        markov = markov_table(data)
    table = {"lstm": {"nll": sequence_nll(model, data.side(validation=True))}, **markov}
    print(json.dumps({"data": data.summary(), "nll": table}, indent=2))


if __name__ == "__main__":
    main()
