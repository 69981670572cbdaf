"""strata-l4 end to end: the PROXY v2 header real parsers accept, the
header's fields, SNI passthrough, metrics, the access log and stratactl.
(The bad configs in configs/bad/l4-*.conf run in test_config_check.py.)"""
import json
import pathlib
import signal
import socket
import ssl
import subprocess
import time

from conftest import binary, free_port, wait_tcp
import l4util as u

SOURCES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]


def start_l4(daemons, workdir, services, name="l4", **top):
    conf = workdir / f"{name}.conf"
    sock = u.write_conf(conf, services, workdir, **top)
    d = daemons([binary("strata-l4"), "-c", conf], name=name, cwd=workdir)
    u.wait_l4(binary("stratactl"), sock)
    return d, conf, sock


def test_nginx_sees_client_addresses(daemons, workdir):
    """nginx's own PROXY parser (listen ... proxy_protocol) reports each
    client's source address and port: our header is the real thing."""
    ng = free_port()
    daemons(u.nginx_conf(workdir, ng), name="nginx")
    wait_tcp("127.0.0.1", ng)
    port = free_port()
    start_l4(daemons, workdir, [u.service_block("web", f"127.0.0.1:{port}",
                                                [f"127.0.0.1:{ng}"], proxy_crc32c=True)])
    for src in SOURCES:
        status, body, local = u.http_get(port, src=src)
        assert status == 200, body
        addr, sport, server = body.split()
        assert (addr, int(sport)) == (src, local[1])
        assert server == "127.0.0.1"


def test_haproxy_sees_client_addresses(daemons, workdir):
    hp = free_port()
    daemons(u.haproxy_conf(workdir, hp), name="haproxy")
    wait_tcp("127.0.0.1", hp)
    port = free_port()
    start_l4(daemons, workdir, [u.service_block("web", f"127.0.0.1:{port}",
                                                [f"127.0.0.1:{hp}"])])
    for src in SOURCES:
        status, body, local = u.http_get(port, src=src)
        assert status == 200, body
        addr, sport, dst = body.split()
        assert (addr, int(sport), dst) == (src, local[1], "127.0.0.1")


def test_header_fields_and_access_log(daemons, workdir):
    """UNIQUE_ID is the connection id the access log prints, the node TLV
    names the node, CRC32C is present, and the echo crosses intact."""
    p1, p2 = free_port(), free_port()
    u.start_ppservers(daemons, [p1, p2], ["a", "b"])
    wait_tcp("127.0.0.1", p1)
    wait_tcp("127.0.0.1", p2)
    port = free_port()
    log = workdir / "access.log"
    l4, _, _ = start_l4(daemons, workdir,
                        [u.service_block("echo", f"127.0.0.1:{port}",
                                         [f"127.0.0.1:{p1}", f"127.0.0.1:{p2}"],
                                         proxy_crc32c=True)],
                        node_name="edge-7", access_log=str(log))
    ids = set()
    for src in SOURCES:
        hdr, echo, local = u.converse(port, b"payload " + src.encode(), src=src)
        assert echo == b"payload " + src.encode()
        assert hdr["cmd"] == "proxy"
        assert hdr["src"] == f"{src}:{local[1]}"
        assert hdr["dst"] == f"127.0.0.1:{port}"
        assert hdr["tlvs"]["0xe0"] == "edge-7"
        assert len(hdr["tlvs"]["0x03"]) == 8  # CRC32C, verified by the parser below
        uid = hdr["tlvs"]["0x05"]
        assert uid.startswith("edge-7-") and len(uid) <= 128
        ids.add(uid)
    assert len(ids) == len(SOURCES)
    def logged():
        if not log.exists():
            return None
        recs = [json.loads(l) for l in log.read_text().splitlines() if l.strip()]
        mine = [r for r in recs if r["conn"] in ids]
        return mine if len(mine) == len(ids) else None

    for l in u.wait_for(logged, what="access log lines"):
        assert l["service"] == "echo" and l["reason"] == "done"
        assert l["bytes_in"] == len("payload 127.0.0.2")
        assert l["bytes_out"] > l["bytes_in"]
        assert l["client"].split(":")[0] in SOURCES
        assert l["instance"] in (f"127.0.0.1:{p1}", f"127.0.0.1:{p2}")


def test_crc32c_header_accepted_by_decoder(daemons, workdir):
    """Our own decoder (common/proxy.c, which verifies CRC32C) and the
    peer's agree; a raw capture decodes with the CRC32C TLV matching."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = free_port()
    start_l4(daemons, workdir, [u.service_block(
        "raw", f"127.0.0.1:{port}", [f"127.0.0.1:{srv.getsockname()[1]}"], proxy_crc32c=True)])
    srv.settimeout(5)
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"abc")
    # wait_tcp's probe reached the instance first (a header, then EOF):
    # take connections until the one carrying our bytes.
    while True:
        s, _ = srv.accept()
        s.settimeout(5)
        data = b""
        while not data.endswith(b"abc"):
            d = s.recv(4096)
            if not d:
                break
            data += d
        if data.endswith(b"abc"):
            break
        s.close()
    hdr, n = u.parse_ppv2(data)
    assert data[n:] == b"abc"  # the header and the first bytes in one stream
    crc_hex = hdr["tlvs"]["0x03"]
    # Recompute CRC32C over the header with the CRC field zeroed.
    blob = bytearray(data[:n])
    i = blob.find(bytes.fromhex(crc_hex))
    blob[i:i + 4] = b"\0\0\0\0"
    assert crc32c(bytes(blob)) == int(crc_hex, 16)
    c.close()
    s.close()
    srv.close()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def tls_hello(port, sni, timeout=5):
    """Starts a TLS handshake with `sni` and returns once the ClientHello is
    out (the peer is not TLS, so the handshake fails after that)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inb, outb, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    raw.sendall(outb.read())
    return raw


def test_sni_becomes_authority(daemons, workdir):
    p1 = free_port()
    u.start_ppservers(daemons, [p1], ["tls0"])
    wait_tcp("127.0.0.1", p1)
    port = free_port()
    start_l4(daemons, workdir, [u.service_block("tls", f"127.0.0.1:{port}",
                                                [f"127.0.0.1:{p1}"], sni=True,
                                                sni_timeout="1s")])
    for name in ["app.strata.test", "x", "a-b.example.org"]:
        c = tls_hello(port, name)
        hdr = json.loads(u.read_line(c))
        assert hdr["tlvs"]["0x02"] == name
        c.close()
    # Not TLS at all: forwarded without AUTHORITY.
    hdr, echo, _ = u.converse(port, b"GET / HTTP/1.0\r\n\r\n")
    assert "0x02" not in hdr["tlvs"] and echo == b"GET / HTTP/1.0\r\n\r\n"


def test_sni_service_closes_silent_client(daemons, workdir):
    """A client that sends nothing on a TLS service is closed at
    sni_timeout, and no instance connection is made for it."""
    p1 = free_port()
    u.start_ppservers(daemons, [p1], ["tls0"])
    wait_tcp("127.0.0.1", p1)
    port = free_port()
    _, _, sock = start_l4(daemons, workdir, [u.service_block(
        "tls", f"127.0.0.1:{port}", [f"127.0.0.1:{p1}"], sni=True, sni_timeout="300ms")])
    c = socket.create_connection(("127.0.0.1", port))
    c.settimeout(5)
    t0 = time.monotonic()
    assert c.recv(10) == b""
    took = time.monotonic() - t0
    assert 0.2 < took < 2.0
    inst = u.instances(binary("stratactl"), sock, "tls")[0]
    assert inst["total"] == "0"


def test_plain_service_server_speaks_first(daemons, workdir):
    """On a plain service the instance is connected at once: its greeting
    reaches a client that has sent nothing."""
    p1 = free_port()
    u.start_ppservers(daemons, [p1], ["greeter"])
    wait_tcp("127.0.0.1", p1)
    port = free_port()
    start_l4(daemons, workdir, [u.service_block("p", f"127.0.0.1:{port}",
                                                [f"127.0.0.1:{p1}"])])
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert json.loads(u.read_line(c))["name"] == "greeter"
    c.close()


def test_metrics_and_stratactl(daemons, workdir):
    p1, p2 = free_port(), free_port()
    u.start_ppservers(daemons, [p1, p2], ["a", "b"])
    wait_tcp("127.0.0.1", p1)
    wait_tcp("127.0.0.1", p2)
    port, mport = free_port(), free_port()
    _, _, sock = start_l4(daemons, workdir, [u.service_block(
        "svc", f"127.0.0.1:{port}", [f"127.0.0.1:{p1}", f"127.0.0.1:{p2}"],
        balance="round_robin")], metrics=f"127.0.0.1:{mport}", workers=1)
    for i in range(6):
        u.converse(port, b"12345")
    ctlb = binary("stratactl")
    text = u.metrics_text(mport)
    assert u.metric(text, "strata_l4_service_connections_total", service="svc") == 6
    assert u.metric(text, "strata_l4_service_bytes_in_total", service="svc") == 30
    assert u.metric(text, "strata_l4_service_closes_total", service="svc", reason="done") == 6
    for p in (p1, p2):
        assert u.metric(text, "strata_l4_instance_connections_total", service="svc",
                        instance=f"127.0.0.1:{p}") == 3
    svcs = u.ctl(ctlb, sock, "show", "services").stdout
    assert "svc " in svcs and "round_robin" in svcs
    conns = u.ctl(ctlb, sock, "show", "conns").stdout
    assert "service svc 0" in conns
    stats = u.ctl(ctlb, sock, "show", "stats").stdout
    assert "node l4-test" in stats
    r = u.ctl(ctlb, sock, "set", "instance", "svc", "127.0.0.1:1", "drain", check=False)
    assert r.returncode == 1 and "no instance" in r.stderr
    r = u.ctl(ctlb, sock, "set", "instance", "nosuch", "x", "drain", check=False)
    assert r.returncode == 1
    r = u.ctl(ctlb, sock, "show", "bogus", check=False)
    assert r.returncode == 1


def test_ipv6_listener_and_header(daemons, workdir):
    p1 = free_port()
    u.start_ppservers(daemons, [p1], ["v6"])
    wait_tcp("127.0.0.1", p1)
    port = free_port()
    start_l4(daemons, workdir, [u.service_block("six", [f"[::1]:{port}", f"127.0.0.1:{port}"],
                                                [f"127.0.0.1:{p1}"])])
    hdr, echo, local = u.converse(port, b"six", src="::1", host="::1")
    assert echo == b"six"
    assert hdr["src"] == f"[::1]:{local[1]}" and hdr["dst"] == f"[::1]:{port}"
    hdr, echo, local = u.converse(port, b"four")
    assert hdr["src"] == f"127.0.0.1:{local[1]}"
