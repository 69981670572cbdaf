/* The snapshot arena and the typed getters the l7_config*.c builders share
 * (l7_config_int.h). Everything they return lives in the arena, which the
 * snapshot owns and frees whole. */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "cfgval.h"

#include "http1_parse.h"
#include "l7_config_int.h"

#define ARENA_CHUNK 16384
#define ARENA_ALIGN 16

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	alignas(ARENA_ALIGN) unsigned char data[];
};

struct l7_arena {
	struct arena_chunk *head;
};

struct l7_arena *l7_arena_new(void)
{
	return calloc(1, sizeof(struct l7_arena));
}

void l7_arena_free(struct l7_arena *a)
{
	struct arena_chunk *c, *next;

	if (!a)
		return;
	for (c = a->head; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

void *l7_arena_alloc(struct l7_arena *a, size_t size)
{
	struct arena_chunk *c = a->head;
	size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	void *p;

	if (size > SIZE_MAX / 2)
		return NULL;
	if (!c || c->cap - c->used < need) {
		size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += need;
	memset(p, 0, size);
	return p;
}

int l7b_oom(struct l7_build *b, const config_setting_t *at)
{
	return cfg_errf(b->err, at, "out of memory");
}

bool l7b_copy(struct l7_build *b, const char *s, size_t len, struct l7_str *out)
{
	char *p;

	if (len > UINT32_MAX - 1 || !(p = l7_arena_alloc(b->arena, len + 1)))
		return false;
	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	*out = (struct l7_str){p, (uint32_t)len};
	return true;
}

void *l7b_array(struct l7_build *b, const config_setting_t *at, size_t n, size_t size)
{
	void *p;

	if (n == 0)
		n = 1; /* a valid pointer even for empty arrays */
	p = size && n <= SIZE_MAX / size ? l7_arena_alloc(b->arena, n * size) : NULL;
	if (!p)
		l7b_oom(b, at);
	return p;
}

int l7b_string(struct l7_build *b, const config_setting_t *g, const char *key, const char *def,
	       struct l7_str *out)
{
	const char *v;

	*out = (struct l7_str){NULL, 0};
	if (cfg_get_string(g, key, def, &v, b->err))
		return -EINVAL;
	if (v && !l7b_copy(b, v, strlen(v), out))
		return l7b_oom(b, g);
	return 0;
}

static bool is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int l7b_name(struct l7_build *b, const config_setting_t *g, const char *key, const char *def,
	     struct l7_str *out)
{
	size_t i;

	if (!def && cfg_require(g, key, b->err))
		return -EINVAL;
	if (l7b_string(b, g, key, def, out))
		return -EINVAL;
	/* names end up in metric labels, cookies, log fields and request ids */
	for (i = 0; i < out->len && is_name_char((unsigned char)out->ptr[i]); i++)
		;
	if (out->len == 0 || out->len > L7_NAME_MAX || i < out->len)
		return cfg_errf_key(b->err, g, key,
				    "must be 1 to %d characters of A-Z a-z 0-9 . _ -, got \"%.*s\"",
				    L7_NAME_MAX, (int)(out->len > 80 ? 80 : out->len), out->ptr);
	return 0;
}

int l7b_uint(struct l7_build *b, const config_setting_t *g, const char *key, uint32_t def,
	     uint32_t min, uint32_t max, uint32_t *out)
{
	long long v;

	if (cfg_get_int(g, key, def, min, max, &v, b->err))
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int l7b_ms(struct l7_build *b, const config_setting_t *g, const char *key, uint32_t def_ms,
	   uint32_t min_ms, uint32_t max_ms, uint32_t *out)
{
	uint64_t us;

	if (cfg_get_duration(g, key, (uint64_t)def_ms * CFGVAL_US_PER_MS,
			     (uint64_t)min_ms * CFGVAL_US_PER_MS,
			     (uint64_t)max_ms * CFGVAL_US_PER_MS, &us, b->err))
		return -EINVAL;
	/* timers run on a millisecond wheel: a finer value would be rounded */
	if (us % CFGVAL_US_PER_MS)
		return cfg_errf_key(b->err, g, key, "must be a whole number of milliseconds");
	*out = (uint32_t)(us / CFGVAL_US_PER_MS);
	return 0;
}

int l7b_items(struct l7_build *b, const config_setting_t *g, const char *key,
	      const config_setting_t **s, unsigned max, const char *what)
{
	int n;

	*s = g ? config_setting_get_member(g, key) : NULL;
	if (!*s)
		return 0;
	if (config_setting_type(*s) == CONFIG_TYPE_STRING)
		return 1;
	if (!config_setting_is_list(*s) && !config_setting_is_array(*s))
		return cfg_errf(b->err, *s, "expected %s or a list of them", what);
	n = config_setting_length(*s);
	if ((unsigned)n > max)
		return cfg_errf(b->err, *s, "too many entries (at most %u)", max);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(*s, (unsigned)i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return cfg_errf(b->err, e, "expected %s", what);
	}
	return n;
}

const config_setting_t *l7b_item(const config_setting_t *s, int i)
{
	return config_setting_type(s) == CONFIG_TYPE_STRING
		   ? s
		   : config_setting_get_elem(s, (unsigned)i);
}

bool l7_is_token(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!(http1_cclass[(uint8_t)s[i]] & HTTP1_C_TCHAR))
			return false;
	}
	return true;
}

bool l7_is_field_value(const char *s, size_t len)
{
	if (len && ((http1_cclass[(uint8_t)s[0]] & HTTP1_C_WS) ||
		    (http1_cclass[(uint8_t)s[len - 1]] & HTTP1_C_WS)))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!(http1_cclass[(uint8_t)s[i]] & HTTP1_C_VALUE))
			return false;
	}
	return true;
}

const char *l7b_closest(const char *word, const struct l7_str *names, size_t stride, size_t n)
{
	const char *list[65];
	size_t k = 0;

	/* cfgval_closest() takes a NULL-terminated array; the first 64 names
	 * are plenty for a hint */
	for (size_t i = 0; i < n && k < 64; i++) {
		const struct l7_str *nm = (const struct l7_str *)((const char *)names + i * stride);

		list[k++] = nm->ptr;
	}
	list[k] = NULL;
	return cfgval_closest(word, list);
}
