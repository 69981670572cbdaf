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


def _nginx_http(keepalive, behind_l4):
    return Tier("l7", "nginx", "nginx-http.conf", {
        "KEEPALIVE": keepalive,
        "LISTEN_PP": "proxy_protocol" if behind_l4 else "",
        "XFF": "$proxy_protocol_addr" if behind_l4 else "$remote_addr"})


def _haproxy_http(behind_l4):
    return Tier("l7", "haproxy", "haproxy-http.cfg",
                {"ACCEPT_PROXY": "accept-proxy" if behind_l4 else ""})


HAPROXY_TCP = Tier("l4", "haproxy", "haproxy-tcp.cfg", {"SPLICE": ""})
STRATA_L4 = Tier("l4", "strata-l4", "strata-l4.conf", {"DATA_PATH": "copy"})


def _strata_l7(behind_l4):
    return Tier("l7", "strata-l7", "strata-l7.conf", {
        "PROXY_PROTOCOL": "required" if behind_l4 else "off",
        "TRUSTED": '    trusted = [ "127.0.0.0/8" ];' if behind_l4 else ""})


def _target(strata, fig, against, op, bound, text):
    return {"strata": strata, "figure": fig, "against": against, "op": op, "bound": bound,
            "text": text}


L4 = Scenario(
    "l4", "L4 alone", "nginx-pp", "pp",
    [Peer("strata-l4", "strata-l4 (data_path copy, the default)", [STRATA_L4], strata=True),
     Peer("strata-l4-splice", "strata-l4 (data_path splice)",
          [Tier("l4", "strata-l4", "strata-l4.conf", {"DATA_PATH": "splice"})], strata=True),
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
     _target("strata-l4-splice", "bulk.cpu_s_gib", "haproxy-tcp-splice", "<=", 1.0,
             "CPU per GiB no more than HAProxy with forced splicing"),
     _target("strata-l4", "idle.rss_b", None, "<=", 1024,
             "process memory per idle connection ≤ 1 KiB")],
    "client → relay → nginx backend that requires a PROXY header "
    "(`listen … proxy_protocol`). Small = a fixed 100-byte body.")

L7 = Scenario(
    "l7", "L7 alone", "echo", "xff",
    [Peer("strata-l7", "strata-l7", [_strata_l7(False)], strata=True),
     Peer("haproxy-http", "HAProxy mode http", [_haproxy_http(False)]),
     Peer("nginx-ka32", "nginx proxy_pass, upstream keepalive 32", [_nginx_http(32, False)]),
     Peer("nginx-ka128", "nginx proxy_pass, upstream keepalive 128", [_nginx_http(128, False)])],
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
          [STRATA_L4, _strata_l7(True)], strata=True),
     Peer("haproxy+nginx", "HAProxy tcp → nginx (keepalive 128)",
          [HAPROXY_TCP, _nginx_http(128, True)]),
     Peer("haproxy+haproxy", "HAProxy tcp → HAProxy http", [HAPROXY_TCP, _haproxy_http(True)])],
    [_target("strata-l4+l7", "small.rps", "best", ">=", 1.3,
             "serves ≥ 1.3× the small req/s of the best peer chain"),
     _target("strata-l4+l7", "small.cpu_us", "best", "<=", 0.8,
             "CPU per small request of both tiers ≤ 0.8× the best peer chain")],
    "client → L4 relay (PROXY v2) → HTTP proxy → strata-echo; both tiers pinned "
    "to the proxy CPU. CPU is the sum of both tiers.")

SCENARIOS = [L4, L7, CHAIN]


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


MODES = {
    "full": Mode("full", reps=3, warm=1, small=5, k16=4, conn=4, bulk=4, idle=9000,
                 scenarios=("l4", "l7", "chain")),
    "quick": Mode("quick", reps=2, warm=0, small=1, k16=1, conn=1, bulk=1, idle=1000,
                  scenarios=("l4", "l7", "chain"),
                  note="QUICK: 2 repetitions of 1 s runs without warm-up, 1000 idle "
                       "connections; figures are rough, for a sanity check, not for the docs"),
    "smoke": Mode("smoke", reps=1, warm=0, small=1, k16=0, conn=1, bulk=1, idle=100,
                  scenarios=("l4", "l7"),
                  peers=("strata-l4", "haproxy-tcp", "strata-l7", "haproxy-http", "nginx-ka128"),
                  note="SMOKE: one repetition of 1 s runs, 100 idle connections; checks "
                       "that the bench runs, figures mean nothing"),
}


def workloads(mode):
    """(name, path, connections, seconds, Connection: close) in run order."""
    out = [("small", "/", mode.conns, mode.small, False),
           ("16k", "/size/16384", mode.conns, mode.k16, False),
           ("conn", "/", mode.conns, mode.conn, True),
           ("bulk", "/size/268435456", mode.bulk_conns, mode.bulk, False)]
    return [w for w in out if w[3] > 0]
