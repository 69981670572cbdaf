"""strata-l4 at scale: 9,000 concurrent client connections through it to
nginx, each used twice, with the balancer's memory per idle connection
measured (the target is at most 1 KiB: buffers belong to the ring, not to
idle connections)."""
import subprocess
import sys

from conftest import binary, free_port, sanitized, wait_tcp
import l4util as u

CLIENTS = 3
PER_CLIENT = 3000  # 3 x 3000 = 9000 connections, 18,000 descriptors in strata-l4


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_9000_concurrent_connections(daemons, workdir):
    ng = free_port()
    daemons(u.nginx_conf(workdir, ng, worker_connections=12000), name="nginx")
    wait_tcp("127.0.0.1", ng)
    port = free_port()
    conf = workdir / "l4.conf"
    sock = u.write_conf(conf, [u.service_block("web", f"127.0.0.1:{port}", [f"127.0.0.1:{ng}"],
                                               balance="round_robin")], workdir, workers=2)
    l4 = daemons([binary("strata-l4"), "-c", conf], name="l4", cwd=workdir)
    u.wait_l4(binary("stratactl"), sock)
    # Warm up until every provided buffer of both workers' rings has been
    # written once (the ring hands them out in turn): they are a fixed pool,
    # not memory of the idle connections measured below.
    warm = subprocess.Popen([sys.executable, str(u.HERE / "l4util.py"), "holdclients",
                             str(port), "400"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert warm.stdout.readline().split() == ["ready", "400"]
    for _ in range(6):
        warm.stdin.write("again\n")
        warm.stdin.flush()
        assert warm.stdout.readline().split() == ["done", "400"]
    warm.stdin.write("quit\n")
    warm.stdin.flush()
    warm.wait(20)
    u.wait_for(lambda: "total 0 " in u.ctl(binary("stratactl"), sock, "show", "conns").stdout,
               timeout=20, what="warm-up connections closed")
    base = rss_kib(l4.pid)
    procs = [subprocess.Popen([sys.executable, str(u.HERE / "l4util.py"), "holdclients",
                               str(port), str(PER_CLIENT)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(CLIENTS)]
    try:
        ready = [p.stdout.readline().split() for p in procs]
        assert all(r == ["ready", str(PER_CLIENT)] for r in ready), ready
        conns = u.ctl(binary("stratactl"), sock, "show", "conns").stdout
        assert f"total {CLIENTS * PER_CLIENT} " in conns, conns
        per_conn = (rss_kib(l4.pid) - base) * 1024 / (CLIENTS * PER_CLIENT)
        print(f"strata-l4 RSS per idle connection: {per_conn:.0f} bytes")
        assert per_conn <= (4096 if sanitized("strata-l4") else 1024), per_conn
        for p in procs:
            p.stdin.write("again\n")
            p.stdin.flush()
        done = [p.stdout.readline().split() for p in procs]
        assert all(d == ["done", str(PER_CLIENT)] for d in done), done
    finally:
        for p in procs:
            try:
                p.stdin.write("quit\n")
                p.stdin.flush()
            except OSError:
                pass
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    u.wait_for(lambda: "total 0 " in u.ctl(binary("stratactl"), sock, "show", "conns").stdout,
               timeout=20, what="every connection closed")
