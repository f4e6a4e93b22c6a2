"""The built bundles are self-contained (libraries inside, $ORIGIN rpath, bundled models copied), and the
CLI finds them (`tonemorph plugin-path`) and installs them into the user's folders (`tonemorph plugin
install`), from where a host loads them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import plugin_host as host
import pytest

from tonemorph.plugins import PLUGINS, bundles, plugins_dir

REPO = Path(__file__).resolve().parents[1]
BUNDLED_LIBS = ("libonnxruntime.so.1", "libfftw3f.so.3")


def binaries() -> list[tuple[str, Path, Path]]:
    """(label, binary, its models folder) for every format of both plugins."""
    out = []
    for name, stem in PLUGINS.items():
        out += [
            (
                f"{name} vst3",
                host.vst3(name) / "Contents" / "x86_64-linux" / f"{stem}.so",
                host.vst3(name) / "Contents" / "Resources" / "models",
            ),
            (f"{name} lv2", host.lv2(name) / f"lib{stem}.so", host.lv2(name) / "models"),
            (f"{name} standalone", host.standalone(name), host.standalone(name).parent / "models"),
        ]
    return out


@pytest.mark.parametrize("label,binary,models", binaries(), ids=lambda v: v if isinstance(v, str) else "")
def test_bundle_is_self_contained(label, binary, models):
    assert binary.is_file(), label
    dynamic = subprocess.run(
        ["readelf", "-d", str(binary)], capture_output=True, text=True, check=True
    ).stdout
    assert "[$ORIGIN]" in dynamic, f"{label}: RUNPATH is not $ORIGIN"
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, env=env, check=True).stdout
    assert "not found" not in ldd, ldd
    for lib in BUNDLED_LIBS:
        line = next(line for line in ldd.splitlines() if lib in line)
        assert str(binary.parent) in line, f"{label}: {lib} resolves outside the bundle: {line.strip()}"
    shipped = sorted(p.name for p in (REPO / "models").glob("*.onnx"))
    assert sorted(p.name for p in models.glob("*.onnx")) == shipped
    for name in shipped:
        assert (models / name).read_bytes() == (REPO / "models" / name).read_bytes()


@pytest.mark.parametrize("label,binary,models", binaries(), ids=lambda v: v if isinstance(v, str) else "")
def test_a_plugin_binary_exports_no_code_of_ours(label, binary, models):
    """Only the format's entry points leave a plugin binary: with the core's names exported, the effect and the
    Synth loaded in one host resolved each other's functions and statics (one plugin ran the other's code)."""
    exported = subprocess.run(
        ["nm", "-D", "--defined-only", "-C", str(binary)], capture_output=True, text=True, check=True
    ).stdout
    ours = [line for line in exported.splitlines() if "tonemorph" in line or "juce::" in line or "Ort::" in line]
    assert not ours, f"{label} exports {len(ours)} of our symbols, e.g. {ours[:3]}"


def test_lv2_bundle_has_its_manifest():
    for name, stem in PLUGINS.items():
        manifest = (host.lv2(name) / "manifest.ttl").read_text()
        assert "a lv2:Plugin" in manifest and f"lv2:binary <lib{stem}.so>" in manifest


def cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "tonemorph.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_plugin_path_prints_every_bundle():
    out = cli("plugin-path")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert Path(lines[0]) == plugins_dir()
    assert len(bundles()) == 6
    for b in bundles():
        assert any(str(b.path) in line and b.format in line for line in lines[1:]), b


def test_plugin_install_copies_into_the_user_folders(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    out = cli("plugin", "install", env=env)
    assert out.returncode == 0, out.stderr
    for stem in PLUGINS.values():
        assert (
            tmp_path / ".vst3" / f"{stem}.vst3" / "Contents" / "x86_64-linux" / "libonnxruntime.so.1"
        ).is_file()
        assert (tmp_path / ".lv2" / f"{stem}.lv2" / "manifest.ttl").is_file()
    for stem in PLUGINS.values():
        app = tmp_path / ".local" / "bin" / f"{stem}-standalone"
        assert app.is_symlink() and os.access(app.resolve(), os.X_OK)
    assert (tmp_path / "data" / "tonemorph" / "standalone" / "libonnxruntime.so.1").is_file()
    # A second install replaces the first; the installed VST3 loads in a host from its new place.
    assert cli("plugin", "install", "--format", "vst3", env=env).returncode == 0
    load = subprocess.run(
        [
            sys.executable,
            "-c",
            ("import pedalboard, sys; p = pedalboard.load_plugin(sys.argv[1]); print(p.name)"),
            str(tmp_path / ".vst3" / "tonemorph.vst3"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert load.returncode == 0 and load.stdout.strip() == "tonemorph", load.stderr[-2000:]


def test_a_failed_install_leaves_the_old_bundle(tmp_path, monkeypatch):
    """A copy that fails half way (here the disk fills after 5 files) leaves the installed bundle as it was,
    and no half-copied folder beside it; a copy that succeeds replaces the old one whole."""
    import shutil

    from tonemorph import plugins

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    plugins.install(("vst3", "standalone"))
    installed = tmp_path / ".vst3" / "tonemorph.vst3"
    standalone = tmp_path / "data" / "tonemorph" / "standalone"
    for folder in (installed, standalone):
        (folder / "from-the-old-install").write_text("old")

    real_copyfile, copied = shutil.copyfile, []

    def disk_fills(src, dst, **kwargs):
        if len(copied) == 5:
            raise OSError(28, "No space left on device")
        copied.append(src)
        return real_copyfile(src, dst, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", disk_fills)
    for fmt in ("vst3", "standalone"):
        copied.clear()
        with pytest.raises(OSError, match="No space left"):
            plugins.install((fmt,))
    for folder in (installed, standalone):
        assert (folder / "from-the-old-install").read_text() == "old"
        assert sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(".")) == []
    assert (standalone / "libonnxruntime.so.1").is_file()

    monkeypatch.setattr(shutil, "copyfile", real_copyfile)
    plugins.install(("vst3", "standalone"))
    for folder in (installed, standalone):
        assert not (folder / "from-the-old-install").exists()
        assert sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(".")) == []
    for stem in PLUGINS.values():
        assert (tmp_path / ".local" / "bin" / f"{stem}-standalone").resolve() == standalone / stem
