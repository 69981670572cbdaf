"""Shared fixtures for Strata's system tests: real binaries, real sockets.

Every daemon a test starts goes through the `daemons` fixture, which keeps
its PID, writes its stderr to a log file, stops it by PID at the end and
fails the test when the log shows a sanitizer report, an assertion or a
crash.
"""
import fcntl
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("STRATA_BUILD", ROOT / "build"))
BIN = BUILD / "bin"

CRASH_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "Assertion `",
    "assertion failed",
    "Segmentation fault",
    "core dumped",
    "AddressSanitizer:DEADLYSIGNAL",
)


def binary(name):
    path = BIN / name
    assert path.exists(), f"{path} is not built (run make)"
    return str(path)


def sanitized(name="strata-l4"):
    """True for an ASan+UBSan build (`make asan`): its binaries run two to
    three times slower and pad every allocation with redzones, so a bound on
    latency or memory per connection must allow for that."""
    with open(binary(name), "rb") as f:
        return b"__asan_init" in f.read()


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_tcp(host, port, timeout=10.0, proc=None):
    """Waits until host:port accepts a TCP connection."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"{host}:{port} not accepting after {timeout}s")


def wait_path(path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} did not appear after {timeout}s")


class Daemon:
    """One real process, its log, and a stop by PID."""

    def __init__(self, argv, log_path, env=None, cwd=None):
        self.argv = [str(a) for a in argv]
        self.log_path = pathlib.Path(log_path)
        self.env = dict(os.environ, **(env or {}))
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self.cwd = cwd
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.cwd)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Stops the process by PID; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode

    def text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, needle, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return
            time.sleep(0.02)
        raise AssertionError(f"'{needle}' not in {self.log_path} after {timeout}s:\n"
                             + self.text()[-3000:])

    def crash_report(self):
        text = self.text()
        for marker in CRASH_MARKERS:
            if marker in text:
                return f"{self.argv[0]}: '{marker}' in log:\n{text[-4000:]}"
        return None


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="strata-test-") as d:
        yield pathlib.Path(d)


@pytest.fixture
def daemons(workdir):
    """Factory: daemons(argv, name=...) starts a process; all are stopped at
    the end and the test fails if any log shows a crash or sanitizer report."""
    started = []

    def start(argv, name=None, env=None, cwd=None):
        name = name or pathlib.Path(str(argv[0])).name
        d = Daemon(argv, workdir / f"{name}-{len(started)}.log", env=env, cwd=cwd)
        started.append(d)
        return d.start()

    yield start
    reports = []
    for d in reversed(started):
        d.stop()
        rep = d.crash_report()
        if rep:
            reports.append(rep)
    assert not reports, "\n\n".join(reports)


# --- the loopback stack of configs/local (tools/stack) -------------------------------

RUN = ROOT / "run"


def stack(cmd):
    """tools/stack CMD (up, down, status) with this build's binaries."""
    env = dict(os.environ, STRATA_BUILD=str(BUILD))
    return subprocess.run([str(ROOT / "tools" / "stack"), cmd], capture_output=True, text=True,
                          env=env, timeout=60, cwd=ROOT)


@pytest.fixture(scope="module")
def local_stack():
    """strata-l4 + two strata-l7 + three strata-echo from configs/local, up
    for the module's tests. The stack uses the fixed ports of the DESIGN.md
    layout, so this takes run/test_stack.lock (one stack run at a time on
    the machine), starts from fresh access logs, always brings the stack
    down again, and fails if a daemon's log shows a crash."""
    RUN.mkdir(exist_ok=True)
    lock = open(RUN / "test_stack.lock", "w")
    deadline = time.monotonic() + 120
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            assert time.monotonic() < deadline, "another stack run holds run/test_stack.lock"
            time.sleep(0.5)
    logs = {}
    try:
        stack("down")  # a previous run that died half-way
        for f in RUN.glob("*-access.log"):
            f.unlink()
        up = stack("up")
        assert up.returncode == 0, up.stdout + up.stderr
        yield
    finally:
        stack("down")
        for f in RUN.glob("*.log"):
            logs[f.name] = f.read_text(errors="replace")
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    crashes = [f"{n}: {m}" for n, t in logs.items() for m in CRASH_MARKERS if m in t]
    assert not crashes, crashes
