/* Admin answers and command dispatch: the output buffer handlers print
 * into, `help`, word splitting, lookup and the access check; see admin.h.
 * An answer buffer belongs to its connection (admin.c frees it). */
#include "admin_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_NAME_SHOW 48 /* bytes of an unknown command echoed back */

/* --- output --------------------------------------------------------------- */

/* Grows the buffer and appends; false on ENOMEM. */
bool admin_out_append(struct admin_out *out, const char *s, size_t n)
{
	if (n > out->cap - out->len) {
		size_t cap = out->cap ? out->cap : 1024;
		char *p;

		while (cap - out->len < n)
			cap *= 2;
		p = realloc(out->p, cap);
		if (!p)
			return false;
		out->p = p;
		out->cap = cap;
	}
	memcpy(out->p + out->len, s, n);
	out->len += n;
	return true;
}

void admin_write(struct admin_out *out, const char *s, size_t n)
{
	if (out->truncated)
		return;
	if (n > ADMIN_MAX_OUTPUT - out->len || !admin_out_append(out, s, n))
		out->truncated = true;
}

void admin_puts(struct admin_out *out, const char *s)
{
	admin_write(out, s, strlen(s));
}

void admin_printf(struct admin_out *out, const char *fmt, ...)
{
	char small[512], *big = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		admin_write(out, small, (size_t)n);
		return;
	}
	va_start(ap, fmt);
	n = vasprintf(&big, fmt, ap);
	va_end(ap);
	if (n >= 0) {
		admin_write(out, big, (size_t)n);
		free(big);
	}
}

int admin_fail(struct admin_out *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
	va_end(ap);
	for (char *p = out->msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	out->failed = true;
	return -1;
}

uid_t admin_peer_uid(const struct admin_out *out)
{
	return out->uid;
}

pid_t admin_peer_pid(const struct admin_out *out)
{
	return out->pid;
}

static void cmd_help(struct admin_srv *srv, struct admin_out *out)
{
	admin_printf(out, "%-12s %s\n", "help", "help  (this list)");
	for (unsigned i = 0; i < srv->n_cmds; i++)
		admin_printf(out, "%-12s %s%s\n", srv->cmds[i].name, srv->cmds[i].usage,
			     srv->cmds[i].access == ADMIN_MUTATING ? "  (changes state)" : "");
}

static int split_words(char *line, char **argv)
{
	int argc = 0;
	char *save = NULL;

	for (char *w = strtok_r(line, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (argc == ADMIN_MAX_ARGS)
			return -E2BIG;
		argv[argc++] = w;
	}
	argv[argc] = NULL;
	return argc;
}

static const struct admin_cmd *find_cmd(struct admin_srv *srv, const char *name)
{
	for (unsigned i = 0; i < srv->n_cmds; i++)
		if (strcmp(srv->cmds[i].name, name) == 0)
			return &srv->cmds[i];
	return NULL;
}

int admin_run_line(struct admin_srv *srv, struct admin_client *c, char *line, size_t len)
{
	char *argv[ADMIN_MAX_ARGS + 1];
	const struct admin_cmd *cmd;
	int argc;

	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
			return admin_fail(&c->out, "invalid character in command");
	argc = split_words(line, argv);
	if (argc < 0)
		return admin_fail(&c->out, "too many words (max %d)", ADMIN_MAX_ARGS);
	if (argc == 0)
		return admin_fail(&c->out, "empty command (try 'help')");
	if (strcmp(argv[0], "help") == 0) {
		cmd_help(srv, &c->out);
		return 0;
	}
	cmd = find_cmd(srv, argv[0]);
	if (!cmd)
		return admin_fail(&c->out, "unknown command '%.*s' (try 'help')", ADMIN_NAME_SHOW,
				  argv[0]);
	if (cmd->access == ADMIN_MUTATING && !c->may_mutate)
		return admin_fail(
		    &c->out, "permission denied: '%s' changes state (needs uid 0%s%s)", cmd->name,
		    srv->has_group ? " or group " : "", srv->has_group ? srv->group : "");
	return cmd->fn(cmd->arg, argc, argv, &c->out);
}
