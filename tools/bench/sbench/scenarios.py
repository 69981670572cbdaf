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
    tls_keys: bool = False  # one start per certificate key type (see phases())


@dataclass
class Phase:
    """One start of each peer within a repetition: a variant of the configs
    (its template values) and the workloads measured with it."""
    name: str
    values: dict
    workloads: tuple


# TLS: every peer resumes with stateless session tickets (each one's
# default) and keeps no stateful session cache (nginx `ssl_session_cache
# off`, HAProxy `tune.ssl.cachesize 0`, strata-l7 `session_cache = 0`), so
# a resumed handshake costs the same kind of work everywhere. nginx 1.22
# leaves TLS 1.3 out of its default ssl_protocols (1.23.4 added it), so the
# versions are written out; the plumbing check insists on TLS 1.3.
NGINX_TLS = ("        ssl_certificate @CERT@;\n"
             "        ssl_certificate_key @KEY@;\n"
             "        ssl_protocols TLSv1.2 TLSv1.3;\n"
             "        ssl_session_cache off;")
# docs/tls.md "Configuration": ALPN offers h2 while the listener's http2
# group is enabled (the default).
STRATA_TLS = ('    tls = { certificates = ( { cert = "@CERT@"; key = "@KEY@"; } );\n'
              '            session_tickets = true; session_cache = 0; };')
# docs/traffic.md "Bench configuration": a per-client-IP rate limit that
# never denies in a bench (a billion per second) checked on the route, and
# a breaker on every server of the upstream.
TRAFFIC = {
    "TOP_EXTRA": 'rate_limits = ( { name = "bench"; rate = "1000000000/s"; key = "client_ip"; } );',
    "UPSTREAM_EXTRA": "    breaker = { consecutive = 5; error_percent = 50; };",
    "ROUTE_EXTRA": '    rate_limit = [ "bench" ];'}
NO_TRAFFIC = {"TOP_EXTRA": "", "UPSTREAM_EXTRA": "", "ROUTE_EXTRA": ""}


def _nginx_http(keepalive, behind_l4=False, tls=False):
    return Tier("l7", "nginx", "nginx-http.conf", {
        "KEEPALIVE": keepalive,
        "LISTEN_OPTS": "proxy_protocol" if behind_l4 else "ssl http2" if tls else "",
        "SERVER_EXTRA": NGINX_TLS if tls else "",
        "XFF": "$proxy_protocol_addr" if behind_l4 else "$remote_addr"})


def _haproxy_http(behind_l4=False, tls=False):
    return Tier("l7", "haproxy", "haproxy-http.cfg", {
        "BIND_OPTS": "accept-proxy" if behind_l4 else
        "ssl crt @CERT_PEM@ alpn h2,http/1.1" if tls else "",
        "GLOBAL_EXTRA": "    tune.ssl.cachesize 0" if tls else ""})


HAPROXY_TCP = Tier("l4", "haproxy", "haproxy-tcp.cfg", {"SPLICE": ""})
# strata-l4's default data path is splice (provided buffers first, pooled
# pipes once a flow is bulk); the copy-only path is measured as a second row.
STRATA_L4 = Tier("l4", "strata-l4", "strata-l4.conf", {"DATA_PATH": "splice"})


def _strata_l7(behind_l4=False, tls=False, traffic=False):
    return Tier("l7", "strata-l7", "strata-l7.conf", {
        "PROXY_PROTOCOL": "required" if behind_l4 else "off",
        "TRUSTED": '    trusted = [ "127.0.0.0/8" ];' if behind_l4 else "",
        "TLS": STRATA_TLS if tls else "", **(TRAFFIC if traffic else NO_TRAFFIC)})


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
     # Issue 9: the same strata-l7 with rate limiting and breakers on, next
     # to the one without in every repetition; small keep-alive requests only.
     Peer("strata-l7-traffic", "strata-l7, rate limit per client IP and breakers on",
          [_strata_l7(traffic=True)], strata=True, workloads=("small",),
          baseline="strata-l7", traffic=True,
          missing=(r"unknown key.*(rate_limit|breaker)|(rate_limit|breaker).*unknown key",
                   "strata-l7 has no rate-limit keys yet")),
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
             "process memory per idle client connection ≤ 0.5 KiB"),
     _target("strata-l7-traffic", "traffic.cpu_ratio", None, "<", 1.05,
             "CPU per small request with rate limiting and breakers on: under 5 % more "
             "than without (paired runs)")],
    "client → HTTP proxy → strata-echo. Small = strata-echo's JSON echo. "
    "strata-l7-traffic is strata-l7 with a per-client-IP rate limit (never reached) "
    "on the route and a breaker on every server (docs/traffic.md \"Bench "
    "configuration\"): in each repetition it runs next to a second plain strata-l7, "
    "and short small keep-alive runs alternate between the two (off on, on off, …); "
    "its small figures are those runs.")

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


def _hs_targets():
    out = []
    for key, name in (("ecdsa", "ECDSA P-256"), ("rsa", "RSA-2048")):
        for kind in ("full", "resumed"):
            out.append(_target("strata-l7-tls", f"tls.{kind}_{key}", "nginx-https", ">=", 1.0,
                               f"{kind} {name} handshakes per CPU-second ≥ nginx's"))
    return out


TLS = Scenario(
    "tls", "TLS termination and HTTP/2", "echo", "xff",
    [Peer("strata-l7-tls", "strata-l7, TLS listener (h2, http/1.1)", [_strata_l7(tls=True)],
          strata=True),
     Peer("haproxy-https", "HAProxy mode http, bind ssl crt … alpn h2,http/1.1",
          [_haproxy_http(tls=True)]),
     Peer("nginx-https", "nginx listen ssl http2, upstream keepalive 128",
          [_nginx_http(128, tls=True)])],
    _hs_targets() + [
        _target("strata-l7-tls", "h2.cpu_us", "haproxy-https", "<=", 0.80,
                "CPU per HTTP/2 request ≤ 0.8× HAProxy's")],
    "client → TLS-terminating HTTP proxy → strata-echo (plain HTTP/1.1, the same backend "
    "for every peer). Each repetition starts every peer twice: with an ECDSA P-256 "
    "certificate (handshakes, then HTTP/2 load) and with an RSA-2048 one (handshakes). "
    "Handshakes: `openssl s_time` (TLS 1.3, X25519), one `GET /` relayed per connection; "
    "full = `-new`, resumed = `-reuse` (a session ticket; TLS 1.3 resumption still runs "
    "an X25519 exchange, `psk_dhe_ke`). Every peer resumes with stateless tickets (its "
    "default) and keeps no session cache. HTTP/2: h2load, 50 connections with 10 "
    "streams each.",
    scheme="https", workloads=("hs", "h2"), tls_keys=True)

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
    hs: int = 3       # seconds of each openssl s_time run (whole seconds)
    h2: int = 4       # seconds of each h2load run
    pair_s: int = 2   # seconds of each run of a paired comparison (traffic overhead)
    pairs: int = 4    # pairs per repetition, in turn off/on and on/off
    tls_keys: tuple = ("ecdsa", "rsa")
    note: str = ""
    budget_s: int = 1140  # a repetition that would end later is skipped (not the first)
    scenario_reps: dict = field(default_factory=dict)  # fewer repetitions for some

    def reps_for(self, scenario):
        return min(self.reps, self.scenario_reps.get(scenario, self.reps))


MODES = {
    "full": Mode("full", reps=3, warm=1, small=4, k16=3, conn=3, bulk=3, idle=9000,
                 scenarios=("l4", "l7", "chain", "tls"), budget_s=1140),
    "quick": Mode("quick", reps=2, warm=0, small=1, k16=1, conn=1, bulk=1, idle=1000, pair_s=1,
                  pairs=2,
                  scenarios=("l4", "l7", "chain", "tls"), hs=1, h2=1, tls_keys=("ecdsa",),
                  scenario_reps={"chain": 1, "tls": 1},
                  note="QUICK: 2 repetitions (1 for the chain and TLS) of 1 s runs without "
                       "warm-up, 1000 idle connections, TLS with the ECDSA certificate "
                       "only; figures are rough, for a sanity check, not for the docs",
                  budget_s=165),
    "smoke": Mode("smoke", reps=1, warm=0, small=1, k16=0, conn=1, bulk=1, idle=100, pair_s=1,
                  pairs=2,
                  scenarios=("l4", "l7", "tls"), hs=1, h2=1, tls_keys=("ecdsa",),
                  peers=("strata-l4", "haproxy-tcp", "strata-l7", "strata-l7-traffic",
                         "nginx-ka128", "strata-l7-tls", "haproxy-https"),
                  note="SMOKE: one repetition of 1 s runs, 100 idle connections, TLS with "
                       "the ECDSA certificate only; checks that the bench runs, figures "
                       "mean nothing",
                  budget_s=60),
}

HS_KINDS = (("full", "-new"), ("resumed", "-reuse"))


def workloads(mode, names=("small", "16k", "conn", "bulk")):
    """(name, path, connections, seconds, Connection: close) in run order
    for the given workload names; "hs" stands for the handshake runs of one
    certificate (named hs-full and hs-resumed here, the key type is added by
    the phase). "idle" is run after these when a scenario lists it."""
    out = [("small", "/", mode.conns, mode.small, False),
           ("16k", "/size/16384", mode.conns, mode.k16, False),
           ("conn", "/", mode.conns, mode.conn, True),
           ("bulk", "/size/268435456", mode.bulk_conns, mode.bulk, False)]
    out += [(f"hs-{kind}", "/", 1, mode.hs, False) for kind, _ in HS_KINDS]
    out += [("h2", "/", mode.conns, mode.h2, False)]
    want = set(names) | ({f"hs-{k}" for k, _ in HS_KINDS} if "hs" in names else set())
    return [w for w in out if w[3] > 0 and w[0] in want]


def phases(sc, mode):
    """The starts of each peer per repetition. Most scenarios have one; the
    TLS scenario one per certificate key type: handshakes with each, HTTP/2
    load with the first only (the certificate does not matter once the
    connections are up)."""
    if not sc.tls_keys:
        return [Phase("", {}, sc.workloads)]
    out = []
    for i, key in enumerate(mode.tls_keys):
        values = {"CERT": f"@CERT_{key.upper()}@", "KEY": f"@KEY_{key.upper()}@",
                  "CERT_PEM": f"@PEM_{key.upper()}@"}
        names = tuple(w for w in sc.workloads if w == "hs" or i == 0)
        out.append(Phase(key, values, names))
    return out


def peer_workloads(peer, phase, mode):
    """The workload tuples one peer runs in one phase (named with the
    phase's key type for handshakes: hs-full-ecdsa)."""
    names = tuple(w for w in phase.workloads if not peer.workloads or w in peer.workloads)
    out = []
    for name, path, conns, secs, close in workloads(mode, names):
        if name.startswith("hs-"):
            name = f"{name}-{phase.name}"
        out.append((name, path, conns, secs, close))
    return out
