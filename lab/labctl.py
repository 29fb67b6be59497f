#!/usr/bin/env python3
"""Create, list and destroy the local lab: N Debian hosts booted with systemd-nspawn on a private bridge.

    python3 lab/labctl.py up [--hosts N]     # idempotent; default 2 hosts
    python3 lab/labctl.py list
    python3 lab/labctl.py ssh lab-a [cmd...]
    python3 lab/labctl.py reboot lab-b       # systemd-nspawn exits on a reboot; labctl boots the host again
    python3 lab/labctl.py down [--purge]

This script only runs the CLI of the package lab/labkit/ (one module per job; lab/README.md lists them).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    sys.dont_write_bytecode = True  # run as root: leave no root-owned __pycache__ in the checkout
    from labkit.cli import main

    sys.exit(main())
