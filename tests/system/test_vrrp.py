"""strata-vrrp in network namespaces: election, failover as a client sees
it, preempt / nopreempt, trackers, unicast, split brain, observability.

Topology and probe: vrrp_lab.py. Every namespace is removed at the end of
its test, whatever happens.
"""
import os
import signal
import subprocess
import time

import pytest

from conftest import binary
from netns import topology  # noqa: F401  (fixture)
from vrrp_lab import (VIP4, VIP6, Lab, instance, outage, vrrp_config)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces")

MDI_100 = 0.3 + (256 - 100) * 0.1 / 256  # Master_Down_Interval of a priority-100 backup


@pytest.fixture
def lab(topology, workdir, daemons):
    return Lab(topology, workdir, daemons)


def start_pair(lab, workdir, a_prio=200, b_prio=100, a_kw=None, b_kw=None, **common):
    conf_a = vrrp_config(workdir, "a", [instance(priority=a_prio, **common, **(a_kw or {}))])
    conf_b = vrrp_config(workdir, "b", [instance(priority=b_prio, **common, **(b_kw or {}))])
    lab.service("a")
    lab.service("b")
    va = lab.vrrp("a", conf_a)
    vb = lab.vrrp("b", conf_b)
    return va, vb


def test_higher_priority_is_elected_and_holds_the_vip(lab, workdir):
    va, vb = start_pair(lab, workdir)
    lab.wait_state("a", "MASTER")
    lab.wait_state("b", "BACKUP")
    time.sleep(0.3)
    assert lab.holders() == ["a"]
    answers = lab.probe(0.5).result()
    assert answers and {a[2] for a in answers} == {"a"}


def test_sigkill_of_master_moves_vip_within_master_down_interval(lab, workdir):
    va, vb = start_pair(lab, workdir)
    lab.wait_state("a", "MASTER")
    lab.wait_state("b", "BACKUP")
    probe = lab.probe(5, stop_after="b")
    time.sleep(0.5)
    t_kill = time.monotonic()
    va.send(signal.SIGKILL)
    answers = probe.result()
    lost = outage(answers, t_kill, "b")
    print(f"\nstrata-vrrp hard failure (SIGKILL), client outage: {lost * 1000:.0f} ms "
          f"(Master_Down_Interval {MDI_100 * 1000:.0f} ms)")
    assert lost < 0.6
    assert lab.state("b") == "MASTER"
    assert lab.has_vip("b")
