/* Fuzzes the /metrics request parser: any input gives a verdict without
 * reading past its end, and a complete head is never longer than the input. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct metrics_req req;
	enum metrics_req_err why;
	int rc = metrics_req_parse((const char *)data, size, 4096, &req, &why);

	assert(rc == -EAGAIN || rc == -EBADMSG || rc == -E2BIG || (rc > 0 && (size_t)rc <= size));
	if (rc > 0)
		assert(req.verdict < METRICS_REQ__COUNT);
	else if (rc != -EAGAIN)
		assert(why != METRICS_REQ_ERR_NONE);
	return 0;
}
