/* Weighted splits (split.h): stable buckets, cumulative bounds behind a
 * seqlock, forcing, reload and the stratactl weight parser. A split is
 * owned by the engine's registry and freed by l7_split_free(). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#include "headers.h"
#include "split.h"
#include "sticky.h"

/* "StrataSp": a constant, so every instance and restart agrees (split.h) */
#define SPLIT_SEED 0x5374726174615370ull

struct l7_split {
	char names[L7_SPLIT_MAX_SIDES][L7_SPLIT_NAME_MAX + 1];
	uint8_t name_len[L7_SPLIT_MAX_SIDES];
	unsigned n_sides;
	enum l7_split_key key;
	char key_name[L7_SPLIT_FIELD_MAX + 1];
	char force_header[L7_SPLIT_FIELD_MAX + 1];
	char force_cookie[L7_SPLIT_FIELD_MAX + 1];
	uint8_t key_len, fh_len, fc_len;
	pthread_mutex_t write_lock;		 /* one writer at a time */
	uint32_t cfg_weight[L7_SPLIT_MAX_SIDES]; /* as last configured; under write_lock */
	/* The seqlock (Boehm, "Can seqlocks get along with programming language
	 * memory models?", MSPC 2012): seq is odd while a write is under way;
	 * the data are written with release stores and read with acquire
	 * loads (plain moves on x86) instead of fences, so readers never race
	 * in the C11 sense and ThreadSanitizer can check it. */
	uint32_t seq;
	uint16_t bound[L7_SPLIT_MAX_SIDES]; /* cumulative upper bucket bounds */
	uint32_t weight[L7_SPLIT_MAX_SIDES];
};

/* --- the seqlock --------------------------------------------------------- */

/* Publishes weights (write_lock held). Side i owns buckets
 * [bound[i-1], bound[i]); rounding each cumulative sum, not each share,
 * keeps the last bound at exactly L7_SPLIT_BUCKETS. */
static void publish(struct l7_split *sp, const uint32_t *w)
{
	uint64_t total = 0, run = 0;
	uint32_t s = __atomic_load_n(&sp->seq, __ATOMIC_RELAXED);

	for (unsigned i = 0; i < sp->n_sides; i++)
		total += w[i];
	__atomic_store_n(&sp->seq, s + 1, __ATOMIC_RELAXED);
	/* release stores: a reader that sees any new value also sees s + 1 */
	for (unsigned i = 0; i < sp->n_sides; i++) {
		uint16_t b = 0;

		run += w[i];
		if (total)
			b = (uint16_t)((run * L7_SPLIT_BUCKETS + total / 2) / total);
		__atomic_store_n(&sp->bound[i], b, __ATOMIC_RELEASE);
		__atomic_store_n(&sp->weight[i], w[i], __ATOMIC_RELEASE);
	}
	__atomic_store_n(&sp->seq, s + 2, __ATOMIC_RELEASE);
}

/* Copies the bounds (and weights when w is not NULL) as one consistent set. */
static void read_table(const struct l7_split *sp, uint16_t *bound, uint32_t *w)
{
	uint32_t s1, s2;

	do {
		s1 = __atomic_load_n(&sp->seq, __ATOMIC_ACQUIRE);
		for (unsigned i = 0; i < sp->n_sides; i++) {
			bound[i] = __atomic_load_n(&sp->bound[i], __ATOMIC_ACQUIRE);
			if (w)
				w[i] = __atomic_load_n(&sp->weight[i], __ATOMIC_ACQUIRE);
		}
		/* the acquire loads keep this load after them */
		s2 = __atomic_load_n(&sp->seq, __ATOMIC_RELAXED);
	} while ((s1 & 1) || s1 != s2);
}

/* --- creation ------------------------------------------------------------ */

static bool is_token(const char *s, size_t len)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(http1_cclass[(unsigned char)s[i]] & HTTP1_C_TCHAR))
			return false;
	return true;
}

/* Copies an optional field name; false when present but not a token. */
static bool copy_field(char *dst, uint8_t *len, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (!src)
		return true;
	if (n > L7_SPLIT_FIELD_MAX || !is_token(src, n))
		return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	*len = (uint8_t)n;
	return true;
}

static bool weights_ok(const uint32_t *w, unsigned n)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < n; i++) {
		if (w[i] > L7_SPLIT_MAX_WEIGHT)
			return false;
		total += w[i];
	}
	return total > 0;
}

static bool params_ok(const struct l7_split_params *p)
{
	uint32_t w[L7_SPLIT_MAX_SIDES];

	if (!p->n_sides || p->n_sides > L7_SPLIT_MAX_SIDES || p->key >= L7_SPLIT_KEY__COUNT)
		return false;
	if (p->key != L7_SPLIT_KEY_CLIENT_IP && !p->key_name)
		return false;
	for (unsigned i = 0; i < p->n_sides; i++) {
		const char *name = p->sides[i].name;
		size_t n = name ? strlen(name) : 0;

		if (!n || n > L7_SPLIT_NAME_MAX)
			return false;
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(p->sides[j].name, name))
				return false;
		w[i] = p->sides[i].weight;
	}
	return weights_ok(w, p->n_sides);
}

struct l7_split *l7_split_new(const struct l7_split_params *p)
{
	uint32_t w[L7_SPLIT_MAX_SIDES];
	struct l7_split *sp;

	if (!p || !params_ok(p))
		return NULL;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;
	sp->n_sides = p->n_sides;
	sp->key = p->key;
	if (!copy_field(sp->key_name, &sp->key_len,
			p->key != L7_SPLIT_KEY_CLIENT_IP ? p->key_name : NULL) ||
	    !copy_field(sp->force_header, &sp->fh_len, p->force_header) ||
	    !copy_field(sp->force_cookie, &sp->fc_len, p->force_cookie)) {
		free(sp);
		return NULL;
	}
	for (unsigned i = 0; i < p->n_sides; i++) {
		sp->name_len[i] = (uint8_t)strlen(p->sides[i].name);
		memcpy(sp->names[i], p->sides[i].name, sp->name_len[i]);
		w[i] = sp->cfg_weight[i] = p->sides[i].weight;
	}
	pthread_mutex_init(&sp->write_lock, NULL);
	publish(sp, w);
	return sp;
}

void l7_split_free(struct l7_split *sp)
{
	if (!sp)
		return;
	pthread_mutex_destroy(&sp->write_lock);
	free(sp);
}

static bool same_field(const char *have, uint8_t len, const char *want)
{
	return want ? strlen(want) == len && !memcmp(have, want, len) : len == 0;
}

int l7_split_reconfigure(struct l7_split *sp, const struct l7_split_params *p)
{
	uint32_t w[L7_SPLIT_MAX_SIDES];
	bool changed = false;

	if (!params_ok(p) || p->n_sides != sp->n_sides || p->key != sp->key ||
	    !same_field(sp->key_name, sp->key_len,
			p->key != L7_SPLIT_KEY_CLIENT_IP ? p->key_name : NULL) ||
	    !same_field(sp->force_header, sp->fh_len, p->force_header) ||
	    !same_field(sp->force_cookie, sp->fc_len, p->force_cookie))
		return -EINVAL;
	for (unsigned i = 0; i < sp->n_sides; i++)
		if (strcmp(sp->names[i], p->sides[i].name))
			return -EINVAL;
	pthread_mutex_lock(&sp->write_lock);
	for (unsigned i = 0; i < sp->n_sides; i++) {
		w[i] = p->sides[i].weight;
		changed |= w[i] != sp->cfg_weight[i];
		sp->cfg_weight[i] = w[i];
	}
	if (changed)
		publish(sp, w);
	pthread_mutex_unlock(&sp->write_lock);
	return 0;
}

/* --- picking ------------------------------------------------------------- */

uint32_t l7_split_bucket(const void *key, size_t len)
{
	return (uint32_t)(hash_bytes_seed(key, len, SPLIT_SEED) % L7_SPLIT_BUCKETS);
}

uint32_t l7_split_bucket_addr(const struct addr *client)
{
	uint8_t key[ADDR_KEY_MAX];
	struct addr a;

	if (!client)
		return l7_split_bucket(NULL, 0);
	a = *client;
	addr_normalize(&a);
	return l7_split_bucket(key, addr_key(&a, false, key));
}

int l7_split_pick(const struct l7_split *sp, uint32_t bucket)
{
	uint16_t bound[L7_SPLIT_MAX_SIDES];

	read_table(sp, bound, NULL);
	for (unsigned i = 0; i < sp->n_sides; i++)
		if (bucket < bound[i])
			return (int)i;
	return -1;
}

int l7_split_side(const struct l7_split *sp, const char *name, size_t len)
{
	for (unsigned i = 0; i < sp->n_sides; i++)
		if (sp->name_len[i] == len && l7_name_eq(sp->names[i], name, len))
			return (int)i;
	return -1;
}

const char *l7_split_side_name(const struct l7_split *sp, unsigned side)
{
	return side < sp->n_sides ? sp->names[side] : NULL;
}

unsigned l7_split_count(const struct l7_split *sp)
{
	return sp->n_sides;
}

static bool find_header(const struct http1_request *req, const char *name, size_t len,
			struct http1_view *out)
{
	for (unsigned i = 0; i < req->h.nheaders; i++) {
		const struct http1_header *f = &req->h.headers[i];

		if (f->name.len == len && l7_name_eq(f->name.ptr, name, len)) {
			*out = f->value;
			return true;
		}
	}
	return false;
}

/* The side a forcing header or cookie names; -1 when absent or unknown
 * (an unknown name is ignored: the request is split as usual). */
static int forced(const struct l7_split *sp, const struct http1_request *req,
		  enum l7_split_why *why)
{
	struct http1_view v;
	int side;

	if (sp->fh_len && find_header(req, sp->force_header, sp->fh_len, &v) &&
	    (side = l7_split_side(sp, v.ptr, v.len)) >= 0) {
		*why = L7_SPLIT_WHY_HEADER_FORCED;
		return side;
	}
	if (sp->fc_len && l7_cookie_find(req, sp->force_cookie, sp->fc_len, &v) &&
	    (side = l7_split_side(sp, v.ptr, v.len)) >= 0) {
		*why = L7_SPLIT_WHY_COOKIE_FORCED;
		return side;
	}
	return -1;
}

int l7_split_choose(const struct l7_split *sp, const struct http1_request *req,
		    const struct addr *client, struct l7_split_choice *out)
{
	struct http1_view v = {NULL, 0};
	bool have = false;
	int side;

	if (req && sp->key == L7_SPLIT_KEY_COOKIE)
		have = l7_cookie_find(req, sp->key_name, sp->key_len, &v) && v.len;
	else if (req && sp->key == L7_SPLIT_KEY_HEADER)
		have = find_header(req, sp->key_name, sp->key_len, &v) && v.len;
	if (have) {
		out->bucket = l7_split_bucket(v.ptr, v.len);
		out->why =
		    sp->key == L7_SPLIT_KEY_COOKIE ? L7_SPLIT_WHY_COOKIE : L7_SPLIT_WHY_HEADER;
	} else {
		out->bucket = l7_split_bucket_addr(client);
		out->why = L7_SPLIT_WHY_CLIENT_IP;
	}
	side = req ? forced(sp, req, &out->why) : -1;
	out->side = side >= 0 ? side : l7_split_pick(sp, out->bucket);
	return out->side;
}

/* --- run-time weights ---------------------------------------------------- */

int l7_split_set_weights(struct l7_split *sp, const uint32_t *weights, unsigned n)
{
	if (n != sp->n_sides || !weights_ok(weights, n))
		return -EINVAL;
	pthread_mutex_lock(&sp->write_lock);
	publish(sp, weights);
	pthread_mutex_unlock(&sp->write_lock);
	return 0;
}

unsigned l7_split_weights(const struct l7_split *sp, uint32_t *weights)
{
	uint16_t bound[L7_SPLIT_MAX_SIDES];

	read_table(sp, bound, weights);
	return sp->n_sides;
}

int l7_split_format(const struct l7_split *sp, char *out, size_t cap)
{
	uint16_t bound[L7_SPLIT_MAX_SIDES];
	uint32_t w[L7_SPLIT_MAX_SIDES];
	size_t n = 0;

	read_table(sp, bound, w);
	if (cap)
		out[0] = '\0';
	for (unsigned i = 0; i < sp->n_sides; i++) {
		int m = snprintf(out + n, cap - n, "%s%s=%u [%u,%u)", i ? " " : "", sp->names[i],
				 w[i], i ? bound[i - 1] : 0, bound[i]);

		if (m < 0 || (size_t)m >= cap - n)
			return -E2BIG;
		n += (size_t)m;
	}
	return (int)n;
}

static int spec_err(enum l7_split_err *why, enum l7_split_err e, int rc)
{
	*why = e;
	return rc;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* One "NAME=WEIGHT" in s[a, b), spaces trimmed; sets out[side]. */
static int parse_pair(const struct l7_split *sp, const char *s, size_t a, size_t b, uint32_t *out,
		      bool *seen, enum l7_split_err *why)
{
	size_t eq = a, ne, vs;
	uint64_t w = 0;
	int side;

	while (a < b && is_ws(s[a]))
		a++;
	while (b > a && is_ws(s[b - 1]))
		b--;
	if (a == b)
		return spec_err(why, L7_SPLIT_ERR_EMPTY, -EBADMSG);
	for (eq = a; eq < b && s[eq] != '='; eq++)
		;
	if (eq == b)
		return spec_err(why, L7_SPLIT_ERR_NO_EQUALS, -EBADMSG);
	for (ne = eq; ne > a && is_ws(s[ne - 1]); ne--)
		;
	for (vs = eq + 1; vs < b && is_ws(s[vs]); vs++)
		;
	side = l7_split_side(sp, s + a, ne - a);
	if (side < 0)
		return spec_err(why, L7_SPLIT_ERR_UNKNOWN, -EBADMSG);
	if (seen[side])
		return spec_err(why, L7_SPLIT_ERR_DUPLICATE, -EBADMSG);
	if (vs == b)
		return spec_err(why, L7_SPLIT_ERR_WEIGHT, -EBADMSG);
	for (size_t i = vs; i < b; i++) {
		if (s[i] < '0' || s[i] > '9')
			return spec_err(why, L7_SPLIT_ERR_WEIGHT, -EBADMSG);
		w = w * 10 + (uint64_t)(s[i] - '0');
		if (w > L7_SPLIT_MAX_WEIGHT)
			return spec_err(why, L7_SPLIT_ERR_TOO_LARGE, -E2BIG);
	}
	seen[side] = true;
	out[side] = (uint32_t)w;
	return 0;
}

int l7_split_parse_weights(const struct l7_split *sp, const char *s, size_t len,
			   uint32_t out[L7_SPLIT_MAX_SIDES], enum l7_split_err *why)
{
	bool seen[L7_SPLIT_MAX_SIDES] = {false};
	uint16_t bound[L7_SPLIT_MAX_SIDES];
	size_t start = 0;
	int rc;

	*why = L7_SPLIT_ERR_NONE;
	if (len > L7_SPLIT_SPEC_MAX)
		return spec_err(why, L7_SPLIT_ERR_TOO_LARGE, -E2BIG);
	if (!len)
		return spec_err(why, L7_SPLIT_ERR_EMPTY, -EBADMSG);
	read_table(sp, bound, out);
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != ',')
			continue;
		rc = parse_pair(sp, s, start, i, out, seen, why);
		if (rc)
			return rc;
		start = i + 1;
	}
	if (!weights_ok(out, sp->n_sides))
		return spec_err(why, L7_SPLIT_ERR_ALL_ZERO, -EBADMSG);
	return (int)len;
}

const char *l7_split_err_text(enum l7_split_err why)
{
	static const char *const text[L7_SPLIT_ERR__COUNT] = {
	    [L7_SPLIT_ERR_NONE] = "no error",
	    [L7_SPLIT_ERR_EMPTY] = "expected NAME=WEIGHT[,NAME=WEIGHT...]",
	    [L7_SPLIT_ERR_NO_EQUALS] = "expected '=' between a side and its weight",
	    [L7_SPLIT_ERR_UNKNOWN] = "no side of that name",
	    [L7_SPLIT_ERR_DUPLICATE] = "a side is named twice",
	    [L7_SPLIT_ERR_WEIGHT] = "a weight is not a decimal number",
	    [L7_SPLIT_ERR_TOO_LARGE] = "weight above 1000000 or text too long",
	    [L7_SPLIT_ERR_ALL_ZERO] = "every side would have weight 0",
	};

	return why < L7_SPLIT_ERR__COUNT ? text[why] : "?";
}

const char *l7_split_why_name(enum l7_split_why why)
{
	static const char *const names[L7_SPLIT_WHY__COUNT] = {
	    "header_forced", "cookie_forced", "cookie", "header", "client_ip",
	};

	return why < L7_SPLIT_WHY__COUNT ? names[why] : "?";
}
