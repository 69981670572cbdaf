"""Every process the bench starts: pinned to a CPU, accounted, stopped by PID.

The registry owns each process it starts (and the workers those processes
fork, e.g. nginx's): `stop_all()` stops them by PID, in reverse start order,
on success, failure or a signal alike. Children also get PR_SET_PDEATHSIG so
a bench killed with SIGKILL still takes its peers down with it.
"""
import ctypes
import os
import pathlib
import signal
import subprocess
import time

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _child_setup():
    # SIGTERM, not SIGKILL: nginx's master then stops its workers itself.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def pinned(cpu, argv):
    """argv run on one CPU; taskset keeps the command line reproducible."""
    return ["taskset", "-c", str(cpu)] + [str(a) for a in argv]


def _stat_fields(pid):
    """Fields 3.. of /proc/PID/stat (the command name may contain spaces)."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    return text[text.rindex(")") + 2:].split()


def cpu_ticks(pids):
    """utime + stime (fields 14 and 15, all threads of each process), summed."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        total += int(fields[11]) + int(fields[12])
    return total


TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def rss_bytes(pids):
    """Resident set size of the processes, summed (VmRSS from /proc/PID/status)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


def children(pid):
    """Direct children of pid, from every thread's children list."""
    kids = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return kids
    for tid in tasks:
        try:
            kids += [int(c) for c in
                     pathlib.Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return kids


def start_time(pid):
    """Field 22 of /proc/PID/stat, or None: with the PID it names one process
    for good, so a recycled PID is never mistaken for ours."""
    try:
        return int(_stat_fields(pid)[19])
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return None


def pid_alive(pid, started=None):
    """True while pid exists, is not a zombie and (if given) started at `started`."""
    try:
        fields = _stat_fields(pid)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return False
    return fields[0] != "Z" and (started is None or int(fields[19]) == started)


class Proc:
    """One started process, its log file, and the worker PIDs it forked."""

    def __init__(self, name, argv, log_path, cwd=None, workers=0):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = pathlib.Path(log_path)
        self.cwd = cwd
        self.expect_workers = workers
        self.popen = None
        self.worker_pids = []
        self._log = None

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def pids(self):
        """The process and its workers: whose CPU and memory count as its own."""
        return [self.pid] + self.worker_pids

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def find_workers(self, timeout=5.0):
        """Waits until the expected number of workers was forked; records them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            kids = [k for k in children(self.pid) if pid_alive(k)]
            if len(kids) >= self.expect_workers:
                self.worker_pids = kids
                return kids
            time.sleep(0.02)
        raise RuntimeError(f"{self.name}: {self.expect_workers} worker(s) did not appear")


class Registry:
    """Starts processes, remembers every PID ever seen, stops them all."""

    def __init__(self):
        self.procs = []
        self.all_pids = []
        self._started = {}  # pid -> start time, for the leftover check

    def start(self, name, argv, log_path, cwd=None, workers=0):
        p = Proc(name, argv, log_path, cwd=cwd, workers=workers)
        p._log = open(p.log_path, "ab")
        p.popen = subprocess.Popen(p.argv, stdout=p._log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=cwd,
                                   preexec_fn=_child_setup)
        self.procs.append(p)
        self._remember(p.pid)
        if workers:
            p.find_workers()
            for w in p.worker_pids:
                self._remember(w)
        return p

    def _remember(self, pid):
        self.all_pids.append(pid)
        self._started[pid] = start_time(pid)

    def run(self, argv, timeout, stdin=None):
        """Runs a short-lived command to completion (killed by PID after timeout);
        returns (returncode, stdout, stderr)."""
        popen = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                 text=True, preexec_fn=_child_setup)
        self._remember(popen.pid)
        try:
            out, err = popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(popen.pid, signal.SIGKILL)
            out, err = popen.communicate()
            err += f"\n(killed after {timeout}s)"
        except BaseException:
            _kill_wait(popen, signal.SIGKILL, 5)
            raise
        return popen.returncode, out, err

    def spawn(self, argv, stdin=subprocess.PIPE):
        """Starts a helper whose stdin/stdout the caller drives; stopped by stop_all."""
        popen = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, stdin=stdin, text=True,
                                 preexec_fn=_child_setup)
        self._remember(popen.pid)
        self.procs.append(_Helper(popen))
        return popen

    def finish(self, popen, timeout):
        """Waits for a helper from spawn() to exit by itself; stops it by PID
        (SIGTERM, then SIGKILL) when it has not after `timeout` seconds."""
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_wait(popen, signal.SIGTERM, 5)
        self.procs = [p for p in self.procs
                      if not (isinstance(p, _Helper) and p.popen is popen)]

    def stop(self, proc, timeout=10.0):
        """Stops one process by PID (SIGTERM, then SIGKILL) and its workers."""
        if proc not in self.procs:
            return
        self.procs.remove(proc)
        if isinstance(proc, _Helper):
            _kill_wait(proc.popen, signal.SIGTERM, timeout)
            return
        _kill_wait(proc.popen, signal.SIGTERM, timeout)
        for w in proc.worker_pids:
            _kill_pid(w, self._started.get(w), timeout)
        if proc._log:
            proc._log.close()

    def stop_all(self):
        """Stops everything still registered, newest first; never raises."""
        for proc in reversed(list(self.procs)):
            try:
                self.stop(proc)
            except Exception:  # keep stopping the others
                pass

    def leftovers(self):
        """PIDs this bench started or saw that are still alive."""
        return [p for p in self.all_pids
                if self._started.get(p) is not None and pid_alive(p, self._started[p])]


class _Helper:
    def __init__(self, popen):
        self.popen = popen


def _kill_wait(popen, sig, timeout):
    if popen.poll() is None:
        try:
            os.kill(popen.pid, sig)
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(popen.pid, signal.SIGKILL)
            popen.wait(5)
        except ProcessLookupError:
            pass
    popen.wait(5)


def _kill_pid(pid, started, timeout):
    """Stops a worker we did not fork ourselves (its parent normally does)."""
    if started is None:
        return
    deadline = time.monotonic() + timeout
    while pid_alive(pid, started) and time.monotonic() < deadline:
        time.sleep(0.02)
    if pid_alive(pid, started):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
