/* Listen addresses as strata-echo takes them on its command line, and peer
 * addresses as it reports them: "1.2.3.4:80", "[::1]:80", "*:80" (any IPv4).
 * Literal addresses only: a test backend must not wait for DNS. */
#ifndef STRATA_ECHO_ADDR_H
#define STRATA_ECHO_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* "[" + 45-byte IPv6 + "]:65535" + NUL, rounded up. */
#define ECHO_ADDR_STR_MAX 64

/* Parses s into *ss / *len. Returns 0, or -EINVAL with *why set. */
int echo_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, const char **why);

/* Writes "IP:PORT" or "[IPv6]:PORT" and a NUL into buf (ECHO_ADDR_STR_MAX
 * bytes suffice). Returns the length, or -EAFNOSUPPORT ("?" written). */
int echo_addr_format(const struct sockaddr *sa, char *buf, size_t len);

#endif
