"""Holds N idle HTTP connections through a proxy for the bench's memory figure.

Run by tools/bench/bench as a separate process (the per-process open-file
limit is 20,000; the proxy holds its own side of each connection). Each
connection sends one request and reads the full response, so the proxy has
seen traffic on it, then stays open and silent. At most --window connections
are in progress at once, which keeps the proxy's upstream pool small.

Prints "READY N" once all N are idle, then waits until stdin closes (or
--hold seconds pass), closes every connection and exits 0. Prints
"ERROR what" and exits 1 when a connection fails.
"""
import argparse
import errno
import resource
import selectors
import socket
import sys
import time


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need), hard))


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.state = "connecting"


def response_done(buf):
    """True when buf holds a whole response head plus its Content-Length body."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    raise ValueError("response without Content-Length")


def open_all(args):
    sel = selectors.DefaultSelector()
    request = f"GET {args.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    started = idle = 0
    done = []
    deadline = time.monotonic() + args.timeout
    while idle < args.count:
        while started < args.count and started - idle < args.window:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex((args.host, args.port))
            if err not in (0, errno.EINPROGRESS):
                raise OSError(err, f"connect: {errno.errorcode.get(err, err)}")
            c = Conn(s)
            sel.register(s, selectors.EVENT_WRITE, c)
            started += 1
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {idle} of {args.count} idle after {args.timeout}s")
        for key, ev in sel.select(timeout=1.0):
            c = key.data
            if c.state == "connecting":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, f"connect: {errno.errorcode.get(err, err)}")
                c.sock.send(request)
                c.state = "reading"
                sel.modify(c.sock, selectors.EVENT_READ, c)
                continue
            data = c.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the proxy before the response ended")
            c.buf += data
            if response_done(c.buf):
                if not c.buf.startswith(b"HTTP/1.1 200"):
                    raise ConnectionError(f"answer {c.buf[:40]!r}")
                sel.unregister(c.sock)
                done.append(c.sock)
                idle += 1
    return done


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--path", default="/")
    ap.add_argument("--window", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--hold", type=float, default=120)
    args = ap.parse_args()
    raise_nofile(args.count + 64)
    try:
        socks = open_all(args)
    except (OSError, ValueError, TimeoutError) as e:
        print(f"ERROR {e}", flush=True)
        return 1
    print(f"READY {len(socks)}", flush=True)
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ)
    deadline = time.monotonic() + args.hold
    while time.monotonic() < deadline:
        if sel.select(timeout=1.0) and not sys.stdin.readline():
            break
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
