/* Guard-page buffers for parser tests; see guard.h. */
#include "guard.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t data_pages(size_t len)
{
	size_t ps = page_size();

	return (len + ps - 1) / ps + (len == 0);
}

void *guard_dup(const void *src, size_t len)
{
	size_t ps = page_size(), n = data_pages(len);
	uint8_t *base = mmap(NULL, (n + 1) * ps, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (base == MAP_FAILED)
		abort();
	if (mprotect(base + n * ps, ps, PROT_NONE) != 0)
		abort();
	uint8_t *p = base + n * ps - len;
	if (len)
		memcpy(p, src, len);
	return p;
}

void guard_free(void *p, size_t len)
{
	size_t ps = page_size(), n = data_pages(len);
	uint8_t *base = (uint8_t *)p + len - n * ps;

	munmap(base, (n + 1) * ps);
}
