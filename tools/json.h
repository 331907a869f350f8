/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The JSON writer of the dmasplit command, used by every command with
 * --json: one value per call, commas and indentation handled, and pure
 * ASCII out whatever bytes a plugin or sysfs put in its strings.
 */
#ifndef DMASPLIT_TOOL_JSON_H
#define DMASPLIT_TOOL_JSON_H

#include <stdbool.h>
#include <stdint.h>

struct json {
	unsigned int depth;
	bool need_comma;
};

/* key is NULL inside an array; bracket is '{' or '['. */
void json_open(struct json *j, const char *key, char bracket);
void json_close(struct json *j, char bracket);
void json_str(struct json *j, const char *key, const char *value);
/* Absent sysfs attributes are empty strings in the description. */
void json_str_or_null(struct json *j, const char *key, const char *value);
void json_int(struct json *j, const char *key, long long value);
void json_u64(struct json *j, const char *key, uint64_t value);
/* Addresses can exceed 2^53, which many JSON readers cannot hold exactly. */
void json_hex(struct json *j, const char *key, uint64_t value);
/* null for a value that is not finite, which JSON cannot represent */
void json_double(struct json *j, const char *key, double value);
void json_bool(struct json *j, const char *key, bool value);
void json_null(struct json *j, const char *key);
void json_errno(struct json *j, const char *key, int err);

#endif
