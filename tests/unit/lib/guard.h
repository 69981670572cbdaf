/* Guard-page buffers for parser tests: the byte after the buffer is the first
 * byte of an unreadable page, so any over-read crashes the test at once. */
#ifndef STRATA_TEST_GUARD_H
#define STRATA_TEST_GUARD_H

#include <stddef.h>

/* Returns a copy of `len` bytes of `src` that ends exactly at a PROT_NONE
 * page. Free with guard_free(). Aborts on allocation failure. */
void *guard_dup(const void *src, size_t len);
void guard_free(void *p, size_t len);

#endif
