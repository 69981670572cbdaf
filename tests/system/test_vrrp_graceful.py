"""Planned maintenance of an L4 node (docs/vrrp.md "Planned maintenance"),
with the real strata-l4 serving the VIP on both nodes of the lab:

- strata-l4 stopped first (systemd's order): it drains, the VIP stays while
  a connection is open, strata-vrrp resigns once strata-l4 reports a drain
  with nothing open, and strata-l4 exits when the VIP has left;
- strata-vrrp stopped as master: shutdown_wait keeps the VIP until
  strata-l4 has nothing open, and is bounded.
"""
import signal
import time

import pytest

from netns import topology  # noqa: F401  (fixture)
from vrrp_lab import PORT, PY, VIP4, Lab, instance, vrrp_config

HOLD = f"""
import socket, sys, time
for attempt in range(50):  # the client's first ARP for the VIP may still be on its way
    try:
        c = socket.create_connection(("{VIP4}", {PORT}), timeout=2)
        break
    except OSError:
        time.sleep(0.1)
print(c.recv(100).decode().strip(), flush=True)
sys.stdin.readline()  # held open until the test says
c.close()
print("closed", flush=True)
"""

TRY = f"""
import socket
s = socket.socket()
s.settimeout(0.3)
try:
    s.connect(("{VIP4}", {PORT}))
    print("connected")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("silent")
"""


@pytest.fixture
def lab(topology, workdir, daemons):
    return Lab(topology, workdir, daemons)


def pair(lab, workdir, extra_a=""):
    """Real strata-l4 and strata-vrrp on both nodes, a master, b backup."""
    l4 = {}
    for n, prio in (("a", 200), ("b", 100)):
        l4[n], sock = lab.strata_l4(n, hold=True)
        tracker = {"name": "l4", "type": "strata-l4", "admin_socket": str(sock),
                   "interval": "200ms", "timeout": "100ms"}
        lab.vrrp(n, vrrp_config(workdir, n, [instance(priority=prio, track=["l4"])],
                                trackers=[tracker], extra=extra_a if n == "a" else ""))
    lab.wait_state("a", "MASTER")
    lab.wait_state("b", "BACKUP")
    lab.vrrps["a"].wait_log(f"watching strata-l4 pid {l4['a'].pid}")
    return l4


def hold(lab):
    """A client in the client namespace holding a connection through the VIP."""
    import subprocess
    p = lab.ns["c"].popen([PY, "-c", HOLD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    assert line == "a", (line, p.stderr.read() if p.poll() is not None else "")
    return p


def release(p):
    p.stdin.write("\n")
    p.stdin.flush()
    assert p.stdout.readline().strip() == "closed"
    p.wait(5)


def new_client(lab):
    return lab.ns["c"].run(PY, "-c", TRY).stdout.strip()


def test_strata_l4_stopped_first_keeps_the_vip_until_nothing_is_open(lab, workdir):
    l4 = pair(lab, workdir)
    held = hold(lab)
    l4["a"].send(signal.SIGTERM)
    l4["a"].wait_log("draining 1 connections")
    assert new_client(lab) == "silent"  # the SYN is dropped, not reset
    time.sleep(0.6)  # several probes: the open connection keeps the VIP here
    assert lab.holders() == ["a"] and lab.state("a") == "MASTER", lab.logs()
    release(held)
    lab.wait_state("a", "FAULT", timeout=5)  # resigned (priority 0), VIP removed
    lab.wait_state("b", "MASTER", timeout=5)
    assert lab.holders() == ["b"]
    l4["a"].proc.wait(10)
    assert l4["a"].proc.returncode == 0
    assert "nothing open and every listen address left this host" in l4["a"].text()
    assert "strata-l4 drains and has nothing open" in lab.vrrps["a"].text()
    assert new_client(lab) == "connected"  # now through b


def test_sigterm_on_master_waits_for_strata_l4_to_have_nothing_open(lab, workdir):
    pair(lab, workdir, extra_a='shutdown_wait = "30s";')
    held = hold(lab)
    va = lab.vrrps["a"]
    va.send(signal.SIGTERM)
    va.wait_log("SIGTERM: waiting up to 30000 ms for strata-l4")
    time.sleep(0.5)
    assert va.alive() and lab.holders() == ["a"], lab.logs()
    release(held)
    va.proc.wait(10)
    assert va.proc.returncode == 0
    assert "resigning after" in va.text() and "strata-l4 has nothing open" in va.text()
    lab.wait_state("b", "MASTER", timeout=5)
    assert lab.holders() == ["b"]


def test_shutdown_wait_is_bounded(lab, workdir):
    pair(lab, workdir, extra_a='shutdown_wait = "300ms";')
    held = hold(lab)
    va = lab.vrrps["a"]
    va.send(signal.SIGTERM)
    va.proc.wait(10)
    assert "shutdown_wait is over, connections may be cut" in va.text()
    lab.wait_state("b", "MASTER", timeout=5)
    release(held)
