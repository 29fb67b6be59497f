#!/usr/bin/env python3
"""Check rendered vLLM units with vLLM's own argument parser: check_vllm_args.py UNIT [UNIT ...]

Run with the Python of a venv that has vLLM. Each unit's ExecStart (after `vllm serve`) is parsed by the parser of
`vllm serve` itself (unknown flags and bad choices fail as they would at start-up) and by vLLM's own post-parse
checks. Prints one line per unit; exits 1 if any unit fails.
"""

from __future__ import annotations

import contextlib
import io
import shlex
import sys
from pathlib import Path


def exec_start_argv(unit_text: str) -> list[str]:
    """The ExecStart= command of a unit as argv (continuations joined, systemd's %% and $$ undone)."""
    joined = unit_text.replace("\\\n", " ")
    for line in joined.splitlines():
        if line.startswith("ExecStart="):
            return shlex.split(line[len("ExecStart=") :].replace("%%", "%").replace("$$", "$"))
    raise ValueError("no ExecStart= line")


def serve_parser():
    import argparse

    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser(prog="vllm")
    subparsers: argparse._SubParsersAction = parser.add_subparsers(dest="subparser")
    ServeSubcommand().subparser_init(subparsers)
    return parser


def check_values(args) -> str | None:
    """Values vLLM only checks once it builds its engine (with the model at hand): check them here."""
    import dataclasses

    from vllm.config import PoolerConfig, SpeculativeConfig
    from vllm.v1.attention.backends.registry import AttentionBackendEnum

    backend = getattr(args, "attention_backend", None)
    if isinstance(backend, str) and backend not in AttentionBackendEnum.__members__:
        return f"--attention-backend {backend!r} is not one of {sorted(AttentionBackendEnum.__members__)}"
    for flag, config_class in (("speculative_config", SpeculativeConfig), ("pooler_config", PoolerConfig)):
        value = getattr(args, flag, None)
        if isinstance(value, dict):
            known = {f.name for f in dataclasses.fields(config_class)}
            unknown = sorted(set(value) - known)
            if unknown:
                return f"--{flag.replace('_', '-')} has unknown key(s) {unknown}"
    return None


def check(unit: Path, parser) -> str | None:
    """None when vLLM accepts the unit's command line, else the error vLLM prints."""
    from vllm.entrypoints.launchers.cli_args import validate_parsed_serve_args

    argv = exec_start_argv(unit.read_text())
    if len(argv) < 3 or not argv[0].endswith("/vllm") or argv[1] != "serve":
        return f"ExecStart is not `<venv>/bin/vllm serve ...`: {argv[:3]}"
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser.parse_args(argv[1:])
            validate_parsed_serve_args(args)
            return check_values(args)
    except SystemExit as exc:
        return f"exit {exc.code}: {err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else ''}"
    except (TypeError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def main(paths: list[str]) -> int:
    parser = serve_parser()
    failed = 0
    for path in paths:
        problem = check(Path(path), parser)
        print(f"{'FAIL' if problem else 'ok'}  {path}{': ' + problem if problem else ''}")
        failed += bool(problem)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
