"""Network namespaces for system tests: create, wire, run inside, remove.

Every name this module creates starts with "st-" and gets a short unique
suffix, so tests running at the same time never share a namespace. Links are
created directly inside their namespaces (interface names are per namespace,
so "eth0" in one never collides with "eth0" in another). Addresses belong in
10.77.0.0/16 (and fd77::/16 for IPv6).

    with Topology("vr") as topo:            # or the `topology` fixture
        lan = topo.bridge("lan")            # namespace st-vr-lan-XXXX with br0
        a = topo.node("a")                  # namespace st-vr-a-XXXX, lo up
        topo.attach(a, "eth0", lan, addrs=["10.77.1.1/24"])
        a.run("ping", "-c1", "10.77.1.2")
        proc = a.popen(["my-daemon", "-c", conf])

Cleanup always runs (context manager exit or fixture finalizer): processes
started through Netns.popen() are stopped by PID, then every namespace is
deleted, which also deletes the veths inside it.
"""
import os
import secrets
import signal
import subprocess
import time

import pytest

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"
PREFIX = "st-"


def _run(argv, check=True, timeout=20, **kw):
    res = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                         timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({res.returncode}): "
                           f"{res.stderr.strip()}")
    return res


class Netns:
    """One network namespace."""

    def __init__(self, name, dad=False):
        self.name = name
        self.procs = []
        _run([IP, "netns", "add", name])
        self.ip("link", "set", "lo", "up")
        if not dad:
            # Duplicate address detection delays link-local addresses by
            # a second or more; tests want them at once.
            self.sysctl("net.ipv6.conf.all.accept_dad", 0)
            self.sysctl("net.ipv6.conf.default.accept_dad", 0)

    def argv(self, argv):
        """The command line that runs `argv` inside this namespace."""
        return [IP, "netns", "exec", self.name] + [str(a) for a in argv]

    def run(self, *argv, check=True, timeout=20, **kw):
        return _run(self.argv(argv), check=check, timeout=timeout, **kw)

    def ip(self, *args, check=True):
        return _run([IP, "-n", self.name] + [str(a) for a in args], check=check)

    def sysctl(self, key, value):
        self.run("sysctl", "-qw", f"{key}={value}")

    def popen(self, argv, **kw):
        """Starts `argv` inside the namespace (ip netns exec execs it, so
        the PID is the program's); it is stopped at cleanup."""
        p = subprocess.Popen(self.argv(argv), **kw)
        self.procs.append(p)
        return p

    def addr_add(self, ifname, cidr):
        extra = ["nodad"] if ":" in cidr else []
        self.ip("addr", "add", cidr, "dev", ifname, *extra)

    def link_set(self, ifname, state):
        self.ip("link", "set", ifname, state)

    def addrs(self, ifname=None):
        """Addresses (without prefix) configured in the namespace."""
        args = ["-o", "addr", "show"] + (["dev", ifname] if ifname else [])
        out = self.ip(*args).stdout
        # "2: eth0    inet 10.77.1.1/24 brd ... scope global eth0"
        return [line.split()[3].split("/")[0] for line in out.splitlines()
                if len(line.split()) > 3]

    def stop_procs(self, timeout=5.0):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGTERM)
                    p.wait(timeout)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.kill(p.pid, signal.SIGKILL)
                        p.wait(5)
                    except (ProcessLookupError, subprocess.TimeoutExpired):
                        pass
        self.procs.clear()

    def delete(self):
        self.stop_procs()
        _run([IP, "netns", "del", self.name], check=False)


class Topology:
    """A set of namespaces with veth links and bridges, removed as a whole."""

    def __init__(self, tag="t"):
        self.tag = tag
        self.suffix = secrets.token_hex(2)
        self.namespaces = {}
        self.ports = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def _name(self, short):
        return f"{PREFIX}{self.tag}-{short}-{self.suffix}"

    def node(self, short, dad=False):
        """A new namespace for one host."""
        ns = Netns(self._name(short), dad=dad)
        self.namespaces[short] = ns
        return ns

    def bridge(self, short, br="br0"):
        """A namespace holding only a bridge `br` (a switch)."""
        ns = self.node(short)
        ns.ip("link", "add", br, "type", "bridge")
        # No STP, no forwarding delay: ports forward at once.
        ns.ip("link", "set", br, "type", "bridge", "stp_state", "0", "forward_delay", "0")
        ns.link_set(br, "up")
        ns.bridge_name = br
        self.ports[short] = 0
        return ns

    def veth(self, ns_a, if_a, ns_b, if_b):
        """A veth pair from ns_a:if_a to ns_b:if_b, both up."""
        _run([IP, "link", "add", if_a, "netns", ns_a.name, "type", "veth", "peer", "name",
              if_b, "netns", ns_b.name])
        ns_a.link_set(if_a, "up")
        ns_b.link_set(if_b, "up")

    def attach(self, node, ifname, bridge_ns, addrs=()):
        """Plugs `node` into the bridge of `bridge_ns` through a veth whose
        node end is `ifname`; returns the port name on the bridge side."""
        short = next(k for k, v in self.namespaces.items() if v is bridge_ns)
        self.ports[short] += 1
        port = f"p{self.ports[short]}-{ifname}"[:15]
        self.veth(node, ifname, bridge_ns, port)
        bridge_ns.ip("link", "set", port, "master", bridge_ns.bridge_name)
        for cidr in addrs:
            node.addr_add(ifname, cidr)
        return port

    def cleanup(self):
        for ns in list(self.namespaces.values()):
            ns.stop_procs()
        for ns in list(self.namespaces.values()):
            ns.delete()
        self.namespaces.clear()


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls `predicate` until it returns a true value; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached after {timeout}s")
        time.sleep(interval)


@pytest.fixture
def topology(request):
    """A Topology tagged after the test module; always cleaned up."""
    tag = request.module.__name__.replace("test_", "")[:6] or "t"
    topo = Topology(tag)
    request.addfinalizer(topo.cleanup)
    return topo
