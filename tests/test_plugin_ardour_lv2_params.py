"""A parameter set in Ardour 7 reaches the LV2 effect (tests/ardour_host.py runs Ardour headless).

JUCE 7's LV2 wrapper declares the plugin's parameters as LV2 patch parameters (patch:writable lv2:Parameter),
not control ports. Ardour 7.3 makes each one a property control of the plugin insert, of AutomationType
PluginPropertyAutomation (8; Lua's ARDOUR.AutomationType does not name it), found through
Automatable:all_automatable_params() or Evoral.Parameter(8, 0, property URID); setting it, by hand or by its
automation list, sends the plugin a patch:Set on its control atom port when the plugin next runs.

One session holds a steady 220 Hz tone on the effect's track; one Lua process bounces that track with
semitones set to +12, set back to 0, and automated from 0 to +12 at 1 s. The trumpet plays the tone's pitch
moved by the semitones Ardour sent.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import ardour_host as ardour
import numpy as np
import plugin_host as host
import pytest
from ardour_host import EFFECT_TRACK, SYNTH_TRACK
from plugin_host import EFFECT, SYNTH, cents

TONE_HZ = 220.0
TONE_SECONDS = 2.0
BLOCK = 1024
PARAMETER = "Semitones"  # the property's rdfs:label
AUTOMATION_STEP_S = 1.0  # the automation holds 0 until just before this, +12 from it
STEADY = (0.3, 1.9)  # seconds of each bounce whose pitch is read: after the attack, before the tone ends
BEFORE_STEP, AFTER_STEP = (0.3, 0.9), (1.2, 1.9)
RIGHT_CENTS = 50.0

# P (ardour_host's parameters for the session) is written before this text.
BOUNCE_SCRIPT = """
local PLUGIN_PROPERTY_AUTOMATION = 8 -- ARDOUR::PluginPropertyAutomation, not bound in Lua
local function say (key, value) print ("TONEMORPH " .. key .. " " .. tostring (value)) end
local function check (ok, message) if not ok then say ("error", message); error (message) end end

check (AudioEngine:set_backend ("None (Dummy)", "", ""), "no Dummy backend")
check (AudioEngine:set_sample_rate (P.sample_rate) == 0, "the Dummy backend refused the sample rate")
check (AudioEngine:set_buffer_size (P.block) == 0, "the Dummy backend refused the buffer size")
check (load_session (P.dir, P.name), "could not load the session")

local track = Session:route_by_name (P.effect_track):to_track ()
local plugin = track:nth_plugin (0):to_automatable ()
local control
for param in plugin:all_automatable_params ():iter () do
	local c = plugin:automation_control (param, false)
	if param:type () == PLUGIN_PROPERTY_AUTOMATION and c:desc ().label == P.parameter then control = c end
end
check (control, "the effect has no property control labelled " .. P.parameter)

-- The bounce runs the plugin, which takes the patch:Set the control queued.
local function bounce (name)
	local region = track:bounce_range (0, P.length, ARDOUR.InterThreadInfo (), track:main_outs (), false,
	                                   "bounce-" .. name)
	check (not region:isnil (), "bounce " .. name .. " failed")
	say ("bounce " .. name, region:source (0):to_filesource ():path ())
end

for _, semitones in ipairs ({ 12, 0 }) do
	control:set_value (semitones, PBD.GroupControlDisposition.NoGroup)
	bounce ("set_" .. semitones)
end

local step = math.floor (P.step_s * P.sample_rate)
local list = control:alist ()
list:add (Temporal.timepos_t (0), 0, false, false)
list:add (Temporal.timepos_t (step - P.sample_rate // 20), 0, false, false)
list:add (Temporal.timepos_t (step), 12, false, false)
list:add (Temporal.timepos_t (P.length), 12, false, false)
control:set_automation_state (ARDOUR.AutoState.Play)
bounce ("automated")

collectgarbage ()
close_session ()
say ("done", 1)
"""


def run_lua(home: ardour.ArdourHome, work: Path, params: dict, text: str) -> dict[str, str]:
    script = work / "bounce.lua"
    script.write_text(f"P = {ardour._lua_table(params)}\n\n{text}")
    proc = subprocess.run(
        [str(ardour.LUASESSION), str(script)],
        env=home.env,
        cwd=work,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=ardour.RUN_TIMEOUT_S,
        check=False,
    )
    report = ardour._report(proc.stdout)
    assert proc.returncode == 0 and report.get("done") == "1", (
        f"Ardour: exit {proc.returncode}\n{ardour._tail(proc.stdout + proc.stderr)}"
    )
    return report


@pytest.fixture(scope="module")
def bounces(tmp_path_factory):
    """The effect track's bounces (mono [samples]), by name: "set_12", "set_0", "automated"."""
    sr = ardour.SAMPLE_RATE
    home = ardour.ardour_home(
        tmp_path_factory.mktemp("ardour-lv2-params"), [], [host.lv2(EFFECT), host.lv2(SYNTH)]
    )
    x = host.tone(sr, TONE_SECONDS, TONE_HZ)
    wav = ardour.write_float_wav(home.root / "tone.wav", np.stack([x, x]), sr)
    midi = ardour.write_midi([(57, 0.0, 1.0, 100)], home.root / "note.mid")  # the Synth's track needs a clip
    work = home.root / "session-work"
    work.mkdir()
    params = {
        "dir": str(work / "session"),
        "name": "render",
        "sample_rate": sr,
        "block": BLOCK,
        "plugin_type": "LV2",
        "effect": EFFECT,
        "synth": SYNTH,
        "effect_track": EFFECT_TRACK,
        "synth_track": SYNTH_TRACK,
        "length": len(x),
        "parameter": PARAMETER,
        "step_s": AUTOMATION_STEP_S,
    }
    started = time.perf_counter()
    ardour._run_step(home, work, {**params, "step": "create"}, ardour.RUN_TIMEOUT_S)
    ardour._add_clips(work / "session" / "render.ardour", wav, midi, len(x), 0, len(x) + sr, sr)
    report = run_lua(home, work, params, BOUNCE_SCRIPT)
    print(f"\nArdour LV2 parameters: {time.perf_counter() - started:.1f} s")
    out = {}
    for key, path in report.items():
        if key.startswith("bounce "):
            audio, rate = ardour.read_wav(Path(path))
            assert rate == sr
            out[key.removeprefix("bounce ")] = audio.mean(axis=0)
    yield out
    ardour.cleanup(home)


def pitch_error(y: np.ndarray, seconds: tuple[float, float], semitones: float) -> float:
    sr = ardour.SAMPLE_RATE
    part = y[int(seconds[0] * sr) : int(seconds[1] * sr)]
    return float(cents(host.median_f0(part, sr), TONE_HZ * 2 ** (semitones / 12)))


@pytest.mark.parametrize("semitones", [12, 0])
def test_semitones_set_in_ardour_reaches_the_lv2_plugin(bounces, semitones):
    error = pitch_error(bounces[f"set_{semitones}"], STEADY, semitones)
    assert abs(error) <= RIGHT_CENTS, (
        f"semitones {semitones} set in Ardour: the output is {error:+.0f} cents off"
    )


def test_semitones_automated_in_ardour_reaches_the_lv2_plugin(bounces):
    errors = {
        f"{a}-{b} s at {semitones:+d}": pitch_error(bounces["automated"], (a, b), semitones)
        for (a, b), semitones in ((BEFORE_STEP, 0), (AFTER_STEP, 12))
    }
    assert all(abs(e) <= RIGHT_CENTS for e in errors.values()), f"automated semitones, cents off: {errors}"
