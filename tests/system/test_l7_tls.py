"""strata-l7 TLS termination against real peers (openssl s_client, curl,
Python's ssl): certificates by SNI and key type, ALPN, resumption, mTLS,
reload without dropping connections, handshake failures counted, and the
SNI compared with the PPv2 AUTHORITY."""
import json
import re
import signal
import socket
import ssl
import time

from conftest import binary, free_port, wait_tcp
from l7tls import (at_eof, cert_entry, client_ctx, curl, pki, s_client, start_tls_l7,
                   tls_listener, wait_until)
from l7util import HOST, Client, ppv2, start_echo, start_l7

PP2_TYPE_AUTHORITY = 0x02


def subject(out):
    m = re.search(r"^subject=(.*)$", out, re.M)
    return m.group(1).replace(" ", "") if m else None


def key_bits(out):
    m = re.search(r"Server public key is (\d+) bit", out)
    return int(m.group(1)) if m else None


def echo_json(res):
    assert res.returncode == 0, res.stderr.decode()
    return json.loads(res.stdout)


def header(j, name):
    return [v for k, v in j["headers"] if k.lower() == name.lower()]


def test_sni_chooses_the_certificate_by_name_and_key_type(daemons, workdir):
    p = pki()
    l7, _ = start_tls_l7(daemons, workdir, certs=[
        cert_entry(p, "ec-local"), cert_entry(p, "rsa-local"), cert_entry(p, "other")])
    # ECDSA first for clients that can verify it (OpenSSL's default order)
    out = s_client(l7.port, "-brief")
    assert "CN=localhost" in (subject(s_client(l7.port)) or "")
    assert key_bits(s_client(l7.port)) == 256, out
    # a client that only takes RSA signatures gets the RSA certificate
    out = s_client(l7.port, "-tls1_2", "-sigalgs", "RSA+SHA256:RSA-PSS+SHA256")
    assert key_bits(out) == 2048, out
    # exact name, wildcard one label up, and the default for unknown names
    assert subject(s_client(l7.port, servername="other.test")) == "CN=other.test"
    assert key_bits(s_client(l7.port, servername="www.example.com")) == 256
    assert "CN=localhost" in subject(s_client(l7.port, servername="nobody.invalid"))
    assert "CN=localhost" in subject(s_client(l7.port, "-noservername", servername=None))
    # and curl agrees: the name verifies, the request goes through
    j = echo_json(curl(l7.port, "/sni", host="other.test", timeout=10))
    assert j["path"] == "/sni"
    assert l7.metric("strata_l7_tls_handshakes_total", kind="full") >= 6


def test_alpn_negotiates_h2_and_http11_and_proto_is_https(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir)
    assert "ALPN protocol: h2" in s_client(l7.port, "-alpn", "h2,http/1.1")
    assert "ALPN protocol: http/1.1" in s_client(l7.port, "-alpn", "http/1.1")
    r = curl(l7.port, "/h2", "--http2", "-w", "\n%{http_version}")
    body, version = r.stdout.decode().rsplit("\n", 1)
    assert version == "2"
    j = json.loads(body)
    assert header(j, "x-forwarded-proto") == ["https"]
    assert "proto=https" in header(j, "forwarded")[0]
    r = curl(l7.port, "/h1", "--http1.1", "-w", "\n%{http_version}")
    assert r.stdout.decode().rsplit("\n", 1)[1] == "1.1"
    # a client whose ALPN list has nothing we serve is refused (RFC 7301 §3.2)
    out = s_client(l7.port, "-alpn", "spdy/3")
    assert "no application protocol" in out or "alert number 120" in out, out
    lines = l7.access_lines(want=2)
    assert {x["proto"] for x in lines} == {"h2", "http/1.1"}
    assert all(x["tls"] == "TLSv1.3" and x["sni"] == "localhost" for x in lines)


def test_alpn_without_http2_offers_http11_only(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir, http2="http2 = { enabled = false; };")
    assert "ALPN protocol: http/1.1" in s_client(l7.port, "-alpn", "h2,http/1.1")
    r = curl(l7.port, "/", "--http2", "-w", "\n%{http_version}")
    assert r.stdout.decode().rsplit("\n", 1)[1] == "1.1"


def test_sessions_resume_with_tickets(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir)
    req = b"GET /resume HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    for ver in ("-tls1_3", "-tls1_2"):
        sess = str(workdir / f"sess{ver}")
        first = s_client(l7.port, ver, "-sess_out", sess, "-ign_eof", data=req)
        assert "HTTP/1.1 200" in first and "New, TLSv1." in first, first
        again = s_client(l7.port, ver, "-sess_in", sess, "-ign_eof", data=req)
        assert "Reused, TLSv1." in again and "HTTP/1.1 200" in again, again
    assert l7.metric("strata_l7_tls_handshakes_total", kind="resumed") == 2


def test_mtls_passes_the_verified_subject_and_refuses_bad_client_certs(daemons, workdir):
    p = pki()
    l7, _ = start_tls_l7(daemons, workdir, tls_extra=(
        f'client_verify = "required"; client_ca = "{p.ca}"; '
        'client_subject_header = "X-Client-Subject";'))
    ok = ["--cert", p.path("client-ok.pem"), "--key", p.path("client-ok.key")]
    # a client's own copy of the header never crosses
    j = echo_json(curl(l7.port, "/mtls", *ok, "-H", "X-Client-Subject: CN=admin"))
    # RFC 2253 writes the RDNs last to first: /CN=client-1/O=Strata Test
    assert header(j, "x-client-subject") == ["O=Strata Test,CN=client-1"]
    for name in ("client-expired", "client-foreign", "client-server-only"):
        r = curl(l7.port, "/", "--cert", p.path(name + ".pem"), "--key", p.path(name + ".key"))
        assert r.returncode != 0 and not r.stdout, (name, r.stdout)
    r = curl(l7.port, "/")  # none at all
    assert r.returncode != 0 and not r.stdout
    out = s_client(l7.port, "-cert", p.path("client-expired.pem"), "-key",
                   p.path("client-expired.key"), "-ign_eof", data=b"GET / HTTP/1.1\r\n\r\n")
    assert "certificate expired" in out, out
    wait_until(lambda: l7.metric("strata_l7_tls_errors_total", reason="client_cert_bad") >= 4,
               what="client_cert_bad counted")
    assert l7.metric("strata_l7_tls_errors_total", reason="client_cert_missing") >= 1
    l7.d.wait_log("certificate has expired")


def test_mtls_optional_lets_clients_without_a_certificate_in(daemons, workdir):
    p = pki()
    l7, _ = start_tls_l7(daemons, workdir, tls_extra=(
        f'client_verify = "optional"; client_ca = "{p.ca}"; '
        'client_subject_header = "X-Client-Subject";'))
    j = echo_json(curl(l7.port, "/", "-H", "X-Client-Subject: CN=forged"))
    assert header(j, "x-client-subject") == []
    r = curl(l7.port, "/", "--cert", p.path("client-foreign.pem"), "--key",
             p.path("client-foreign.key"))
    assert r.returncode != 0  # a certificate that is sent must verify


def ssl_request(sock, path):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    n = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))
    while len(body) < n:
        body += sock.recv(65536)
    return head.split(b"\r\n")[0], json.loads(body[:n])


def test_reload_swaps_certificates_without_dropping_open_connections(daemons, workdir):
    p = pki()
    cert, key = workdir / "live.pem", workdir / "live.key"
    cert.write_bytes(open(p.path("ec-local.pem"), "rb").read())
    key.write_bytes(open(p.path("ec-local.key"), "rb").read())
    l7, _ = start_tls_l7(daemons, workdir,
                         certs=[f'{{ cert = "{cert}"; key = "{key}"; }}'])
    ctx = client_ctx(alpn=("http/1.1",))
    old = ctx.wrap_socket(socket.create_connection((HOST, l7.port)), server_hostname="localhost")
    assert ssl_request(old, "/before")[0].endswith(b"200 OK")
    assert "CN=localhost" in subject(s_client(l7.port))
    # new files, then a reload: new handshakes get them
    cert.write_bytes(open(p.path("swap.pem"), "rb").read())
    key.write_bytes(open(p.path("swap.key"), "rb").read())
    assert "generation 2" in l7.ctl("reload").stdout
    assert subject(s_client(l7.port)) == "CN=swapped.test"
    # the connection made before it still carries requests
    assert ssl_request(old, "/after")[1]["path"] == "/after"
    # a bad certificate is refused with the reason, and the one in use stays
    cert.write_bytes(open(p.path("other.pem"), "rb").read())  # not swap.key's
    r = l7.ctl("reload", check=False)
    assert r.returncode != 0 and "the key does not match the certificate" in r.stdout + r.stderr
    l7.d.wait_log("reload failed, keeping the running configuration")
    assert subject(s_client(l7.port)) == "CN=swapped.test"
    assert ssl_request(old, "/still")[1]["path"] == "/still"
    old.close()
    assert l7.metric("strata_l7_config_reloads_total", result="failed") == 1


def test_reload_keeps_ticket_keys_so_sessions_resume(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir)
    sess = str(workdir / "sess")
    req = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    s_client(l7.port, "-tls1_2", "-sess_out", sess, "-ign_eof", data=req)
    l7.ctl("reload")
    assert "Reused, TLSv1.2" in s_client(l7.port, "-tls1_2", "-sess_in", sess, "-ign_eof",
                                         data=req)


def test_handshake_failures_get_a_reason_a_counter_and_no_crash(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir, tls_extra='handshake_timeout = "300ms";')
    # plain HTTP to a TLS port
    with Client(l7.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert at_eof(c.sock)
    # TLS 1.1 is not served (RFC 8996)
    out = s_client(l7.port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert "alert protocol version" in out or "no protocols available" in out, out
    # garbage after a valid ClientHello start, and a silent client
    with socket.create_connection((HOST, l7.port)) as s:
        s.sendall(b"\x16\x03\x01\x00\x05hello-garbage" * 3)
        assert at_eof(s)
    with socket.create_connection((HOST, l7.port)) as s:
        assert at_eof(s, timeout=3)
    wait_until(lambda: l7.metric("strata_l7_tls_errors_total", reason="handshake_timeout") == 1,
               what="handshake timeout counted")
    assert l7.metric("strata_l7_tls_errors_total", reason="not_tls") >= 1
    assert l7.metric("strata_l7_tls_errors_total", reason="version") >= 1
    assert l7.metric("strata_l7_terminations_total", reason="tls") >= 3
    l7.d.wait_log("tls not_tls")
    # still serving
    assert echo_json(curl(l7.port, "/alive"))["path"] == "/alive"


def tls_after_ppv2(port, authority, sni="localhost", src=("203.0.113.9", 4242)):
    """A PPv2 header with AUTHORITY, then a TLS handshake with `sni`."""
    s = socket.create_connection((HOST, port), timeout=5)
    tlvs = [(PP2_TYPE_AUTHORITY, authority.encode())] if authority else []
    s.sendall(ppv2(src, tlvs=tlvs))
    return client_ctx(alpn=("http/1.1",)).wrap_socket(s, server_hostname=sni)


def test_sni_is_compared_with_the_ppv2_authority(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir, proxy="required")
    with tls_after_ppv2(l7.port, "localhost") as s:
        head, j = ssl_request(s, "/match")
        assert header(j, "x-forwarded-for") == ["203.0.113.9"]
    with tls_after_ppv2(l7.port, "other.example:443") as s:
        assert ssl_request(s, "/mismatch")[1]["path"] == "/mismatch"  # log only
    l7.d.wait_log("TLS SNI 'localhost' differs from the PPv2 AUTHORITY 'other.example:443'")
    assert l7.metric("strata_l7_tls_authority_mismatch_total") == 1
    assert {x["sni"] for x in l7.access_lines(want=2)} == {"localhost"}


def test_authority_mismatch_can_refuse_the_connection(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir, proxy="required",
                         tls_extra='authority_mismatch = "refuse";')
    try:
        with tls_after_ppv2(l7.port, "evil.example") as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert at_eof(s)
    except (ssl.SSLError, ConnectionResetError):
        pass  # refused while the handshake ended
    with tls_after_ppv2(l7.port, "LOCALHOST") as s:  # case and port do not matter
        assert ssl_request(s, "/ok")[1]["path"] == "/ok"
    assert l7.metric("strata_l7_tls_authority_mismatch_total") == 1


def test_ppv2_local_health_checks_are_answered_in_plain_http(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir, proxy="required")
    with Client(l7.port, preamble=ppv2(None, cmd=0)) as c:
        r = c.request(path="/healthz")
        assert r.status == 200 and r.body == b"ok\n"


def test_drain_sends_close_notify_to_idle_tls_connections(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir)
    s = client_ctx(alpn=("http/1.1",)).wrap_socket(socket.create_connection((HOST, l7.port)),
                                                    server_hostname="localhost")
    assert ssl_request(s, "/")[0].endswith(b"200 OK")
    l7.d.send(signal.SIGTERM)
    s.settimeout(5)
    assert s.recv(100) == b""  # close_notify: a clean TLS EOF, not a reset
    s.close()
    assert l7.d.proc.wait(10) == 0


def l4_tls_conf(workdir, port, l7_port):
    return f"""
node_name = "l4-tls-test";
workers = 1;
admin = {{ socket = "{workdir / 'l4.sock'}"; }};
access_log = "{workdir / 'l4-access.log'}";
services = (
  {{ name = "tls"; listen = [ "127.0.0.1:{port}" ]; balance = "maglev"; hash_key = "ip";
     sni = true; sni_timeout = "2s"; proxy_authority = true; proxy_crc32c = true;
     health = {{ type = "none"; }};
     instances = ( {{ address = "127.0.0.1:{l7_port}"; }} ); }}
);
"""


def test_end_to_end_through_the_l4_tls_passthrough(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir, proxy="required")
    port = free_port()
    (workdir / "l4.conf").write_text(l4_tls_conf(workdir, port, l7.port))
    l4 = daemons([binary("strata-l4"), "-c", str(workdir / "l4.conf")], name="l4")
    wait_tcp(HOST, port, proc=l4.proc)
    for src in ("127.0.0.7", "127.0.0.8"):
        r = curl(port, "/through-l4", "--interface", src, "--http2")
        j = echo_json(r)
        # the client address crossed both tiers, TLS untouched by the first
        assert header(j, "x-forwarded-for") == [src]
        assert header(j, "x-forwarded-proto") == ["https"]
        assert header(j, "x-request-id")[0].startswith("l4-tls-test")
    lines = l7.access_lines(want=2)
    assert [x["client"] for x in lines] == ["127.0.0.7", "127.0.0.8"]
    assert all(x["sni"] == "localhost" and x["proto"] == "h2" for x in lines)
    # strata-l4 peeked the same name the handshake carried: no mismatch
    assert l7.metric("strata_l7_tls_authority_mismatch_total") == 0
    assert l7.metric("strata_l7_tls_handshakes_total", kind="full") == 2
