"""The local lab behind lab/labctl.py: N Debian hosts booted with systemd-nspawn on a private bridge.

Everything machine-specific (Debian mirror, DNS servers, local wheel directories, local CAs) is read from the
control node's own configuration at run time; nothing of the kind is written in this package. Standard library only.
One job per module; lab/README.md lists them.
"""
