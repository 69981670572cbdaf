"""strata-l7 OCSP stapling against openssl s_client: the configured DER
response is stapled in TLS 1.2 and 1.3 when the client asks for it, a
certificate without one staples nothing, and a reload picks up a
refreshed response while a revoked or foreign one is refused with the
reason (the running one stays). The responses are made here with
`openssl ocsp` acting as the CA's responder from an index file."""
import datetime
import pathlib
import subprocess

from l7tls import cert_entry, pki, s_client, start_tls_l7


def _serial(pem):
    out = subprocess.run(["openssl", "x509", "-in", pem, "-noout", "-serial"],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1]


def ocsp_response(workdir, cert, status="V", out="resp.der"):
    """A DER response from the test CA for `cert`: V (good) or R (revoked)."""
    p = pki()
    d = pathlib.Path(workdir)
    exp = (datetime.datetime.utcnow() + datetime.timedelta(days=30)).strftime("%y%m%d%H%M%SZ")
    revoked = datetime.datetime.utcnow().strftime("%y%m%d%H%M%SZ") if status == "R" else ""
    (d / "index.txt").write_text(
        f"{status}\t{exp}\t{revoked}\t{_serial(p.path(cert + '.pem'))}\tunknown\t/CN=x\n")
    subprocess.run(["openssl", "ocsp", "-index", str(d / "index.txt"), "-rsigner", p.ca,
                    "-rkey", p.path("ca.key"), "-CA", p.ca, "-issuer", p.ca,
                    "-cert", p.path(cert + ".pem"), "-respout", str(d / out), "-ndays", "1"],
                   capture_output=True, check=True, timeout=30)
    return d / out


def chain(workdir, cert):
    """The certificate followed by its issuer: the issuer identifies the
    response's CertID, so strata-l7 wants it in the chain file."""
    p = pki()
    path = pathlib.Path(workdir) / f"{cert}-chain.pem"
    path.write_bytes(open(p.path(cert + ".pem"), "rb").read() + open(p.ca, "rb").read())
    return path


def ocsp_cert(workdir, ocsp):
    return (f'{{ cert = "{chain(workdir, "ec-local")}"; key = "{pki().path("ec-local.key")}"; '
            f'ocsp = "{ocsp}"; }}')


def stapled(port, version):
    out = s_client(port, "-status", version, data=b"")
    assert "Verify return code: 0 (ok)" in out, out
    return out


def test_the_response_is_stapled_in_tls12_and_tls13(daemons, workdir):
    live = workdir / "live.der"
    live.write_bytes(ocsp_response(workdir, "ec-local").read_bytes())
    l7, _ = start_tls_l7(daemons, workdir, certs=[ocsp_cert(workdir, live)])
    for version in ("-tls1_2", "-tls1_3"):
        out = stapled(l7.port, version)
        assert "OCSP Response Status: successful" in out, out
        assert "Cert Status: good" in out, out
    # a client that does not ask gets no stapled response
    assert "OCSP response" not in s_client(l7.port, data=b"")


def test_a_certificate_without_a_response_staples_nothing(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir, certs=[cert_entry(pki(), "ec-local")])
    out = stapled(l7.port, "-tls1_3")
    assert "OCSP response: no response sent" in out, out


def test_reload_refreshes_the_response_and_refuses_revoked_or_foreign_ones(daemons, workdir):
    live = workdir / "live.der"
    live.write_bytes(ocsp_response(workdir, "ec-local").read_bytes())
    l7, _ = start_tls_l7(daemons, workdir, certs=[ocsp_cert(workdir, live)])
    # revoked: refused at reload with the reason; the good one stays stapled
    live.write_bytes(ocsp_response(workdir, "ec-local", status="R").read_bytes())
    r = l7.ctl("reload", check=False)
    assert r.returncode != 0 and "revoked" in r.stdout + r.stderr, r.stdout + r.stderr
    assert "Cert Status: good" in stapled(l7.port, "-tls1_3")
    # a response about another certificate: refused too
    live.write_bytes(ocsp_response(workdir, "rsa-local").read_bytes())
    r = l7.ctl("reload", check=False)
    assert r.returncode != 0, r.stdout + r.stderr
    assert str(live) in r.stdout + r.stderr, r.stdout + r.stderr
    assert "Cert Status: good" in stapled(l7.port, "-tls1_2")
    # a refreshed good response: accepted and stapled
    live.write_bytes(ocsp_response(workdir, "ec-local").read_bytes())
    assert "generation 2" in l7.ctl("reload").stdout
    assert "Cert Status: good" in stapled(l7.port, "-tls1_3")
    assert l7.metric("strata_l7_config_reloads_total", result="failed") == 2
