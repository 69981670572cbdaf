/* The PROXY protocol v2 header strata-l4 sends first on every instance
 * connection, and the connection id it carries (pphdr.h).
 *
 * haproxy doc/proxy-protocol.txt §2.2: PROXY command, the client's address
 * as source and the address it connected to as destination, then TLVs:
 * UNIQUE_ID (§2.2.5, at most 128 bytes) = our connection id, AUTHORITY
 * (§2.2.1) = the SNI when the service peeks it, Strata's node TLV 0xE0
 * (§2.2.8 custom range), and CRC32C (§2.2.3) last when configured.
 */
#include "pphdr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "lbworker.h"
#include "proc.h"
#include "proxy.h"

int l4_conn_id(const struct l4_conn *c, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s-%x-%llx", c->w->proc->id_prefix, c->w->index,
			 (unsigned long long)c->seq);

	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

int l4_pphdr_build(const struct l4_conn *c, const char *sni, uint8_t *buf, size_t cap)
{
	const struct l4_config *cfg = c->cfg;
	struct sockaddr_storage local;
	socklen_t local_len = sizeof(local);
	char id[L4_CONN_ID_MAX];
	int n = l4_conn_id(c, id, sizeof(id));
	struct ppv2_enc e = {
	    .cmd = PROXY_CMD_PROXY,
	    .src = &c->peer.sa,
	    .src_len = c->peer_len,
	    .socktype = SOCK_STREAM,
	    .node = {(const uint8_t *)cfg->node_name, strlen(cfg->node_name)},
	    .crc32c = c->svc->pp_crc32c,
	};

	if (n < 0)
		return n;
	e.unique_id = (struct proxy_view){(const uint8_t *)id, (size_t)n};
	/* Multishot accept shares one address buffer (DESIGN.md pitfalls): a
	 * listener bound to one address is the destination; behind a wildcard
	 * the socket itself says where the client connected to. */
	if (c->local) {
		e.dst = addr_sockaddr(c->local);
		e.dst_len = c->local->len;
	} else if (getsockname(c->fd[L4_CLIENT], (struct sockaddr *)&local, &local_len) < 0) {
		return -errno;
	} else {
		e.dst = (const struct sockaddr *)&local;
		e.dst_len = local_len;
	}
	if (sni && c->svc->pp_authority)
		e.authority = (struct proxy_view){(const uint8_t *)sni, strlen(sni)};
	return ppv2_encode(buf, cap, &e);
}

int l4_pphdr_local(uint8_t *buf, size_t cap, const char *node)
{
	struct ppv2_enc e = {
	    .cmd = PROXY_CMD_LOCAL,
	    .node = {(const uint8_t *)node, strlen(node)},
	};

	return ppv2_encode(buf, cap, &e);
}
