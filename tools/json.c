// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit - JSON output for list, info and bench.
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "private.h"
#include "tool.h"

/*
 * Pure ASCII out, whatever a plugin put in its strings, so that any
 * consumer parses it in any locale; bytes that are not UTF-8 become
 * U+FFFD rather than invalid JSON.
 */
static void json_string(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t n;

	putchar('"');
	while (*p) {
		n = dmasplit_private_utf8_decode(p, &cp);
		if (!n) {
			cp = 0xfffd;
			n = 1;
		}
		p += n;
		if (cp == '"' || cp == '\\')
			printf("\\%c", (char)cp);
		else if (cp == '\n')
			fputs("\\n", stdout);
		else if (cp == '\t')
			fputs("\\t", stdout);
		else if (cp >= 0x20 && cp < 0x7f)
			putchar((int)cp);
		else if (cp < 0x10000)
			printf("\\u%04" PRIx32, cp);
		else
			printf("\\u%04" PRIx32 "\\u%04" PRIx32,
			       0xd800 + ((cp - 0x10000) >> 10),
			       0xdc00 + ((cp - 0x10000) & 0x3ff));
	}
	putchar('"');
}

static void json_key(struct json *j, const char *key)
{
	if (j->need_comma)
		putchar(',');
	if (j->depth)
		printf("\n%*s", 2 * j->depth, "");
	if (key) {
		json_string(key);
		fputs(": ", stdout);
	}
	j->need_comma = true;
}

void json_open(struct json *j, const char *key, char bracket)
{
	json_key(j, key);
	putchar(bracket);
	j->depth++;
	j->need_comma = false;
}

void json_close(struct json *j, char bracket)
{
	j->depth--;
	if (j->need_comma)	/* not empty */
		printf("\n%*s", 2 * j->depth, "");
	putchar(bracket);
	j->need_comma = true;
	if (!j->depth)
		putchar('\n');
}

void json_str(struct json *j, const char *key, const char *value)
{
	json_key(j, key);
	if (value)
		json_string(value);
	else
		fputs("null", stdout);
}

void json_str_or_null(struct json *j, const char *key, const char *value)
{
	json_str(j, key, value && *value ? value : NULL);
}

void json_int(struct json *j, const char *key, long long value)
{
	json_key(j, key);
	printf("%lld", value);
}

void json_u64(struct json *j, const char *key, uint64_t value)
{
	json_key(j, key);
	printf("%" PRIu64, value);
}

void json_hex(struct json *j, const char *key, uint64_t value)
{
	json_key(j, key);
	printf("\"0x%" PRIx64 "\"", value);
}

/* 15 digits keep a target such as 1.1 from printing as
 * 1.1000000000000001, and a JSON reader needs a finite number: a ratio
 * over a zero time is not one. */
void json_double(struct json *j, const char *key, double value)
{
	json_key(j, key);
	if (isfinite(value))
		printf("%.15g", value);
	else
		fputs("null", stdout);
}

void json_bool(struct json *j, const char *key, bool value)
{
	json_key(j, key);
	fputs(value ? "true" : "false", stdout);
}

void json_null(struct json *j, const char *key)
{
	json_key(j, key);
	fputs("null", stdout);
}

void json_errno(struct json *j, const char *key, int err)
{
	json_open(j, key, '{');
	json_int(j, "errno", -err);
	json_str(j, "name", errno_name(err));
	json_str(j, "message", strerror(-err));
	json_close(j, '}');
}
