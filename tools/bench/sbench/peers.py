"""Peers under test and the backends behind them: configs, start, stop.

A peer is one or more proxy tiers (front first: L4 then L7), each rendered
from a template in tools/bench/conf/ into the peer's own temp dir and started
pinned to the proxy CPU. A backend (nginx with `listen ... proxy_protocol`,
or strata-echo) runs pinned to the load CPU with the load generator. The
Registry owns every process; a peer's `stop()` stops its tiers by PID.
"""
import os
import pathlib
import random
import re
import shlex
import socket
import time
from dataclasses import dataclass, field

from . import procs

HERE = pathlib.Path(__file__).resolve().parent.parent
CONF = HERE / "conf"
HAPROXY = "/usr/sbin/haproxy"
NGINX = "/usr/sbin/nginx"
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"

# The bench's own port range, away from the DESIGN loopback layout (8000-9111)
# so a bench never collides with a running tools/stack.
PORT_LO, PORT_HI = 18000, 18999

# The L4 backend's small body: a fixed 100 bytes, like a small API answer.
SMALL_BODY = ("strata bench: the same small response through every relay of the L4 scenario"
              .ljust(99, ".") + "\n")


class Unavailable(Exception):
    """This peer cannot run here; the message says why (shown in its rows),
    `detail` what showed it (printed while the bench runs)."""

    def __init__(self, reason, detail=""):
        super().__init__(reason)
        self.detail = detail


class Ports:
    """Hands out free loopback ports from the bench range, starting at a random
    point so two benches (a smoke test next to a full run) rarely meet."""

    def __init__(self):
        self.next = random.randint(PORT_LO, PORT_HI)
        self.given = set()

    def take(self):
        for _ in range(PORT_HI - PORT_LO + 1):
            port = self.next
            self.next = PORT_LO if port >= PORT_HI else port + 1
            if port not in self.given and _bindable(port):
                self.given.add(port)
                return port
        raise RuntimeError(f"no free port in 127.0.0.1:{PORT_LO}-{PORT_HI}")


def _bindable(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def render(template, values, dest):
    """Writes tools/bench/conf/TEMPLATE with every @KEY@ replaced; a key left
    over is a bug in the scenario table, so it raises."""
    # A value may itself name a key (@CERT@ in a TLS block, @CERT_RSA@ in it).
    text = render_value((CONF / template).read_text(), values)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ValueError(f"{template}: no value for {', '.join(sorted(set(left)))}")
    pathlib.Path(dest).write_text(text)
    return dest


def render_value(text, values):
    """A template value with the @KEY@s it names filled in (as render does)."""
    text = str(text)
    for _ in range(3):
        for key, val in values.items():
            text = text.replace(f"@{key}@", str(val))
    return text


def wait_tcp(port, timeout, proc=None):
    """Waits until 127.0.0.1:port accepts; raises Unavailable if proc exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise Unavailable(f"exited with {proc.popen.returncode} before listening: "
                              + _tail(proc.log_text()))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise Unavailable(f"127.0.0.1:{port} not accepting after {timeout:.0f}s")


def shown(argv, ctx):
    """A command line as the report prints it: quoted, the temp dir as
    $BENCH_TMP and checkout paths relative to the checkout."""
    text = shlex.join(str(a) for a in argv)
    return text.replace(str(ctx.tmp), "$BENCH_TMP").replace(str(HERE.parents[1]) + "/", "")


def _tail(text, n=3):
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:]) if lines else "(no output)"


@dataclass
class Tier:
    """One proxy process of a peer: its role in the figures ("l4" or "l7"),
    the program kind, its template and template values."""
    role: str
    kind: str
    template: str
    values: dict = field(default_factory=dict)


@dataclass
class Peer:
    """A peer of a scenario. `workloads` (when set) limits which of the
    scenario's workloads it runs; `baseline` names the peer it is a variant
    of (its ratios are taken against that one too); `missing` is (regex,
    reason): a config check failing with a line that matches means the
    feature the peer needs is not in this build, said as `reason`."""
    id: str
    label: str
    tiers: list
    strata: bool = False
    note: str = ""
    workloads: tuple = ()
    baseline: str = ""
    missing: tuple = ()
    traffic: bool = False  # the plumbing check also proves rate limit and breaker run


def program(kind, bin_dir):
    return {"haproxy": HAPROXY, "nginx": NGINX,
            "strata-l4": bin_dir / "strata-l4", "strata-l7": bin_dir / "strata-l7",
            "strata-echo": bin_dir / "strata-echo"}[kind]


def argv_for(kind, conf, bin_dir, workdir):
    """The command that runs one proxy or backend in the foreground."""
    if kind == "haproxy":
        return [HAPROXY, "-db", "-f", conf]
    if kind == "nginx":
        return [NGINX, "-p", workdir, "-e", workdir / "error.log", "-c", conf,
                "-g", "daemon off; master_process on;"]
    return [program(kind, bin_dir), "-c", conf]


def check_argv(kind, conf, bin_dir, workdir):
    """The command that checks a config without serving."""
    if kind == "haproxy":
        return [HAPROXY, "-c", "-f", conf]
    if kind == "nginx":
        return [NGINX, "-t", "-q", "-p", workdir, "-e", workdir / "error.log", "-c", conf]
    return [program(kind, bin_dir), "-t", "-c", conf]


class Running:
    """A started peer: its processes by role, its front port, its commands."""

    def __init__(self, peer):
        self.peer = peer
        self.procs = []          # (role, Proc), front first
        self.front_port = None
        self.commands = []
        self.workdirs = []       # each tier's dir (configs, admin socket), front first

    def pids_by_role(self):
        out = {}
        for role, p in self.procs:
            out.setdefault(role, []).extend(p.pids())
        return out

    def all_pids(self):
        return [pid for _, p in self.procs for pid in p.pids()]

    def alive(self):
        return all(p.alive() for _, p in self.procs)


def prepare(peer, ctx, backend_addr, phase=None):
    """Renders every tier's config into its own dir and checks it. Ports are
    taken once per peer and kept for all repetitions; a phase (a variant of
    the configs, e.g. the certificate's key type) adds its values and gets
    dirs of its own. Raises Unavailable."""
    if not hasattr(peer, "_ports"):
        peer._ports = [ctx.ports.take() for _ in peer.tiers]
    plan = []
    for i, tier in enumerate(peer.tiers):
        prog = program(tier.kind, ctx.bin_dir)
        if not os.access(prog, os.X_OK):
            raise Unavailable(f"{prog} is not built or not installed")
        if not (CONF / tier.template).exists():
            raise Unavailable(f"no bench config tools/bench/conf/{tier.template}")
        if tier.kind == "nginx" and "stream" in tier.template \
                and not os.path.exists(NGINX_STREAM_MODULE):
            raise Unavailable("nginx stream module missing (apt-get install libnginx-mod-stream)")
        wdir = ctx.tmp / "-".join(x for x in (peer.id, tier.role, phase and phase.name) if x)
        wdir.mkdir(exist_ok=True)
        upstream = (f"127.0.0.1:{peer._ports[i + 1]}" if i + 1 < len(peer.tiers)
                    else backend_addr)
        values = dict(DIR=wdir, LISTEN=f"127.0.0.1:{peer._ports[i]}", PORT=peer._ports[i],
                      UPSTREAM=upstream, UPSTREAM_PORT=upstream.rsplit(":", 1)[1],
                      MAXCONN=ctx.maxconn, WORKERS=1)
        # Later sources win: the phase picks the certificate, the tier its options.
        for more in (ctx.tls_values, phase.values if phase else {}, tier.values):
            values.update(more)
        conf = render(tier.template, values, wdir / tier.template)
        rc, out, err = ctx.registry.run(check_argv(tier.kind, conf, ctx.bin_dir, wdir), 30)
        if rc != 0:
            why = _tail(out + err).replace(str(ctx.tmp), "$BENCH_TMP")
            if peer.missing and re.search(peer.missing[0], out + err):
                raise Unavailable(peer.missing[1], detail=f"config check: {why}")
            raise Unavailable(f"config check failed (exit {rc}): {why}")
        plan.append((tier, conf, wdir, peer._ports[i]))
    return plan


def start(peer, ctx, backend_addr, phase=None):
    """Starts the peer's tiers, back first so each finds its next hop
    listening, and waits for every listener. Raises Unavailable."""
    plan = prepare(peer, ctx, backend_addr, phase)
    run = Running(peer)
    try:
        for tier, conf, wdir, port in reversed(plan):
            argv = procs.pinned(ctx.cpu_proxy, argv_for(tier.kind, conf, ctx.bin_dir, wdir))
            p = ctx.registry.start(f"{peer.id}-{tier.role}", argv, wdir / "stderr.log",
                                   workers=1 if tier.kind == "nginx" else 0)
            run.procs.insert(0, (tier.role, p))
            run.commands.insert(0, shown(argv, ctx))
            run.workdirs.insert(0, wdir)
            wait_tcp(port, 10, p)
    except BaseException:
        stop(run, ctx)
        raise
    run.front_port = plan[0][3]
    return run


def stop(run, ctx):
    """Stops the peer's processes by PID, front first (traffic stops first)."""
    for _, p in run.procs:
        ctx.registry.stop(p)


def start_backend(kind, ctx):
    """Starts the scenario backend on the load CPU; returns (Proc, address)."""
    port = ctx.ports.take()
    wdir = ctx.tmp / f"backend-{kind}"
    wdir.mkdir(exist_ok=True)
    if kind == "echo":
        argv = [program("strata-echo", ctx.bin_dir), "-l", f"127.0.0.1:{port}",
                "-n", "bench-backend", "-w", "1"]
        workers = 0
    else:
        www = wdir / "www" / "size"
        www.mkdir(parents=True, exist_ok=True)
        (www / "16384").write_bytes(bytes(ord("a") + i % 26 for i in range(16384)))
        with open(www / "268435456", "wb") as f:  # sparse: costs no disk
            f.truncate(268435456)
        conf = render("nginx-backend-pp.conf",
                      dict(DIR=wdir, LISTEN=f"127.0.0.1:{port}",
                           SMALL_BODY=SMALL_BODY.replace("\n", "\\n")),
                      wdir / "nginx.conf")
        argv = argv_for("nginx", conf, ctx.bin_dir, wdir)
        workers = 1
    argv = procs.pinned(ctx.cpu_load, argv)
    p = ctx.registry.start(f"backend-{kind}", argv, wdir / "stderr.log", workers=workers)
    wait_tcp(port, 10, p)
    p.command = shown(argv, ctx)
    p.workdir = wdir
    return p, f"127.0.0.1:{port}"
