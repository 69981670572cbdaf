"""Interop with keepalived 2.2 (Debian's) as the peer: the same VRID,
priorities and 100 ms advert interval; a mixed pair elects the right master
in both arrangements and fails over both ways.
"""
import os
import pathlib
import re
import signal
import time

import pytest

from netns import topology  # noqa: F401  (fixture)
from vrrp_lab import Lab, instance, keepalived_config, outage, vrrp_config

KEEPALIVED = "/usr/sbin/keepalived"
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces"),
]


@pytest.fixture
def lab(topology, workdir, daemons):
    return Lab(topology, workdir, daemons)


def ka_state(daemon):
    states = re.findall(r"\(VI_1\) Entering (\w+) STATE", daemon.text())
    return states[-1] if states else None


def wait_ka(daemon, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ka_state(daemon) == want:
            return
        time.sleep(0.01)
    raise AssertionError(f"keepalived not {want} after {timeout}s:\n{daemon.text()[-2000:]}")


def ka_vrrp_pid(workdir, node):
    """keepalived's VRRP child: the process that sends the adverts."""
    path = pathlib.Path(workdir) / f"ka-{node}-vrrp.pid"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            return int(path.read_text())
        except (FileNotFoundError, ValueError):
            time.sleep(0.02)
    raise AssertionError("keepalived wrote no VRRP pid file")


def test_strata_master_keepalived_backup_fail_over_both_ways(lab, workdir):
    lab.service("a")
    lab.service("b")
    conf_a = vrrp_config(workdir, "a", [instance(priority=200)])
    va = lab.vrrp("a", conf_a)
    kb = lab.keepalived("b", keepalived_config(workdir, "b", priority=100))
    lab.wait_state("a", "MASTER")
    wait_ka(kb, "BACKUP")
    time.sleep(0.5)
    assert ka_state(kb) == "BACKUP" and lab.holders() == ["a"]
    # strata-vrrp dies: keepalived takes over within Master_Down_Interval.
    probe = lab.probe(5, stop_after="b")
    time.sleep(0.3)
    t0 = time.monotonic()
    va.send(signal.SIGKILL)
    lost = outage(probe.result(), t0, "b")
    print(f"\nstrata-vrrp -> keepalived (SIGKILL): {lost * 1000:.0f} ms")
    assert lost < 0.6
    wait_ka(kb, "MASTER")
    # strata-vrrp returns with the higher priority and preempts keepalived.
    (workdir / "vrrp-a.state").unlink()
    lab.vrrp("a", conf_a, name="vrrp-a-again")
    lab.wait_state("a", "MASTER", timeout=5)
    wait_ka(kb, "BACKUP", timeout=3)
    probe = lab.probe(1.0)
    assert {a[2] for a in probe.result()[-10:]} == {"a"}
    assert "Invalid" not in kb.text() and "invalid" not in kb.text()


def test_keepalived_master_strata_backup_fail_over_both_ways(lab, workdir):
    lab.service("a")
    lab.service("b")
    ka = lab.keepalived("a", keepalived_config(workdir, "a", priority=200))
    vb = lab.vrrp("b", vrrp_config(workdir, "b", [instance(priority=100)]))
    wait_ka(ka, "MASTER")
    lab.wait_state("b", "BACKUP")
    time.sleep(0.5)
    assert lab.state("b") == "BACKUP" and lab.holders() == ["a"]
    # keepalived's VRRP process dies hard: strata-vrrp takes over.
    probe = lab.probe(5, stop_after="b")
    time.sleep(0.3)
    t0 = time.monotonic()
    os.kill(ka_vrrp_pid(workdir, "a"), signal.SIGKILL)
    lost = outage(probe.result(), t0, "b")
    print(f"\nkeepalived -> strata-vrrp (SIGKILL): {lost * 1000:.0f} ms")
    assert lost < 0.6
    lab.wait_state("b", "MASTER")
    ka.stop()
    # keepalived comes back with the higher priority and preempts us.
    lab.ns["a"].ip("addr", "flush", "dev", "eth0", "to", "10.77.1.100/32", check=False)
    ka2 = lab.keepalived("a", keepalived_config(workdir, "a", priority=200))
    wait_ka(ka2, "MASTER", timeout=5)
    lab.wait_state("b", "BACKUP", timeout=3)
    assert lab.holders() == ["a"]
    # and a graceful keepalived stop (priority 0) hands over at once.
    probe = lab.probe(5, stop_after="b")
    time.sleep(0.3)
    t0 = time.monotonic()
    ka2.send(signal.SIGTERM)
    lost = outage(probe.result(), t0, "b")
    print(f"keepalived -> strata-vrrp (graceful): {lost * 1000:.0f} ms")
    assert lost < 0.2
    assert vb.alive()


def test_equal_priority_tie_break_agrees_with_keepalived(lab, workdir):
    # RFC 5798 §6.4.3: two masters of equal priority meet (a healed split
    # brain); the one with the greater primary address stays: B.
    lab.service("a")
    lab.service("b")
    va = lab.vrrp("a", vrrp_config(workdir, "a", [instance(priority=150)]))
    kb = lab.keepalived("b", keepalived_config(workdir, "b", priority=150))
    lab.cut("b")
    lab.wait_state("a", "MASTER")
    wait_ka(kb, "MASTER")
    lab.mend("b")
    lab.wait_state("a", "BACKUP", timeout=1)
    time.sleep(1.0)
    assert ka_state(kb) == "MASTER" and lab.state("a") == "BACKUP"
    assert lab.holders() == ["b"]
    assert va.alive()
