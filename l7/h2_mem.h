/* The allocator nghttp2 sessions use (h2_mem.c): per-thread free lists of
 * small blocks, because a request's few short-lived nghttp2 objects (its
 * stream, the queued HEADERS and DATA items, the copied field array) each
 * cost a malloc and a free otherwise. Blocks may be freed on any thread;
 * what a thread keeps is bounded and released when it exits. */
#ifndef STRATA_L7_H2_MEM_H
#define STRATA_L7_H2_MEM_H

#include <nghttp2/nghttp2.h>

/* For nghttp2_session_server_new3(); static, never freed. */
nghttp2_mem *l7_h2_mem(void);
/* Frees the blocks this thread kept unused since the last call (beyond a
 * small reserve). Called about once a second (h2_stream.c). */
void l7_h2_mem_trim(void);
/* Blocks this thread keeps for reuse (for tests). */
unsigned l7_h2_mem_cached(void);

#endif
