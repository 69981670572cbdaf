"""strata-l7 routing end to end: host/path/method/header/cookie/query
matches, fixed responses and redirects, header rules both ways, sticky
cookies, hash stability, trusted forwarders."""
from conftest import free_port
from l7util import Client, get, l7_conf, start_echo, start_l7

ROUTES = """
{ name = "exact"; match = { path = "/exact"; }; upstream = "b"; },
{ name = "api"; match = { host = [ "*.example.com" ]; path_prefix = "/api/"; method = [ "GET", "HEAD" ]; };
  upstream = "a"; },
{ name = "regex"; match = { path_regex = "^/v[0-9]+/"; }; upstream = "b"; },
{ name = "canary"; match = { header = { name = "X-Env"; value = "canary"; }; }; upstream = "b"; },
{ name = "beta"; match = { cookie = { name = "beta"; value = "1"; }; }; upstream = "b"; },
{ name = "debug"; match = { query = { name = "debug"; value = "1"; }; }; upstream = "b"; },
{ name = "fixed"; match = { path = "/fixed"; }; respond = { status = 418; body = "teapot\\n"; }; },
{ name = "moved"; match = { path_prefix = "/old/"; }; redirect = { status = 301; location = "https://$host$uri"; }; },
{ name = "rules"; match = { path_prefix = "/rules"; }; upstream = "a";
  request_headers = { set = ( [ "X-Tier", "api" ] ); add = ( [ "X-A", "1" ], [ "X-A", "2" ] ); remove = [ "X-Debug" ]; };
  response_headers = { remove = [ "Server" ]; set = ( [ "X-Served-By", "l7" ] ); }; },
{ name = "only-get"; match = { path = "/m"; method = [ "GET" ]; }; upstream = "a"; },
{ name = "default"; match = { host = "default.test"; }; upstream = "a"; }
"""


def two_upstreams(daemons, workdir, routes=ROUTES, a_extra="", b_extra="", n_a=1):
    a = [start_echo(daemons, f"a-{i}") for i in range(n_a)]
    b = start_echo(daemons, "b")
    port = free_port()
    off = " health = { enabled = false; };"
    text = l7_conf(workdir, port, {
        "a": ([(x.name, x.port, "") for x in a], a_extra + off),
        "b": ([("b", b.port, "")], b_extra + off),
    }, routes=routes)
    return start_l7(daemons, workdir, text, port), a, b


def server(port, path="/", host="test.local", headers=()):
    return get(port, path, headers, host=host).json()["server"]


def test_routes_match_in_order(daemons, workdir):
    l7, a, b = two_upstreams(daemons, workdir)
    p = l7.port
    assert server(p, "/exact") == "b"
    assert get(p, "/exact/not").status == 404  # exact means exact
    assert server(p, "/api/x", host="www.example.com") == "a-0"
    assert get(p, "/api/x", host="example.com").status == 404  # wildcard needs a label
    assert server(p, "/v2/things", host="other") == "b"
    assert server(p, "/", host="default.test", headers=[("X-Env", "canary")]) == "b"
    assert server(p, "/", host="default.test", headers=[("Cookie", "a=b; beta=1")]) == "b"
    assert server(p, "/x?debug=1&y", host="default.test") == "b"
    assert server(p, "/x?debug=0", host="default.test") == "a-0"
    assert get(p, "/nothing", host="nomatch.test").status == 404
    with Client(p) as c:
        r = c.request("POST", "/m", body=b"x", host="nomatch.test")
        assert r.status == 404
    lines = l7.access_lines(want=11)
    assert lines[0]["route"] == "exact" and lines[-1]["route"] is None


def test_fixed_response_and_redirect(daemons, workdir):
    l7, a, b = two_upstreams(daemons, workdir)
    r = get(l7.port, "/fixed")
    assert r.status == 418 and r.body == b"teapot\n"
    r = get(l7.port, "/old/page?q=1", host="Shop.Example.COM:8080")
    assert r.status == 301
    assert r.header("location") == "https://shop.example.com/old/page?q=1"
    assert l7.metric("strata_l7_requests_total", route="fixed", **{"class": "4xx"}) == 1


def test_header_rules_on_request_and_response(daemons, workdir):
    l7, a, b = two_upstreams(daemons, workdir)
    r = get(l7.port, "/rules", host="x",
            headers=[("X-Tier", "client"), ("X-Debug", "1"), ("X-Keep", "yes")])
    assert r.echo_headers("x-tier") == ["api"]
    assert r.echo_headers("x-a") == ["1", "2"]
    assert r.echo_headers("x-debug") == []
    assert r.echo_headers("x-keep") == ["yes"]
    assert r.header("server") is None
    assert r.header("x-served-by") == "l7"


def test_hop_by_hop_headers_are_removed(daemons, workdir):
    l7, a, b = two_upstreams(daemons, workdir)
    r = get(l7.port, "/x", host="default.test",
            headers=[("Connection", "keep-alive, X-Hop"), ("X-Hop", "secret"),
                     ("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("Proxy-Connection", "x")])
    for h in ("x-hop", "keep-alive", "te", "proxy-connection", "connection"):
        assert r.echo_headers(h) == [], h


def test_client_forwarding_headers_are_replaced_unless_trusted(daemons, workdir):
    l7, a, b = two_upstreams(daemons, workdir)
    r = get(l7.port, "/x", host="default.test",
            headers=[("X-Forwarded-For", "1.2.3.4"), ("Forwarded", "for=1.2.3.4"),
                     ("X-Request-Id", "mine")])
    assert r.echo_headers("x-forwarded-for") == ["127.0.0.1"]
    assert r.echo_headers("forwarded")[0].startswith("for=127.0.0.1")
    assert r.echo_headers("x-request-id") != ["mine"]


def test_trusted_forwarder_extends_x_forwarded_for(daemons, workdir):
    be = start_echo(daemons, "be")
    port = free_port()
    text = l7_conf(workdir, port, {"a": ([("be", be.port, "")], "health = { enabled = false; };")},
                   listener_extra='trusted_forwarders = [ "127.0.0.1/32" ];')
    start_l7(daemons, workdir, text, port)
    r = get(port, "/", headers=[("X-Forwarded-For", "1.2.3.4")])
    assert r.echo_headers("x-forwarded-for") == ["1.2.3.4, 127.0.0.1"]


def test_sticky_cookie_pins_a_client_to_its_server(daemons, workdir):
    routes = '{ name = "all"; upstream = "a"; }'
    l7, a, b = two_upstreams(daemons, workdir, routes=routes, n_a=3,
                             a_extra='balance = "round_robin"; sticky_cookie = "SERVERID";')
    r = get(l7.port, "/")
    cookie = r.header("set-cookie")
    assert cookie and cookie.startswith("SERVERID=")
    assert "no-cache" in (r.header("cache-control") or "")
    name = cookie.split(";")[0].split("=", 1)[1]
    assert r.json()["server"] == name
    for i in range(6):
        r = get(l7.port, f"/{i}", headers=[("Cookie", f"SERVERID={name}; other=1")])
        assert r.json()["server"] == name
        assert r.header("set-cookie") is None
        # indirect: the backend never sees the proxy's cookie
        assert r.echo_headers("cookie") == ["other=1"]
    # a server taken out: the client moves and gets a new cookie
    l7.ctl("set", "server", "a", name, "drain")
    r = get(l7.port, "/", headers=[("Cookie", f"SERVERID={name}")])
    assert r.json()["server"] != name
    assert r.header("set-cookie").startswith("SERVERID=" + r.json()["server"])


def test_hash_balancing_is_stable_per_key(daemons, workdir):
    routes = '{ name = "all"; upstream = "a"; }'
    l7, a, b = two_upstreams(daemons, workdir, routes=routes, n_a=3,
                             a_extra='balance = "hash"; hash_key = "header:X-User";')
    first = {u: server(l7.port, "/", headers=[("X-User", u)]) for u in map(str, range(30))}
    assert len(set(first.values())) >= 2
    for u, s in first.items():
        assert server(l7.port, "/again", headers=[("X-User", u)]) == s
    # taking one server out moves only its keys
    gone = first["0"]
    l7.ctl("set", "server", "a", gone, "drain")
    import time
    time.sleep(0.2)  # the consistent-hash table is rebuilt off the hot path
    for u, s in first.items():
        now = server(l7.port, "/", headers=[("X-User", u)])
        if s != gone:
            assert now == s, u
        else:
            assert now != gone


def test_head_to_a_proxy_answer_has_no_body(daemons, workdir):
    l7, a, b = two_upstreams(daemons, workdir)
    with Client(l7.port) as c:
        c.send(b"HEAD /none HTTP/1.1\r\nHost: nomatch.test\r\n\r\n"
               b"HEAD /fixed HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /fixed HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.response(head=True)
        assert r.status == 404 and int(r.header("content-length")) > 0
        r = c.response(head=True)
        assert r.status == 418
        r = c.response()
        assert r.status == 418 and r.body == b"teapot\n"
