"""Adverts leave on time on a saturated machine: both CPUs kept busy by
two normal-priority busy loops for a minute, 100 ms adverts, and not one
state change on either node (SCHED_RR and locked memory at work)."""
import os
import signal
import subprocess
import sys
import time

import pytest

from netns import topology  # noqa: F401  (fixture)
from vrrp_lab import Lab, instance, vrrp_config

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces")

LOAD_SECONDS = float(os.environ.get("VRRP_LOAD_SECONDS", "60"))


@pytest.fixture
def lab(topology, workdir, daemons):
    return Lab(topology, workdir, daemons)


def transitions(daemon):
    return daemon.text().count(" -> ")


def test_no_false_failover_with_both_cpus_saturated(lab, workdir):
    lab.service("a")
    lab.service("b")
    va = lab.vrrp("a", vrrp_config(workdir, "a", [instance(priority=200)]))
    vb = lab.vrrp("b", vrrp_config(workdir, "b", [instance(priority=100)]))
    lab.wait_state("a", "MASTER")
    lab.wait_state("b", "BACKUP")
    time.sleep(0.5)
    before = (transitions(va), transitions(vb))
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        deadline = time.monotonic() + LOAD_SECONDS
        while time.monotonic() < deadline:
            assert lab.state("a") == "MASTER" and lab.state("b") == "BACKUP", lab.logs()
            for h in hogs:
                assert h.poll() is None  # the load really ran all along
            time.sleep(0.25)
    finally:
        for h in hogs:
            os.kill(h.pid, signal.SIGKILL)
            h.wait(5)
    assert (transitions(va), transitions(vb)) == before, lab.logs()
    assert lab.holders() == ["a"]
