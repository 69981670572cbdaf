/* Fuzzes strata-echo's request parsers: the head parser with its framing
 * analysis and router, the chunked body decoder and the WebSocket frame
 * header parser. Any input gives a verdict without reading past its end;
 * the first byte picks which parser sees the rest. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "../../tools/echo/echo_body.h"
#include "../../tools/echo/echo_http.h"
#include "../../tools/echo/echo_http_fields.h"
#include "../../tools/echo/echo_route.h"
#include "../../tools/echo/echo_ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct echo_http_req req; /* large: keep it off the stack */

static void fuzz_head(const char *p, size_t n)
{
	enum echo_http_why why;
	struct echo_http_info info;
	struct echo_route route;
	int rc = echo_http_parse_request(p, n, 0, &req, &why);

	assert(rc == -EAGAIN || rc == -EBADMSG || rc == -E2BIG || (rc > 0 && (size_t)rc <= n));
	if (rc <= 0)
		return;
	if (echo_http_fields_analyze(&req, &info, &why) == 0)
		(void)echo_route_parse(req.target, &route, &why);
}

static void fuzz_chunked(const char *p, size_t n)
{
	struct echo_chunked ck;
	struct echo_span span;
	enum echo_http_why why;

	echo_chunked_init(&ck);
	while (n && ck.state != ECHO_CK_DONE) {
		int rc = echo_chunked_next(&ck, p, n, &span, &why);

		if (rc <= 0)
			return;
		assert((size_t)rc <= n && span.len <= (size_t)rc);
		p += rc;
		n -= (size_t)rc;
	}
}

static void fuzz_ws(const uint8_t *p, size_t n)
{
	struct echo_ws_frame f;
	enum echo_ws_why why;
	int rc = echo_ws_parse_client_header(p, n, &f, &why);

	assert(rc == -EAGAIN || rc == -EBADMSG || rc == -E2BIG || (rc > 0 && (size_t)rc <= n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_head((const char *)data + 1, size - 1);
		break;
	case 1:
		fuzz_chunked((const char *)data + 1, size - 1);
		break;
	default:
		fuzz_ws(data + 1, size - 1);
		break;
	}
	return 0;
}
