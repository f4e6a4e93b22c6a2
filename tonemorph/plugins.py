"""The built plugins: where the build put them, and installing them into a user's plugin folders.

The CMake build (plugin/CMakeLists.txt) installs self-contained bundles into the package, under
`tonemorph/plugins/{VST3,LV2,Standalone}`; each bundle carries its libraries and the bundled models.
"""

from __future__ import annotations

import os
import shutil
import sys
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


def install(formats: tuple[str, ...] = FORMATS) -> list[tuple[Bundle, Path]]:
    """Copy the built bundles into the user's folders (an older copy of the same bundle is replaced).

    The standalone apps go with their libraries and models into one folder, and get links in ~/.local/bin.
    Returns (bundle, where it went) pairs.
    """
    folders = user_folders()
    done = []
    for b in bundles():
        if b.format not in formats:
            continue
        dest_dir = folders[b.format]
        dest_dir.mkdir(parents=True, exist_ok=True)
        if b.format == "standalone":
            for item in b.path.parent.iterdir():  # the app, its libraries and models/
                target = dest_dir / item.name
                if item.is_dir():
                    shutil.copytree(item, target, dirs_exist_ok=True)
                else:
                    shutil.copy2(item, target)
            dest = dest_dir / b.path.name
            if sys.platform.startswith("linux"):
                bin_dir = Path.home() / ".local" / "bin"
                bin_dir.mkdir(parents=True, exist_ok=True)
                link = bin_dir / standalone_link_name(b)
                if link.is_symlink() or link.exists():
                    link.unlink()
                link.symlink_to(dest)
                dest = link
        else:
            dest = dest_dir / b.path.name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(b.path, dest, symlinks=True)
        done.append((b, dest))
    return done
