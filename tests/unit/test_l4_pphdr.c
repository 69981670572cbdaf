/* Tests for the PROXY v2 header strata-l4 sends (l4/lb/pphdr.c): decoded
 * by common/proxy.c, it carries the client's address and the address it
 * connected to (from the socket, not the accept buffer), the connection id
 * as UNIQUE_ID (unique per worker and sequence, at most 128 bytes), the
 * node TLV, AUTHORITY only when the service sends it, and a CRC32C that
 * verifies. The health checks' LOCAL header too. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../l4/lb/config.h"
#include "../../l4/lb/lbworker.h"
#include "../../l4/lb/pphdr.h"
#include "../../l4/lb/proc.h"
#include "proxy.h"

static struct l4_proc proc;
static struct l4_worker w;
static struct l4_config cfg;
static struct l4_service svc;

/* A connected loopback pair; *srv_port gets the listening port. */
static void tcp_pair(int *cli, int *acc, uint16_t *srv_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(bind(l, (struct sockaddr *)&a, len), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
	*srv_port = ntohs(a.sin_port);
	*cli = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(*cli, (struct sockaddr *)&a, len), 0);
	*acc = accept(l, NULL, NULL);
	assert_true(*acc >= 0);
	close(l);
}

static void setup_conn(struct l4_conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	strcpy(proc.id_prefix, "edge-1-18c0ffee1234");
	w.proc = &proc;
	w.index = 1;
	strcpy(cfg.node_name, "edge-1");
	c->w = &w;
	c->cfg = &cfg;
	c->svc = &svc;
	c->seq = 0x2a;
	c->fd[L4_CLIENT] = fd;
	c->peer_len = sizeof(c->peer);
	assert_int_equal(getpeername(fd, &c->peer.sa, &c->peer_len), 0);
}

static void decode(const uint8_t *buf, int n, struct proxy_hdr *h)
{
	enum proxy_err why;

	assert_true(n > 0);
	assert_int_equal(proxy_decode(buf, (size_t)n, h, &why), n);
}

static void test_proxy_header(void **state)
{
	uint8_t buf[L4_HDR_MAX];
	struct l4_conn c;
	struct proxy_hdr h;
	char id[L4_CONN_ID_MAX];
	int cli, acc, n;
	uint16_t port;

	tcp_pair(&cli, &acc, &port);
	setup_conn(&c, acc);
	svc.pp_crc32c = true;
	svc.pp_authority = true;
	n = l4_pphdr_build(&c, "app.example", buf, sizeof(buf));
	decode(buf, n, &h);
	assert_int_equal(h.cmd, PROXY_CMD_PROXY);
	assert_int_equal(h.family, AF_INET);
	/* source = the client, destination = what it connected to */
	struct sockaddr_in local;
	socklen_t len = sizeof(local);
	assert_int_equal(getsockname(cli, (struct sockaddr *)&local, &len), 0);
	assert_int_equal(((struct sockaddr_in *)&h.src)->sin_port, local.sin_port);
	assert_int_equal(ntohs(((struct sockaddr_in *)&h.dst)->sin_port), port);
	assert_int_equal(l4_conn_id(&c, id, sizeof(id)), (int)strlen("edge-1-18c0ffee1234-1-2a"));
	assert_string_equal(id, "edge-1-18c0ffee1234-1-2a");
	assert_int_equal(h.unique_id.len, strlen(id));
	assert_memory_equal(h.unique_id.ptr, id, strlen(id));
	assert_int_equal(h.node.len, 6);
	assert_memory_equal(h.node.ptr, "edge-1", 6);
	assert_int_equal(h.authority.len, strlen("app.example"));
	assert_memory_equal(h.authority.ptr, "app.example", h.authority.len);
	assert_true(h.has_crc32c && h.crc32c_ok);
	close(cli);
	close(acc);
}

static void test_optional_tlvs_left_out(void **state)
{
	uint8_t buf[L4_HDR_MAX];
	struct l4_conn c;
	struct proxy_hdr h;
	int cli, acc;
	uint16_t port;

	tcp_pair(&cli, &acc, &port);
	setup_conn(&c, acc);
	svc.pp_crc32c = false;
	svc.pp_authority = false;
	decode(buf, l4_pphdr_build(&c, "ignored.example", buf, sizeof(buf)), &h);
	assert_null(h.authority.ptr);
	assert_false(h.has_crc32c);
	assert_non_null(h.unique_id.ptr);
	svc.pp_authority = true;
	decode(buf, l4_pphdr_build(&c, NULL, buf, sizeof(buf)), &h);
	assert_null(h.authority.ptr);
	close(cli);
	close(acc);
}

/* The longest node name and sequence still fit PPv2's 128-byte UNIQUE_ID,
 * and the longest header fits L4_HDR_MAX. */
static void test_limits(void **state)
{
	uint8_t buf[L4_HDR_MAX];
	char sni[SNI_MAX_NAME + 1];
	struct l4_conn c;
	struct proxy_hdr h;
	int cli, acc;
	uint16_t port;

	tcp_pair(&cli, &acc, &port);
	setup_conn(&c, acc);
	memset(cfg.node_name, 'n', L4_NODE_MAX);
	cfg.node_name[L4_NODE_MAX] = '\0';
	snprintf(proc.id_prefix, sizeof(proc.id_prefix), "%s-%llx", cfg.node_name,
		 0xffffffffffffffull);
	w.index = 255;
	c.seq = UINT64_MAX;
	memset(sni, 'a', SNI_MAX_NAME);
	sni[SNI_MAX_NAME] = '\0';
	svc.pp_crc32c = svc.pp_authority = true;
	int n = l4_pphdr_build(&c, sni, buf, sizeof(buf));
	decode(buf, n, &h);
	assert_true(h.unique_id.len <= PPV2_UNIQUE_ID_MAX);
	assert_int_equal(h.authority.len, SNI_MAX_NAME);
	close(cli);
	close(acc);
}

static void test_local_header(void **state)
{
	uint8_t buf[128];
	struct proxy_hdr h;

	decode(buf, l4_pphdr_local(buf, sizeof(buf), "edge-2"), &h);
	assert_int_equal(h.cmd, PROXY_CMD_LOCAL);
	assert_false(h.has_addr);
	assert_memory_equal(h.node.ptr, "edge-2", 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_proxy_header),
	    cmocka_unit_test(test_optional_tlvs_left_out),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_local_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
