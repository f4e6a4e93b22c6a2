"""The melody model's next-step NLL on held-out tunes beside Markov chains fitted on the same training data.

    python -m tonemorph.training.midi.melody_eval [models/midi/melody.pt]

The Markov chains (order 1 and 2) see every training tune in every key the model's crops are drawn in
(melody_data.transpositions); each is shown with the add-k that suits it best on the held-out tunes, which
favours the baseline. NLL is in nats per sixteenth-note step over whole held-out tunes, each from START.
"""

from __future__ import annotations

import argparse
import json

import torch

from . import melody_data as md
from .markov import MarkovChain
from .melody_model import MelodyRNN
from .melody_train import sequence_nll

SMOOTHING = (1.0, 0.1, 0.01, 0.001)
MARKOV_ORDERS = (1, 2)


def markov_table(data: md.MelodyData) -> dict[str, dict]:
    """{"markov-1": {"nll": ..., "k": ...}, ...} on data's held-out tunes, fitted on its training tunes."""
    train = [md.transpose(t, k) for t in data.side(validation=False) for k in md.transpositions(t)]
    validation = data.side(validation=True)
    table = {}
    for order in MARKOV_ORDERS:
        chain = MarkovChain(order).fit(train)
        scores = {}
        for k in SMOOTHING:
            chain.k = k
            scores[k] = chain.nll(validation)
        best = min(scores, key=scores.get)
        table[f"markov-{order}"] = {"nll": scores[best], "k": best}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("weights", nargs="?", default="models/midi/melody.pt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = md.melody_data()
    saved = torch.load(args.weights, map_location="cpu", weights_only=True)
    model = MelodyRNN(**saved["model_args"])
    model.load_state_dict(saved["model"])
    table = {"lstm": {"nll": sequence_nll(model, data.side(validation=True))}, **markov_table(data)}
    print(json.dumps({"data": data.summary(), "nll": table}, indent=2))


if __name__ == "__main__":
    main()
