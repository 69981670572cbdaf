/* Literal socket address parsing and formatting; see echo_addr.h. */
#include "echo_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, in_port_t *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 65535)
		return -EINVAL;
	*out = htons((uint16_t)v);
	return 0;
}

static int parse_v6(const char *s, struct sockaddr_storage *ss, socklen_t *len, const char **why)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	const char *close = strchr(s, ']');
	char host[INET6_ADDRSTRLEN];
	size_t n;

	if (!close || close[1] != ':') {
		*why = "expected [IPv6]:PORT";
		return -EINVAL;
	}
	n = (size_t)(close - s - 1);
	if (n >= sizeof(host)) {
		*why = "IPv6 address too long";
		return -EINVAL;
	}
	memcpy(host, s + 1, n);
	host[n] = '\0';
	in6->sin6_family = AF_INET6;
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) {
		*why = "not an IPv6 address";
		return -EINVAL;
	}
	if (parse_port(close + 2, &in6->sin6_port) < 0) {
		*why = "bad port";
		return -EINVAL;
	}
	*len = sizeof(*in6);
	return 0;
}

int echo_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, const char **why)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	const char *colon;
	char host[INET_ADDRSTRLEN];
	size_t n;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[')
		return parse_v6(s, ss, len, why);
	colon = strrchr(s, ':');
	if (!colon) {
		*why = "expected ADDR:PORT";
		return -EINVAL;
	}
	n = (size_t)(colon - s);
	in4->sin_family = AF_INET;
	if (n == 1 && s[0] == '*') {
		in4->sin_addr.s_addr = htonl(INADDR_ANY);
	} else {
		if (n >= sizeof(host)) {
			*why = "not an IPv4 address (IPv6 goes in brackets)";
			return -EINVAL;
		}
		memcpy(host, s, n);
		host[n] = '\0';
		if (inet_pton(AF_INET, host, &in4->sin_addr) != 1) {
			*why = "not an IPv4 address";
			return -EINVAL;
		}
	}
	if (parse_port(colon + 1, &in4->sin_port) < 0) {
		*why = "bad port";
		return -EINVAL;
	}
	*len = sizeof(*in4);
	return 0;
}

int echo_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	int n;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
		n = snprintf(buf, len, "%s:%u", ip, ntohs(in4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		n = snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "?");
		return -EAFNOSUPPORT;
	}
	return n;
}
