"""Network namespaces, veth links and bridges for the testbed, and sockets
opened inside a namespace.

Links are created directly inside their namespaces (`ip link add ... netns
A type veth peer ... netns B`), so nothing ever appears in the root
namespace, not even for a moment. Every function is idempotent: it checks
what exists and adds only what is missing, so `up` after a crash halfway
completes the job and `down` removes whatever is there.
"""
import ctypes
import os
import socket
import subprocess
import threading
import time

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"
NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


class NetError(RuntimeError):
    pass


def run(argv, check=True, timeout=20):
    res = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                         timeout=timeout, stdin=subprocess.DEVNULL)
    if check and res.returncode != 0:
        raise NetError(f"{' '.join(map(str, argv))}: {res.stderr.strip() or res.returncode}")
    return res


def ip(ns, *args, check=True):
    return run([IP, "-n", ns] + list(args), check=check)


def exists(ns):
    return os.path.exists(os.path.join(NETNS_DIR, ns))


def listed():
    """Names of every named namespace on the machine."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def add(ns):
    if not exists(ns):
        run([IP, "netns", "add", ns])
    ip(ns, "link", "set", "lo", "up")


def delete(ns):
    if exists(ns):
        run([IP, "netns", "del", ns], check=False)


def pids(ns):
    """PIDs of every process whose network namespace is `ns`."""
    if not exists(ns):
        return []
    res = run([IP, "netns", "pids", ns], check=False)
    return [int(p) for p in res.stdout.split() if p.isdigit()]


def same_netns(pid, ns):
    """True when process `pid` lives in namespace `ns` (compared by inode,
    so a reused PID elsewhere never matches)."""
    try:
        a = os.stat(f"/proc/{pid}/ns/net")
        b = os.stat(os.path.join(NETNS_DIR, ns))
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def sysctl(ns, key, value):
    run([IP, "netns", "exec", ns, "sysctl", "-qw", f"{key}={value}"])


def has_link(ns, ifname):
    return ip(ns, "link", "show", "dev", ifname, check=False).returncode == 0


def bridge(ns, br="br0"):
    """A switch: br0 without STP or forwarding delay, so ports forward at once."""
    if not has_link(ns, br):
        ip(ns, "link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0")
    ip(ns, "link", "set", br, "up")


def veth(host_ns, ifname, mac, bridge_ns, port, br="br0"):
    """Plugs host_ns:ifname into bridge_ns's br through port."""
    if has_link(host_ns, ifname) and not has_link(bridge_ns, port):
        ip(host_ns, "link", "del", ifname)  # half a pair cannot exist, but be safe
    if not has_link(host_ns, ifname):
        if has_link(bridge_ns, port):
            ip(bridge_ns, "link", "del", port)
        run([IP, "link", "add", ifname, "address", mac, "netns", host_ns, "type", "veth",
             "peer", "name", port, "netns", bridge_ns])
    ip(bridge_ns, "link", "set", port, "master", br)
    ip(bridge_ns, "link", "set", port, "up")
    ip(host_ns, "link", "set", ifname, "up")


def addrs(ns, ifname=None):
    args = ["-o", "-4", "addr", "show"] + (["dev", ifname] if ifname else [])
    out = ip(ns, *args, check=False).stdout
    return [line.split()[3] for line in out.splitlines() if len(line.split()) > 3]


def addr_add(ns, ifname, cidr):
    if cidr not in addrs(ns, ifname):
        ip(ns, "addr", "add", cidr, "dev", ifname)


def link_state(ns, ifname):
    """'UP', 'DOWN', 'LOWERLAYERDOWN', ... or None when absent."""
    res = ip(ns, "-o", "link", "show", "dev", ifname, check=False)
    if res.returncode != 0:
        return None
    words = res.stdout.split()
    return words[words.index("state") + 1] if "state" in words else "?"


def neigh_mac(ns, addr):
    res = ip(ns, "neigh", "show", addr, check=False).stdout.split()
    return res[res.index("lladdr") + 1] if "lladdr" in res else None


def in_netns(ns, fn, *args):
    """Runs fn(*args) on a new thread that joined namespace `ns`; sockets it
    creates stay in `ns` when handed back. Returns fn's result or raises
    its exception."""
    box = {}

    def body():
        try:
            fd = os.open(os.path.join(NETNS_DIR, ns), os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {ns}: {os.strerror(err)}")
            finally:
                os.close(fd)
            box["value"] = fn(*args)
        except BaseException as e:  # handed to the caller
            box["error"] = e

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def socket_in(ns, family=socket.AF_INET, kind=socket.SOCK_STREAM):
    return in_netns(ns, socket.socket, family, kind)


def tcp_connect(ns, addr, port, source=None, timeout=1.0):
    """A connected TCP socket from inside `ns` (optionally from `source`)."""
    s = socket_in(ns)
    try:
        s.settimeout(timeout)
        if source:
            s.bind((source, 0))
        s.connect((addr, port))
        return s
    except OSError:
        s.close()
        raise


def http_get(ns, addr, port, path, source=None, host="strata.test", timeout=2.0):
    """One HTTP/1.1 GET with Connection: close from inside `ns`; returns
    (status, headers dict with lower-case names, body bytes)."""
    s = tcp_connect(ns, addr, port, source, timeout)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or len(lines[0].split()) < 2:
        raise OSError(f"no HTTP response from {addr}:{port}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def _listens(port):
    """Whether this thread's namespace has a TCP listener on `port`
    (/proc/thread-self/net/tcp is the reading thread's namespace's table)."""
    want = f":{port:04X}"
    with open("/proc/thread-self/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            f_ = line.split()
            if len(f_) > 3 and f_[1].endswith(want) and f_[3] == "0A":
                return True
    return False


def listener_closed_at(ns, port, timeout=3.0, step=0.002):
    """Polls `ns` every `step` s until nothing listens on TCP `port`; returns
    that monotonic time, or None after `timeout`. A killed io_uring server's
    listener outlives the process: the ring is torn down asynchronously."""
    def loop():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _listens(port):
                return time.monotonic()
            time.sleep(step)
        return None
    return in_netns(ns, loop)
