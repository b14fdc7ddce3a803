"""Build hook of the wheel (hatchling): the dependencies are the pins of requirements.txt.

requirements.txt stays the one list (run.sh, CI and every engineer add to it); this hook copies
its requirement lines into the package metadata, so ``pip install .`` installs the same versions
CI tested.  Comments, blank lines and ``-r``/``--`` options are skipped.
"""
from __future__ import annotations

from pathlib import Path

from hatchling.metadata.plugin.interface import MetadataHookInterface


def read_requirements(path: Path) -> list[str]:
    """The requirement specifiers of a pip requirements file, in order."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        spec = line.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if spec and not spec.startswith(("#", "-")):
            out.append(spec)
    return out


class RequirementsHook(MetadataHookInterface):
    """``dependencies`` (declared dynamic in pyproject.toml) from requirements.txt."""

    def update(self, metadata: dict) -> None:
        metadata["dependencies"] = read_requirements(Path(self.root) / "requirements.txt")
