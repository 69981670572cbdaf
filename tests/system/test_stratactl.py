"""stratactl against a stand-in admin server written here in Python.

The server speaks the admin protocol (common/admin.h): it reads one line,
answers body lines and a final `OK` or `ERR <message>`, then closes. Each test
checks stratactl's output and exit code: 0 OK, 1 ERR, 2 usage, 3 transport.
"""
import os
import pathlib
import socket
import subprocess
import threading
import time

import pytest

from conftest import binary


class FakeAdmin:
    """A unix-socket server answering with `respond(line) -> bytes`."""

    def __init__(self, path, respond):
        self.path = str(path)
        self.respond = respond
        self.lines = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while b"\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except socket.timeout:
                    continue
                line = data.split(b"\n", 1)[0].decode()
                self.lines.append(line)
                answer = self.respond(line)
                if answer is not None:
                    conn.sendall(answer)

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


def standard_answers(line):
    words = line.split()
    if not words:
        return b"ERR empty command (try 'help')\n"
    if words[0] == "help":
        return b"help         help  (this list)\nshow         show services|instances\nOK\n"
    if words[0] == "show":
        return ("services\n" + "\n".join(words[1:]) + "\nOK\n").encode()
    if words[0] == "tricky":
        return b"OK\nERR not the status\nOK\n"
    if words[0] == "drain":
        return b"ERR no server 'x' in service 'web'\n"
    if words[0] == "silent":
        time.sleep(3)
        return None
    if words[0] == "cut":
        return b"half a body\n"
    return f"ERR unknown command '{words[0]}' (try 'help')\n".encode()


@pytest.fixture
def admin(workdir):
    run = workdir / "run"
    run.mkdir()
    servers = []

    def start(name="l4", respond=standard_answers):
        srv = FakeAdmin(run / f"{name}.sock", respond)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


def ctl(*args, cwd=None, env=None, timeout=15):
    full_env = dict(os.environ)
    full_env.pop("STRATA_ADMIN", None)
    full_env.update(env or {})
    return subprocess.run([binary("stratactl"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=full_env)


def test_version_and_help():
    out = ctl("-V")
    assert out.returncode == 0
    assert out.stdout.split()[0] == "stratactl"
    out = ctl("-h")
    assert out.returncode == 0
    assert out.stdout.startswith("usage: stratactl")
    assert "-s SOCKET" in out.stdout and "-t SECONDS" in out.stdout


@pytest.mark.parametrize("args", [[], ["-Z", "help"], ["-t", "0", "help"], ["-t", "x", "help"],
                                  ["raw"], ["show", "a\nhelp"], ["-s"]])
def test_usage_errors_exit_2(args):
    out = ctl(*args)
    assert out.returncode == 2, out
    assert out.stderr


def test_ok_prints_body_and_sends_words_joined(admin, workdir):
    srv = admin()
    out = ctl("-s", srv.path, "show", "services", "web")
    assert out.returncode == 0, out
    assert out.stdout == "services\nservices\nweb\n"
    assert out.stderr == ""
    assert srv.lines == ["show services web"]


def test_only_the_last_line_is_the_status(admin):
    srv = admin()
    out = ctl("-s", srv.path, "tricky")
    assert out.returncode == 0
    assert out.stdout == "OK\nERR not the status\n"


def test_err_exits_1_with_message_on_stderr(admin):
    srv = admin()
    out = ctl("-s", srv.path, "drain", "web", "x")
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr == "stratactl: no server 'x' in service 'web'\n"
    out = ctl("-s", srv.path, "frobnicate")
    assert out.returncode == 1
    assert "unknown command 'frobnicate' (try 'help')" in out.stderr


def test_raw_sends_the_line_as_given(admin):
    srv = admin()
    out = ctl("-s", srv.path, "raw", "show   instances")
    assert out.returncode == 0
    assert srv.lines == ["show   instances"]
    out = ctl("-s", srv.path, "raw", "show", "a", "b")
    assert srv.lines[-1] == "show a b"


def test_short_names_resolve_to_run_dir_of_cwd(admin, workdir):
    l7 = admin("l7-0")
    l4 = admin("l4")
    out = ctl("-s", "l7-0", "help", cwd=workdir)
    assert out.returncode == 0, out
    assert "show services|instances" in out.stdout
    assert l7.lines == ["help"]
    # Default socket: $STRATA_ADMIN (short name or path), else l4.
    assert ctl("help", cwd=workdir).returncode == 0
    assert l4.lines == ["help"]
    assert ctl("help", cwd=workdir, env={"STRATA_ADMIN": "l7-0"}).returncode == 0
    assert ctl("help", env={"STRATA_ADMIN": l7.path}).returncode == 0
    assert l7.lines == ["help", "help", "help"]


def test_cannot_connect_exits_3(workdir):
    missing = workdir / "nothing.sock"
    out = ctl("-s", str(missing), "help")
    assert out.returncode == 3
    assert out.stderr == f"stratactl: cannot connect to {missing}: No such file or directory\n"
    out = ctl("-s", "l7-9", "help", cwd=workdir)
    assert out.returncode == 3
    assert "cannot connect to run/l7-9.sock: No such file or directory" in out.stderr
    # A stale socket file: bound once, nobody listening.
    stale = workdir / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()
    out = ctl("-s", str(stale), "help")
    assert out.returncode == 3
    assert "Connection refused" in out.stderr


def test_no_answer_in_time_exits_3_quickly(admin):
    srv = admin()
    t0 = time.monotonic()
    out = ctl("-s", srv.path, "-t", "0.3", "silent")
    assert out.returncode == 3
    assert time.monotonic() - t0 < 2.5
    assert "no complete answer in time" in out.stderr


def test_answer_without_status_exits_3(admin):
    srv = admin()
    out = ctl("-s", srv.path, "cut")
    assert out.returncode == 3
    assert "answer without a status line" in out.stderr
