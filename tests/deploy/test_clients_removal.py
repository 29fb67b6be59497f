"""Cutting a client off (issue 16): removing a name from litellm_local_clients and deploying the gateway's edge
refuses its key within seconds, reloads nginx without restarting it or the gateway, and fails no request of the
other clients meanwhile."""

from __future__ import annotations

import json
import secrets
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import ROOT, gateway_base, group_hosts, lab_ca, lab_host, lab_playbook, lab_secrets, require_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]
EXTRA = ROOT / ".lab" / "clients-test.yml"


def edge_play(clients: list[dict]) -> subprocess.CompletedProcess:
    """playbooks/gateway.yml, the edge's configuration only, with `clients` as the vault's litellm_local_clients (in
    a 0600 file beside the lab's secrets, removed afterwards)."""
    EXTRA.write_text(json.dumps({"litellm_local_clients": clients}))
    EXTRA.chmod(0o600)
    try:
        return lab_playbook("-e", f"@{EXTRA}", "--tags", "edge_configure", "playbooks/gateway.yml", timeout=600)
    finally:
        EXTRA.unlink(missing_ok=True)


def status(key: str) -> int:
    """GET /v1/models on a new TLS connection; -1 for a connection error."""
    request = urllib.request.Request(gateway_base() + "/v1/models", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=30, context=ssl.create_default_context(cafile=lab_ca())) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return -1


class Poller(threading.Thread):
    """Sends GET /v1/models with `key` every `every` seconds until stopped: (monotonic time, status) per request."""

    def __init__(self, key: str, every: float) -> None:
        super().__init__(daemon=True)
        self.key, self.every, self.results = key, every, []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.results.append((time.monotonic(), status(self.key)))
            time.sleep(self.every)


def main_pids(host) -> dict[str, str]:
    return {u: host.check_output(f"systemctl show -p MainPID --value {u}") for u in ("litellm", "litellm-edge")}


def test_removing_a_client_cuts_it_off_at_once_and_no_one_else() -> None:
    require_lab()
    host = lab_host(group_hosts("gateway")[0])
    clients = lab_secrets()["litellm_local_clients"]
    leaver = {"name": "leaver", "key": f"sk-leaver-{secrets.token_urlsafe(32)}"}
    stayer = next(c["key"] for c in clients if c["name"] == "tests")

    added = edge_play([*clients, leaver])
    assert added.returncode == 0, added.stdout[-4000:]
    assert status(leaver["key"]) == 200, "a client added by a deploy is let in"
    before = main_pids(host)

    others, gone = Poller(stayer, 0.05), Poller(leaver["key"], 0.2)
    others.start()
    gone.start()
    start = time.monotonic()
    removed = edge_play(clients)
    end = time.monotonic()
    time.sleep(3)
    others.done.set()
    gone.done.set()
    others.join()
    gone.join()
    assert removed.returncode == 0, removed.stdout[-4000:]

    first_refusal = next((t for t, s in gone.results if s == 401), None)
    assert first_refusal is not None, f"the removed key still passes: {gone.results[-5:]}"
    after_refusal = {s for t, s in gone.results if t >= first_refusal}
    failed = [(round(t - start, 2), s) for t, s in others.results if s != 200]
    print(
        f"removal play {end - start:.1f} s; the removed key refused {first_refusal - start:.1f} s after it began "
        f"({first_refusal - end:+.1f} s from its end); another client's {len(others.results)} requests meanwhile: "
        f"{len(failed)} not 200"
    )
    assert after_refusal == {401}, f"the removed key passed again after its first refusal: {gone.results}"
    assert first_refusal <= end + 5, "the removed key was still let in 5 s after the deploy ended"
    assert not failed, f"requests of another client failed during the removal: {failed}"
    assert main_pids(host) == before, "the gateway or the edge restarted (the edge must reload)"
