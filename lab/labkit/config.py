"""Fixed names of the lab: state and cache paths on the control node, the bridge and its subnet, the base image's
package list, timeouts, and the control node's directories mounted into every host."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

STATE_DIR = Path("/var/lib/litellm-local-lab")
MACHINES_DIR = STATE_DIR / "machines"
LOGS_DIR = STATE_DIR / "logs"
RUN_DIR = STATE_DIR / "run"
SSH_KEY = STATE_DIR / "ssh" / "id_ed25519"
IP_FORWARD_SAVED = STATE_DIR / "ip_forward.saved"
LOCK_FILE = Path("/run/litellm-local-lab.lock")
CACHE_DIR = Path("/var/cache/litellm-local-lab")
INVENTORY_PATH = Path(__file__).resolve().parents[2] / "inventory" / "lab.yml"

BRIDGE = "llbr0"
NETWORK = ipaddress.ip_network("10.77.0.0/24")
GATEWAY = ipaddress.ip_address("10.77.0.1")
FIRST_HOST_OCTET = 11
MAX_HOSTS = 26
HOST_PREFIX = "lab-"
CONTROL_ALIAS = "lab-control"

SUITE = "bookworm"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-venv",
    "python3-apt",
    "sudo",
    "ca-certificates",
    "iproute2",
    "curl",
    "procps",
    "iputils-ping",
    "nftables",
    "libgomp1",
    "libnuma1",
)
# Bump when prepare_base() changes, so that older cached base tarballs are no longer used.
BASE_RECIPE_VERSION = "1"

NFT_FILTER_TABLE = "inet litellm_local_lab"
NFT_NAT_TABLE = "ip litellm_local_lab_nat"
NETWORK_FILE = "etc/systemd/network/10-lab-host0.network"
SSHD_DROPIN = "etc/ssh/sshd_config.d/10-lab.conf"
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
# Trust settings copied from the control node's environment into each host's /etc/environment when they name a
# file that exists inside the host too (typically the system CA bundle, once the local CAs are installed there).
TRUST_ENV_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT")
# Control-node commands labctl needs, and the Debian package that provides each.
REQUIRED_TOOLS = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "nft": "nftables",
    "ip": "iproute2",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "tar": "tar",
    "chroot": "coreutils",
}
BOOT_TIMEOUT_S = 180
STOP_TIMEOUT_S = 30
LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class SharedMount:
    """A directory of the control node mounted into every lab host."""

    source: Path
    target: str
    read_only: bool

    def nspawn_arg(self) -> str:
        flag = "--bind-ro" if self.read_only else "--bind"
        if str(self.source) == self.target:
            return f"{flag}={self.target}"
        return f"{flag}={self.source}:{self.target}"


SHARED_MOUNTS = (
    SharedMount(CACHE_DIR / "uv", "/var/cache/litellm-local-lab-uv", read_only=False),
    SharedMount(CACHE_DIR / "pip", "/var/cache/litellm-local-lab-pip", read_only=False),
    SharedMount(CACHE_DIR / "models", "/srv/lab-models", read_only=True),
    SharedMount(CACHE_DIR / "wheels", "/srv/lab-wheels", read_only=True),
)
