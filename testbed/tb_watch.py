"""Watching the testbed while a drill runs: netlink events with the time
they arrive, and periodic admin-socket polls.

`ip monitor` prints one line per netlink event as the kernel sends it, so a
VIP added on lb-b or the client's neighbour entry for the VIP switching to
lb-b's MAC is seen within a millisecond or so, without polling. Times are
CLOCK_MONOTONIC (time.monotonic()), the clock the load records use.
"""
import subprocess
import threading
import time

import tb_net


class Monitor:
    """`ip -n NS monitor WHAT` with every line stamped on arrival."""

    def __init__(self, ns, what):
        self.lines = []  # (t, line)
        self.proc = subprocess.Popen([tb_net.IP, "-n", ns, "monitor", what],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, text=True, bufsize=1)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.strip()))

    def first(self, pred, after=0.0):
        """Time of the first line after `after` for which pred(line) holds."""
        for t, line in list(self.lines):
            if t >= after and pred(line):
                return t
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(2)
        self.thread.join(2)


def vip_added(vip):
    """An `ip monitor address` line for `vip` being added (deletions start
    with "Deleted")."""
    return lambda line: f"inet {vip}/" in line and not line.startswith("Deleted")


def vip_deleted(vip):
    return lambda line: f"inet {vip}/" in line and line.startswith("Deleted")


def neigh_to(vip, mac):
    """An `ip monitor neigh` line saying `vip` is now at `mac`."""
    return lambda line: line.split()[:1] == [vip] and f"lladdr {mac}" in line


class Poller:
    """Calls fn() every `interval` seconds on a thread and keeps (t, value)."""

    def __init__(self, fn, interval=0.025):
        self.fn = fn
        self.interval = interval
        self.samples = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                value = self.fn()
            except OSError:
                value = None
            # Stamped when the answer is in: the state it shows was reached
            # before then (an upper bound, off by at most one interval).
            self.samples.append((time.monotonic(), value))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - t)))

    def first(self, pred, after=0.0):
        for t, value in list(self.samples):
            if t >= after and value is not None and pred(value):
                return t
        return None

    def stop(self):
        self._stop.set()
        self.thread.join(5)
