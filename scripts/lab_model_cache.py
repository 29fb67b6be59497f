"""The lab's model cache: each build in `<out>/<label>-<key>/`, `<out>/<label>` a symlink to the current one.

Shared by scripts/build_lab_models.py and scripts/build_lab_asr_models.py (which run in different venvs). A build is
written to a temporary directory and renamed into place, so a failed build leaves nothing half-written; the symlink
is swapped atomically; older builds of the same label are removed once the link points at the new one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def publish(label: str, key: str, out: Path, make: Callable[[Path], dict]) -> Path:
    """Build `label` with `make(directory) -> info` unless `<label>-<key>` exists; return the `<out>/<label>` link."""
    final = out / f"{label}-{key}"
    link = out / label
    if not (final / "lab-model.json").is_file():
        tmp = Path(tempfile.mkdtemp(prefix=f".{label}-", dir=out))
        try:
            info = make(tmp)
            info.update({"name": label, "key": key})
            (tmp / "lab-model.json").write_text(json.dumps(info, indent=2) + "\n")
            for path in tmp.rglob("*"):
                path.chmod(0o755 if path.is_dir() else 0o644)
            tmp.chmod(0o755)
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"built {label}: {final}")
    else:
        print(f"up to date {label}: {final}")
    if not link.is_symlink() or os.readlink(link) != final.name:
        tmp_link = out / f".{label}.link"
        tmp_link.unlink(missing_ok=True)
        tmp_link.symlink_to(final.name)
        tmp_link.rename(link)
    for old in out.glob(f"{label}-*"):
        # Only this label's own builds (`<label>-<12 hex>`), not other labels that share its prefix.
        suffix = old.name[len(label) + 1 :]
        if old != final and old.is_dir() and len(suffix) == 12 and all(c in "0123456789abcdef" for c in suffix):
            shutil.rmtree(old, ignore_errors=True)
    return link
