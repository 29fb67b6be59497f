"""Unit tests for the pure functions of lab/labkit (behind lab/labctl.py); no root, network or containers needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))
import labkit.ssh
from labkit.cli import cmd_reboot, parse_args
from labkit.config import BOOT_TIMEOUT_S, NETWORK_FILE, SharedMount
from labkit.hostconfig import render_etc_hosts, render_network_file
from labkit.hosts import Host, group_members, lab_hosts
from labkit.inventory import _yaml_scalar, render_inventory
from labkit.machines import is_nspawn_of, nspawn_command
from labkit.network import nft_ruleset
from labkit.rootfs import base_cache_key
from labkit.sources import (
    PipSources,
    debian_mirror_candidates,
    local_path_of,
    parse_deb822_sources,
    parse_nameservers,
    parse_one_line_sources,
    parse_pip_config_list,
    parse_release_origin,
    wheel_mount_dirs,
)
from labkit.system import LabError, mounts_under

FAKE_MIRROR = "http://mirror.example/debian"

ONE_LINE_SOURCES = f"""\
# a comment
deb {FAKE_MIRROR} bookworm main contrib
deb-src {FAKE_MIRROR} bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/fake.gpg] https://vendor.example/apt bookworm stable
deb http://mirror.example/debian-security bookworm-security main  # trailing comment
"""

DEB822_SOURCES = f"""\
Types: deb
# http://snapshot.example/archive/debian/20250101T000000Z
URIs: {FAKE_MIRROR}/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
Enabled: no
"""

PIP_CONFIG_LIST = """\
:env:.cert='/srv/fake-ca/bundle.crt'
:env:.default-timeout='180'
:env:.find-links='/srv/fake-wheels'
global.cert='/srv/fake-ca/bundle.crt'
global.constraint='/srv/fake-constraints.txt'
global.extra-index-url='file:///srv/fake-index/simple file:///srv/fake-more/simple/ https://index.example/simple'
global.find-links='/srv/fake-wheels file:///srv/fake-links https://links.example/wheels'
"""


def test_one_line_sources_are_parsed_with_options_and_comments() -> None:
    sources = parse_one_line_sources(ONE_LINE_SOURCES)
    assert [s.types for s in sources] == [("deb",), ("deb-src",), ("deb",), ("deb",)]
    assert sources[0].uris == (FAKE_MIRROR,)
    assert sources[0].components == ("main", "contrib")
    assert sources[2].signed_by == "/usr/share/keyrings/fake.gpg"
    assert sources[2].suites == ("bookworm",)
    assert sources[3].components == ("main",)


def test_deb822_sources_skip_comments_and_disabled_stanzas() -> None:
    sources = parse_deb822_sources(DEB822_SOURCES)
    assert len(sources) == 2
    assert sources[0].uris == (f"{FAKE_MIRROR}/",)
    assert sources[0].suites == ("bookworm", "bookworm-updates")
    assert sources[0].signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert sources[1].suites == ("bookworm-security",)


def test_deb822_inline_key_is_not_taken_for_a_file() -> None:
    text = "Types: deb\nURIs: http://x.example/\nSuites: s\nComponents: main\nSigned-By:\n -----BEGIN PGP\n .\n"
    assert parse_deb822_sources(text)[0].signed_by is None


def test_mirror_candidates_serve_the_suite_with_main() -> None:
    sources = parse_one_line_sources(ONE_LINE_SOURCES) + parse_deb822_sources(DEB822_SOURCES)
    # the vendor repository serves "bookworm" but not "main"; security serves another suite; duplicates collapse.
    assert debian_mirror_candidates(sources, "bookworm") == [FAKE_MIRROR]


def test_mirror_candidates_empty_without_the_suite() -> None:
    sources = parse_deb822_sources(DEB822_SOURCES)
    assert debian_mirror_candidates(sources, "trixie") == []


def test_release_origin() -> None:
    assert parse_release_origin("Origin: Debian\nLabel: Debian\nSuite: stable\n") == "Debian"
    assert parse_release_origin("Label: x\n") is None


def test_pip_config_list_is_parsed() -> None:
    pip = parse_pip_config_list(PIP_CONFIG_LIST)
    assert pip.cert == "/srv/fake-ca/bundle.crt"
    assert pip.find_links == ("/srv/fake-wheels", "file:///srv/fake-links", "https://links.example/wheels")
    assert pip.local_find_links == ["/srv/fake-wheels", "/srv/fake-links"]
    assert pip.local_extra_index_urls == ["file:///srv/fake-index/simple", "file:///srv/fake-more/simple/"]


def test_pip_config_list_empty() -> None:
    pip = parse_pip_config_list("")
    assert pip == PipSources()
    assert wheel_mount_dirs(pip) == []


def test_wheel_mount_dirs_mount_the_parent_of_simple_indexes() -> None:
    pip = parse_pip_config_list(PIP_CONFIG_LIST)
    assert wheel_mount_dirs(pip) == ["/srv/fake-wheels", "/srv/fake-links", "/srv/fake-index", "/srv/fake-more"]


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/srv/fake-wheels/", "/srv/fake-wheels"),
        ("file:///srv/fake%20wheels", "/srv/fake wheels"),
        ("https://index.example/simple", None),
        ("relative/dir", None),
    ],
)
def test_local_path_of(location: str, expected: str | None) -> None:
    assert local_path_of(location) == expected


def test_nameservers_skip_loopback() -> None:
    text = "# x\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\nnameserver 2001:db8::53\nsearch x\n"
    assert parse_nameservers(text) == ["192.0.2.53", "2001:db8::53"]


def test_hosts_have_fixed_names_and_addresses() -> None:
    hosts = lab_hosts(3)
    assert [(h.name, h.address) for h in hosts] == [
        ("lab-a", "10.77.0.11"),
        ("lab-b", "10.77.0.12"),
        ("lab-c", "10.77.0.13"),
    ]
    assert Host.from_name("lab-b") == hosts[1]


@pytest.mark.parametrize("count", [0, 27])
def test_host_count_is_bounded(count: int) -> None:
    with pytest.raises(LabError, match="between 1 and"):
        lab_hosts(count)


def test_bad_host_name_is_refused() -> None:
    with pytest.raises(LabError, match="not a lab host name"):
        Host.from_name("web-1")


def test_groups_for_two_and_five_hosts() -> None:
    assert group_members(lab_hosts(2)) == {
        "blackwell": ["lab-a"],
        "embedding": ["lab-b"],
        "asr": ["lab-b"],
        "gateway": ["lab-a"],
        "webui": ["lab-a"],
        "monitoring": ["lab-b"],
    }
    assert group_members(lab_hosts(5)) == {
        "blackwell": ["lab-a", "lab-c", "lab-e"],
        "embedding": ["lab-b", "lab-d"],
        "asr": ["lab-b"],
        "gateway": ["lab-a"],
        "webui": ["lab-a"],
        "monitoring": ["lab-b"],
    }


def test_network_file_is_static() -> None:
    text = render_network_file(Host.from_name("lab-b"), ["192.0.2.53"])
    assert "Name=host0" in text
    assert "Address=10.77.0.12/24" in text
    assert "Gateway=10.77.0.1" in text
    assert "DNS=192.0.2.53" in text
    assert NETWORK_FILE.rsplit("/", 1)[1] < "80-container-host0.network"


def test_etc_hosts_lists_every_host() -> None:
    text = render_etc_hosts(lab_hosts(2))
    assert "10.77.0.11\tlab-a\n" in text
    assert "10.77.0.12\tlab-b\n" in text
    assert "127.0.0.1\tlocalhost\n" in text


def _fake_pip() -> Any:
    return parse_pip_config_list(PIP_CONFIG_LIST)


def test_inventory_text_has_header_and_hosts() -> None:
    text = render_inventory(lab_hosts(2), _fake_pip(), Path("/srv/fake-key"))
    assert text.startswith("# generated by lab/labctl.py; do not edit")
    assert "ansible_host: 10.77.0.11" in text


def test_inventory_structure() -> None:
    yaml = pytest.importorskip("yaml")
    text = render_inventory(lab_hosts(3), _fake_pip(), Path("/srv/fake-key"))
    inventory = yaml.safe_load(text)["all"]
    assert inventory["hosts"] == {
        "lab-a": {"ansible_host": "10.77.0.11"},
        "lab-b": {"ansible_host": "10.77.0.12", "asr_engine": "transformers"},
        "lab-c": {"ansible_host": "10.77.0.13"},
    }
    assert set(inventory["children"]["blackwell"]["hosts"]) == {"lab-a", "lab-c"}
    assert set(inventory["children"]["embedding"]["hosts"]) == {"lab-b"}
    assert set(inventory["children"]["asr"]["hosts"]) == {"lab-b"}
    assert set(inventory["children"]["gateway"]["hosts"]) == {"lab-a"}
    assert set(inventory["children"]["webui"]["hosts"]) == {"lab-a"}
    assert set(inventory["children"]["monitoring"]["hosts"]) == {"lab-b"}
    variables = inventory["vars"]
    assert variables["ansible_user"] == "root"
    assert variables["ansible_ssh_private_key_file"] == "/srv/fake-key"
    assert variables["ansible_ssh_common_args"] == "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    assert variables["ansible_python_interpreter"] == "/usr/bin/python3"
    assert variables["litellm_local_profile"] == "lab"
    assert variables["litellm_local_lab_find_links"] == ["/srv/fake-wheels", "/srv/fake-links"]
    assert variables["litellm_local_lab_extra_index_urls"] == [
        "file:///srv/fake-index/simple",
        "file:///srv/fake-more/simple/",
    ]
    assert variables["litellm_local_uv_cache_dir"] == "/var/cache/litellm-local-lab-uv"
    assert variables["litellm_local_pip_cache_dir"] == "/var/cache/litellm-local-lab-pip"
    assert variables["litellm_local_lab_models_dir"] == "/srv/lab-models"
    assert variables["litellm_local_lab_wheels_dir"] == "/srv/lab-wheels"
    assert variables["firewall_backend_client_networks"] == ["10.77.0.1/32"]


def test_inventory_with_no_sources_and_one_host() -> None:
    yaml = pytest.importorskip("yaml")
    text = render_inventory(lab_hosts(1), PipSources(), Path("/srv/fake-key"))
    inventory = yaml.safe_load(text)["all"]
    assert inventory["vars"]["litellm_local_lab_find_links"] == []
    assert inventory["children"]["embedding"] == {}
    assert inventory["children"]["monitoring"] == {}


@pytest.mark.parametrize("value", ["yes", "true", "null", "1.5", "12", "1e3", "0x1f", "a: b", "#x", "-o x", ""])
def test_yaml_scalars_that_need_quotes_are_quoted(value: str) -> None:
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(f"k: {_yaml_scalar(value)}") == {"k": value}


def test_base_cache_key_depends_on_suite_and_packages() -> None:
    key = base_cache_key("bookworm", ["b", "a"])
    assert key == base_cache_key("bookworm", ["a", "b"])
    assert key.startswith("bookworm-")
    assert key != base_cache_key("bookworm", ["a", "b", "c"])
    assert key != base_cache_key("trixie", ["a", "b"])


def test_nspawn_command_flags() -> None:
    host = Host.from_name("lab-a")
    mounts = [
        SharedMount(Path("/srv/fake-cache/uv"), "/var/cache/x-uv", read_only=False),
        SharedMount(Path("/srv/fake-wheels"), "/srv/fake-wheels", read_only=True),
    ]
    cmd = nspawn_command(host, Path("/srv/fake-machines/lab-a"), mounts, "copy-host")
    assert cmd[:4] == ["systemd-nspawn", "--boot", "--register=no", "--keep-unit"]
    assert "--network-bridge=llbr0" in cmd
    assert "--resolv-conf=copy-host" in cmd
    assert "--bind=/srv/fake-cache/uv:/var/cache/x-uv" in cmd
    assert "--bind-ro=/srv/fake-wheels" in cmd
    assert is_nspawn_of(cmd, "lab-a")
    assert not is_nspawn_of(cmd, "lab-b")
    assert not is_nspawn_of(["sshd", "-M", "lab-a"], "lab-a")


def test_mounts_under_decodes_escapes_and_sorts_deepest_first() -> None:
    mountinfo = (
        "22 1 8:1 / / rw - ext4 /dev/x rw\n"
        "40 22 0:5 / /srv/fake-lab/m/proc rw - proc proc rw\n"
        "41 22 0:6 / /srv/fake-lab/m/a\\040b/sys rw - sysfs sysfs rw\n"
        "42 22 0:7 / /srv/fake-lab/mm rw - tmpfs t rw\n"
    )
    assert mounts_under(Path("/srv/fake-lab/m"), mountinfo) == [
        "/srv/fake-lab/m/a b/sys",
        "/srv/fake-lab/m/proc",
    ]


def test_nft_ruleset_only_touches_the_lab_tables() -> None:
    rules = nft_ruleset()
    tables = {line.split("{")[0].strip() for line in rules.splitlines() if line.startswith(("table", "add", "delete"))}
    assert tables == {
        "add table inet litellm_local_lab",
        "delete table inet litellm_local_lab",
        "add table ip litellm_local_lab_nat",
        "delete table ip litellm_local_lab_nat",
        "table inet litellm_local_lab",
        "table ip litellm_local_lab_nat",
    }
    assert "ip saddr 10.77.0.0/24 ip daddr != 10.77.0.0/24 masquerade" in rules


def test_reboot_verb_parses_a_host_name_and_timeout() -> None:
    args = parse_args(["reboot", "lab-b", "--timeout", "90"])
    assert args.func is cmd_reboot
    assert (args.name, args.timeout) == ("lab-b", 90.0)
    assert parse_args(["reboot", "lab-a"]).timeout == BOOT_TIMEOUT_S
    with pytest.raises(SystemExit):
        parse_args(["reboot"])


def test_reboot_refuses_a_name_that_is_not_a_lab_host() -> None:
    with pytest.raises(LabError, match="not a lab host name"):
        cmd_reboot(parse_args(["reboot", "gpu-a"]))


class FakeSsh:
    """ssh into a fake host whose `systemctl is-system-running` prints the given states in turn."""

    def __init__(self, states: list[str], jobs: list[tuple[str, str, str]] | None = None) -> None:
        self.states = states
        self.jobs = jobs or []  # (unit, job state, unit file)
        self.commands: list[str] = []

    def __call__(self, _host: Host, remote: str, timeout: float) -> subprocess.CompletedProcess[str]:
        self.commands.append(remote)
        if remote == "true":
            return subprocess.CompletedProcess([remote], 0, "", "")
        if remote == "systemctl is-system-running":
            state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
            return subprocess.CompletedProcess([remote], 0 if state == "running" else 1, state + "\n", "")
        listed = "".join(f"{n} {unit} start {state}\n" for n, (unit, state, _) in enumerate(self.jobs, 1))
        if remote == labkit.ssh.PENDING_JOBS:
            shown = "\n\n".join(f"Id={unit}\nFragmentPath={path}" for unit, _, path in self.jobs)
            return subprocess.CompletedProcess([remote], 0, f"{listed}--\n{shown}\n", "")
        if remote.startswith("systemctl list-jobs"):
            return subprocess.CompletedProcess([remote], 0, listed, "")
        return subprocess.CompletedProcess([remote], 0, "", "")


@pytest.fixture
def fake_host(monkeypatch: pytest.MonkeyPatch) -> Host:
    monkeypatch.setattr(labkit.ssh, "host_pid", lambda _host: 4242)
    monkeypatch.setattr(labkit.ssh.time, "sleep", lambda _s: None)
    return lab_hosts(1)[0]


def test_boot_wait_polls_until_systemd_has_finished(monkeypatch: pytest.MonkeyPatch, fake_host: Host) -> None:
    ssh = FakeSsh(["starting", "starting", "running"])
    monkeypatch.setattr(labkit.ssh, "ssh_run", ssh)
    assert labkit.ssh.wait_for_host(fake_host, timeout=60) == "running"
    assert ssh.commands.count("systemctl is-system-running") == 3
    assert not any("--wait" in command for command in ssh.commands)


def test_a_boot_stuck_on_a_job_names_the_job(monkeypatch: pytest.MonkeyPatch, fake_host: Host) -> None:
    unit = "systemd-networkd-wait-online.service"
    ssh = FakeSsh(["starting"], jobs=[(unit, "running", f"/lib/systemd/system/{unit}")])
    monkeypatch.setattr(labkit.ssh, "ssh_run", ssh)
    with pytest.raises(labkit.ssh.BootStuck, match=r"systemd-networkd-wait-online\.service"):
        labkit.ssh.wait_for_host(fake_host, timeout=0)


def test_a_deployed_host_is_up_while_its_own_services_still_start(
    monkeypatch: pytest.MonkeyPatch, fake_host: Host
) -> None:
    """A host booted with a deploy on it (jobs as seen on lab-a): only a deployed unit's job runs (a vLLM unit takes
    minutes on a CPU, the next ones wait for it, and so do the targets and Debian's systemd-update-utmp-runlevel);
    the OS has booted, and the wait does not run to its deadline for them."""
    jobs = [
        ("systemd-update-utmp-runlevel.service", "waiting", "/lib/systemd/system/systemd-update-utmp-runlevel.service"),
        ("multi-user.target", "waiting", "/lib/systemd/system/multi-user.target"),
        ("litellm-local.target", "waiting", "/etc/systemd/system/litellm-local.target"),
        ("vllm-ocr.service", "waiting", "/etc/systemd/system/vllm-ocr.service"),
        ("vllm-completions.service", "running", "/etc/systemd/system/vllm-completions.service"),
    ]
    ssh = FakeSsh(["starting"], jobs=jobs)
    monkeypatch.setattr(labkit.ssh, "ssh_run", ssh)
    assert labkit.ssh.wait_for_host(fake_host, timeout=3600) == "starting"
    assert ssh.commands.count("systemctl is-system-running") == 1


def test_an_os_unit_running_beside_deployed_ones_is_waited_for(
    monkeypatch: pytest.MonkeyPatch, fake_host: Host
) -> None:
    jobs = [
        ("vllm-completions.service", "running", "/etc/systemd/system/vllm-completions.service"),
        ("systemd-logind.service", "running", "/lib/systemd/system/systemd-logind.service"),
    ]
    ssh = FakeSsh(["starting", "starting", "running"], jobs=jobs)
    monkeypatch.setattr(labkit.ssh, "ssh_run", ssh)
    assert labkit.ssh.wait_for_host(fake_host, timeout=3600) == "running"
    assert ssh.commands.count("systemctl is-system-running") == 3


def test_only_waiting_jobs_are_not_taken_for_booted() -> None:
    assert not labkit.ssh.only_deployed_units_run([])
    waiting = labkit.ssh.Job("vllm-ocr.service", "waiting", "/etc/systemd/system/vllm-ocr.service")
    assert not labkit.ssh.only_deployed_units_run([waiting])
