#!/usr/bin/python3
"""Steady, bounded HTTP load from the client namespace, one record per request.

    tb_load.py --target 10.77.0.100:80 --clients 10.77.0.11,... --rate 300
               --duration 12 --mode fresh|keepalive|mixed --out FILE

Open loop: requests start on a fixed schedule whatever the answers do, so
an outage shows as failed or late requests instead of a pause in sending.
Client addresses take turns. `fresh` opens a connection per request
(Connection: close); `keepalive` keeps one connection per client address
and sends its share of the rate over it; `mixed` does both, half each.

A request on a reused keep-alive connection that the server closed before
any byte of the answer is retried once on a new connection, as HTTP clients
do (RFC 9112 §9.3.1): the record says `retry`. Every other error is a
failure. Each record (one JSON line) holds: seq, client, t0/t1 (CLOCK_MONOTONIC
seconds, the same clock in every namespace), ok, err, status, and from the
strata-echo answer the L4 node (from X-Request-Id), the L7 instance
(X-Strata-L7), the backend, X-Forwarded-For and X-Real-IP.

Bounded: nothing starts after --duration, at most --max-inflight requests
run at once (more are recorded as `skipped`), each gives up after
--timeout, and the process exits --timeout + 2 s after the schedule ends.
"""
import argparse
import asyncio
import errno
import json
import sys
import time

MAX_HEAD = 65536


def l4_node(request_id):
    """The L4 node in an X-Request-Id: strata-l4's connection ids read
    NODE-HEXTIME-WORKER-SERIAL and strata-l7 appends -N from the second
    request on a connection, so the node is what precedes the time."""
    parts = request_id.split("-")
    for i, part in enumerate(parts):
        if i and len(part) >= 8 and all(c in "0123456789abcdef" for c in part):
            return "-".join(parts[:i])
    return None


def parse_answer(raw):
    """(status, fields) from a whole HTTP/1.1 response; fields from the
    strata-echo JSON body when there is one."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise EOFError("incomplete head")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise EOFError("bad status line")
    status = int(parts[1])
    fields = {}
    try:
        doc = json.loads(body)
    except ValueError:
        return status, fields
    hdr = {k.lower(): v for k, v in doc.get("headers", [])}
    rid = hdr.get("x-request-id", "")
    fields["l4"] = l4_node(rid)
    fields["l7"] = hdr.get("x-strata-l7")
    fields["be"] = doc.get("server")
    fields["xff"] = hdr.get("x-forwarded-for")
    fields["xri"] = hdr.get("x-real-ip")
    return status, fields


async def read_response(reader):
    """Reads one response framed by Content-Length (strata-echo always sends
    it for the echo); returns the raw bytes."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEAD:
        raise EOFError("head too long")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length)
    return head + body


def classify(exc):
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, (asyncio.IncompleteReadError, EOFError, BrokenPipeError)):
        return "eof"
    if isinstance(exc, OSError) and exc.errno:
        return errno.errorcode.get(exc.errno, str(exc.errno)).lower()
    return type(exc).__name__


class Load:
    def __init__(self, args):
        self.host, port = args.target.rsplit(":", 1)
        self.port = int(port)
        self.clients = args.clients.split(",")
        self.args = args
        self.records = []
        self.seq = 0
        self.inflight = 0
        self.request = (f"GET {args.path} HTTP/1.1\r\nHost: strata.test\r\n"
                        "User-Agent: strata-testbed\r\n").encode()

    def record(self, client, t0, ka, **kw):
        self.seq += 1
        rec = {"seq": self.seq, "c": client, "t0": round(t0, 6), "t1": round(time.monotonic(), 6),
               "ka": ka}
        rec.update(kw)
        self.records.append(rec)

    async def one_fresh(self, client):
        t0 = time.monotonic()
        self.inflight += 1
        writer = None
        try:
            async def go():
                nonlocal writer
                reader, writer = await asyncio.open_connection(self.host, self.port,
                                                               local_addr=(client, 0))
                writer.write(self.request + b"Connection: close\r\n\r\n")
                return await read_response(reader)
            raw = await asyncio.wait_for(go(), self.args.timeout)
            status, fields = parse_answer(raw)
            self.record(client, t0, False, ok=status == 200,
                        err=None if status == 200 else f"http_{status}", status=status, **fields)
        except Exception as e:  # every outcome is a record
            self.record(client, t0, False, ok=False, err=classify(e), status=None)
        finally:
            self.inflight -= 1
            if writer is not None:
                writer.close()

    async def fresh(self, rate, t_begin, t_end):
        tasks = set()
        i = 0
        while True:
            t = t_begin + i / rate
            if t >= t_end:
                break
            delay = t - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            client = self.clients[i % len(self.clients)]
            i += 1
            if self.inflight >= self.args.max_inflight:
                self.record(client, time.monotonic(), False, ok=False, err="skipped", status=None)
                continue
            task = asyncio.ensure_future(self.one_fresh(client))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=self.args.timeout + 1)

    async def ka_exchange(self, conn, client):
        """One request on the kept connection (opened when needed); returns
        (raw answer, whether the connection had carried a request before)."""
        if conn.get("w") is None:
            conn["r"], conn["w"] = await asyncio.open_connection(self.host, self.port,
                                                                 local_addr=(client, 0))
            conn["n"] = 0
        reused = conn["n"] > 0
        conn["w"].write(self.request + b"\r\n")
        try:
            raw = await read_response(conn["r"])
        except Exception:
            conn["w"].close()
            conn["w"] = None
            raise
        conn["n"] += 1
        return raw, reused

    async def one_ka(self, conn, client):
        t0 = time.monotonic()
        retry = False
        try:
            try:
                raw, _ = await asyncio.wait_for(self.ka_exchange(conn, client), self.args.timeout)
            except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as e:
                partial = getattr(e, "partial", b"")
                if not conn.get("was_reused") or partial:
                    raise
                retry = True  # closed under us before any answer: once more, fresh
                raw, _ = await asyncio.wait_for(self.ka_exchange(conn, client),
                                                max(0.1, self.args.timeout - (time.monotonic() - t0)))
            status, fields = parse_answer(raw)
            self.record(client, t0, True, ok=status == 200, retry=retry,
                        err=None if status == 200 else f"http_{status}", status=status, **fields)
        except Exception as e:
            if conn.get("w") is not None:
                conn["w"].close()
                conn["w"] = None
            self.record(client, t0, True, ok=False, retry=retry, err=classify(e), status=None)
        conn["was_reused"] = conn.get("w") is not None

    async def keepalive(self, client, rate, t_begin, t_end):
        conn = {"w": None, "was_reused": False}
        i = 0
        while True:
            t = t_begin + i / rate
            if t >= t_end:
                break
            i += 1
            delay = t - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.one_ka(conn, client)  # one at a time per connection
        if conn.get("w") is not None:
            conn["w"].close()

    async def run(self):
        a = self.args
        t_begin = time.monotonic() + 0.05
        t_end = t_begin + a.duration
        # The wall clock too, so a run on real machines can be lined up
        # with the operator's notes and the daemons' logs.
        print(json.dumps({"begin": t_begin, "end": t_end,
                          "wall": time.time() + (t_begin - time.monotonic())}), flush=True)
        jobs = []
        fresh_rate = a.rate if a.mode == "fresh" else a.rate / 2 if a.mode == "mixed" else 0
        if fresh_rate:
            jobs.append(self.fresh(fresh_rate, t_begin, t_end))
        ka_rate = a.rate - fresh_rate
        if ka_rate:
            per = ka_rate / len(self.clients)
            for k, client in enumerate(self.clients):
                # Stagger the connections over one period.
                jobs.append(self.keepalive(client, per, t_begin + k / ka_rate, t_end))
        await asyncio.wait_for(asyncio.gather(*jobs), a.duration + a.timeout + 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True, help="IP:PORT")
    ap.add_argument("--clients", required=True, help="source addresses, comma-separated")
    ap.add_argument("--rate", type=float, default=300.0, help="requests per second in all")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of schedule")
    ap.add_argument("--mode", choices=("fresh", "keepalive", "mixed"), default="fresh")
    ap.add_argument("--timeout", type=float, default=3.0, help="per request, seconds")
    ap.add_argument("--max-inflight", type=int, default=1000)
    ap.add_argument("--path", default="/drill")
    ap.add_argument("--out", required=True, help="records, one JSON object per line")
    args = ap.parse_args()
    if args.duration > 600 or args.rate > 5000:
        sys.exit("tb_load: at most 600 s and 5000 requests/s")
    load = Load(args)
    try:
        asyncio.run(load.run())
    except asyncio.TimeoutError:
        pass  # the schedule's bound; what finished is recorded
    load.records.sort(key=lambda r: r["t0"])
    with open(args.out, "w") as f:
        for r in load.records:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    ok = sum(r["ok"] for r in load.records)
    print(json.dumps({"requests": len(load.records), "ok": ok,
                      "failed": len(load.records) - ok}), flush=True)


if __name__ == "__main__":
    main()
