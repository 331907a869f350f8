/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the files of the dmasplit command: the options, the commands
 * that live in their own file, and the output helpers, so that demo and
 * bench print and fail the way list and info do.
 */
#ifndef DMASPLIT_TOOL_H
#define DMASPLIT_TOOL_H

#include <stdbool.h>
#include <stdint.h>

#include <dmasplit/dmasplit.h>

#define PROG "dmasplit"
#define EXIT_USAGE 2

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define UNUSED __attribute__((unused))

struct options {
	const char *backend;
	bool json;
	bool quick;
	bool verbose;
	const char *peer;	/* info --peer CLIENT */
};

/* The commands with a file of their own; args[0] is the SPEC or NULL. */
int cmd_demo(struct dmasplit_ctx *ctx, const struct options *opts,
	     char **args);
int cmd_bench(struct dmasplit_ctx *ctx, const struct options *opts,
	      char **args);

/* Errors */
const char *errno_name(int err);
int fail(const char *what, int err);

/* Text output */
void put_safe(const char *s);
/* The names of the enum dmasplit_dev_flag bits set in flags, space
 * separated, "-" for none. */
void put_dev_flags(uint32_t flags);

/* JSON output: one value per call, commas and indentation handled. */
struct json {
	unsigned int depth;
	bool need_comma;
};

void json_open(struct json *j, const char *key, char bracket);
void json_close(struct json *j, char bracket);
void json_str(struct json *j, const char *key, const char *value);
void json_int(struct json *j, const char *key, long long value);
void json_u64(struct json *j, const char *key, uint64_t value);
/* null for a value that is not finite, which JSON cannot represent */
void json_double(struct json *j, const char *key, double value);
void json_bool(struct json *j, const char *key, bool value);
void json_null(struct json *j, const char *key);
void json_errno(struct json *j, const char *key, int err);

#endif
