// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit - what the commands share: error names and messages, text
 * output that keeps plugin strings off the terminal's control codes, and
 * the backend search path.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

/* ------------------------------------------------------------------ */
/* Errors                                                              */

#define E(x) [x] = #x
static const char *const errno_names[] = {
	E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG),
	E(ENOEXEC), E(EBADF), E(EAGAIN), E(ENOMEM), E(EACCES), E(EFAULT),
	E(EBUSY), E(EEXIST), E(EXDEV), E(ENODEV), E(ENOTDIR), E(EISDIR),
	E(EINVAL), E(ENFILE), E(EMFILE), E(ENOTTY), E(EFBIG), E(ENOSPC),
	E(EROFS), E(ERANGE), E(EDEADLK), E(ENAMETOOLONG), E(ENOSYS),
	E(ELOOP), E(ENODATA), E(EPROTO), E(EBADMSG), E(EOVERFLOW),
	E(EILSEQ), E(ENOBUFS), E(EOPNOTSUPP), E(EADDRINUSE),
	E(EADDRNOTAVAIL), E(ETIMEDOUT), E(EALREADY), E(EINPROGRESS),
	E(ECANCELED), E(ENOMEDIUM), E(EHWPOISON),
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

int fail(const char *what, int err)
{
	fprintf(stderr, PROG ": %s: %s\n", what, strerror(-err));
	return EXIT_FAILURE;
}

/* ------------------------------------------------------------------ */
/* Text output                                                         */

/* Plugin strings and sysfs contents end up on a terminal: keep control
 * characters from reaching it. */
void put_safe(const char *s)
{
	for (; *s; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
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
/* Backend search path                                                 */

/* Mirrors the library's choice, which it does not expose: the variable
 * replaces the installed directory. */
const char *backend_path(bool *from_env)
{
	const char *env = secure_getenv("DMASPLIT_BACKEND_PATH");

	*from_env = env && *env;
	return *from_env ? env : BACKENDDIR;
}
