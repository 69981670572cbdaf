/* strata-l4's `show stats` lines for the strata-l4 tracker (vrrp_l4stats.h). */
#include "vrrp_l4stats.h"

#include <string.h>

void vrrp_l4stats_reset(struct vrrp_l4stats *s)
{
	memset(s, 0, sizeof(*s));
}

/* A decimal number filling the rest of the line; false otherwise. */
static bool number(const char *p, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*p)
		return false;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > (max - (uint64_t)(*p - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return true;
}

static void take_line(struct vrrp_l4stats *s)
{
	uint64_t v;

	if (s->len && s->line[s->len - 1] == '\r')
		s->len--;
	s->line[s->len] = '\0';
	if (strncmp(s->line, "active ", 7) == 0 && number(s->line + 7, UINT32_MAX, &v)) {
		s->active = (uint32_t)v;
		s->has_active = true;
	} else if (strncmp(s->line, "draining ", 9) == 0 && number(s->line + 9, 1, &v)) {
		s->draining = v == 1;
	} else if (strncmp(s->line, "draining_ms ", 12) == 0 &&
		   number(s->line + 12, UINT64_MAX, &v)) {
		s->draining_ms = v;
	}
}

void vrrp_l4stats_feed(struct vrrp_l4stats *s, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = buf[i];

		if (c == '\n') {
			if (!s->overlong)
				take_line(s);
			s->len = 0;
			s->overlong = false;
		} else if (s->len + 1 < sizeof(s->line)) {
			s->line[s->len++] = c;
		} else {
			s->overlong = true;
		}
	}
}

bool vrrp_l4stats_quiet(const struct vrrp_l4stats *s, uint64_t settle_ms)
{
	return s->has_active && s->active == 0 && (!s->draining || s->draining_ms >= settle_ms);
}

bool vrrp_l4stats_drained(const struct vrrp_l4stats *s, uint64_t settle_ms)
{
	return s->draining && vrrp_l4stats_quiet(s, settle_ms);
}
