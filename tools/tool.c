// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit - what the commands share: error names and messages, text
 * output that keeps plugin strings off the terminal's control codes, the
 * backend search path and the forced backend.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "private.h"
#include "tool.h"

/* ------------------------------------------------------------------ */
/* Errors                                                              */

/* Every name Linux has, aliases aside (EWOULDBLOCK, EDEADLOCK, ENOTSUP):
 * the library passes on what the kernel and the backends return. */
#define E(x) [x] = #x
static const char *const errno_names[] = {
	E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG),
	E(ENOEXEC), E(EBADF), E(ECHILD), E(EAGAIN), E(ENOMEM), E(EACCES),
	E(EFAULT), E(ENOTBLK), E(EBUSY), E(EEXIST), E(EXDEV), E(ENODEV),
	E(ENOTDIR), E(EISDIR), E(EINVAL), E(ENFILE), E(EMFILE), E(ENOTTY),
	E(ETXTBSY), E(EFBIG), E(ENOSPC), E(ESPIPE), E(EROFS), E(EMLINK),
	E(EPIPE), E(EDOM), E(ERANGE), E(EDEADLK), E(ENAMETOOLONG), E(ENOLCK),
	E(ENOSYS), E(ENOTEMPTY), E(ELOOP), E(ENOMSG), E(EIDRM), E(ECHRNG),
	E(EL2NSYNC), E(EL3HLT), E(EL3RST), E(ELNRNG), E(EUNATCH), E(ENOCSI),
	E(EL2HLT), E(EBADE), E(EBADR), E(EXFULL), E(ENOANO), E(EBADRQC),
	E(EBADSLT), E(EBFONT), E(ENOSTR), E(ENODATA), E(ETIME), E(ENOSR),
	E(ENONET), E(ENOPKG), E(EREMOTE), E(ENOLINK), E(EADV), E(ESRMNT),
	E(ECOMM), E(EPROTO), E(EMULTIHOP), E(EDOTDOT), E(EBADMSG),
	E(EOVERFLOW), E(ENOTUNIQ), E(EBADFD), E(EREMCHG), E(ELIBACC),
	E(ELIBBAD), E(ELIBSCN), E(ELIBMAX), E(ELIBEXEC), E(EILSEQ),
	E(ERESTART), E(ESTRPIPE), E(EUSERS), E(ENOTSOCK), E(EDESTADDRREQ),
	E(EMSGSIZE), E(EPROTOTYPE), E(ENOPROTOOPT), E(EPROTONOSUPPORT),
	E(ESOCKTNOSUPPORT), E(EOPNOTSUPP), E(EPFNOSUPPORT), E(EAFNOSUPPORT),
	E(EADDRINUSE), E(EADDRNOTAVAIL), E(ENETDOWN), E(ENETUNREACH),
	E(ENETRESET), E(ECONNABORTED), E(ECONNRESET), E(ENOBUFS), E(EISCONN),
	E(ENOTCONN), E(ESHUTDOWN), E(ETOOMANYREFS), E(ETIMEDOUT),
	E(ECONNREFUSED), E(EHOSTDOWN), E(EHOSTUNREACH), E(EALREADY),
	E(EINPROGRESS), E(ESTALE), E(EUCLEAN), E(ENOTNAM), E(ENAVAIL),
	E(EISNAM), E(EREMOTEIO), E(EDQUOT), E(ENOMEDIUM), E(EMEDIUMTYPE),
	E(ECANCELED), E(ENOKEY), E(EKEYEXPIRED), E(EKEYREVOKED),
	E(EKEYREJECTED), E(EOWNERDEAD), E(ENOTRECOVERABLE), E(ERFKILL),
	E(EHWPOISON),
};
#undef E

/* The symbolic name, because "No such device" hides that a probe gave
 * the one answer that means "not mine" (ENODEV). */
const char *errno_name(int err)
{
	if (err < 0)
		err = -err;
	if ((size_t)err < ARRAY_SIZE(errno_names) && errno_names[err])
		return errno_names[err];
	return "unknown error";
}

/* An error line quotes what it was given (a device spec, an option, a
 * name read from sysfs): it leaves in the library's escaped form, so
 * that it stays one line and cannot drive the terminal, and in one
 * write, which another writer cannot split. */
void vsay(const char *fmt, va_list ap)
{
	char buf[2048], *line;

	line = dmasplit_private_escape_line(buf, sizeof(buf), fmt, ap);
	fprintf(stderr, PROG ": %s\n", line);
	if (line != buf)
		free(line);
}

void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

int fail(const char *what, int err)
{
	say("%s: %s", what, strerror(-err));
	return EXIT_FAILURE;
}

/* ------------------------------------------------------------------ */
/* Text output                                                         */

/* Plugin strings and sysfs contents end up on a terminal: keep control
 * characters from reaching it, C1's among them (a raw 0x9b is CSI where
 * the terminal is not in UTF-8).  Only printable ASCII passes, so that a
 * byte is a column and tables line up; --json carries the text whole. */
void put_safe(const char *s)
{
	for (; *s; s++)
		putchar(*s >= 0x20 && *s < 0x7f ? *s : '?');
}

void put_padded(const char *s, int width)
{
	int n = (int)strlen(s);

	put_safe(s);
	printf("%*s", width > n ? width - n : 0, "");
}

const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/* ------------------------------------------------------------------ */
/* Sysfs                                                               */

unsigned int p2pmem_attrs(struct dmasplit_ctx *ctx,
			  const struct dmasplit_desc *d)
{
	/* In the order of the P2PMEM_HAS_ bits. */
	static const char *const names[] = { "available", "published" };
	unsigned int i, attrs = 0;
	char path[PATH_MAX];
	int n;

	if (d->bus != DMASPLIT_BUS_PCI || !d->has_p2pmem)
		return 0;
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		n = snprintf(path, sizeof(path),
			     "%s/bus/pci/devices/%s/p2pmem/%s",
			     dmasplit_ctx_get_sysfs_root(ctx), d->name,
			     names[i]);
		/* Only a sure absence makes a value unknown: the library
		 * read whatever else is there. */
		if (n < 0 || (size_t)n >= sizeof(path) ||
		    access(path, F_OK) == 0 || errno != ENOENT)
			attrs |= 1u << i;
	}
	return attrs;
}

/* ------------------------------------------------------------------ */
/* Backend search path                                                 */

/* Mirrors the library's choice, which it does not expose: the variable
 * replaces the installed directory. */
const char *backend_path(bool *from_env)
{
	const char *env = secure_getenv("DMASPLIT_BACKEND_PATH");

	*from_env = env && *env;
	return *from_env ? env : BACKENDDIR;
}

const char *forced_backend(const struct options *opts, const char **by)
{
	const char *env = secure_getenv("DMASPLIT_BACKEND");
	const char *unused;

	if (!by)
		by = &unused;
	if (opts->backend) {
		*by = "--backend";
		return opts->backend;
	}
	if (env && *env) {
		*by = "DMASPLIT_BACKEND";
		return env;
	}
	*by = NULL;
	return NULL;
}

/* The backend forced with -b or DMASPLIT_BACKEND when it is not loaded
 * (*by: what forced it), else NULL: every answer would then be "no
 * backend", and the commands that list say why instead. */
const char *forced_backend_missing(struct dmasplit_ctx *ctx,
				   const struct options *opts, const char **by)
{
	struct dmasplit_backend *be;
	const char *name = forced_backend(opts, by);

	return name && dmasplit_backend_find(ctx, name, &be) < 0 ? name : NULL;
}

void say_not_loaded(const char *name, const char *by)
{
	say("backend '%s' (forced by %s) is not loaded", name, by);
}

/* -ENODEV, said, when the forced backend is not loaded; else 0. */
int forced_backend_loaded(struct dmasplit_ctx *ctx, const struct options *opts)
{
	const char *by, *name = forced_backend_missing(ctx, opts, &by);

	if (!name)
		return 0;
	say_not_loaded(name, by);
	return -ENODEV;
}

void say_not_handled(const char *backend, const char *spec, int err)
{
	say("backend %s does not handle %s: %s (%s)", backend, spec,
	    strerror(-err), errno_name(err));
}

int check_forced_backend(struct dmasplit_ctx *ctx, const struct options *opts,
			 const char *spec)
{
	struct dmasplit_desc desc = { .size = sizeof(desc) };
	struct dmasplit_backend *be;
	int r, score, saved;

	if (!forced_backend(opts, NULL))
		return 0;
	r = forced_backend_loaded(ctx, opts);
	if (r < 0)
		return r;
	/* A spec that cannot be described fails the open the same way,
	 * with its own log line. */
	saved = log_quiet_begin(ctx);
	r = dmasplit_describe(ctx, spec, &desc);
	if (r == 0)
		r = dmasplit_select(ctx, &desc, &be);
	log_quiet_end(ctx, saved);
	if (r < 0)
		return 0;
	r = dmasplit_backend_probe(be, &desc, &score);
	if (r < 0)
		say_not_handled(dmasplit_backend_get_name(be), spec, r);
	return r < 0 ? r : 0;
}

/* ------------------------------------------------------------------ */
/* Log                                                                 */

int log_quiet_begin(struct dmasplit_ctx *ctx)
{
	int saved = dmasplit_ctx_get_log_priority(ctx);

	if (saved < LOG_DEBUG)
		dmasplit_ctx_set_log_priority(ctx, LOG_CRIT);
	return saved;
}

void log_quiet_end(struct dmasplit_ctx *ctx, int saved_priority)
{
	dmasplit_ctx_set_log_priority(ctx, saved_priority);
}
