"""strata-l7 at its descriptor limit: the soft RLIMIT_NOFILE is raised to
the hard one at start-up, accepting pauses at EMFILE instead of spinning
(the listeners, the admin socket and /metrics) and resumes once descriptors
are free, and idle pooled upstream connections give way to a live request
that needs a new one."""
import os
import pathlib
import socket
import time

from conftest import binary, free_port, wait_path, wait_tcp
from l7util import HOST, L7, Client, get, l7_conf, start_echo

NOFILE = 64


def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def soft_nofile(pid):
    for line in open(f"/proc/{pid}/limits"):
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no 'Max open files' line")


class LimitedL7(L7):
    """strata-l7 started by prlimit with RLIMIT_NOFILE soft:hard."""

    def __init__(self, daemons, workdir, conf_text, soft, hard, name="l7"):
        self.workdir = pathlib.Path(workdir)
        self.conf = self.workdir / f"{name}.conf"
        self.conf.write_text(conf_text)
        self.sock = str(self.workdir / f"{name}.sock")
        self.access = self.workdir / f"{name}-access.log"
        self.d = daemons(["/usr/bin/prlimit", f"--nofile={soft}:{hard}", binary("strata-l7"),
                          "-c", str(self.conf)], name=name)


def start_limited(daemons, workdir, upstreams, routes=None, soft=NOFILE // 4, hard=NOFILE,
                  top_extra=""):
    port = free_port()
    text = l7_conf(workdir, port, upstreams, routes=routes, top_extra=top_extra)
    l7 = LimitedL7(daemons, workdir, text, soft, hard)
    wait_tcp(HOST, port, proc=l7.d.proc)
    wait_path(l7.sock)
    l7.port = port
    return l7


def no_checks(*bes):
    # active checks open descriptors of their own: off, so the test counts only ours
    return ([(b.name, b.port, "") for b in bes], "health = { enabled = false; };")


def wait_for(cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} after {timeout}s")


def fill_to_limit(l7, count=NOFILE + 16):
    """Opens `count` client connections (more than the limit leaves room
    for); returns them once strata-l7 has paused accepting."""
    held = [socket.create_connection((HOST, l7.port), timeout=5) for _ in range(count)]
    wait_for(lambda: open_fds(l7.d.pid) >= NOFILE, "descriptors not exhausted")
    return held


def test_soft_limit_raised_to_hard_at_start(daemons, workdir):
    be = start_echo(daemons)
    l7 = start_limited(daemons, workdir, {"echo": no_checks(be)})
    l7.d.wait_log(f"RLIMIT_NOFILE: soft limit {NOFILE} (was {NOFILE // 4}), hard limit {NOFILE}")
    assert soft_nofile(l7.d.pid) == NOFILE
    assert get(l7.port).status == 200


def test_out_of_descriptors_pauses_accept_without_spinning(daemons, workdir):
    be = start_echo(daemons)
    mport = free_port()
    l7 = start_limited(daemons, workdir, {"echo": no_checks(be)},
                       top_extra=f'metrics = {{ listen = "{HOST}:{mport}"; }};')
    held = fill_to_limit(l7)
    l7.d.wait_log("accepting paused")
    # An operator's stratactl and a scrape arrive now: they wait too.
    admin = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    admin.connect(l7.sock)
    scrape = socket.create_connection((HOST, mport), timeout=10)
    l7.d.wait_log("admin: accept: Too many open files")
    l7.d.wait_log("metrics: accept: Too many open files")
    # At the limit with clients waiting in every backlog: an accept retried
    # at once would burn a CPU; a paused one costs nothing.
    before = cpu_s(l7.d.pid)
    time.sleep(1.0)
    spent = cpu_s(l7.d.pid) - before
    assert spent < 0.15, f"{spent:.2f} s of CPU in 1 s at the descriptor limit"
    # The first clients were accepted; the last ones still wait in the
    # backlog and are accepted once descriptors are free again.
    waiting = held[-4:]
    for c in held[:-4]:
        c.close()
    for s in waiting:
        s.settimeout(10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200 "), "a waiting client was not served"
        s.close()
    for _ in range(5):
        assert get(l7.port).status == 200
    scrape.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    assert scrape.recv(4096).startswith(b"HTTP/1.1 200"), "the waiting scrape was not served"
    scrape.close()
    admin.close()
    assert l7.metric("strata_l7_accept_paused_total", reason="process_fd_limit") >= 1
    assert "accept: Too many open files: accepting paused for" in l7.d.text()


def test_idle_pool_gives_way_to_a_live_request(daemons, workdir):
    """Idle keep-alive connections to one backend hold descriptors a request
    to another backend needs: at EMFILE they are closed and the request
    gets its connection instead of a 502."""
    be_a, be_b = start_echo(daemons, "a"), start_echo(daemons, "b")
    routes = ('{ name = "b"; match = { path_prefix = "/b/"; }; upstream = "b"; },'
              ' { name = "a"; upstream = "a"; }')
    l7 = start_limited(daemons, workdir, {"a": no_checks(be_a), "b": no_checks(be_b)},
                       routes=routes)
    live = Client(l7.port)
    assert live.request().status == 200  # now kept alive for 60 s, not 10 s for a head
    # Eight requests at once to a: eight upstream connections, idle afterwards.
    idle = 8
    clients = [Client(l7.port) for _ in range(idle)]
    for c in clients:
        c.send(b"GET /delay/300 HTTP/1.1\r\nHost: t\r\n\r\n")
    for c in clients:
        assert c.response().status == 200
        c.close()
    wait_for(lambda: l7.metric("strata_l7_upstream_pool_idle", upstream="a") >= idle,
             "idle connections not in the shared pool")
    held = fill_to_limit(l7)
    r = live.request(path="/b/x")
    assert r.status == 200 and r.json()["server"] == "b"
    for c in held:
        c.close()
    live.close()
    assert l7.metric("strata_l7_upstream_pool_released_total") >= idle
    assert "out of descriptors: closed" in l7.d.text()
    assert get(l7.port, "/b/y").status == 200
