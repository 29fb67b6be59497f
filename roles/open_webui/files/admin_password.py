"""Make the web UI's first admin account's password the vault's (run by roles/open_webui with the UI's venv python).

Open WebUI creates the admin from the environment only when its database has no user yet; afterwards the vault's
open_webui_admin_password would no longer say how to sign in. This sets the password hash (bcrypt, as Open WebUI
writes it) of the account with that email when the password does not verify; an absent account is left to the UI's
first start. The password comes on standard input, never on the command line.

Usage: python admin_password.py DATABASE EMAIL [--check]   (prints absent, same or changed; --check writes nothing)
"""

from __future__ import annotations

import sqlite3
import sys

import bcrypt

MAX_BYTES = 72  # bcrypt's limit, which Open WebUI enforces too


def main(argv: list[str]) -> int:
    database, email = argv[0], argv[1]
    check = "--check" in argv[2:]
    password = sys.stdin.read().encode()
    if not password or len(password) > MAX_BYTES:
        print(f"the password must be 1 to {MAX_BYTES} bytes", file=sys.stderr)
        return 2
    try:
        db = sqlite3.connect(f"file:{database}?mode=rw", uri=True, timeout=30)
        row = db.execute("SELECT password FROM auth WHERE lower(email) = lower(?)", (email,)).fetchone()
    except sqlite3.OperationalError:  # no database or no table yet: the UI's first start creates the admin
        row = None
    if row is None:
        print("absent")
        return 0
    with db:
        stored = (row[0] or "").encode()
        if stored.startswith(b"$2") and bcrypt.checkpw(password, stored):
            print("same")
            return 0
        if not check:
            hashed = bcrypt.hashpw(password, bcrypt.gensalt()).decode()
            db.execute("UPDATE auth SET password = ? WHERE lower(email) = lower(?)", (hashed, email))
        print("changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
