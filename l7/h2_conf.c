/* HTTP/2 settings of a listener: defaults, the `http2 = { ... }` group
 * (docs/http2.md "Configuration") and the reason table. */
#include <errno.h>
#include <string.h>

#include "h2.h"

static const char *const h2_keys[] = {"enabled",
				      "h2c",
				      "max_concurrent_streams",
				      "initial_window",
				      "connection_window",
				      "max_header_list",
				      "max_frame_size",
				      "stream_buffer",
				      "max_requests",
				      "reset_limit",
				      "reset_window",
				      "ping_limit",
				      "settings_limit",
				      "empty_frame_limit",
				      "flood_window",
				      "max_continuations",
				      "stall_timeout",
				      "shutdown_grace",
				      NULL};

void l7_h2_conf_init(struct l7_h2_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->enabled = true;
	c->h2c = false;
	c->max_concurrent_streams = 100; /* RFC 9113 §6.5.2 recommends >= 100 */
	c->initial_window = 65535;	 /* RFC 9113 §6.9.2 default */
	c->connection_window = 1u << 20; /* 16 streams' worth in flight */
	c->max_header_list = 32768;	 /* = HTTP1_DEFAULT_MAX_HEADER_BYTES */
	c->max_frame_size = 16384;	 /* RFC 9113 §6.5.2 default */
	c->stream_buffer = 65536;
	c->max_requests = 0;
	c->reset_limit = 200;
	c->reset_window_ms = 10000;
	c->ping_limit = 50;
	c->settings_limit = 50;
	c->empty_frame_limit = 200;
	c->flood_window_ms = 10000;
	c->max_continuations = 16;
	c->stall_timeout_ms = 30000;
	c->shutdown_grace_ms = 1000;
}

static int get_u32(const config_setting_t *g, const char *key, uint32_t min, uint32_t max,
		   uint32_t *v, struct cfg_err *err)
{
	long long x;

	if (cfg_get_int(g, key, *v, min, max, &x, err))
		return -EINVAL;
	*v = (uint32_t)x;
	return 0;
}

static int get_size(const config_setting_t *g, const char *key, uint32_t min, uint32_t max,
		    uint32_t *v, struct cfg_err *err)
{
	uint64_t x;

	if (cfg_get_size(g, key, *v, min, max, &x, err))
		return -EINVAL;
	*v = (uint32_t)x;
	return 0;
}

static int get_ms(const config_setting_t *g, const char *key, uint32_t min_ms, uint32_t max_ms,
		  uint32_t *v, struct cfg_err *err)
{
	uint64_t us;

	if (cfg_get_duration(g, key, (uint64_t)*v * 1000, (uint64_t)min_ms * 1000,
			     (uint64_t)max_ms * 1000, &us, err))
		return -EINVAL;
	*v = (uint32_t)(us / 1000);
	return 0;
}

int l7_h2_conf_parse(const config_setting_t *g, struct l7_h2_conf *c, struct cfg_err *err)
{
	l7_h2_conf_init(c);
	if (!g)
		return 0;
	/* RFC 9113 §6.5.2 ranges: windows up to 2^31-1, frames 16 KiB..16 MiB */
	if (cfg_expect_group(g, err) || cfg_check_keys(g, h2_keys, err) ||
	    cfg_get_bool(g, "enabled", true, &c->enabled, err) ||
	    cfg_get_bool(g, "h2c", false, &c->h2c, err) ||
	    get_u32(g, "max_concurrent_streams", 1, 10000, &c->max_concurrent_streams, err) ||
	    get_size(g, "initial_window", 1024, 0x7fffffff, &c->initial_window, err) ||
	    get_size(g, "connection_window", 65535, 0x7fffffff, &c->connection_window, err) ||
	    get_size(g, "max_header_list", 1024, 1u << 20, &c->max_header_list, err) ||
	    get_size(g, "max_frame_size", 16384, 16777215, &c->max_frame_size, err) ||
	    get_size(g, "stream_buffer", 4096, 16u << 20, &c->stream_buffer, err) ||
	    get_u32(g, "max_requests", 0, UINT32_MAX, &c->max_requests, err) ||
	    get_u32(g, "reset_limit", 0, 1000000, &c->reset_limit, err) ||
	    get_ms(g, "reset_window", 100, 3600000, &c->reset_window_ms, err) ||
	    get_u32(g, "ping_limit", 0, 1000000, &c->ping_limit, err) ||
	    get_u32(g, "settings_limit", 0, 1000000, &c->settings_limit, err) ||
	    get_u32(g, "empty_frame_limit", 0, 1000000, &c->empty_frame_limit, err) ||
	    get_ms(g, "flood_window", 100, 3600000, &c->flood_window_ms, err) ||
	    get_u32(g, "max_continuations", 0, 1000, &c->max_continuations, err) ||
	    get_ms(g, "stall_timeout", 100, 3600000, &c->stall_timeout_ms, err) ||
	    get_ms(g, "shutdown_grace", 0, 60000, &c->shutdown_grace_ms, err))
		return -EINVAL;
	if (c->connection_window < c->initial_window)
		return cfg_errf_key(err, g, "connection_window",
				    "must be at least initial_window (%u)", c->initial_window);
	return 0;
}

struct err_info {
	const char *name, *text;
};

static const struct err_info err_info[L7_H2_ERR__COUNT] = {
    [L7_H2_OK] = {"ok", "no error"},
    [L7_H2_ERR_PREFACE] = {"preface", "not the HTTP/2 client connection preface"},
    [L7_H2_ERR_PROTOCOL] = {"protocol", "HTTP/2 protocol violation"},
    [L7_H2_ERR_FLOW_CONTROL] = {"flow_control", "the client sent beyond the window"},
    [L7_H2_ERR_COMPRESSION] = {"compression", "HPACK decoding failed"},
    [L7_H2_ERR_RAPID_RESET] = {"rapid_reset", "too many streams reset (CVE-2023-44487)"},
    [L7_H2_ERR_CONTINUATION] = {"continuation_flood", "too many CONTINUATION frames"},
    [L7_H2_ERR_HEADER_FLOOD] = {"header_flood", "header block far over the limit"},
    [L7_H2_ERR_PING_FLOOD] = {"ping_flood", "too many PING frames"},
    [L7_H2_ERR_SETTINGS_FLOOD] = {"settings_flood", "too many SETTINGS frames"},
    [L7_H2_ERR_EMPTY_FLOOD] = {"empty_frame_flood", "too many empty DATA or PRIORITY frames"},
    [L7_H2_ERR_STALLED] = {"stalled", "the client kept the connection window closed"},
    [L7_H2_ERR_FLOODED] = {"flooded", "the client does not read our control frames"},
    [L7_H2_ERR_PEER_GOAWAY] = {"peer_goaway", "the client sent GOAWAY with an error"},
    [L7_H2_ERR_INTERNAL] = {"internal", "out of memory or library failure"},
};

const char *l7_h2_err_name(enum l7_h2_err e)
{
	return (unsigned)e < L7_H2_ERR__COUNT ? err_info[e].name : "?";
}

const char *l7_h2_err_text(enum l7_h2_err e)
{
	return (unsigned)e < L7_H2_ERR__COUNT ? err_info[e].text : "?";
}
