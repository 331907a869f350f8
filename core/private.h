/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hooks for the project's own tools, never installed and never exported:
 * a tool that needs them links the core's convenience library
 * (core/libdmasplit-core.la) statically instead of libdmasplit.so, so the
 * shared library carries nothing an application could come to depend on.
 */
#ifndef DMASPLIT_PRIVATE_H
#define DMASPLIT_PRIVATE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dmasplit/backend.h>

/*
 * The line format makes, with its control characters (C0, DEL, C1) and
 * bytes that are not UTF-8 as \xNN, as the library's log lines are: in
 * buf (size bytes) where it fits, else on the heap (free it when it is
 * not buf); cut to buf without memory, and to 8 KiB in any case, a cut
 * line ending in " [cut]".
 */
char *dmasplit_private_escape_line(char *buf, size_t size,
				   const char *format, va_list args)
	__attribute__((format(printf, 3, 0)));

/* The well-formed UTF-8 sequence at s (RFC 3629: no overlong forms,
 * surrogates or code points past U+10FFFF): its length, 1 to 4, and its
 * code point in *cp; 0 when the bytes there are not one. */
size_t dmasplit_private_utf8_decode(const unsigned char *s, uint32_t *cp);

/*
 * The backend operations and backend device behind dev, so that the
 * benchmark can measure the cost of the library's dispatch against a
 * direct call of the same operation.
 */
int dmasplit_private_dev_ops(struct dmasplit_dev *dev,
			     const struct dmasplit_backend_ops **ops,
			     struct dmasplit_bdev **bdev);

#endif
