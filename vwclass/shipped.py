"""Finds the files vwclass ships beside its code: the CRD (crds/) and the install manifests (manifests/).

An installed wheel carries them under vwclass/_shipped/; a checkout (editable install) has them at the
repository root. Both layouts hold the same files.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """The directory `crds` or `manifests`, wherever this installation keeps it."""
    for candidate in (_PACKAGE / "_shipped" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"vwclass is installed without its {name}/ directory")


def crd_path() -> Path:
    return shipped_dir("crds") / "virtualwaggleclass.yaml"
