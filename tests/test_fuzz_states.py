"""Saved states never take the host down (tests/fuzz_states.py): every named hostile state and seeded
mutations of a valid one, restored in pedalboard's VST3 host in worker processes, must leave a working plugin
within CASE_TIMEOUT: finite output within +6 dBFS and a sane state read back (each parameter once, a finite
number in its range; the model a regular file).

TONEMORPH_STATE_FUZZ_CASES (default 240: the named cases and ~160 mutations, about 50 s on two cores) and
TONEMORPH_STATE_FUZZ_SEED (default 0) set the run; a failure prints, per class, one case and the command that
makes it again.
"""

from __future__ import annotations

import os

import fuzz_states

CASES = int(os.environ.get("TONEMORPH_STATE_FUZZ_CASES", "240"))
SEED = int(os.environ.get("TONEMORPH_STATE_FUZZ_SEED", "0"))
BUDGET = None if "TONEMORPH_STATE_FUZZ_CASES" in os.environ else 150.0  # no case starts after it
# The host's own layer (pedalboard's <VST3PluginState> around the plugin's bytes) is pedalboard's code, not
# the plugin's: its cases run and are reported, but do not fail this test.
HOST_LAYER = "host layer"


def test_no_saved_state_takes_the_host_down(tone_model_path, tmp_path):
    report = fuzz_states.run(range(CASES), tmp_path, tone_model_path, SEED, budget=BUDGET)
    print(report.summary())
    host_layer = [r for r in report.failures if r.kind == HOST_LAYER]
    for r in host_layer:
        print(f"pedalboard's own layer, case {r.index} ({r.what}): {r.outcome}: {r.detail[:200]}")
    failures = [r for r in report.failures if r.kind != HOST_LAYER]
    assert not failures, (
        f"{len(failures)} of {len(report.results)} saved states left no working plugin:\n"
        + report.failure_classes()
    )
    named = report.notes["named cases"]
    assert sum(r.base == "named" for r in report.results) == min(CASES, named)
    # On a machine busy with more than this run, the budget may stop it early: the named cases and 60 more do.
    ran = len(report.results)
    assert ran >= min(CASES, named + 60), f"only {ran} cases ran within {BUDGET} s"
