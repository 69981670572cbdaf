"""Drills behind the L4 tier: an L7 instance or a backend lost, every daemon
reloaded, an L7 instance and then a backend drained.

The active L4 node (lb-a) and the L7 instances are watched through their
admin sockets (tb_bed.l4_instances / l7_servers) every 20 ms while the
load runs, so detection times are upper bounds with that resolution.
"""
import re
import shutil
import signal
import subprocess
import time

import tb_analyze as A
import tb_bed
import tb_drill
import tb_net
import tb_proc
import tb_topo
from tb_watch import Monitor, Poller, vip_added


def l7_addr(name):
    return f"{tb_topo.L7[name]}:{tb_topo.L7_PORT}"


def l4_sees(node, name):
    """Whether strata-l4 on lb-NODE balances to L7 instance `name`."""
    return lambda: tb_bed.l4_instances(node).get(l7_addr(name), {}).get("available")


def l7_sees(l7, be):
    return lambda: tb_bed.l7_servers(l7).get(be, {}).get("available")


def wait_for(pred, timeout, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


def log_sizes():
    return {d.name: d.log.stat().st_size if d.log.exists() else 0 for d in tb_topo.daemons()}


def log_since(d, offset):
    with open(d.log, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


class L7Loss(tb_drill.Drill):
    name = "l7-loss"
    title = "SIGKILL one strata-l7 (l7-b)"
    what = ("strata-l7 on l7-b dies. New connections strata-l4 sends there are refused and "
            "retried on another instance (connect_retries) until the health check (every "
            "200 ms, down after 2 failures) takes l7-b out of the Maglev table; requests "
            "under way on l7-b are lost with it.")
    notes = ("strata-l7's process is gone a few milliseconds after SIGKILL, but its listening "
             "socket outlives it by 50-450 ms here, until the kernel has torn down the "
             "process's io_uring: connections strata-l4 opens to l7-b meanwhile are "
             "completed by the kernel, look like successful connects, and are reset when "
             "the socket finally goes, too late for connect_retries. Those requests fail "
             "with the ones that were under way; once the socket is gone, refused connects "
             "are retried and nothing fails. Maglev moves only l7-b's clients.")
    victim = "l7-b"

    def prepare(self):
        self.poll = self.monitor(Poller(l4_sees("a", self.victim), 0.02))

    def fault(self):
        _, self.t_exit = tb_proc.kill_timed(tb_topo.daemon(self.victim), signal.SIGKILL)
        self.t_dead = tb_net.listener_closed_at("st-" + self.victim, tb_topo.L7_PORT)
        self.event(f"SIGKILL {self.victim}", self.t_fault)

    def during(self):
        wait_for(lambda: self.poll.first(lambda v: v is False, self.t_fault), 5.0)

    def analyze(self, records):
        t0 = self.t_fault
        t_out = self.poll.first(lambda v: v is False, t0)
        self.values["detection_s"] = None if t_out is None else t_out - t0
        self.figure("detection at L4 (kill -> l7-b out of lb-a's table)",
                    A.ms(self.values["detection_s"]), "ms (polled every 20 ms)")
        if t_out is not None:
            self.event("l7-b out at lb-a", t_out)
        # The process exits within milliseconds, but its listening socket
        # lives until the kernel has torn its io_uring down: connections
        # the kernel completes into that backlog meanwhile reach strata-l4
        # as successful connects and are reset when the socket finally
        # goes, too late for a connect retry. Such requests count as in
        # flight on the dying instance.
        t_dead = self.t_dead or self.t_exit or t0
        self.values["exit_s"] = None if self.t_exit is None else self.t_exit - t0
        self.values["listener_closed_s"] = t_dead - t0
        self.figure("strata-l7 process gone after the signal", A.ms(self.values["exit_s"]), "ms")
        self.figure("its listening socket gone after the signal", A.ms(t_dead - t0),
                    "ms (polled every 2 ms)")
        at_kill = [r for r in records if r["t0"] < t_dead and r["t1"] > t0]
        later = [r for r in A.failed(records) if r["t0"] >= t_dead]
        self.values.update(in_flight_at_kill=len(at_kill), failed_after_kill=len(later))
        self.figure("requests in flight (any instance) until its socket was gone", len(at_kill))
        self.figure("failed requests that started after that", len(later))
        self.check("L4 detects the dead instance within 1 s",
                   t_out is not None and t_out - t0 < 1.0)
        self.check("failures only among requests in flight while it died", not later)
        before = A.instance_by_client(records, before=t0)
        after = A.instance_by_client(records, after=t_out or t0)
        kept, seen = A.stickiness(before, after, among={"l7-a", "l7-c"})
        moved = sum(1 for c in before if before[c] == self.victim)
        self.values.update(kept_l7=kept, clients_compared=seen,
                           kept_l7_share=kept / seen if seen else None)
        self.figure("clients of the surviving instances that kept theirs",
                    f"{kept}/{seen} ({A.pct(kept, seen)} %)")
        self.figure("clients of l7-b, moved to the others", moved)
        self.check("at least 95 % of the surviving instances' clients keep them",
                   seen and kept >= 0.95 * seen)


class BackendLoss(tb_drill.Drill):
    name = "backend-loss"
    title = "SIGKILL one backend (be-2)"
    what = ("strata-echo be-2 dies. Each strata-l7 retries a refused connect or a reset "
            "pooled connection on another backend (idempotent GETs, retry.tries = 3) and "
            "its health check (200 ms, fall 2) takes be-2 out.")
    notes = ("Requests under way on be-2 are retried on another backend (idempotent GETs), "
             "so the client sees nothing but a slightly longer answer.")
    victim = "be-2"

    def prepare(self):
        self.polls = {l7: self.monitor(Poller(l7_sees(l7, self.victim), 0.05))
                      for l7 in tb_topo.L7}

    def fault(self):
        tb_proc.signal_daemon(tb_topo.daemon(self.victim), signal.SIGKILL)
        self.event(f"SIGKILL {self.victim}", self.t_fault)

    def during(self):
        wait_for(lambda: all(p.first(lambda v: v is False, self.t_fault)
                             for p in self.polls.values()), 5.0)

    def analyze(self, records):
        t0 = self.t_fault
        outs = [p.first(lambda v: v is False, t0) for p in self.polls.values()]
        t_all = None if None in outs else max(outs)
        self.values["detection_s"] = None if t_all is None else t_all - t0
        self.figure("detection at L7 (kill -> be-2 out at all three)",
                    A.ms(self.values["detection_s"]), "ms (polled every 50 ms)")
        if t_all is not None:
            self.event("be-2 out at every L7", t_all)
        on_dead = A.served_by(records, "be", self.victim, after=t0 + 0.01)
        self.values["answered_by_dead"] = len(on_dead)
        self.figure("answers from be-2 after the kill", len(on_dead))
        self.check("no failed requests (retries hide the dead backend)",
                   self.values["failed"] == 0)


class Reload(tb_drill.Drill):
    name = "reload"
    title = "SIGHUP to every daemon, several times, under load"
    what = ("Every strata-l4, strata-l7 and strata-vrrp gets SIGHUP once a second (strata-echo "
            "has no configuration to reload). Half the load uses keep-alive connections, "
            "which must survive the reloads; the VIP must not move. Without --quick, wrk "
            "runs beside it on 8 keep-alive connections as fast as they go.")
    mode = "mixed"
    after = 6.0
    rounds = 5

    def __init__(self, quick=False):
        super().__init__(quick)
        if quick:
            self.rounds = 3

    def prepare(self):
        self.addr_b = self.monitor(Monitor("st-lb-b", "address"))
        self.wrk = None
        if not self.quick and shutil.which("wrk"):
            # Beside the paced load, wrk keeps 8 connections busy as fast
            # as they go: reloads under real keep-alive pressure.
            self.wrk = subprocess.Popen(
                [tb_net.IP, "netns", "exec", "st-client", "wrk", "-t1", "-c8",
                 f"-d{int(self.warm + self.after + 1)}s", "--timeout", "3s",
                 f"http://{tb_topo.VIP}:{tb_topo.VIP_PORT}/wrk"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                text=True)
        self.targets = [d for d in tb_topo.daemons() if d.reloads]
        self.pids = {d.name: tb_proc.pid_of(d) for d in self.targets}
        self.logs = log_sizes()
        time.sleep(0.2)

    def hup_all(self, n):
        t = time.monotonic()
        for d in self.targets:
            tb_proc.signal_daemon(d, signal.SIGHUP)
        self.event(f"SIGHUP #{n}", t)

    def fault(self):
        self.hup_all(1)

    def during(self):
        for n in range(2, self.rounds + 1):
            self.sleep_until(self.t_fault + (n - 1) * 1.0)
            self.hup_all(n)
        time.sleep(0.5)

    def analyze(self, records):
        same = [d.name for d in self.targets if tb_proc.pid_of(d) == self.pids[d.name]]
        reloaded = {d.name: log_since(d, self.logs[d.name]).count("reloaded")
                    for d in self.targets}
        moved = self.addr_b.first(vip_added(tb_topo.VIP), self.t_fault) is not None
        self.values.update(signals=self.rounds * len(self.targets), reloaded=reloaded,
                           same_pid=len(same), vip_moved=moved)
        self.figure("SIGHUPs sent", f"{self.rounds} x {len(self.targets)} daemons")
        self.figure("reloads logged", ", ".join(f"{k} {v}" for k, v in reloaded.items()))
        self.figure("daemons still running with the same PID", f"{len(same)}/{len(self.targets)}")
        self.figure("VIP moved", "yes" if moved else "no")
        ka = [r for r in records if r["ka"]]
        self.figure("keep-alive requests", f"{len(ka)}, failed {len(A.failed(ka))}")
        if self.wrk is not None:
            self.wrk_figures()
        self.check("zero failed requests", self.values["failed"] == 0)
        self.check("every daemon reloaded every time",
                   all(v >= self.rounds for v in reloaded.values()))
        self.check("no daemon restarted, the VIP stayed", len(same) == len(self.targets)
                   and not moved)


    def wrk_figures(self):
        try:
            out, _ = self.wrk.communicate(timeout=self.warm + self.after + 10)
        except subprocess.TimeoutExpired:
            self.wrk.kill()
            out, _ = self.wrk.communicate()
        done = re.search(r"(\d+) requests in", out)
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                           r"timeout (\d+)", out)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        n_err = sum(int(x) for x in errors.groups()) if errors else 0
        n_bad = int(non2xx.group(1)) if non2xx else 0
        self.values.update(wrk_requests=int(done.group(1)) if done else None,
                           wrk_errors=n_err + n_bad)
        self.figure("wrk alongside (8 keep-alive connections, flat out)",
                    f"{done.group(1) if done else '?'} requests, {n_err} socket errors, "
                    f"{n_bad} non-2xx")
        self.check("wrk saw no socket error and no error status", done and n_err + n_bad == 0)


class Drain(tb_drill.Drill):
    name = "drain"
    title = "stratactl: drain an L7 instance (l7-b), then a backend (be-2)"
    what = ("`stratactl set instance drain` on l7-b makes its /healthz answer 503, so both "
            "strata-l4 nodes stop sending it new connections; connections it has go on. "
            "Then `stratactl set server echo be-2 drain` on every strata-l7: no new "
            "requests go to be-2. Both are undone after the load.")
    mode = "mixed"
    after = 8.0
    l7 = "l7-b"
    be = "be-2"

    def prepare(self):
        self.poll = self.monitor(Poller(l4_sees("a", self.l7), 0.02))

    def ctl(self, name, line):
        ok, body = tb_proc.admin(tb_topo.daemon(name), line)
        if not ok:
            raise tb_bed.BedError(f"{name}: {line}: {' '.join(body)}")

    def fault(self):
        self.ctl(self.l7, "set instance drain")
        self.event(f"drain {self.l7}", self.t_fault)

    def during(self):
        wait_for(lambda: self.poll.first(lambda v: v is False, self.t_fault), 5.0)
        self.sleep_until(self.t_fault + self.after / 2)
        self.t_be = time.monotonic()
        for l7 in tb_topo.L7:
            self.ctl(l7, f"set server {tb_topo.L7_UPSTREAM} {self.be} drain")
        self.event(f"drain {self.be}", self.t_be)

    def analyze(self, records):
        t_out = self.poll.first(lambda v: v is False, self.t_fault)
        self.values["l7_out_s"] = None if t_out is None else t_out - self.t_fault
        self.figure("l7-b out of lb-a's table after the drain command",
                    A.ms(self.values["l7_out_s"]), "ms")
        if t_out is not None:
            self.event("l7-b out at lb-a", t_out)
        late = t_out + 0.05 if t_out else self.t_fault + 1
        new_l7 = [r for r in A.served_by(records, "l7", self.l7, after=late) if not r["ka"]]
        kept_l7 = [r for r in A.served_by(records, "l7", self.l7, after=late) if r["ka"]]
        new_be = A.served_by(records, "be", self.be, after=self.t_be + 0.05)
        self.values.update(new_conns_on_drained_l7=len(new_l7), ka_on_drained_l7=len(kept_l7),
                           on_drained_be=len(new_be))
        self.figure("new connections on l7-b once out", len(new_l7))
        self.figure("keep-alive requests l7-b went on serving", len(kept_l7))
        self.figure("requests sent to be-2 after its drain", len(new_be))
        self.check("zero failed requests", self.values["failed"] == 0)
        self.check("no new connection reaches a drained L7, no request a drained backend",
                   not new_l7 and not new_be)

    def restore(self):
        self.ctl(self.l7, "set instance ready")
        for l7 in tb_topo.L7:
            self.ctl(l7, f"set server {tb_topo.L7_UPSTREAM} {self.be} ready")
        tb_bed.up(verbose=False)
