"""Starting, finding and stopping the testbed's daemons by PID.

Each daemon runs inside its namespace through `ip netns exec` (which execs
it, so the PID is the daemon's), in its own session, with RUN as working
directory and its output appended to logs/NAME.log. Its PID goes to
run/NAME.pid; strata-vrrp's strata-l4 tracker reads run/l4-X.pid from there.
A PID counts as ours only while /proc/PID is alive, not a zombie, runs the
expected binary and sits in the expected namespace.
"""
import os
import select
import signal
import socket
import subprocess
import time

import tb_net
import tb_topo

_children = {}  # pid -> Popen, so this process reaps what it started


class ProcError(RuntimeError):
    pass


def _reap():
    for pid, p in list(_children.items()):
        if p.poll() is not None:
            del _children[pid]


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def is_ours(pid, d):
    _reap()
    if _is_zombie(pid) or not tb_net.same_netns(pid, d.ns):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return False
    return os.path.basename(argv0) == d.binary


def pid_of(d):
    """The daemon's PID when it is running, else None."""
    try:
        pid = int(d.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if is_ours(pid, d) else None


def _listening(d):
    addr, port = d.ready
    try:
        tb_net.tcp_connect(d.ns, addr, port, timeout=0.3).close()
        return True
    except OSError:
        return False


def _admin_ok(d):
    try:
        return admin(d, "help", timeout=0.5)[0]
    except OSError:
        return False


def start(d, timeout=15.0):
    """Starts `d` unless it runs; waits until it listens (or answers on its
    admin socket). Returns its PID; raises ProcError with the log tail."""
    pid = pid_of(d)
    if pid:
        return pid
    for path in (tb_topo.RUNFILES, tb_topo.LOGS):
        path.mkdir(parents=True, exist_ok=True)
    log = open(d.log, "ab")
    log.write(f"=== testbed: start {time.strftime('%Y-%m-%d %H:%M:%S')}: "
              f"{' '.join(d.argv)}\n".encode())
    log.flush()
    p = subprocess.Popen([tb_net.IP, "netns", "exec", d.ns] + d.argv, cwd=tb_topo.RUN,
                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    log.close()
    _children[p.pid] = p
    tmp = d.pid_file.with_suffix(".pid.tmp")
    tmp.write_text(f"{p.pid}\n")
    os.replace(tmp, d.pid_file)
    ready = _listening if d.ready else _admin_ok
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise ProcError(f"{d.name} exited with {p.returncode}:\n{tail(d)}")
        if ready(d):
            return p.pid
        time.sleep(0.05)
    raise ProcError(f"{d.name} not ready after {timeout}s:\n{tail(d)}")


def signal_daemon(d, sig):
    """Sends `sig` to the running daemon; returns its PID (None: not running)."""
    pid = pid_of(d)
    if pid:
        os.kill(pid, sig)
    return pid


class Exit:
    """Watches a running daemon's exit through a pidfd (poll says readable
    the moment the process has exited), so a drill knows when a killed
    process actually stopped, which under load is tens of ms after the
    signal."""

    def __init__(self, d):
        self.pid = pid_of(d)
        self.fd = os.pidfd_open(self.pid) if self.pid else None

    def wait(self, timeout=5.0):
        """The monotonic time the process was seen gone, or None."""
        if self.fd is None:
            return None
        try:
            p = select.poll()
            p.register(self.fd, select.POLLIN)
            if not p.poll(timeout * 1000):
                return None
            return time.monotonic()
        finally:
            os.close(self.fd)
            self.fd = None


def kill_timed(d, sig):
    """Sends `sig` to `d`; returns (time sent, time it was gone or None)."""
    watch = Exit(d)
    t = time.monotonic()
    if watch.pid:
        os.kill(watch.pid, sig)
    return t, watch.wait()


def wait_gone(pid, d, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_ours(pid, d):
            return True
        time.sleep(0.02)
    return not is_ours(pid, d)


def stop(d, sig=signal.SIGTERM, timeout=10.0):
    """Stops `d` by PID: `sig`, then SIGKILL after `timeout`. Returns True
    when it was running."""
    pid = pid_of(d)
    if pid:
        os.kill(pid, sig)
        if not wait_gone(pid, d, timeout):
            print(f"{d.name}: still running {timeout}s after {signal.Signals(sig).name}, "
                  "sending SIGKILL")
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid, d, 5.0)
    d.pid_file.unlink(missing_ok=True)
    return pid is not None


def tail(d, nbytes=2000):
    try:
        return d.log.read_bytes()[-nbytes:].decode(errors="replace")
    except OSError:
        return "(no log)"


def admin(d, line, timeout=2.0):
    """One admin-socket request (docs/operations.md "Admin socket"): returns
    (ok, body lines). Unix sockets live in the file system, so the root
    namespace reaches them without entering the daemon's namespace."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(d.admin))
        s.sendall(line.encode() + b"\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    lines = data.decode(errors="replace").rstrip("\n").split("\n")
    status = lines[-1] if lines else ""
    return status == "OK", lines[:-1] if lines else []
