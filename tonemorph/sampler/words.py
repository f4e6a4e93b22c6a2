"""The sampler's words: the kind of a sound from its names, descriptor words from its audio, prompts.

A kind comes from the first name that says one: a Hydrogen kit's instrument name, then the file name,
then the folders above it, nearest first. Names are split into lower-case words (at non-letters, digits
and camelCase), each word and each pair of neighbours written together ("bass drum" -> "bassdrum",
"hi hat" -> "hihat") is looked up in KIND_SYNONYMS, and where one name says several kinds the first in
KIND_PRIORITY wins ("Snare Rimshot" is a snare, "Djembe Bass" percussion, "Ride Bell" a cymbal).

Each descriptor (descriptors.py) is cut into three bins at its 1/3 and 2/3 quantiles over the data set;
the low and high bins have words (DESCRIPTOR_WORDS), the middle one is what no word asks for. Pitch is
binned over the pitched sounds only.
"""

from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass, field

import numpy as np

KIND_SYNONYMS = {
    "kick": ["kick", "kicks", "kik", "bd", "bassdrum", "kickdrum", "bombo"],
    "snare": ["snare", "snares", "sd", "sn", "rimshot", "snr"],
    "clap": ["clap", "claps", "handclap", "cp", "snap", "snaps", "fingersnap"],
    "rim": ["rim", "stick", "sidestick", "rimclick", "xstick"],
    "hat": ["hat", "hats", "hihat", "hh", "hhat", "chh", "ohh", "hhc", "hho", "ch", "oh"],
    "tom": ["tom", "toms", "floortom", "tomtom"],
    "cymbal": ["cymbal", "cymbals", "crash", "ride", "splash", "china", "cy", "cym", "bell"],
    "percussion": [
        "percussion",
        "perc",
        "cowbell",
        "conga",
        "congas",
        "bongo",
        "bongos",
        "clave",
        "claves",
        "tambourine",
        "tamb",
        "shaker",
        "shake",
        "maraca",
        "maracas",
        "agogo",
        "woodblock",
        "block",
        "djembe",
        "cajon",
        "sangban",
        "dununba",
        "kenkeni",
        "waterglass",
        "triangle",
        "guiro",
        "cabasa",
        "timbale",
        "timbales",
        "whistle",
        "tabla",
        "trimo",
    ],
    "bass": ["bass", "sub", "subbass", "bassline"],
    "pad": ["pad", "pads", "drone", "texture", "ambient", "atmo"],
    "lead": ["lead", "leads", "pluck", "plucks", "synth", "arp"],
    "keys": ["keys", "piano", "rhodes", "organ", "epiano"],
    "vocal": ["vocal", "vocals", "vox", "voice", "chant"],
    "fx": ["fx", "sfx", "effect", "zap", "riser", "sweep", "impact", "noise", "glitch"],
}
# More specific kinds first: a name that mentions two kinds is the first of them here.
KIND_PRIORITY = [
    "clap",
    "rim",
    "percussion",
    "hat",
    "cymbal",
    "tom",
    "snare",
    "kick",
    "bass",
    "pad",
    "lead",
    "keys",
    "vocal",
    "fx",
]
KIND_OF_WORD = {word: kind for kind, words in KIND_SYNONYMS.items() for word in words}
DESCRIPTORS = ["brightness_hz", "decay_s", "pitch_hz", "crest_db", "rms_db", "flatness"]
DESCRIPTOR_WORDS = {  # descriptor: (words for the low bin, words for the high bin), first word the name
    "brightness_hz": (["dark", "dull", "warm"], ["bright", "crisp"]),
    "decay_s": (["short", "tight"], ["long", "ringing"]),
    "pitch_hz": (["low", "deep"], ["high"]),
    "crest_db": (["soft", "round"], ["punchy", "snappy"]),
    "rms_db": (["quiet"], ["loud"]),
    "flatness": (["tonal", "pure"], ["noisy"]),
}
LOW_BIN, MIDDLE_BIN, HIGH_BIN = 0, 1, 2
NEAREST_WORDS = 3


def name_words(name: str) -> list[str]:
    """'Hi-Hat_Closed02' -> ['hi', 'hat', 'closed']; 'SD-soft' -> ['sd', 'soft']; 'BassDrum' -> ['bass', 'drum']."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [w.lower() for w in re.split(r"[^A-Za-z]+", spaced) if w]


def kind_of_name(name: str) -> str | None:
    """The kind one name says (see the module docstring), or None."""
    parts = name_words(name)
    candidates = parts + [a + b for a, b in itertools.pairwise(parts)]
    kinds = {KIND_OF_WORD[w] for w in candidates if w in KIND_OF_WORD}
    if "kick" in kinds and "bass" in kinds:  # "bass drum 1": the pair decides, not the word "bass"
        kinds.discard("bass")
    return next((k for k in KIND_PRIORITY if k in kinds), None)


def kind_of(names: list[str]) -> str | None:
    """The kind the first of `names` that says one says (most specific name first), or None."""
    return next((kind for kind in map(kind_of_name, names) if kind is not None), None)


@dataclass
class Vocabulary:
    """The words a prompt may use: word -> (condition, value).

    Conditions are "kind" (a kind name) and the DESCRIPTORS (LOW_BIN or HIGH_BIN); edges holds each
    descriptor's two bin edges, kinds the number of sounds of each kind.
    """

    words: dict[str, tuple[str, str | int]]
    edges: dict[str, tuple[float, float]]
    kinds: dict[str, int] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted(self.words)


def descriptor_bins(values: np.ndarray, edges: tuple[float, float]) -> np.ndarray:
    """LOW_BIN / MIDDLE_BIN / HIGH_BIN per value [n]; -1 where the value is NaN (an unpitched sound)."""
    values = np.asarray(values, np.float64)
    bins = np.digitize(values, edges).astype(np.int64)
    return np.where(np.isnan(values), -1, bins)


def build_vocabulary(kinds: list[str | None], descriptors: dict[str, np.ndarray]) -> Vocabulary:
    """The vocabulary of a data set: its kinds (with their synonyms) and the descriptor words, with bin
    edges at the 1/3 and 2/3 quantiles of each descriptor (NaN left out)."""
    counts: dict[str, int] = {}
    for kind in kinds:
        if kind is not None:
            counts[kind] = counts.get(kind, 0) + 1
    words: dict[str, tuple[str, str | int]] = {}
    for kind in sorted(counts):
        for synonym in KIND_SYNONYMS[kind]:
            words[synonym] = ("kind", kind)
    edges = {}
    for name in DESCRIPTORS:
        values = np.asarray(descriptors[name], np.float64)
        values = values[~np.isnan(values)]
        if len(values) == 0:
            continue
        low, high = np.quantile(values, [1 / 3, 2 / 3])
        edges[name] = (float(low), float(high))
        low_words, high_words = DESCRIPTOR_WORDS[name]
        words.update({w: (name, LOW_BIN) for w in low_words})
        words.update({w: (name, HIGH_BIN) for w in high_words})
    return Vocabulary(words, edges, counts)


def words(dataset) -> Vocabulary:
    """The vocabulary of a SampleSet (data.py): what `tonemorph sampler words` will list."""
    return build_vocabulary(dataset.kinds, dataset.descriptors)


def parse_prompt(prompt: str, vocabulary: Vocabulary) -> dict[str, str | int]:
    """'short bright snare' -> {'decay_s': 0, 'brightness_hz': 2, 'kind': 'snare'}.

    Words are split at spaces and commas and lower-cased; two neighbours written together are tried first
    ("hi hat", "bass drum"). Raises ValueError naming an unknown word and the nearest known ones, or two
    words that ask for different values of one condition.
    """
    tokens = [t for t in re.split(r"[\s,]+", prompt.lower().strip()) if t]
    conditions: dict[str, str | int] = {}
    said: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        pair = tokens[i] + tokens[i + 1] if i + 1 < len(tokens) else None
        word = pair if pair in vocabulary.words else tokens[i]
        i += 2 if word == pair else 1
        if word not in vocabulary.words:
            known = vocabulary.names()
            near = difflib.get_close_matches(word, known, n=NEAREST_WORDS, cutoff=0.5)
            hint = f"nearest known words: {', '.join(near)}" if near else f"known words: {', '.join(known)}"
            raise ValueError(f"unknown word '{word}' in the prompt '{prompt}'; {hint}.")
        condition, value = vocabulary.words[word]
        if condition in conditions and conditions[condition] != value:
            raise ValueError(
                f"the prompt '{prompt}' asks for both '{said[condition]}' and '{word}'; keep one."
            )
        conditions[condition] = value
        said[condition] = word
    return conditions
