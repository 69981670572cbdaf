/* AddressSanitizer hooks for object pools and free lists.
 *
 * A pool that keeps freed objects for reuse hides a use after free from
 * ASan: the memory never goes back to malloc. asan_park() poisons an
 * object while it sits on a free list (an access is reported as
 * use-after-poison), asan_unpark() makes it usable again when it is handed
 * out or truly freed. Outside ASan builds both compile to nothing. */
#ifndef STRATA_ASAN_H
#define STRATA_ASAN_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define STRATA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STRATA_ASAN 1
#endif
#endif

#ifdef STRATA_ASAN
#include <sanitizer/asan_interface.h>
#define asan_park(p, n)	  ASAN_POISON_MEMORY_REGION((p), (n))
#define asan_unpark(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define asan_park(p, n)	  ((void)(p), (void)(n))
#define asan_unpark(p, n) ((void)(p), (void)(n))
#endif

/* Parks obj (size bytes) but for its free-list link field. */
#define asan_park_but(obj, size, link)                                                             \
	do {                                                                                       \
		asan_park((obj), (size));                                                          \
		asan_unpark(&(link), sizeof(link));                                                \
	} while (0)

#endif
