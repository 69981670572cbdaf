/* Private to h2*.c: what the session code (h2.c) and the stream code
 * (h2_stream.c, h2_resp.c) share. Not an API for the engine. */
#ifndef STRATA_L7_H2_INT_H
#define STRATA_L7_H2_INT_H

#include "h2.h"

/* Every public entry point brackets its work with these; the outermost
 * leave() produces output (nghttp2's mem_send may not run inside its own
 * callbacks) and tells streams about room, repeating while callbacks
 * asked for more. */
void l7_h2_enter(struct l7_h2 *h2);
void l7_h2_leave(struct l7_h2 *h2);

uint64_t l7_h2_now(const struct l7_h2 *h2);

/* An abuse defence or a fatal condition: records why (the first reason
 * wins) and marks the connection for GOAWAY. Returns
 * NGHTTP2_ERR_CALLBACK_FAILURE, for callbacks to return. */
int l7_h2_abuse(struct l7_h2 *h2, enum l7_h2_err why);

/* h2_stream.c */
struct l7_h2_stream *l7_h2s_new(struct l7_h2 *h2, int32_t id);
/* Unlinks and frees (or keeps for reuse by this thread); returns the request body bytes it held
 * unconsumed (the caller gives them back to the connection window). */
size_t l7_h2s_free(struct l7_h2_stream *st);
/* One decoded field of the block being received. 0, or -E2BIG when the
 * block is abuse rather than merely too large (connection error). */
int l7_h2s_field(struct l7_h2_stream *st, const uint8_t *name, size_t nlen, const uint8_t *value,
		 size_t vlen);
/* Streams this thread keeps for reuse (for tests). */
unsigned l7_h2s_cached(void);
/* Frees the streams and nghttp2 blocks this thread kept unused since the
 * last call (l7_h2s_new calls it every L7_H2_TRIM_MS; tests directly). */
void l7_h2s_trim(void);
/* The request block ended: builds st->req and st->perr. */
void l7_h2s_finish(struct l7_h2_stream *st);
/* Request body bytes; -E2BIG if more than our window allows. */
int l7_h2s_data(struct l7_h2_stream *st, const uint8_t *p, size_t n);

/* h2_resp.c: nghttp2's data source read callback for response bodies. */
ssize_t l7_h2s_read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *user);

#endif
