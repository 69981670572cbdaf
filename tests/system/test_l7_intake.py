"""strata-l7 intake: PROXY v1/v2 from trusted peers only, the PPv2 source as
THE client address, LOCAL health answers, refusals counted and nothing
forwarded."""
import socket
import time

from conftest import free_port, wait_tcp
from l7util import (HOST, PP2_TYPE_UNIQUE_ID, Client, echo_stats, get, ppv1, ppv2, raw_exchange,
                    simple_stack)


def test_ppv2_source_becomes_the_client_address_in_every_forwarding_header(daemons, workdir):
    l7, (be,) = simple_stack(daemons, workdir, proxy="required")
    pre = ppv2(("10.77.3.4", 51000), ("10.77.0.1", 8000),
               tlvs=[(PP2_TYPE_UNIQUE_ID, b"l4-conn-42")])
    with Client(l7.port, preamble=pre) as c:
        r = c.request(headers=[("X-Forwarded-For", "1.2.3.4"), ("X-Real-IP", "1.2.3.4")])
        assert r.status == 200
        assert r.echo_headers("x-forwarded-for") == ["10.77.3.4"]
        assert r.echo_headers("x-real-ip") == ["10.77.3.4"]
        assert r.echo_headers("forwarded")[0].startswith("for=10.77.3.4")
        assert r.echo_headers("x-request-id") == ["l4-conn-42"]
        # the second request on the connection keeps the address
        r2 = c.request()
        assert r2.echo_headers("x-forwarded-for") == ["10.77.3.4"]
    lines = l7.access_lines(want=2)
    assert lines[0]["client"] == "10.77.3.4" and lines[0]["uid"] == "l4-conn-42"
    assert lines[0]["status"] == 200 and lines[0]["server"] == "be-0"


def test_ppv1_is_accepted_too(daemons, workdir):
    l7, _ = simple_stack(daemons, workdir, proxy="required")
    with Client(l7.port, preamble=ppv1(("10.77.9.9", 4000))) as c:
        assert c.request().echo_headers("x-forwarded-for") == ["10.77.9.9"]


def test_header_split_across_writes_is_reassembled(daemons, workdir):
    l7, _ = simple_stack(daemons, workdir, proxy="required")
    pre = ppv2(("10.77.1.2", 1234), tlvs=[(PP2_TYPE_UNIQUE_ID, b"u" * 60)])
    with Client(l7.port) as c:
        for i in range(0, len(pre), 7):
            c.send(pre[i:i + 7])
            time.sleep(0.01)
        assert c.request().echo_headers("x-forwarded-for") == ["10.77.1.2"]


def test_missing_header_where_required_is_refused_and_nothing_forwarded(daemons, workdir):
    l7, (be,) = simple_stack(daemons, workdir, proxy="required")
    before = echo_stats(be.port)["requests_total"]
    out = raw_exchange(l7.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out == b""
    assert echo_stats(be.port)["requests_total"] == before + 1  # the second /stats only
    assert l7.metric("strata_l7_intake_refused_total", reason="missing") == 1


def test_malformed_header_is_refused(daemons, workdir):
    l7, (be,) = simple_stack(daemons, workdir, proxy="required")
    before = echo_stats(be.port)["requests_total"]
    bad = bytearray(ppv2(("10.77.1.1", 1)))
    bad[12] = 0x31  # version 3
    assert raw_exchange(l7.port, bytes(bad) + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == b""
    assert l7.metric("strata_l7_intake_refused_total", reason="malformed") == 1
    assert echo_stats(be.port)["requests_total"] == before + 1


def test_ppv2_from_an_untrusted_source_is_refused(daemons, workdir):
    l7, (be,) = simple_stack(daemons, workdir, proxy="required")
    before = echo_stats(be.port)["requests_total"]
    # trusted is 127.0.0.0/8 by default in l7util: rebuild with a /32
    l7.conf.write_text(l7.conf.read_text().replace('"127.0.0.0/8"', '"127.0.0.1/32"'))
    l7.ctl("reload")
    with Client(l7.port, source="127.0.0.2") as c:
        c.send(ppv2(("10.77.0.5", 1)) + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.at_eof()
    assert l7.metric("strata_l7_intake_refused_total", reason="untrusted") == 1
    # the trusted source still gets through
    with Client(l7.port, source="127.0.0.1", preamble=ppv2(("10.77.0.6", 1))) as c:
        assert c.request().echo_headers("x-real-ip") == ["10.77.0.6"]
    assert echo_stats(be.port)["requests_total"] == before + 2


def test_optional_listener_takes_plain_http_and_trusted_headers(daemons, workdir):
    l7, _ = simple_stack(daemons, workdir, proxy="optional")
    r = get(l7.port)
    assert r.echo_headers("x-forwarded-for") == ["127.0.0.1"]
    with Client(l7.port, preamble=ppv2(("10.77.2.2", 9))) as c:
        assert c.request().echo_headers("x-forwarded-for") == ["10.77.2.2"]


def test_local_command_answers_the_health_path_from_the_instance(daemons, workdir):
    l7, (be,) = simple_stack(daemons, workdir, proxy="required")
    before = echo_stats(be.port)["requests_total"]
    with Client(l7.port, preamble=ppv2(None, cmd=0)) as c:
        r = c.request(path="/healthz")
        assert r.status == 200 and r.body == b"ok\n"
        assert c.request(path="/other").status == 404
    assert echo_stats(be.port)["requests_total"] == before + 1
    l7.ctl("set", "instance", "drain")
    with Client(l7.port, preamble=ppv2(None, cmd=0)) as c:
        assert c.request(path="/healthz").status == 503
    l7.ctl("set", "instance", "ready")
    with Client(l7.port, preamble=ppv2(None, cmd=0)) as c:
        assert c.request(path="/healthz").status == 200
    assert l7.metric("strata_l7_local_health_total") == 3


def test_haproxy_send_proxy_v2_is_accepted(daemons, workdir):
    l7, _ = simple_stack(daemons, workdir, proxy="required")
    front = free_port()
    cfg = workdir / "haproxy.cfg"
    cfg.write_text(f"""
global
    maxconn 100
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend f
    bind 127.0.0.1:{front}
    default_backend b
backend b
    server l7 127.0.0.1:{l7.port} send-proxy-v2 proxy-v2-options unique-id
""")
    hp = daemons(["/usr/sbin/haproxy", "-db", "-f", str(cfg)], name="haproxy")
    wait_tcp(HOST, front, proc=hp.proc)
    with Client(front, source="127.0.0.3") as c:
        r = c.request(headers=[("X-Forwarded-For", "1.2.3.4")])
        assert r.status == 200
        assert r.echo_headers("x-forwarded-for") == ["127.0.0.3"]
        assert r.echo_headers("x-real-ip") == ["127.0.0.3"]
    assert l7.metric("strata_l7_intake_refused_total") == 0
