/* strata-l7's Prometheus metrics: the families, and the series cells of one
 * runtime generation (listeners, routes, upstream servers).
 *
 * Writers: worker i is writer i; the health thread is writer
 * L7M_WRITER_HEALTH(n) and the main/admin threads share writer
 * L7M_WRITER_MAIN(n) (they never write at the same time: reload and admin
 * commands only touch gauges the main thread owns). Families are registered
 * once at start; series are found or created per generation, so a reload
 * that keeps a name keeps its counters (metrics.h).
 */
#ifndef STRATA_L7_METRICS_H
#define STRATA_L7_METRICS_H

#include <stdint.h>

#include "metrics.h"

#include "h2.h"
#include "l7_config.h"
#include "tls.h"

#define L7M_WRITER_HEALTH(n) (n)
#define L7M_WRITER_MAIN(n)   ((n) + 1)
#define L7M_WRITERS(n)	     ((n) + 2)

enum l7m_class { L7M_1XX, L7M_2XX, L7M_3XX, L7M_4XX, L7M_5XX, L7M_CLASS__COUNT };

enum l7m_refuse {
	L7M_REFUSE_UNTRUSTED, /* PROXY header from a peer outside `trusted` */
	L7M_REFUSE_MALFORMED, /* PROXY header that does not decode */
	L7M_REFUSE_MISSING,   /* no header on a `required` listener */
	L7M_REFUSE_LIMIT,     /* max_conns reached */
	L7M_REFUSE__COUNT
};

/* Why accepting paused (l7_worker.c): the descriptor limit of the process
 * (EMFILE) or of the system (ENFILE), or kernel memory (ENOBUFS, ENOMEM). */
enum l7m_pause { L7M_PAUSE_EMFILE, L7M_PAUSE_ENFILE, L7M_PAUSE_MEMORY, L7M_PAUSE__COUNT };

enum l7m_handshake { L7M_HS_FULL, L7M_HS_RESUMED, L7M_HS__COUNT };

/* HTTP/2 stream events counted per listener (from struct l7_h2_stats). */
enum l7m_h2ev {
	L7M_H2_REFUSED,	  /* REFUSED_STREAM sent: over max_concurrent_streams */
	L7M_H2_RESET_IN,  /* RST_STREAM received */
	L7M_H2_RESET_OUT, /* RST_STREAM sent */
	L7M_H2_STALLED,	  /* streams reset for a zero window */
	L7M_H2_TOO_LARGE, /* header lists over max_header_list (431) */
	L7M_H2EV__COUNT
};

/* TLS failure reasons: tls.h's, then the engine's own handshake timeout. */
#define L7M_TLS_HS_TIMEOUT L7_TLS_ERR__COUNT
#define L7M_TLS_REASONS	   (L7_TLS_ERR__COUNT + 1)

struct l7m_listener {
	uint32_t conns, active, local_health;
	uint32_t refused[L7M_REFUSE__COUNT];
	/* registered only for TLS listeners (tls) and HTTP/2 ones (h2) */
	bool tls, h2;
	uint32_t handshakes[L7M_HS__COUNT];
	uint32_t tls_err[L7M_TLS_REASONS]; /* index 0 (ok) unused */
	uint32_t mismatch;		   /* SNI differs from the PPv2 AUTHORITY */
	uint32_t h2_conns, h2_streams;
	uint32_t h2_ev[L7M_H2EV__COUNT];
	uint32_t h2_err[L7_H2_ERR__COUNT]; /* index 0 (ok) unused */
};

struct l7m_route {
	uint32_t req[L7M_CLASS__COUNT];
	uint32_t duration; /* histogram, ns */
};

struct l7m_server {
	uint32_t req[L7M_CLASS__COUNT];
	uint32_t latency; /* histogram: time to the response head, ns */
	uint32_t active, pool_hits, pool_misses, connect_errors, failures;
	uint32_t up, idle, reuse_permille, ejections; /* set by the health writer */
};

struct l7m_upstream {
	uint32_t retries, no_server;
};

/* Global families and their label-less series. */
struct l7_metrics {
	struct metrics_reg *reg;
	const struct metrics_hist *h_duration, *h_latency;
	int f_conns, f_active, f_refused, f_local;
	int f_req, f_dur;
	int f_ureq, f_ulat, f_uactive, f_hits, f_misses, f_cerr, f_fail, f_up, f_idle, f_reuse,
	    f_eject;
	int f_retries, f_noserver;
	int f_term;
	int f_hs, f_tls_err, f_mismatch, f_h2_conns, f_h2_streams, f_h2_ev, f_h2_err;
	uint32_t reload_ok, reload_failed, draining, generation;
	uint32_t accept_paused[L7M_PAUSE__COUNT];
	/* idle upstream connections closed for a descriptor */
	uint32_t pool_released;
	uint32_t term[64]; /* per termination reason (exchange.h), first L7_TERM__COUNT used */
};

extern struct l7_metrics l7m;

/* Creates the registry for `workers` worker threads and registers every
 * family. term_names: the termination reasons (NULL-terminated). */
int l7_metrics_init(unsigned workers, const char *const *term_names);
void l7_metrics_fini(void);

/* Series of one generation. Returns 0 or -errno. */
int l7_metrics_listener(const struct l7_listener *l, struct l7m_listener *out);
int l7_metrics_route(const char *route, struct l7m_route *out);
int l7_metrics_server(const char *upstream, const char *server, struct l7m_server *out);
int l7_metrics_upstream(const char *upstream, struct l7m_upstream *out);

/* Marks every per-generation series stale before a new generation registers
 * its own (what is not re-registered disappears from the exposition). */
void l7_metrics_reload_begin(void);

static inline enum l7m_class l7m_class_of(int status)
{
	int c = status / 100 - 1;

	return c < 0 ? L7M_1XX : c > 4 ? L7M_5XX : (enum l7m_class)c;
}

#endif
