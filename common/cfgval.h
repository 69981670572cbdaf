/* Pure parsers for config values: durations, sizes, and a scan for integer
 * literals libconfig would silently truncate.
 *
 * No libconfig, no allocation, no logging: the fuzzer links these alone.
 * Every parser takes (ptr, len), never reads past len, and returns 0 or a
 * negative errno with a short static reason in *why (set on error only):
 * -EINVAL for malformed text, -ERANGE for a value that does not fit.
 *
 * Durations: a decimal number and a unit, no spaces:
 *   us (microseconds), ms, s, m (minutes), h       "100us" "250ms" "1.5s" "1m" "2h"
 * Fractions are allowed when the result is a whole number of microseconds
 * ("1.5ms" yes, "0.5us" no). The API unit is microseconds, in uint64_t.
 * Compound forms ("1m30s") are not accepted: write "90s".
 *
 * Sizes: a decimal number and an optional binary multiplier:
 *   (none) bytes, k/K/KiB = 1024, m/M/MiB = 1024^2, g/G/GiB = 1024^3, t/T/TiB = 1024^4
 * "1.5k" is 1536; fractions must give whole bytes. Decimal-looking units
 * ("kB", "MB", "mb") are refused as ambiguous rather than guessed.
 */
#ifndef STRATA_CFGVAL_H
#define STRATA_CFGVAL_H

#include <stddef.h>
#include <stdint.h>

#define CFGVAL_US_PER_MS 1000ull
#define CFGVAL_US_PER_S	 1000000ull

/* Longest cfgval_format_duration()/cfgval_format_size() output, NUL included. */
#define CFGVAL_STR_MAX 24

/* Decimal places accepted after the point; more is a typo, not precision. */
#define CFGVAL_MAX_DECIMALS 9

/* "250ms" -> 250000. 0, -EINVAL or -ERANGE (above UINT64_MAX microseconds). */
int cfgval_duration(const char *s, size_t len, uint64_t *us, const char **why);

/* "16k" -> 16384. 0, -EINVAL or -ERANGE (above UINT64_MAX bytes). */
int cfgval_size(const char *s, size_t len, uint64_t *bytes, const char **why);

/* Formats with the largest unit that represents the value exactly
 * (1500000 -> "1500ms", 7200000000 -> "2h", 0 -> "0s"); output parses back
 * to the same value. Returns the length or -ENOSPC. */
int cfgval_format_duration(uint64_t us, char *buf, size_t len);

/* Same for sizes: 16384 -> "16k", 1536 -> "1536", 0 -> "0". */
int cfgval_format_size(uint64_t bytes, char *buf, size_t len);

/* Longest word the edit distance is computed for; longer ones get no hint. */
#define CFGVAL_EDIT_MAX 64

/* Optimal-string-alignment distance (Levenshtein plus adjacent
 * transpositions, so "tiemout" is one edit from "timeout"). Returns
 * SIZE_MAX when either side is longer than CFGVAL_EDIT_MAX. */
size_t cfgval_edit_distance(const char *a, size_t alen, const char *b, size_t blen);

/* The entry of `names` (NULL-terminated) closest to `word` if it is close
 * enough to be a plausible typo (1 edit for words up to 3 bytes, 2 up to 6,
 * else 3), else NULL. Ties go to the earlier name. */
const char *cfgval_closest(const char *word, const char *const names[]);

/* Where a bad integer literal sits in config text. */
struct cfgval_span {
	unsigned line; /* 1-based */
	size_t off;    /* byte offset of the literal */
	size_t len;
};

/* libconfig 1.5 reads an integer literal without the L suffix through a
 * plain int conversion: "5000000000" silently becomes 705032704 and
 * "0xffffffff" becomes -1. This scans libconfig text (skipping comments,
 * strings and names) for literals that do not survive that conversion: plain
 * integers outside INT32, hex above 0x7fffffff, L-suffixed ones outside
 * INT64. Returns 0 when there is none, or -ERANGE with the first one in
 * *where. Never reads past len. */
int cfgval_find_int_overflow(const char *text, size_t len, struct cfgval_span *where);

#endif
