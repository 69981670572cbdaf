"""The frame every drill runs in: load from the client namespace, the fault
at a known instant, the figures, the restore, the saved result.

A drill subclass sets its load (mode, rate, seconds before and after the
fault) and implements fault(), optionally during() (steps after the fault
while the load runs), analyze(records) and restore(). The result is saved
as results/NAME.json next to the records (results/NAME.jsonl) and printed
as a table; `testbed report` turns the saved results into docs/drills.md.
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import time

import tb_analyze as A
import tb_bed
import tb_net
import tb_topo

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"


class Drill:
    name = "?"
    title = "?"
    what = ""              # one paragraph for the report
    notes = ""             # what the figures mean, limits found (report)
    mode = "fresh"
    rate = 300.0
    warm = 3.0             # seconds of load before the fault
    after = 5.0            # seconds of load after it
    timeout = 3.0          # per request

    def __init__(self, quick=False):
        self.quick = quick
        if quick:
            self.warm = min(self.warm, 2.0)
            self.after = min(self.after, 4.0)
        self.values = {}       # raw numbers (tests assert on these)
        self.figures = []      # (label, text) for the table
        self.checks = []       # (what, passed)
        self.events = []       # (monotonic t, label) for the timeline
        self.t_fault = None
        self.monitors = []

    # --- hooks --------------------------------------------------------------
    def prepare(self):
        pass

    def fault(self):
        raise NotImplementedError

    def during(self):
        pass

    def analyze(self, records):
        raise NotImplementedError

    def restore(self):
        tb_bed.up(verbose=False)

    # --- helpers for subclasses -----------------------------------------------
    def figure(self, label, value, unit=""):
        text = "n/a" if value is None else f"{value}{(' ' + unit) if unit else ''}"
        self.figures.append((label, text))

    def check(self, what, passed):
        self.checks.append((what, bool(passed)))

    def event(self, label, t=None):
        self.events.append((time.monotonic() if t is None else t, label))

    def monitor(self, m):
        self.monitors.append(m)
        return m

    def sleep_until(self, t):
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    # --- the run ---------------------------------------------------------------
    def start_load(self, path):
        argv = [PY, os.path.join(HERE, "tb_load.py"),
                "--target", f"{tb_topo.VIP}:{tb_topo.VIP_PORT}",
                "--clients", ",".join(tb_topo.CLIENTS), "--rate", str(self.rate),
                "--duration", str(self.warm + self.after), "--mode", self.mode,
                "--timeout", str(self.timeout), "--out", str(path)]
        proc = subprocess.Popen([tb_net.IP, "netns", "exec", "st-client"] + argv,
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        first = proc.stdout.readline()
        try:
            sched = json.loads(first)
        except ValueError:
            proc.kill()
            proc.wait()
            raise tb_bed.BedError(f"load generator did not start: {first!r}")
        return proc, sched["begin"], sched["end"]

    def run(self):
        """Runs the drill; returns the result dict (also saved)."""
        tb_bed.up(verbose=False)
        tb_bed.wait_ready()
        tb_topo.RESULTS.mkdir(parents=True, exist_ok=True)
        rec_path = tb_topo.RESULTS / f"{self.name}.jsonl.tmp"
        started = datetime.datetime.now(datetime.timezone.utc)
        self.prepare()
        proc = None
        interrupted = False
        try:
            proc, begin, end = self.start_load(rec_path)
            self.begin, self.end = begin, end
            self.sleep_until(begin + self.warm)
            self.t_fault = time.monotonic()
            self.fault()
            self.during()
            try:
                proc.wait(end - time.monotonic() + self.timeout + 5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise tb_bed.BedError("load generator overran its bound")
            proc = None
            for m in self.monitors:
                m.stop()
            records = A.load(rec_path)
            self.common(records)
            self.analyze(records)
        except KeyboardInterrupt:
            interrupted = True  # Ctrl-C: no restore, the caller tears down
            raise
        finally:
            if proc is not None:
                proc.kill()
                proc.wait()
            for m in self.monitors:
                m.stop()
            if not interrupted:
                self.restore()
        shutil.move(rec_path, tb_topo.RESULTS / f"{self.name}.jsonl")
        return self.save(started, records)

    def common(self, records):
        bad = A.failed(records)
        self.values.update(requests=len(records), failed=len(bad),
                           ok=len(records) - len(bad),
                           retried=sum(1 for r in records if r.get("retry")))
        self.figure("requests sent", len(records),
                    f"({self.rate:.0f}/s for {self.warm + self.after:.0f} s, {self.mode}, "
                    f"{len(tb_topo.CLIENTS)} client addresses)")
        self.figure("failed requests", len(bad),
                    f"({A.error_kinds(records)})" if bad else "")
        if self.values["retried"]:
            self.figure("keep-alive requests retried on a new connection",
                        self.values["retried"], "(closed before any answer, RFC 9112 §9.3.1)")
        self.figure("latency p50 / p99 / max",
                    f"{A.latency_ms(records, 0.5):.1f} / {A.latency_ms(records, 0.99):.1f} / "
                    f"{A.latency_ms(records, 1.0):.1f}", "ms")

    def save(self, started, records):
        result = {
            "drill": self.name, "title": self.title, "what": self.what, "notes": self.notes,
            "when": started.strftime("%Y-%m-%d %H:%M UTC"), "quick": self.quick,
            "params": {"rate": self.rate, "mode": self.mode, "warm": self.warm,
                       "after": self.after, "clients": len(tb_topo.CLIENTS),
                       "timeout": self.timeout},
            "values": self.values, "figures": self.figures, "checks": self.checks,
            "events": sorted((round(t - self.begin, 3), label) for t, label in self.events),
            "timeline": A.timeline(records, self.begin,
                                   max([self.end] + [r["t1"] for r in records]) + 0.2),
        }
        path = tb_topo.RESULTS / f"{self.name}.json"
        path.with_suffix(".tmp").write_text(json.dumps(result, indent=1) + "\n")
        os.replace(path.with_suffix(".tmp"), path)
        return result


def print_result(result, out=sys.stdout):
    rows = [(label, text) for label, text in result["figures"]]
    width = max(len(r[0]) for r in rows)
    print(f"\n== drill {result['drill']}: {result['title']}", file=out)
    for label, text in rows:
        print(f"  {label:<{width}}  {text}", file=out)
    for what, passed in result["checks"]:
        print(f"  [{'PASS' if passed else 'FAIL'}] {what}", file=out)
    if result["events"]:
        print("  timeline: " + "; ".join(f"{t:.3f} s {label}" for t, label in result["events"]),
              file=out)
