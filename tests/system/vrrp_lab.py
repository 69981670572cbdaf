"""The strata-vrrp test lab: two VRRP nodes and a client on one switch.

    st-...-lan   bridge br0 (the switch)
    st-...-a     node A, eth0 10.77.1.1/24, fd77:1::1/64
    st-...-b     node B, eth0 10.77.1.2/24, fd77:1::2/64
    st-...-c     client, eth0 10.77.1.9/24, fd77:1::9/64

Each node runs a stand-in for strata-l4: a TCP server bound to the VIP with
IP_FREEBIND that answers its node name (and, when asked, writes a pid file
and answers `help` and `show stats` on an admin socket, like strata-l4). The
client probe opens a fresh connection to the VIP every 10 ms and records who
answered and when; the outage is the time from the fault to the first
answer from the new master, which is what a client sees.

Run as a script, this file is the stand-in server (`serve`) or the probe
(`probe`) inside a namespace.
"""
import json
import os
import pathlib
import re
import selectors
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
PY = "/usr/bin/python3"
NET4 = "10.77.1"
NET6 = "fd77:1:"
VIP4 = "10.77.1.100"
VIP6 = "fd77:1::100"
PORT = 8000
NODE_IP = {"a": 1, "b": 2, "c": 9}
# The probe and the stand-in services run SCHED_RR below strata-vrrp (50):
# other work on a shared CI machine must not inflate the figures they take.
CHRT = ["chrt", "-r", "10"]
IP_FREEBIND = 15


# --- config -------------------------------------------------------------------

def vrrp_config(workdir, node, instances, trackers=None, extra=""):
    """Writes a strata-vrrp config for `node`; instances are dicts of keys."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, (list, tuple)):
            return "[ " + ", ".join(value(x) for x in v) + " ]"
        return json.dumps(v)

    def group(d):
        return "{ " + " ".join(f"{k} = {value(v)};" for k, v in d.items()) + " }"

    lines = [
        f'admin_socket = "{workdir}/vrrp-{node}.sock";',
        f'state_file = "{workdir}/vrrp-{node}.state";',
        'metrics = "127.0.0.1:0";',
        "garp = { count = 5; repeat_delay = \"5s\"; repeat_count = 5; };",
        extra,
    ]
    if trackers:
        lines.append("trackers = ( " + ", ".join(group(t) for t in trackers) + " );")
    lines.append("instances = ( " + ", ".join(group(i) for i in instances) + " );")
    path = pathlib.Path(workdir) / f"vrrp-{node}.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def instance(name="VI_1", vrid=51, priority=100, vips=(VIP4 + "/24",), **kw):
    d = {"name": name, "interface": "eth0", "vrid": vrid, "priority": priority,
         "advert_interval": "100ms", "virtual_addresses": list(vips)}
    d.update(kw)
    return d


def keepalived_config(workdir, node, vrid=51, priority=100, vips=(VIP4 + "/24",),
                      nopreempt=False, advert="0.1"):
    """keepalived 2.2 with the same VRID, priority and interval."""
    vip_lines = "\n".join(f"        {v}" for v in vips)
    text = f"""global_defs {{
    router_id ka-{node}
    vrrp_version 3
    script_user root
    enable_script_security
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id {vrid}
    priority {priority}
    advert_int {advert}
    {"nopreempt" if nopreempt else ""}
    virtual_ipaddress {{
{vip_lines}
    }}
}}
"""
    path = pathlib.Path(workdir) / f"keepalived-{node}.conf"
    path.write_text(text)
    return path


def keepalived_argv(workdir, node, conf):
    w = pathlib.Path(workdir)
    return ["/usr/sbin/keepalived", "-f", conf, "-p", w / f"ka-{node}.pid",
            "-r", w / f"ka-{node}-vrrp.pid", "-c", w / f"ka-{node}-check.pid",
            "--dont-fork", "--log-console", "--vrrp", "--dont-respawn"]


# --- the lab ---------------------------------------------------------------------

class Lab:
    def __init__(self, topo, workdir, daemons):
        self.topo = topo
        self.workdir = pathlib.Path(workdir)
        self.daemons = daemons
        self.lan = topo.bridge("lan")
        self.ns = {}
        self.ports = {}
        for name, host in NODE_IP.items():
            ns = topo.node(name)
            self.ports[name] = topo.attach(ns, "eth0", self.lan,
                                           addrs=[f"{NET4}.{host}/24", f"{NET6}:{host}/64"])
            self.ns[name] = ns
        self.services = {}
        self.vrrps = {}

    def vrrp(self, node, conf, name=None):
        from conftest import binary
        d = self.daemons(self.ns[node].argv([binary("strata-vrrp"), "-c", conf]),
                         name=name or f"vrrp-{node}")
        self.vrrps[node] = d
        return d

    def keepalived(self, node, conf):
        return self.daemons(self.ns[node].argv(keepalived_argv(self.workdir, node, conf)),
                            name=f"keepalived-{node}")

    def service(self, node, vip=VIP4, port=PORT, pid_file=None, admin=None):
        """Starts the strata-l4 stand-in on `node`."""
        argv = CHRT + [PY, HERE / "vrrp_lab.py", "serve", vip, port, node]
        if pid_file:
            argv += ["--pid-file", pid_file]
        if admin:
            argv += ["--admin", admin]
        p = self.ns[node].popen(argv)
        self.services[node] = p
        return p

    def logs(self, lines=30):
        """The last lines of every strata-vrrp log, for assertion messages."""
        return "\n".join(f"--- {n}:\n" + "\n".join(d.text().splitlines()[-lines:])
                         for n, d in self.vrrps.items())

    def strata_l4(self, node, vip=VIP4, port=PORT, backend_port=9000, hold=False):
        """The real strata-l4 on `node`: VIP:port to a backend on loopback
        that answers the node's name (and with `hold`, keeps the connection
        until the client closes it). Returns (daemon, admin socket path)."""
        from conftest import binary
        self.ns[node].popen([PY, HERE / "vrrp_lab.py", "serve", "127.0.0.1", backend_port, node]
                            + (["--hold", "1"] if hold else []))
        sock = self.workdir / f"l4-{node}.sock"
        listen = f"[{vip}]:{port}" if ":" in vip else f"{vip}:{port}"
        conf = self.workdir / f"l4-{node}.conf"
        conf.write_text(f"""node_name = "{node}";
workers = 1;
admin = {{ socket = "{sock}"; group = ""; }};
access_log = "";
services = ( {{ name = "vip"; listen = [ "{listen}" ]; balance = "round_robin";
    health = {{ type = "none"; path = "/"; host = "vip"; }};
    instances = ( {{ address = "127.0.0.1:{backend_port}"; weight = 1; }} ); }} );
""")
        d = self.daemons(self.ns[node].argv([binary("strata-l4"), "-c", conf]),
                         name=f"strata-l4-{node}")
        d.wait_log("services", timeout=10)
        return d, sock

    def has_vip(self, node, vip=VIP4):
        return vip in self.ns[node].addrs()

    def holders(self, vip=VIP4):
        return [n for n in ("a", "b") if self.has_vip(n, vip)]

    def state(self, node, instance_name="VI_1"):
        """The instance's state from the node's state file."""
        path = self.workdir / f"vrrp-{node}.state"
        try:
            for line in path.read_text().splitlines():
                f = line.split()
                if f and f[0] == instance_name:
                    return f[1]
        except FileNotFoundError:
            pass
        return None

    def wait_state(self, node, want, timeout=10.0, instance_name="VI_1"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state(node, instance_name) == want:
                return
            d = self.vrrps.get(node)
            if d is not None and not d.alive() and d.proc.returncode not in (0, -9):
                raise AssertionError(f"strata-vrrp on {node} exited with "
                                     f"{d.proc.returncode}:\n{d.text()[-2000:]}")
            time.sleep(0.01)
        raise AssertionError(f"{node} {instance_name} not {want} after {timeout}s "
                             f"(is {self.state(node, instance_name)})")

    def probe(self, duration, stop_after=None, vip=VIP4, port=PORT):
        """Starts the client probe; returns a Probe to .result() later."""
        argv = CHRT + [PY, HERE / "vrrp_lab.py", "probe", vip, port, duration,
                       stop_after or "-"]
        p = self.ns["c"].popen(argv, stdout=subprocess.PIPE, text=True)
        return Probe(p)

    def cut(self, node):
        """Unplugs the node's port from the switch; its link stays up, so
        the node sees silence, not a carrier loss (a partition)."""
        self.lan.ip("link", "set", self.ports[node], "nomaster")

    def mend(self, node):
        self.lan.ip("link", "set", self.ports[node], "master", self.lan.bridge_name)

    def admin(self, node, *words):
        from conftest import binary
        return subprocess.run([binary("stratactl"), "-s", self.workdir / f"vrrp-{node}.sock",
                               *words], capture_output=True, text=True, timeout=10)

    def metrics(self, daemon):
        """GET /metrics of a daemon whose log names its port."""
        m = re.search(r"metrics on port (\d+)", daemon.text())
        assert m, "no metrics port in the log"
        ns = self.ns[re.search(r"vrrp-(\w)", daemon.log_path.name).group(1)]
        out = ns.run(PY, "-c", "import sys,urllib.request;"
                     f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{m.group(1)}"
                     "/metrics', timeout=5).read().decode())")
        return out.stdout


class Probe:
    def __init__(self, proc):
        self.proc = proc

    def result(self, timeout=30):
        out, _ = self.proc.communicate(timeout=timeout)
        answers = []
        for line in out.splitlines():
            t_answer, t_sent, name = line.split()
            answers.append((float(t_answer), float(t_sent), name))
        return answers


def outage(answers, t_fault, new_master):
    """Seconds from the fault to the first answer from `new_master`."""
    after = [a for a in answers if a[2] == new_master and a[0] >= t_fault]
    assert after, f"{new_master} never answered; answers: {answers[-5:]}"
    return after[0][0] - t_fault


def summary(values):
    return (f"min {min(values) * 1000:.0f} ms, median {statistics.median(values) * 1000:.0f} ms, "
            f"max {max(values) * 1000:.0f} ms over {len(values)} runs")


# --- crafted adverts --------------------------------------------------------------

def _csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def advert4(src, dst, vrid, prio, vips, adver_cs=10, ttl=255, csum_v2=False, bad_csum=False,
            version=3):
    """A VRRPv3 advert over IPv4 with its IP header, as bytes."""
    msg = bytes([version << 4 | 1, vrid, prio, len(vips)]) + struct.pack("!HH", adver_cs, 0)
    msg += b"".join(socket.inet_aton(v) for v in vips)
    ph = socket.inet_aton(src) + socket.inet_aton(dst) + bytes([0, 112]) + struct.pack(
        "!H", len(msg))
    c = _csum((b"" if csum_v2 else ph) + msg) ^ (1 if bad_csum else 0)
    msg = msg[:6] + struct.pack("!H", c) + msg[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(msg), 0, 0, ttl, 112, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return ip + msg


def inject(ns, packets, ifname="eth0"):
    """Sends raw IPv4 datagrams (header included) from namespace `ns`."""
    hexes = [p.hex() for p in packets]
    ns.run(PY, HERE / "vrrp_lab.py", "inject", ifname, *hexes)


# --- in-namespace programs ----------------------------------------------------------

def inject_main(ifname, hexes):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    # struct ip_mreqn by interface index: the source may be any address.
    mreqn = struct.pack("4s4si", bytes(4), bytes(4), socket.if_nametoindex(ifname))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
    for h in hexes:
        pkt = bytes.fromhex(h)
        s.sendto(pkt, (socket.inet_ntoa(pkt[16:20]), 0))
        time.sleep(0.005)


def _hold(c, reply):
    """Answers, then reads until the peer closes: the connection stays open
    as long as the client holds it."""
    try:
        c.sendall(reply)
        while c.recv(65536):
            pass
    except OSError:
        pass
    c.close()


def serve_main(host, port, name, pid_file=None, admin=None, hold=False):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
    s.bind((host, int(port)))
    s.listen(1024)
    if admin:
        threading.Thread(target=admin_main, args=(admin,), daemon=True).start()
    if pid_file:
        tmp = pid_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.rename(tmp, pid_file)
    reply = (name + "\n").encode()
    while True:
        c, _ = s.accept()
        if hold:
            threading.Thread(target=_hold, args=(c, reply), daemon=True).start()
            continue
        try:
            c.sendall(reply)
        except OSError:
            pass
        c.close()


def admin_main(path):
    """A Strata admin socket that knows `help` and strata-l4's `show stats`
    (admin.h: body, then OK)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(16)
    while True:
        c, _ = s.accept()
        try:
            c.settimeout(2)
            line = c.recv(4096)
            if line.startswith(b"help"):
                c.sendall(b"help  (this list)\nOK\n")
            elif line.startswith(b"show stats"):  # the tracker's probe: idle, serving
                c.sendall(b"node stand-in\nactive 0\ndraining 0\ndraining_ms 0\nOK\n")
            else:
                c.sendall(b"ERR unknown command\n")
        except OSError:
            pass
        c.close()


def probe_main(host, port, duration, stop_name, grace=0.3, interval=0.01, conn_timeout=1.0):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sel = selectors.DefaultSelector()
    start = time.monotonic()
    end = start + float(duration)
    next_launch = start
    stop_at = None
    out = []
    while True:
        now = time.monotonic()
        if now >= end or (stop_at is not None and now >= stop_at):
            break
        if now >= next_launch:
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((host, int(port)))
            sel.register(s, selectors.EVENT_READ, now)
            next_launch = now + interval
        for key, _ in sel.select(max(0.0, next_launch - time.monotonic())):
            sock = key.fileobj
            try:
                data = sock.recv(64)
            except OSError:
                data = b""
            if data:
                name = data.decode(errors="replace").strip()
                out.append(f"{time.monotonic():.6f} {key.data:.6f} {name}")
                if name == stop_name and stop_at is None:
                    stop_at = time.monotonic() + grace
            sel.unregister(sock)
            sock.close()
        # A SYN that went to a MAC which no longer holds the VIP never
        # completes; drop it instead of waiting for its retransmission.
        now = time.monotonic()
        for key in list(sel.get_map().values()):
            if now - key.data > conn_timeout:
                sel.unregister(key.fileobj)
                key.fileobj.close()
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "serve":
        args = sys.argv[2:5]
        opts = dict(zip(sys.argv[5::2], sys.argv[6::2]))
        serve_main(*args, pid_file=opts.get("--pid-file"), admin=opts.get("--admin"),
                   hold=opts.get("--hold") == "1")
    elif cmd == "inject":
        inject_main(sys.argv[2], sys.argv[3:])
    elif cmd == "probe":
        host, port, duration, stop = sys.argv[2:6]
        probe_main(host, port, duration, None if stop == "-" else stop)
    else:
        sys.exit(f"unknown command {cmd}")
