/* HTTP/1.1 framing and smuggling rules over parsed field lines (RFC 9112
 * §6, §11; RFC 9110 §5-§8). http1_parse.c calls the first three functions in
 * its single pass; the others are helpers for whoever forwards a message.
 * Pure: no allocation, no logging; everything refers to the caller's buffer.
 */
#ifndef STRATA_HTTP1_SEMANTICS_H
#define STRATA_HTTP1_SEMANTICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http1_parse.h"

/* More Connection options than this (besides close/keep-alive/upgrade) is
 * refused: marking them hop-by-hop is a token x field scan, keep it small. */
#define HTTP1_MAX_CONN_OPTIONS 16
/* Content-Length above this is refused (RFC 9110 §8.6 leaves it to us). */
#define HTTP1_MAX_CONTENT_LENGTH ((uint64_t)INT64_MAX)

/* Classifies a field name (a token) into enum http1_hdr, case-insensitive. */
enum http1_hdr http1_hdr_lookup(const char *name, size_t len);

/* Folds one complete field line into the facts of `h`: sets f->id and
 * f->flags, parses Content-Length, counts Host and Transfer-Encoding, reads
 * Connection options and Expect. `request` selects the request-only rules.
 * Returns 0, or -EBADMSG / -E2BIG with *err set. */
int http1_sem_field(struct http1_head *h, struct http1_header *f, bool request,
		    enum http1_err *err);

/* RFC 9112 §3.2: the form of req->target and whether req->method may use
 * it; fills form, scheme, authority, path and query. 0 or -EBADMSG. */
int http1_sem_target(struct http1_request *req, enum http1_err *err);

/* Cross-field rules once a request head is complete: Transfer-Encoding vs
 * Content-Length vs HTTP/1.0, Host presence, body framing, keep-alive,
 * Upgrade/Expect, req->host, and marks the fields Connection names.
 * Returns 0 or -EBADMSG with *err set (500-class: HTTP1_ERR_TE_UNSUPPORTED). */
int http1_sem_request(struct http1_request *req, enum http1_err *err);

/* The same for a response head. Framing errors here mean the proxy must
 * discard the response and answer 502 (RFC 9112 §6.3 item 5). */
int http1_sem_response(struct http1_response *resp, enum http1_err *err);

/* Body of a response to a request with method `req_method` (RFC 9112 §6.3:
 * HEAD, 1xx, 204 and 304 have none; 101 and 2xx to CONNECT become a tunnel;
 * then chunked, Content-Length, or until close). *keep_alive (may be NULL)
 * says whether the connection to the server can carry another request. */
enum http1_body http1_response_body(const struct http1_response *resp, enum http1_method req_method,
				    bool *keep_alive);

/* True when `s` is a valid Host value or authority (RFC 9110 §7.2, RFC 3986
 * §3.2.2: reg-name, IPv4 or [IPv6] literal, optional :port). With
 * port_required (CONNECT, RFC 9112 §3.2.3) the port must be there. */
bool http1_is_valid_authority(const char *s, size_t len, bool port_required);

/* True when s[0..len) is, ASCII case-insensitively, the lowercase `lit`. */
bool http1_token_eq(const char *s, size_t len, const char *lit);

#endif
