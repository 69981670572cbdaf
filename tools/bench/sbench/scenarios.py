"""What the bench runs: scenarios, their peers (configured alike), workloads
and the targets of the tier issues.

Every peer of a scenario relays to the same backend. Strata's rows come
first in each list; the other peers are what users would pick instead.
"""
from dataclasses import dataclass, field

from .peers import Peer, Tier

SPLICE = "    option splice-request\n    option splice-response"


@dataclass
class Scenario:
    id: str
    title: str
    backend: str      # "nginx-pp" (PROXY-protocol nginx) or "echo" (strata-echo)
    check: str        # "pp" or "xff": how the plumbing check proves the client address
    peers: list
    targets: list = field(default_factory=list)
    about: str = ""
    scheme: str = "http"
    workloads: tuple = ("small", "16k", "conn", "bulk", "idle")


# Session resumption off everywhere: wrk would resume with some peers and
# not others, and the figure is meant to count full handshakes.
NGINX_TLS = ("        ssl_certificate @CERT@;\n"
             "        ssl_certificate_key @KEY@;\n"
             "        ssl_session_tickets off;\n"
             "        ssl_session_cache off;")
# docs/tls.md "Configuration": ALPN offers h2 while the listener's http2
# group is enabled (the default).
STRATA_TLS = ('    tls = { certificates = ( { cert = "@CERT@"; key = "@KEY@"; } );\n'
              '            session_tickets = false; session_cache = 0; };')


def _nginx_http(keepalive, behind_l4=False, tls=False):
    return Tier("l7", "nginx", "nginx-http.conf", {
        "KEEPALIVE": keepalive,
        "LISTEN_OPTS": "proxy_protocol" if behind_l4 else "ssl http2" if tls else "",
        "SERVER_EXTRA": NGINX_TLS if tls else "",
        "XFF": "$proxy_protocol_addr" if behind_l4 else "$remote_addr"})


def _haproxy_http(behind_l4=False, tls=False):
    return Tier("l7", "haproxy", "haproxy-http.cfg", {
        "BIND_OPTS": "accept-proxy" if behind_l4 else
        "ssl crt @CERT_PEM@ alpn h2,http/1.1 no-tls-tickets" if tls else "",
        "GLOBAL_EXTRA": "    tune.ssl.cachesize 0" if tls else ""})


HAPROXY_TCP = Tier("l4", "haproxy", "haproxy-tcp.cfg", {"SPLICE": ""})
# strata-l4's default data path is splice (provided buffers first, pooled
# pipes once a flow is bulk); the copy-only path is measured as a second row.
STRATA_L4 = Tier("l4", "strata-l4", "strata-l4.conf", {"DATA_PATH": "splice"})


def _strata_l7(behind_l4=False, tls=False):
    return Tier("l7", "strata-l7", "strata-l7.conf", {
        "PROXY_PROTOCOL": "required" if behind_l4 else "off",
        "TRUSTED": '    trusted = [ "127.0.0.0/8" ];' if behind_l4 else "",
        "TLS": STRATA_TLS if tls else ""})


def _target(strata, fig, against, op, bound, text):
    return {"strata": strata, "figure": fig, "against": against, "op": op, "bound": bound,
            "text": text}


L4 = Scenario(
    "l4", "L4 alone", "nginx-pp", "pp",
    [Peer("strata-l4", "strata-l4 (data_path splice, the default)", [STRATA_L4], strata=True),
     Peer("strata-l4-copy", "strata-l4 (data_path copy)",
          [Tier("l4", "strata-l4", "strata-l4.conf", {"DATA_PATH": "copy"})], strata=True),
     Peer("haproxy-tcp", "HAProxy mode tcp, send-proxy-v2", [HAPROXY_TCP]),
     Peer("haproxy-tcp-splice", "HAProxy mode tcp, send-proxy-v2, forced splice",
          [Tier("l4", "haproxy", "haproxy-tcp.cfg", {"SPLICE": SPLICE})]),
     Peer("nginx-stream", "nginx stream, proxy_protocol on (v1)",
          [Tier("l4", "nginx", "nginx-stream.conf")])],
    [_target("strata-l4", "small.cpu_us", "best", "<=", 0.75,
             "CPU per small keep-alive request ≤ 0.75× the best peer"),
     _target("strata-l4", "16k.cpu_us", "best", "<=", 0.70,
             "CPU per 16 KiB response ≤ 0.7× the best peer"),
     _target("strata-l4", "conn.cpu_us", "best", "<=", 0.80,
             "CPU per new connection ≤ 0.8× the best peer"),
     _target("strata-l4", "bulk.cpu_s_gib", "haproxy-tcp-splice", "<=", 1.0,
             "CPU per GiB no more than HAProxy with forced splicing"),
     _target("strata-l4", "idle.rss_b", None, "<=", 1024,
             "process memory per idle connection ≤ 1 KiB")],
    "client → relay → nginx backend that requires a PROXY header "
    "(`listen … proxy_protocol`). Small = a fixed 100-byte body.")

L7 = Scenario(
    "l7", "L7 alone", "echo", "xff",
    [Peer("strata-l7", "strata-l7", [_strata_l7()], strata=True),
     Peer("haproxy-http", "HAProxy mode http", [_haproxy_http()]),
     Peer("nginx-ka32", "nginx proxy_pass, upstream keepalive 32", [_nginx_http(32)]),
     Peer("nginx-ka128", "nginx proxy_pass, upstream keepalive 128", [_nginx_http(128)])],
    [_target("strata-l7", "small.cpu_us", "best", "<=", 0.80,
             "CPU per small request ≤ 0.8× the best peer"),
     _target("strata-l7", "16k.cpu_us", "best", "<=", 0.80,
             "CPU per 16 KiB request ≤ 0.8× the best peer"),
     _target("strata-l7", "conn.cpu_us", "best", "<=", 0.80,
             "CPU per new client connection ≤ 0.8× the best peer"),
     _target("strata-l7", "small.p99_ms", "best", "<=", 1.0, "p99 no worse than the best peer"),
     _target("strata-l7", "small.upstream_per_100", None, "<", 1.0,
             "fewer than 1 upstream connection opened per 100 requests"),
     _target("strata-l7", "idle.rss_b", None, "<=", 512,
             "process memory per idle client connection ≤ 0.5 KiB")],
    "client → HTTP proxy → strata-echo. Small = strata-echo's JSON echo.")

CHAIN = Scenario(
    "chain", "Full chain", "echo", "xff",
    [Peer("strata-l4+l7", "strata-l4 → strata-l7",
          [STRATA_L4, _strata_l7(behind_l4=True)], strata=True),
     Peer("haproxy+nginx", "HAProxy tcp → nginx (keepalive 128)",
          [HAPROXY_TCP, _nginx_http(128, behind_l4=True)]),
     Peer("haproxy+haproxy", "HAProxy tcp → HAProxy http",
          [HAPROXY_TCP, _haproxy_http(behind_l4=True)])],
    [_target("strata-l4+l7", "small.rps", "best", ">=", 1.3,
             "serves ≥ 1.3× the small req/s of the best peer chain")],
    "client → L4 relay (PROXY v2) → HTTP proxy → strata-echo; both tiers pinned "
    "to the proxy CPU. CPU is the sum of both tiers.")

TLS = Scenario(
    "tls", "TLS termination and HTTP/2", "echo", "xff",
    [Peer("strata-l7-tls", "strata-l7, TLS listener", [_strata_l7(tls=True)], strata=True),
     Peer("haproxy-https", "HAProxy mode http, bind ssl alpn h2,http/1.1",
          [_haproxy_http(tls=True)]),
     Peer("nginx-https", "nginx listen ssl http2, upstream keepalive 128",
          [_nginx_http(128, tls=True)])],
    [],  # the issues set no TLS or HTTP/2 target yet: the ratio table reports them
    "client → TLS-terminating HTTP proxy → strata-echo (plain HTTP/1.1). ECDSA P-256 "
    "certificate; session tickets and caches off on every peer, so each new wrk "
    "connection (TLS 1.2, wrk's maximum) is a full handshake; HTTP/2 load from h2load "
    "(TLS 1.3).",
    scheme="https", workloads=("small", "conn", "h2"))

SCENARIOS = [L4, L7, CHAIN, TLS]


@dataclass
class Mode:
    """Durations (s), repetitions and sizes of one kind of run."""
    name: str
    reps: int
    warm: int
    small: int
    k16: int
    conn: int
    bulk: int
    idle: int
    scenarios: tuple
    peers: tuple = ()  # when set: only these peer ids
    conns: int = 50
    bulk_conns: int = 2
    note: str = ""
    budget_s: int = 1140  # a repetition that would end later is skipped (not the first)


MODES = {
    "full": Mode("full", reps=4, warm=1, small=4, k16=3, conn=3, bulk=3, idle=9000,
                 scenarios=("l4", "l7", "chain", "tls"), budget_s=1140),
    "quick": Mode("quick", reps=2, warm=0, small=1, k16=1, conn=1, bulk=1, idle=1000,
                  scenarios=("l4", "l7", "chain", "tls"),
                  note="QUICK: 2 repetitions of 1 s runs without warm-up, 1000 idle "
                       "connections; figures are rough, for a sanity check, not for the docs",
                  budget_s=165),
    "smoke": Mode("smoke", reps=1, warm=0, small=1, k16=0, conn=1, bulk=1, idle=100,
                  scenarios=("l4", "l7"),
                  peers=("strata-l4", "haproxy-tcp", "strata-l7", "haproxy-http", "nginx-ka128"),
                  note="SMOKE: one repetition of 1 s runs, 100 idle connections; checks "
                       "that the bench runs, figures mean nothing",
                  budget_s=60),
}


def workloads(mode, sc=None):
    """(name, path, connections, seconds, Connection: close) in run order;
    "idle" is run after these when the scenario lists it."""
    out = [("small", "/", mode.conns, mode.small, False),
           ("16k", "/size/16384", mode.conns, mode.k16, False),
           ("conn", "/", mode.conns, mode.conn, True),
           ("bulk", "/size/268435456", mode.bulk_conns, mode.bulk, False),
           ("h2", "/", mode.conns, mode.small, False)]
    names = sc.workloads if sc else ("small", "16k", "conn", "bulk")
    return [w for w in out if w[3] > 0 and w[0] in names]
