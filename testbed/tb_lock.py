"""One testbed per machine: its namespace names are fixed, so every testbed
command holds an exclusive flock on /run/lock/strata-testbed.lock for as
long as it runs. The holder's PID and command are written into the file so
a second caller can say who is in the way."""
import fcntl
import os
import time

import tb_topo


class Busy(RuntimeError):
    pass


class Lock:
    def __init__(self, what, wait=0.0, path=None):
        self.what = what
        self.wait = wait
        self.path = path or tb_topo.LOCK_FILE
        self.fd = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(self.fd, 512, 0).decode(errors="replace").strip()
                    os.close(self.fd)
                    raise Busy(f"another testbed command is running ({holder or 'unknown'}); "
                               f"lock {self.path}")
                time.sleep(0.2)
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()}: {self.what}\n".encode(), 0)
        return self

    def __exit__(self, *exc):
        os.ftruncate(self.fd, 0)
        os.close(self.fd)  # releases the flock
        self.fd = None
        return False


def held_by_parent():
    """tools/demo (flock(1) on the same file) and the system test hold the
    lock across several commands and export STRATA_TESTBED_LOCKED=1 to the
    commands they run, which then must not wait for it themselves."""
    return os.environ.get("STRATA_TESTBED_LOCKED") == "1"


def for_command(what):
    return _Null() if held_by_parent() else Lock(what)


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
