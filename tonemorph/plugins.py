"""The built plugins: where the build put them, and installing them into a user's plugin folders.

The CMake build (plugin/CMakeLists.txt) installs self-contained bundles into the package, under
`tonemorph/plugins/{VST3,LV2,Standalone}`; each bundle carries its libraries and the bundled models.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("vst3", "lv2", "standalone")
# The effect and the instrument: the name hosts show -> the name of their files.
PLUGINS = {"tonemorph": "tonemorph", "tonemorph Synth": "tonemorph-synth"}


@dataclass(frozen=True)
class Bundle:
    name: str  # "tonemorph" or "tonemorph Synth"
    format: str  # one of FORMATS
    path: Path  # the .vst3 / .lv2 folder, or the standalone executable

    @property
    def is_synth(self) -> bool:
        return self.name.endswith("Synth")


def plugins_dir() -> Path:
    """Where the build installed the plugins (inside the installed tonemorph package)."""
    import tonemorph

    candidates = [Path(p) / "plugins" for p in tonemorph.__path__]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "the plugins are not built: install JUCE (apt install juce-modules-source, see scripts/setup.sh) and "
        "rebuild with `bash scripts/build.sh`. Looked in: " + ", ".join(str(c) for c in candidates))


def bundles() -> list[Bundle]:
    """Every built bundle: VST3 and LV2 folders and the standalone apps, of both plugins."""
    root = plugins_dir()
    found = []
    for name, stem in PLUGINS.items():
        for fmt, path in (("vst3", root / "VST3" / f"{stem}.vst3"), ("lv2", root / "LV2" / f"{stem}.lv2"),
                          ("standalone", root / "Standalone" / stem)):
            if path.exists():
                found.append(Bundle(name, fmt, path))
    return found


def bundle(name: str = "tonemorph", fmt: str = "vst3") -> Path:
    for b in bundles():
        if b.name == name and b.format == fmt:
            return b.path
    raise FileNotFoundError(f"no {fmt} bundle of '{name}' in {plugins_dir()}; rebuild with `bash scripts/build.sh`.")


def user_folders() -> dict[str, Path]:
    """The standard per-user folders hosts scan, per format (standalone: a folder plus links in bin)."""
    home = Path.home()
    if sys.platform == "darwin":
        plugins = home / "Library" / "Audio" / "Plug-Ins"
        return {"vst3": plugins / "VST3", "lv2": plugins / "LV2",
                "standalone": home / "Applications" / "tonemorph"}
    if sys.platform == "win32":
        local = Path(os.environ.get("LOCALAPPDATA", home))
        return {"vst3": local / "Programs" / "Common" / "VST3", "lv2": Path(os.environ.get("APPDATA", home)) / "LV2",
                "standalone": local / "Programs" / "tonemorph"}
    data = Path(os.environ.get("XDG_DATA_HOME", home / ".local" / "share"))
    return {"vst3": home / ".vst3", "lv2": home / ".lv2", "standalone": data / "tonemorph" / "standalone"}


def standalone_link_name(b: Bundle) -> str:
    return f"{PLUGINS[b.name]}-standalone"


def replace_folder(source: Path, dest: Path) -> None:
    """Copy the folder `source` to `dest` under a temporary name beside it, then swap it in: a copy that fails
    (a full disk, Ctrl-C) leaves the folder that was at `dest` as it was."""
    tag = uuid.uuid4().hex
    tmp, old = dest.with_name(f".{dest.name}.{tag}.tmp"), dest.with_name(f".{dest.name}.{tag}.old")
    try:
        shutil.copytree(source, tmp, symlinks=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if dest.exists() or dest.is_symlink():
        os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except BaseException:
        if old.exists():
            os.replace(old, dest)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)


def replace_link(link: Path, target: Path) -> None:
    """Point `link` at `target`, atomically (a link under a temporary name, renamed over the old one)."""
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex}.tmp")
    tmp.symlink_to(target)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def install(formats: tuple[str, ...] = FORMATS) -> list[tuple[Bundle, Path]]:
    """Copy the built bundles into the user's folders, each swapped in whole for an older copy of it.

    The standalone apps share one folder (the apps, their libraries and models/), which is swapped in the same
    way; on Linux they get links in ~/.local/bin. Returns (bundle, where it went) pairs.
    """
    folders = user_folders()
    done, copied = [], set()
    for b in bundles():
        if b.format not in formats:
            continue
        dest_dir = folders[b.format]
        if b.format == "standalone":
            if b.path.parent not in copied:
                dest_dir.parent.mkdir(parents=True, exist_ok=True)
                replace_folder(b.path.parent, dest_dir)
                copied.add(b.path.parent)
            dest = dest_dir / b.path.name
            if sys.platform.startswith("linux"):
                bin_dir = Path.home() / ".local" / "bin"
                bin_dir.mkdir(parents=True, exist_ok=True)
                link = bin_dir / standalone_link_name(b)
                replace_link(link, dest)
                dest = link
        else:
            dest_dir.mkdir(parents=True, exist_ok=True)
            dest = dest_dir / b.path.name
            replace_folder(b.path, dest)
        done.append((b, dest))
    return done
