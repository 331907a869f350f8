// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit list - the backends that load, and the directories searched.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmasplit/dmasplit.h>

#include "json.h"
#include "tool.h"

static int width_of(const char *s, int min)
{
	int n = (int)strlen(or_dash(s));

	return n > min ? n : min;
}

static void list_text_none(void)
{
	bool from_env;
	const char *path = backend_path(&from_env);

	printf("No backends found in %s", path);
	if (from_env)
		puts(" (from DMASPLIT_BACKEND_PATH).");
	else
		puts(" (set DMASPLIT_BACKEND_PATH to search elsewhere).");
}

static void list_text(struct dmasplit_ctx *ctx)
{
	const struct dmasplit_backend *be;
	int wname = 4, wversion = 7, wpath = 4;

	if (!dmasplit_backend_next(ctx, NULL)) {
		list_text_none();
		return;
	}
	for (be = NULL; (be = dmasplit_backend_next(ctx, be));) {
		wname = width_of(dmasplit_backend_get_name(be), wname);
		wversion = width_of(dmasplit_backend_get_version(be), wversion);
		wpath = width_of(dmasplit_backend_get_path(be), wpath);
	}
	printf("%-*s  %-36s  %-*s  %-*s  %s\n", wname, "NAME", "UUID",
	       wversion, "VERSION", wpath, "PATH", "DESCRIPTION");
	for (be = NULL; (be = dmasplit_backend_next(ctx, be));) {
		put_padded(dmasplit_backend_get_name(be), wname + 2);
		put_padded(dmasplit_backend_get_uuid(be), 36 + 2);
		put_padded(or_dash(dmasplit_backend_get_version(be)),
			   wversion + 2);
		put_padded(or_dash(dmasplit_backend_get_path(be)), wpath + 2);
		put_safe(or_dash(dmasplit_backend_get_description(be)));
		putchar('\n');
	}
}

static void json_path_list(struct json *j, const char *key, const char *path)
{
	const char *p = path, *colon;
	char dir[4096];
	size_t len;

	json_open(j, key, '[');
	for (; *p; p = colon ? colon + 1 : p + len) {
		colon = strchr(p, ':');
		len = colon ? (size_t)(colon - p) : strlen(p);
		if (!len || len >= sizeof(dir))
			continue;
		memcpy(dir, p, len);
		dir[len] = '\0';
		json_str(j, NULL, dir);
	}
	json_close(j, ']');
}

static void list_json(struct dmasplit_ctx *ctx)
{
	const struct dmasplit_backend *be;
	struct json j = { 0 };
	bool from_env;

	json_open(&j, NULL, '{');
	json_path_list(&j, "backend_path", backend_path(&from_env));
	json_bool(&j, "backend_path_from_env", from_env);
	json_open(&j, "backends", '[');
	for (be = NULL; (be = dmasplit_backend_next(ctx, be));) {
		json_open(&j, NULL, '{');
		json_str(&j, "name", dmasplit_backend_get_name(be));
		json_str(&j, "uuid", dmasplit_backend_get_uuid(be));
		json_str(&j, "version", dmasplit_backend_get_version(be));
		json_str(&j, "path", dmasplit_backend_get_path(be));
		json_str(&j, "description",
			 dmasplit_backend_get_description(be));
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_close(&j, '}');
}

int cmd_list(struct dmasplit_ctx *ctx, const struct options *opts,
	     char **args UNUSED)
{
	int r;

	/* Refused plugins are only logged; finding none is not an error. */
	r = dmasplit_ctx_load_backends(ctx);
	if (r < 0)
		return fail("loading backends", r);
	if (opts->json)
		list_json(ctx);
	else
		list_text(ctx);
	return EXIT_SUCCESS;
}
