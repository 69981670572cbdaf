/* Tests for cfg: loading (syntax errors, includes, truncated integers),
 * unknown keys with hints, every getter with good and bad values and the
 * exact error line, and cfg_check_main() on a made-up "demo" schema, the
 * way a daemon's builder uses it. Files are written into a temp directory
 * that is the CWD while the tests run, so error lines read "t.conf:3: ...". */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "cfgval.h"
#include "snapshot.h"

static char tmpdir[] = "/tmp/strata-cfg-test-XXXXXX";
static char olddir[PATH_MAX];

static int setup(void **state)
{
	if (!getcwd(olddir, sizeof(olddir)) || !mkdtemp(tmpdir) || chdir(tmpdir) != 0)
		return -1;
	return mkdir("sub", 0700);
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	if (chdir(olddir) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd);
}

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(name, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* Writes t.conf and loads it; returns cfg_load()'s result. */
static int load(const char *text, config_t *cfg, struct cfg_err *err)
{
	write_file("t.conf", text);
	cfg_err_init(err);
	return cfg_load("t.conf", cfg, err);
}

static void expect_load_error(const char *text, const char *line)
{
	struct cfg_err err;
	config_t cfg;

	assert_int_not_equal(load(text, &cfg, &err), 0);
	assert_string_equal(err.msg, line);
}

static void test_load_and_syntax_errors(void **state)
{
	struct cfg_err err;
	config_t cfg;

	assert_int_equal(load("a = 1;\nb = \"x\";\n", &cfg, &err), 0);
	assert_false(cfg_err_is_set(&err));
	config_destroy(&cfg);
	expect_load_error("a = 1;\nb = ;\n", "t.conf:2: syntax error");
	expect_load_error("a = 1;\na = 2;\n", "t.conf:2: syntax error: duplicate setting name");
	expect_load_error("a = [1, \"x\"];\n",
			  "t.conf:1: syntax error: mismatched element type in array");
	expect_load_error("# c\n\n@include \"nope.inc\"\n",
			  "t.conf:3: syntax error: cannot open include file");
	expect_load_error("x = 1;\nsize = 5000000000;\n",
			  "t.conf:2: size: integer 5000000000 does not fit in 32 bits (append L "
			  "for 64 bits)");
	expect_load_error("l = [1,\n  -2147483649];\n",
			  "t.conf:2: l[1]: integer -2147483649 does not fit in 32 bits (append L "
			  "for 64 bits)");
	/* the key named is the element the literal became, not the first one */
	expect_load_error("l = [1, 2, 3000000000, 4];\n",
			  "t.conf:1: l[2]: integer 3000000000 does not fit in 32 bits (append L "
			  "for 64 bits)");
	expect_load_error("a = 99999999999999999999L;\n",
			  "t.conf:1: a: integer 99999999999999999999L does not fit in 64 bits");
	write_file("nul.conf", "a = 1;\nb = 2;\n");
	assert_int_equal(truncate("nul.conf", 20), 0); /* NUL bytes after line 3 starts */
	cfg_err_init(&err);
	assert_int_not_equal(cfg_load("nul.conf", &cfg, &err), 0);
	assert_string_equal(err.msg, "nul.conf:3: NUL byte in the file");
	cfg_err_init(&err);
	assert_int_equal(cfg_load("missing.conf", &cfg, &err), -ENOENT);
	assert_string_equal(err.msg, "missing.conf: cannot read: No such file or directory");
}

static void test_includes_are_relative_to_the_file(void **state)
{
	const config_setting_t *root;
	struct cfg_err err;
	const char *v;
	config_t cfg;

	write_file("sub/main.conf", "a = \"main\";\n@include \"part.inc\"\n");
	write_file("sub/part.inc", "b = \"part\";\n");
	cfg_err_init(&err);
	assert_int_equal(cfg_load("sub/main.conf", &cfg, &err), 0);
	root = config_root_setting(&cfg);
	assert_int_equal(cfg_get_string(root, "b", NULL, &v, &err), 0);
	assert_string_equal(v, "part");
	/* errors name the included file as @include wrote it */
	assert_int_equal(cfg_get_int(root, "b", 0, 0, 1, &(long long){0}, &err), -EINVAL);
	assert_string_equal(err.msg, "part.inc:1: b: expected an integer, got \"part\"");
	config_destroy(&cfg);
	write_file("sub/part.inc", "b = 1;\nc = 0x80000000;\n");
	cfg_err_init(&err);
	assert_int_not_equal(cfg_load("sub/main.conf", &cfg, &err), 0);
	assert_string_equal(err.msg, "part.inc:2: c: integer 0x80000000 does not fit in 32 bits "
				     "(append L for 64 bits)");
}

static void test_load_string_names_the_source(void **state)
{
	struct cfg_err err;
	config_t cfg;
	bool b;

	cfg_err_init(&err);
	assert_int_equal(cfg_load_string("inline", "x = 1;\n", &cfg, &err), 0);
	assert_int_equal(cfg_get_bool(config_root_setting(&cfg), "x", false, &b, &err), -EINVAL);
	assert_string_equal(err.msg, "inline:1: x: expected true or false, got 1");
	config_destroy(&cfg);
	cfg_err_init(&err);
	assert_int_not_equal(cfg_load_string("inline", "x = ;", &cfg, &err), 0);
	assert_string_equal(err.msg, "inline:1: syntax error");
}

/* Loads `text`, runs `check` on the root, returns the error line or "". */
#define WITH_ROOT(text, root, err, body)                                                           \
	do {                                                                                       \
		config_t cfg_;                                                                     \
		assert_int_equal(load(text, &cfg_, &err), 0);                                      \
		const config_setting_t *root = config_root_setting(&cfg_);                         \
		body;                                                                              \
		config_destroy(&cfg_);                                                             \
	} while (0)

static const char *const demo_keys[] = {"listen",  "timeout",  "buffer", "mode",
					"trusted", "backends", NULL};

static void test_unknown_keys(void **state)
{
	static const char *const be_keys[] = {"name", "address", "weight", NULL};
	struct cfg_err err;

	WITH_ROOT("listen = \"1.2.3.4:80\";\ntimeout = \"1s\";\n", root, err,
		  assert_int_equal(cfg_check_keys(root, demo_keys, &err), 0));
	WITH_ROOT("listen = \"1.2.3.4:80\";\nlisen = 1;\n", root, err, {
		assert_int_equal(cfg_check_keys(root, demo_keys, &err), -EINVAL);
		assert_string_equal(err.msg,
				    "t.conf:2: lisen: unknown key (did you mean 'listen'?)");
	});
	WITH_ROOT("tiemout = \"1s\";\n", root, err, {
		assert_int_equal(cfg_check_keys(root, demo_keys, &err), -EINVAL);
		assert_string_equal(err.msg,
				    "t.conf:1: tiemout: unknown key (did you mean 'timeout'?)");
	});
	WITH_ROOT("\n\ncolour = \"red\";\n", root, err, {
		assert_int_equal(cfg_check_keys(root, demo_keys, &err), -EINVAL);
		assert_string_equal(err.msg, "t.conf:3: colour: unknown key (known keys: 'listen', "
					     "'timeout', 'buffer', 'mode', 'trusted', 'backends')");
	});
	WITH_ROOT(
	    "backends = (\n  { name = \"a\"; },\n  { name = \"b\";\n    wieght = 2; }\n);\n", root,
	    err, {
		    const config_setting_t *l = config_setting_get_member(root, "backends");

		    assert_int_equal(cfg_check_keys(config_setting_get_elem(l, 0), be_keys, &err),
				     0);
		    assert_int_equal(cfg_check_keys(config_setting_get_elem(l, 1), be_keys, &err),
				     -EINVAL);
		    assert_string_equal(err.msg, "t.conf:4: backends[1].wieght: unknown key "
						 "(did you mean 'weight'?)");
	    });
	WITH_ROOT("backends = 3;\n", root, err, {
		assert_int_equal(
		    cfg_check_keys(config_setting_get_member(root, "backends"), be_keys, &err),
		    -EINVAL);
		assert_string_equal(err.msg, "t.conf:1: backends: expected a group { ... }, got 3");
	});
	assert_int_equal(cfg_check_keys(NULL, be_keys, &err), 0);
}

static void test_required_and_groups(void **state)
{
	const config_setting_t *g;
	struct cfg_err err;

	WITH_ROOT("# demo\nx = 1;\n", root, err, {
		assert_true(cfg_has(root, "x"));
		assert_false(cfg_has(root, "listen"));
		assert_int_equal(cfg_require(root, "x", &err), 0);
		assert_int_equal(cfg_require(root, "listen", &err), -EINVAL);
		assert_string_equal(err.msg, "t.conf:1: listen: required key is missing");
	});
	WITH_ROOT("a = 1;\nbackends = (\n  {\n    name = \"x\";\n  }\n);\n", root, err, {
		g = config_setting_get_elem(config_setting_get_member(root, "backends"), 0);
		assert_int_equal(cfg_require(g, "address", &err), -EINVAL);
		assert_string_equal(err.msg,
				    "t.conf:3: backends[0].address: required key is missing");
	});
	WITH_ROOT(
	    "backends = { a = 1; };\nt = { x = 1; };\nempty = [];\nl = (1, \"a\");\n", root, err, {
		    assert_int_equal(cfg_get_list(root, "backends", &g, &err), -EINVAL);
		    assert_null(g);
		    assert_string_equal(err.msg, "t.conf:1: backends: expected a list ( ... ), "
						 "got a group { ... }");
		    cfg_err_init(&err);
		    assert_int_equal(cfg_get_list(root, "empty", &g, &err), 0);
		    assert_non_null(g);
		    assert_int_equal(cfg_get_list(root, "l", &g, &err), 0);
		    assert_int_equal(cfg_get_list(root, "absent", &g, &err), 0);
		    assert_null(g);
		    assert_int_equal(cfg_get_group(root, "t", &g, &err), 0);
		    assert_non_null(g);
		    assert_int_equal(cfg_get_group(root, "l", &g, &err), -EINVAL);
		    assert_string_equal(err.msg, "t.conf:4: l: expected a group { ... }, got "
						 "a list ( ... )");
		    cfg_err_init(&err);
		    assert_int_equal(
			cfg_expect_group(config_setting_get_member(root, "empty"), &err), -EINVAL);
		    assert_string_equal(err.msg, "t.conf:3: empty: expected a group { ... }, "
						 "got an array [ ... ]");
	    });
}

static void test_scalar_getters(void **state)
{
	static const char *const modes[] = {"roundrobin", "leastconn", "maglev", NULL};
	struct cfg_err err;
	const char *s;
	long long i;
	bool b;
	int e;

	WITH_ROOT("name = \"web\";\nn = 42;\nbig = 5000000000L;\non = true;\nmode = \"maglev\";\n",
		  root, err, {
			  assert_int_equal(cfg_get_string(root, "name", NULL, &s, &err), 0);
			  assert_string_equal(s, "web");
			  assert_int_equal(cfg_get_string(root, "absent", "dflt", &s, &err), 0);
			  assert_string_equal(s, "dflt");
			  assert_int_equal(cfg_get_int(root, "n", 0, 1, 100, &i, &err), 0);
			  assert_int_equal(i, 42);
			  assert_int_equal(cfg_get_int(root, "absent", 7, 1, 100, &i, &err), 0);
			  assert_int_equal(i, 7);
			  assert_int_equal(cfg_get_int(root, "big", 0, 0, LLONG_MAX, &i, &err), 0);
			  assert_int_equal(i, 5000000000LL);
			  assert_int_equal(cfg_get_bool(root, "on", false, &b, &err), 0);
			  assert_true(b);
			  assert_int_equal(cfg_get_bool(NULL, "on", false, &b, &err), 0);
			  assert_false(b);
			  assert_int_equal(cfg_get_enum(root, "mode", modes, 0, &e, &err), 0);
			  assert_int_equal(e, 2);
			  assert_int_equal(cfg_get_enum(root, "absent", modes, 1, &e, &err), 0);
			  assert_int_equal(e, 1);
			  assert_false(cfg_err_is_set(&err));
		  });
}

/* Runs one getter on t.conf = `text` and compares the error line. */
#define EXPECT_GETTER_ERROR(text, call, line)                                                      \
	do {                                                                                       \
		struct cfg_err err_;                                                               \
		WITH_ROOT(text, root, err_, {                                                      \
			assert_int_equal((call), -EINVAL);                                         \
			assert_string_equal(err_.msg, line);                                       \
		});                                                                                \
	} while (0)

static void test_scalar_getter_errors(void **state)
{
	static const char *const modes[] = {"roundrobin", "leastconn", "maglev", NULL};
	const char *s;
	long long i;
	bool b;
	int e;

	EXPECT_GETTER_ERROR("name = 42;", cfg_get_string(root, "name", NULL, &s, &err_),
			    "t.conf:1: name: expected a string, got 42");
	EXPECT_GETTER_ERROR("\nn = \"42\";", cfg_get_int(root, "n", 0, 0, 100, &i, &err_),
			    "t.conf:2: n: expected an integer, got \"42\"");
	EXPECT_GETTER_ERROR("n = 1.5;", cfg_get_int(root, "n", 0, 0, 100, &i, &err_),
			    "t.conf:1: n: expected an integer, got 1.5");
	EXPECT_GETTER_ERROR("n = 250;", cfg_get_int(root, "n", 0, 1, 100, &i, &err_),
			    "t.conf:1: n: must be between 1 and 100, got 250");
	EXPECT_GETTER_ERROR("n = -1;", cfg_get_int(root, "n", 0, 0, LLONG_MAX, &i, &err_),
			    "t.conf:1: n: must be at least 0, got -1");
	EXPECT_GETTER_ERROR("n = 9;", cfg_get_int(root, "n", 0, LLONG_MIN, 8, &i, &err_),
			    "t.conf:1: n: must be at most 8, got 9");
	EXPECT_GETTER_ERROR("on = \"yes\";", cfg_get_bool(root, "on", false, &b, &err_),
			    "t.conf:1: on: expected true or false, got \"yes\"");
	EXPECT_GETTER_ERROR("g = { x = 1; };", cfg_get_bool(root, "g", false, &b, &err_),
			    "t.conf:1: g: expected true or false, got a group { ... }");
	EXPECT_GETTER_ERROR("mode = \"magelv\";", cfg_get_enum(root, "mode", modes, 0, &e, &err_),
			    "t.conf:1: mode: expected one of \"roundrobin\", \"leastconn\", "
			    "\"maglev\", got \"magelv\" (did you mean \"maglev\"?)");
	EXPECT_GETTER_ERROR("mode = \"random\";", cfg_get_enum(root, "mode", modes, 0, &e, &err_),
			    "t.conf:1: mode: expected one of \"roundrobin\", \"leastconn\", "
			    "\"maglev\", got \"random\"");
	EXPECT_GETTER_ERROR("mode = 1;", cfg_get_enum(root, "mode", modes, 0, &e, &err_),
			    "t.conf:1: mode: expected one of \"roundrobin\", \"leastconn\", "
			    "\"maglev\", got 1");
	/* control bytes and quotes are escaped, long strings cut */
	EXPECT_GETTER_ERROR("n = \"a\\\"b\\n\";", cfg_get_int(root, "n", 0, 0, 1, &i, &err_),
			    "t.conf:1: n: expected an integer, got \"a\\\"b\\x0a\"");
	EXPECT_GETTER_ERROR("n = \"0123456789012345678901234567890123456789012345678901234\";",
			    cfg_get_int(root, "n", 0, 0, 1, &i, &err_),
			    "t.conf:1: n: expected an integer, got "
			    "\"012345678901234567890123456789012345678901234567...\"");
}

static void test_duration_and_size(void **state)
{
	const uint64_t ms = CFGVAL_US_PER_MS, s = CFGVAL_US_PER_S;
	struct cfg_err err;
	uint64_t v;

	WITH_ROOT(
	    "a = \"250ms\";\nb = 1500;\nc = \"1.5s\";\nd = \"16k\";\ne = 512;\nf = \"1g\";\n", root,
	    err, {
		    assert_int_equal(cfg_get_duration(root, "a", 0, 0, UINT64_MAX, &v, &err), 0);
		    assert_int_equal(v, 250 * ms);
		    /* a bare integer is milliseconds */
		    assert_int_equal(cfg_get_duration(root, "b", 0, 0, UINT64_MAX, &v, &err), 0);
		    assert_int_equal(v, 1500 * ms);
		    assert_int_equal(cfg_get_duration(root, "c", 0, s, 2 * s, &v, &err), 0);
		    assert_int_equal(v, 1500 * ms);
		    assert_int_equal(cfg_get_duration(root, "x", 7, 0, 1, &v, &err), 0);
		    assert_int_equal(v, 7);
		    assert_int_equal(cfg_get_size(root, "d", 0, 0, UINT64_MAX, &v, &err), 0);
		    assert_int_equal(v, 16384);
		    /* a bare integer is bytes */
		    assert_int_equal(cfg_get_size(root, "e", 0, 0, UINT64_MAX, &v, &err), 0);
		    assert_int_equal(v, 512);
		    assert_int_equal(cfg_get_size(root, "f", 0, 0, UINT64_MAX, &v, &err), 0);
		    assert_int_equal(v, 1u << 30);
		    assert_int_equal(cfg_get_size(root, "x", 9, 0, 1, &v, &err), 0);
		    assert_int_equal(v, 9);
	    });
	EXPECT_GETTER_ERROR("\n\ntimeout = \"25x\";",
			    cfg_get_duration(root, "timeout", 0, 0, UINT64_MAX, &v, &err_),
			    "t.conf:3: timeout: expected a duration like \"250ms\", got \"25x\": "
			    "unknown unit (use us, ms, s, m or h)");
	EXPECT_GETTER_ERROR("timeout = \"250\";",
			    cfg_get_duration(root, "timeout", 0, 0, UINT64_MAX, &v, &err_),
			    "t.conf:1: timeout: expected a duration like \"250ms\", got \"250\": "
			    "missing unit (us, ms, s, m or h)");
	EXPECT_GETTER_ERROR("timeout = 1.5;",
			    cfg_get_duration(root, "timeout", 0, 0, UINT64_MAX, &v, &err_),
			    "t.conf:1: timeout: expected a duration like \"250ms\", got 1.5");
	EXPECT_GETTER_ERROR("timeout = -5;",
			    cfg_get_duration(root, "timeout", 0, 0, UINT64_MAX, &v, &err_),
			    "t.conf:1: timeout: expected a duration like \"250ms\", got -5: "
			    "negative values are not allowed");
	EXPECT_GETTER_ERROR("timeout = \"2h\";",
			    cfg_get_duration(root, "timeout", 0, ms, 3600 * s, &v, &err_),
			    "t.conf:1: timeout: must be between 1ms and 1h, got \"2h\"");
	EXPECT_GETTER_ERROR("timeout = 0;",
			    cfg_get_duration(root, "timeout", 0, 100, UINT64_MAX, &v, &err_),
			    "t.conf:1: timeout: must be at least 100us, got 0");
	EXPECT_GETTER_ERROR("buffer = \"16kb\";",
			    cfg_get_size(root, "buffer", 0, 0, UINT64_MAX, &v, &err_),
			    "t.conf:1: buffer: expected a size like \"16k\", got \"16kb\": "
			    "ambiguous unit: sizes are binary, write k or KiB (1k = 1024 bytes)");
	EXPECT_GETTER_ERROR("buffer = true;",
			    cfg_get_size(root, "buffer", 0, 0, UINT64_MAX, &v, &err_),
			    "t.conf:1: buffer: expected a size like \"16k\", got true");
	EXPECT_GETTER_ERROR("buffer = \"2m\";",
			    cfg_get_size(root, "buffer", 0, 0, 1 << 20, &v, &err_),
			    "t.conf:1: buffer: must be at most 1m, got \"2m\"");
}

static void test_addr_getters(void **state)
{
	struct cfg_err err;
	struct addr a, *list;
	char buf[ADDR_STR_MAX];
	size_t n;

	WITH_ROOT(
	    "listen = \"127.0.0.1:8080\";\nsock = \"unix:/run/x.sock\";\nvips = [ "
	    "\"10.77.0.10\", \"10.77.0.11\" ];\none = \"[::1]:81\";\n",
	    root, err, {
		    assert_int_equal(cfg_get_addr(root, "listen", 0, 0, NULL, &a, &err), 0);
		    addr_format(&a, buf, sizeof(buf));
		    assert_string_equal(buf, "127.0.0.1:8080");
		    assert_int_equal(cfg_get_addr(root, "sock", ADDR_F_UNIX, 0, NULL, &a, &err), 0);
		    assert_int_equal(addr_family(&a), AF_UNIX);
		    assert_int_equal(cfg_get_addr(root, "absent", ADDR_F_PORT_OPTIONAL, 9100,
						  "127.0.0.1", &a, &err),
				     0);
		    addr_format(&a, buf, sizeof(buf));
		    assert_string_equal(buf, "127.0.0.1:9100");
		    assert_int_equal(cfg_get_addr(root, "absent", 0, 0, NULL, &a, &err), 0);
		    assert_int_equal(addr_family(&a), AF_UNSPEC);
		    assert_int_equal(
			cfg_get_addr_list(root, "vips", ADDR_F_NO_PORT, 0, &list, &n, &err), 0);
		    assert_int_equal(n, 2);
		    addr_format_ip(&list[1], buf, sizeof(buf));
		    assert_string_equal(buf, "10.77.0.11");
		    free(list);
		    /* one string is a list of one */
		    assert_int_equal(cfg_get_addr_list(root, "one", 0, 0, &list, &n, &err), 0);
		    assert_int_equal(n, 1);
		    free(list);
		    assert_int_equal(cfg_get_addr_list(root, "absent", 0, 0, &list, &n, &err), 0);
		    assert_null(list);
		    assert_int_equal(n, 0);
		    assert_false(cfg_err_is_set(&err));
	    });
	EXPECT_GETTER_ERROR("listen = \"localhost:80\";",
			    cfg_get_addr(root, "listen", 0, 0, NULL, &a, &err_),
			    "t.conf:1: listen: expected an address like \"127.0.0.1:80\", got "
			    "\"localhost:80\": host names are not accepted, use an IP address (the "
			    "configuration must not depend on DNS at start-up)");
	EXPECT_GETTER_ERROR("listen = \"1.2.3.4:080\";",
			    cfg_get_addr(root, "listen", ADDR_F_UNIX, 0, NULL, &a, &err_),
			    "t.conf:1: listen: expected an address like \"127.0.0.1:80\" or "
			    "\"unix:/path\", got \"1.2.3.4:080\": leading zeros in port");
	EXPECT_GETTER_ERROR(
	    "listen = 8080;", cfg_get_addr(root, "listen", 0, 0, NULL, &a, &err_),
	    "t.conf:1: listen: expected an address like \"127.0.0.1:80\", got 8080");
	EXPECT_GETTER_ERROR("vips = [ \"10.0.0.1\",\n  \"10.0.0.2:80\" ];",
			    cfg_get_addr_list(root, "vips", ADDR_F_NO_PORT, 0, &list, &n, &err_),
			    "t.conf:2: vips[1]: expected an IP address like \"10.0.0.1\", got "
			    "\"10.0.0.2:80\": a port is not accepted here");
	EXPECT_GETTER_ERROR("vips = ( \"10.0.0.1\", 5 );",
			    cfg_get_addr_list(root, "vips", ADDR_F_NO_PORT, 0, &list, &n, &err_),
			    "t.conf:1: vips[1]: expected an IP address like \"10.0.0.1\", got 5");
	EXPECT_GETTER_ERROR("servers = [ \"10.0.0.1:80\",\n\"10.0.0.2:80\",\n\"10.0.0.1:80\" ];",
			    cfg_get_addr_list(root, "servers", 0, 0, &list, &n, &err_),
			    "t.conf:3: servers[2]: duplicate of servers[0]");
	EXPECT_GETTER_ERROR("servers = { a = 1; };",
			    cfg_get_addr_list(root, "servers", 0, 0, &list, &n, &err_),
			    "t.conf:1: servers: expected an address like \"127.0.0.1:80\", got a "
			    "group { ... }");
}

static void test_cidr_list_getter(void **state)
{
	struct cidr_list l;
	struct cfg_err err;
	struct addr a;
	const char *why;

	WITH_ROOT("trusted = [ \"127.0.0.0/8\", \"::1\" ];\nsingle = \"10.0.0.0/8\";\n", root, err,
		  {
			  assert_int_equal(cfg_get_cidr_list(root, "trusted", &l, &err), 0);
			  assert_int_equal(l.n, 2);
			  addr_parse("127.1.2.3:5", 11, 0, 0, &a, &why);
			  assert_true(cidr_list_match(&l, &a));
			  cidr_list_free(&l);
			  assert_int_equal(cfg_get_cidr_list(root, "single", &l, &err), 0);
			  assert_int_equal(l.n, 1);
			  cidr_list_free(&l);
			  assert_int_equal(cfg_get_cidr_list(root, "absent", &l, &err), 0);
			  assert_int_equal(l.n, 0);
		  });
	EXPECT_GETTER_ERROR("trusted = [ \"127.0.0.0/8\",\n \"10.0.0.1/8\" ];",
			    cfg_get_cidr_list(root, "trusted", &l, &err_),
			    "t.conf:2: trusted[1]: expected a CIDR like \"10.0.0.0/8\", got "
			    "\"10.0.0.1/8\": host bits set (did you mean \"10.0.0.0/8\"?)");
	EXPECT_GETTER_ERROR("trusted = [ \"10.0.0.0/33\" ];",
			    cfg_get_cidr_list(root, "trusted", &l, &err_),
			    "t.conf:1: trusted[0]: expected a CIDR like \"10.0.0.0/8\", got "
			    "\"10.0.0.0/33\": prefix length above 32");
	EXPECT_GETTER_ERROR("trusted = ( \"::1\", \"::1/128\" );",
			    cfg_get_cidr_list(root, "trusted", &l, &err_),
			    "t.conf:1: trusted[1]: duplicate of trusted[0]");
	EXPECT_GETTER_ERROR("trusted = 10;", cfg_get_cidr_list(root, "trusted", &l, &err_),
			    "t.conf:1: trusted: expected a CIDR like \"10.0.0.0/8\", got 10");
	assert_int_equal(l.n, 0); /* left empty on error */
}

static void test_first_error_wins_and_errf(void **state)
{
	struct cfg_err err;
	long long i;

	WITH_ROOT("a = \"x\";\nb = \"y\";\ng = { };\n", root, err, {
		assert_int_equal(cfg_get_int(root, "a", 0, 0, 1, &i, &err), -EINVAL);
		assert_int_equal(cfg_get_int(root, "b", 0, 0, 1, &i, &err), -EINVAL);
		assert_string_equal(err.msg, "t.conf:1: a: expected an integer, got \"x\"");
		cfg_err_init(&err);
		assert_int_equal(
		    cfg_errf(&err, config_setting_get_member(root, "b"), "weight %d is odd", 3),
		    -EINVAL);
		assert_string_equal(err.msg, "t.conf:2: b: weight 3 is odd");
		cfg_err_init(&err);
		assert_int_equal(cfg_errf(&err, root, "no services defined"), -EINVAL);
		assert_string_equal(err.msg, "t.conf:1: no services defined");
		cfg_err_init(&err);
		cfg_errf_key(&err, config_setting_get_member(root, "g"), "port", "needs %s", "x");
		assert_string_equal(err.msg, "t.conf:3: g.port: needs x");
	});
}

/* --- cfg_check_main() with a made-up daemon schema ------------------------ */

struct demo_snap {
	struct snap hdr;
	struct addr listen;
	uint64_t timeout_us;
	uint64_t buffer;
	int mode;
	struct cidr_list trusted;
	struct addr *backends;
	size_t nbackends;
};

static int demo_destroyed;

static void demo_free(struct snap *s)
{
	struct demo_snap *d = (struct demo_snap *)s;

	cidr_list_free(&d->trusted);
	free(d->backends);
	free(d);
	demo_destroyed++;
}

static void demo_destroy(void *snap)
{
	snap_put(snap);
}

static int demo_backends(const config_setting_t *root, struct demo_snap *d, struct cfg_err *err)
{
	static const char *const keys[] = {"address", "weight", NULL};
	const config_setting_t *list;
	long long w;

	if (cfg_get_list(root, "backends", &list, err) || cfg_require(root, "backends", err))
		return -EINVAL;
	d->nbackends = (size_t)config_setting_length(list);
	if (d->nbackends == 0)
		return cfg_errf(err, list, "at least one backend is needed");
	d->backends = calloc(d->nbackends, sizeof(*d->backends));
	for (size_t i = 0; i < d->nbackends; i++) {
		const config_setting_t *be = config_setting_get_elem(list, (unsigned)i);

		if (cfg_expect_group(be, err) || cfg_check_keys(be, keys, err) ||
		    cfg_require(be, "address", err) ||
		    cfg_get_addr(be, "address", 0, 0, NULL, &d->backends[i], err) ||
		    cfg_get_int(be, "weight", 1, 1, 256, &w, err))
			return -EINVAL;
	}
	return 0;
}

static int demo_build(const char *path, void **out, struct cfg_err *err)
{
	static const char *const modes[] = {"fast", "safe", NULL};
	struct demo_snap *d;
	config_t cfg;
	const config_setting_t *root;
	int rc;

	if (cfg_load(path, &cfg, err))
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	snap_init(&d->hdr, demo_free);
	root = config_root_setting(&cfg);
	rc = cfg_check_keys(root, demo_keys, err) || cfg_require(root, "listen", err) ||
	     cfg_get_addr(root, "listen", 0, 0, NULL, &d->listen, err) ||
	     cfg_get_duration(root, "timeout", 5 * CFGVAL_US_PER_S, CFGVAL_US_PER_MS,
			      3600 * CFGVAL_US_PER_S, &d->timeout_us, err) ||
	     cfg_get_size(root, "buffer", 16384, 1024, 1 << 20, &d->buffer, err) ||
	     cfg_get_enum(root, "mode", modes, 0, &d->mode, err) ||
	     cfg_get_cidr_list(root, "trusted", &d->trusted, err) || demo_backends(root, d, err);
	config_destroy(&cfg);
	if (rc) {
		snap_put(&d->hdr); /* rejected whole */
		return -EINVAL;
	}
	*out = d;
	return 0;
}

static int failing_build(const char *path, void **out, struct cfg_err *err)
{
	return -ENOMEM; /* no message: cfg_check_main() supplies one */
}

/* Runs cfg_check_main() with stdout/stderr captured into files. */
static int check_captured(const char *path, int (*build)(const char *, void **, struct cfg_err *),
			  char *out, char *errs, size_t len)
{
	int saved_out = dup(1), saved_err = dup(2), rc;
	int fo = open("out.txt", O_RDWR | O_CREAT | O_TRUNC, 0600);
	int fe = open("err.txt", O_RDWR | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	fflush(stdout);
	fflush(stderr);
	dup2(fo, 1);
	dup2(fe, 2);
	rc = cfg_check_main(path, build, demo_destroy);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	n = pread(fo, out, len - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	n = pread(fe, errs, len - 1, 0);
	errs[n > 0 ? n : 0] = '\0';
	close(fo);
	close(fe);
	return rc;
}

static void expect_check_main(const char *text, int rc, const char *out, const char *errs)
{
	char o[1024], e[1024];

	write_file("demo.conf", text);
	assert_int_equal(check_captured("demo.conf", demo_build, o, e, sizeof(o)), rc);
	assert_string_equal(o, out);
	assert_string_equal(e, errs);
}

static const char demo_ok[] = "# demo daemon\n"
			      "listen = \"127.0.0.1:8080\";\n"
			      "timeout = \"2s\";\n"
			      "buffer = \"64k\";\n"
			      "mode = \"safe\";\n"
			      "trusted = [ \"127.0.0.0/8\", \"::1\" ];\n"
			      "backends = (\n"
			      "  { address = \"127.0.0.1:8200\"; weight = 2; },\n"
			      "  { address = \"127.0.0.1:8201\"; }\n"
			      ");\n";

static void test_check_main(void **state)
{
	char o[256], e[256];

	demo_destroyed = 0;
	expect_check_main(demo_ok, 0, "demo.conf: ok\n", "");
	assert_int_equal(demo_destroyed, 1);
	expect_check_main(
	    "listen = \"127.0.0.1:8080\";\nbackends = (\n  { address = \"b:80\"; }\n);\n", 1, "",
	    "demo.conf:3: backends[0].address: expected an address like "
	    "\"127.0.0.1:80\", got \"b:80\": host names are not accepted, use an IP "
	    "address (the configuration must not depend on DNS at start-up)\n");
	expect_check_main(
	    "listen = \"127.0.0.1:8080\";\nbackends = (\n  { adress = \"1.2.3.4:80\"; "
	    "}\n);\n",
	    1, "", "demo.conf:3: backends[0].adress: unknown key (did you mean 'address'?)\n");
	expect_check_main("listen = \"127.0.0.1:8080\";\n", 1, "",
			  "demo.conf:1: backends: required key is missing\n");
	expect_check_main("listen = \"127.0.0.1:8080\";\nbackends = ();\n", 1, "",
			  "demo.conf:2: backends: at least one backend is needed\n");
	/* (libconfig takes a missing ';' at the end of a line; "= =" it does not) */
	expect_check_main("listen = \"127.0.0.1:8080\";\nbackends = = ();\n", 1, "",
			  "demo.conf:2: syntax error\n");
	expect_check_main("listen = \"127.0.0.1:8080\";\ntimeout = \"90m\";\n", 1, "",
			  "demo.conf:2: timeout: must be between 1ms and 1h, got \"90m\"\n");
	expect_check_main(
	    "listen = \"127.0.0.1:8080\";\nmode = \"fsat\";\n", 1, "",
	    "demo.conf:2: mode: expected one of \"fast\", \"safe\", got \"fsat\" (did "
	    "you mean \"fast\"?)\n");
	expect_check_main(
	    "listen = \"127.0.0.1:8080\";\nbuffer = 4294967296;\n", 1, "",
	    "demo.conf:2: buffer: integer 4294967296 does not fit in 32 bits (append L "
	    "for 64 bits)\n");
	/* every build that got past cfg_load() (7 of 9) freed what it had built */
	assert_int_equal(demo_destroyed, 7);
	assert_int_equal(check_captured("absent.conf", demo_build, o, e, sizeof(o)), 1);
	assert_string_equal(e, "absent.conf: cannot read: No such file or directory\n");
	assert_int_equal(check_captured("demo.conf", failing_build, o, e, sizeof(o)), 1);
	assert_string_equal(o, "");
	assert_string_equal(e, "demo.conf: invalid configuration (Cannot allocate memory)\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load_and_syntax_errors),
	    cmocka_unit_test(test_includes_are_relative_to_the_file),
	    cmocka_unit_test(test_load_string_names_the_source),
	    cmocka_unit_test(test_unknown_keys),
	    cmocka_unit_test(test_required_and_groups),
	    cmocka_unit_test(test_scalar_getters),
	    cmocka_unit_test(test_scalar_getter_errors),
	    cmocka_unit_test(test_duration_and_size),
	    cmocka_unit_test(test_addr_getters),
	    cmocka_unit_test(test_cidr_list_getter),
	    cmocka_unit_test(test_first_error_wins_and_errf),
	    cmocka_unit_test(test_check_main),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
