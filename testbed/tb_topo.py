"""The testbed's topology: namespaces, links, addresses and daemons.

Everything the other modules create is named here, so `up`, `down`,
`status` and the drills agree on it. Namespace names are fixed (prefix st-),
which is why only one testbed runs on a machine at a time (tb_lock).

    st-client  eth0 10.77.0.11-.40 ─┐
                                    st-fe (br0)   frontend LAN 10.77.0.0/24, VIP 10.77.0.100
    st-lb-a    eth0 10.77.0.1     ──┤  strata-vrrp (priority 200) + strata-l4
    st-lb-b    eth0 10.77.0.2     ──┘  strata-vrrp (priority 100) + strata-l4
    st-lb-a    eth1 10.77.2.1     ──┐
    st-lb-b    eth1 10.77.2.2     ──┤
    st-l7-a/b/c eth0 10.77.2.11-13──┤ st-be (br0)  backend LAN 10.77.2.0/24
    st-be-1/2/3 eth0 10.77.2.21-23──┘  strata-l7 :8100 / strata-echo :8200
"""
import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("STRATA_BUILD", ROOT / "build")).resolve()
BIN = BUILD / "bin"
CONF = ROOT / "configs" / "testbed"
# State of the running testbed. The daemons run with RUN as their working
# directory, so the configs' relative "run/NAME" paths (admin sockets, pid
# files, state files) land in RUN / "run".
RUN = pathlib.Path(os.environ.get("STRATA_TESTBED_RUN", ROOT / "run" / "testbed")).resolve()
RUNFILES = RUN / "run"
LOGS = RUN / "logs"
RESULTS = RUN / "results"
# Namespace names are global to the machine, so the lock is too.
LOCK_FILE = pathlib.Path("/run/lock/strata-testbed.lock")

VIP = "10.77.0.100"
VIP_PORT = 80
CLIENTS = [f"10.77.0.{i}" for i in range(11, 41)]
FRONT_NET = "10.77.0.0/24"
BACK_NET = "10.77.2.0/24"

# name -> short description; bridges are namespaces holding only br0.
BRIDGES = {"st-fe": "frontend LAN 10.77.0.0/24", "st-be": "backend LAN 10.77.2.0/24"}
HOSTS = ["st-client", "st-lb-a", "st-lb-b", "st-l7-a", "st-l7-b", "st-l7-c",
         "st-be-1", "st-be-2", "st-be-3"]
NAMESPACES = list(BRIDGES) + HOSTS

# (host namespace, interface, MAC, bridge namespace, bridge port, addresses).
# Fixed MACs make neighbour tables readable: 02:77:00:LAN:00:HOST.
LINKS = [
    ("st-client", "eth0", "02:77:00:00:00:0b", "st-fe", "client", [c + "/24" for c in CLIENTS]),
    ("st-lb-a", "eth0", "02:77:00:00:00:01", "st-fe", "lb-a", ["10.77.0.1/24"]),
    ("st-lb-b", "eth0", "02:77:00:00:00:02", "st-fe", "lb-b", ["10.77.0.2/24"]),
    ("st-lb-a", "eth1", "02:77:00:02:00:01", "st-be", "lb-a", ["10.77.2.1/24"]),
    ("st-lb-b", "eth1", "02:77:00:02:00:02", "st-be", "lb-b", ["10.77.2.2/24"]),
    ("st-l7-a", "eth0", "02:77:00:02:00:0b", "st-be", "l7-a", ["10.77.2.11/24"]),
    ("st-l7-b", "eth0", "02:77:00:02:00:0c", "st-be", "l7-b", ["10.77.2.12/24"]),
    ("st-l7-c", "eth0", "02:77:00:02:00:0d", "st-be", "l7-c", ["10.77.2.13/24"]),
    ("st-be-1", "eth0", "02:77:00:02:00:15", "st-be", "be-1", ["10.77.2.21/24"]),
    ("st-be-2", "eth0", "02:77:00:02:00:16", "st-be", "be-2", ["10.77.2.22/24"]),
    ("st-be-3", "eth0", "02:77:00:02:00:17", "st-be", "be-3", ["10.77.2.23/24"]),
]
MAC_NODE = {"02:77:00:00:00:01": "lb-a", "02:77:00:00:00:02": "lb-b"}

# Per-namespace sysctls (a namespace starts with the kernel defaults).
SYSCTLS = {
    "st-client": {"net.ipv4.ip_local_port_range": "10000 65000",
                  "net.ipv4.tcp_tw_reuse": "1"},
    "st-lb-a": {"net.core.somaxconn": "4096", "net.ipv4.ip_local_port_range": "10000 65000"},
    "st-lb-b": {"net.core.somaxconn": "4096", "net.ipv4.ip_local_port_range": "10000 65000"},
    "st-l7-a": {"net.core.somaxconn": "4096", "net.ipv4.ip_local_port_range": "10000 65000"},
    "st-l7-b": {"net.core.somaxconn": "4096", "net.ipv4.ip_local_port_range": "10000 65000"},
    "st-l7-c": {"net.core.somaxconn": "4096", "net.ipv4.ip_local_port_range": "10000 65000"},
}

L7 = {"l7-a": "10.77.2.11", "l7-b": "10.77.2.12", "l7-c": "10.77.2.13"}
L7_PORT = 8100
BACKENDS = {"be-1": "10.77.2.21", "be-2": "10.77.2.22", "be-3": "10.77.2.23"}
BE_PORT = 8200
L4_SERVICE = "http"
L7_UPSTREAM = "echo"


class Daemon:
    """One process of the testbed: where it runs, how, and how to see it is up."""

    def __init__(self, name, ns, argv, ready, reloads=True):
        self.name = name
        self.ns = ns
        self.argv = [str(a) for a in argv]
        self.ready = ready        # (address, port) it listens on, or None
        self.reloads = reloads    # takes SIGHUP

    @property
    def binary(self):
        return os.path.basename(self.argv[0])

    @property
    def pid_file(self):
        return RUNFILES / f"{self.name}.pid"

    @property
    def log(self):
        return LOGS / f"{self.name}.log"

    @property
    def admin(self):
        """Its admin socket (the path the config names), or None."""
        sock = RUNFILES / f"{self.name}.sock"
        return sock if self.binary != "strata-echo" else None


def daemons():
    """Start order: backends, L7, L4, VRRP (it tracks strata-l4's pid file).
    Stop order is the reverse."""
    out = []
    for name, addr in BACKENDS.items():
        out.append(Daemon(name, "st-" + name,
                          [BIN / "strata-echo", "-l", f"{addr}:{BE_PORT}", "-n", name, "-w", "1"],
                          (addr, BE_PORT), reloads=False))
    for name, addr in L7.items():
        out.append(Daemon(name, "st-" + name, [BIN / "strata-l7", "-c", CONF / f"{name}.conf"],
                          (addr, L7_PORT)))
    for node in ("a", "b"):
        out.append(Daemon(f"l4-{node}", f"st-lb-{node}",
                          [BIN / "strata-l4", "-c", CONF / f"l4-{node}.conf"], None))
    for node in ("a", "b"):
        out.append(Daemon(f"vrrp-{node}", f"st-lb-{node}",
                          [BIN / "strata-vrrp", "-c", CONF / f"vrrp-{node}.conf"], None))
    return out


def daemon(name):
    for d in daemons():
        if d.name == name:
            return d
    raise KeyError(name)
