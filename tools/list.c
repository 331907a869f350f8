// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit list - the backends that load, and the directories searched.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <dmasplit/dmasplit.h>

#include "json.h"
#include "table.h"
#include "tool.h"

static void list_text_none(void)
{
	bool from_env;
	const char *path = backend_path(&from_env);

	fputs("No backends found in ", stdout);
	put_safe(path);
	if (from_env)
		puts(" (from DMASPLIT_BACKEND_PATH).");
	else
		puts(" (set DMASPLIT_BACKEND_PATH to search elsewhere).");
}

enum list_col { COL_NAME, COL_UUID, COL_VERSION, COL_PATH, COL_DESCRIPTION,
		NUM_LIST_COLS };

static void backend_cells(const struct dmasplit_backend *be,
			  const char *cells[NUM_LIST_COLS])
{
	cells[COL_NAME] = dmasplit_backend_get_name(be);
	cells[COL_UUID] = dmasplit_backend_get_uuid(be);
	cells[COL_VERSION] = or_dash(dmasplit_backend_get_version(be));
	cells[COL_PATH] = or_dash(dmasplit_backend_get_path(be));
	cells[COL_DESCRIPTION] = or_dash(dmasplit_backend_get_description(be));
}

static void list_text(struct dmasplit_ctx *ctx, bool wide)
{
	/* The UUID takes 36 of 80 columns and matters only to tell two
	 * builds of one backend apart: wide lines alone show it. */
	struct table_col cols[NUM_LIST_COLS] = {
		[COL_NAME] = { .title = "NAME" },
		[COL_UUID] = { .title = "UUID", .hidden = !wide },
		[COL_VERSION] = { .title = "VERSION" },
		[COL_PATH] = { .title = "PATH", .squeeze = SQUEEZE_START,
			       .min = 16 },
		[COL_DESCRIPTION] = { .title = "DESCRIPTION",
				      .squeeze = SQUEEZE_END, .min = 11 },
	};
	struct table t = { .cols = cols, .ncols = NUM_LIST_COLS };
	const struct dmasplit_backend *be;
	const char *cells[NUM_LIST_COLS];
	size_t i;

	if (!dmasplit_backend_next(ctx, NULL)) {
		list_text_none();
		return;
	}
	for (be = NULL; (be = dmasplit_backend_next(ctx, be));) {
		backend_cells(be, cells);
		for (i = 0; i < NUM_LIST_COLS; i++)
			table_measure(&cols[i], cells[i]);
	}
	table_fit(&t, table_line_limit(wide));
	table_put_header(&t);
	for (be = NULL; (be = dmasplit_backend_next(ctx, be));) {
		backend_cells(be, cells);
		for (i = 0; i < NUM_LIST_COLS; i++)
			table_put(&t, i, cells[i]);
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

/* err: why list fails after listing, or 0. */
static void list_json(struct dmasplit_ctx *ctx, int err)
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
	if (err)
		json_errno(&j, "error", err);
	else
		json_null(&j, "error");
	json_close(&j, '}');
}

/* ------------------------------------------------------------------ */
/* Refused directories                                                 */

/*
 * The library says which backend directories it refuses only in its log,
 * and its messages are the one place that tells a refused directory from
 * an empty one: list counts them on their way to stderr.
 */
static const char *const dir_refusals[] = {
	"refusing backend directory ",
	"cannot read backend directory ",
};

/* Static: the context, and its log function, outlive cmd_list. */
static unsigned int refused_dirs;

PRINTF_LIKE(6, 0)
static void count_refusals(void *data UNUSED, int priority UNUSED,
			   const char *file UNUSED, int line UNUSED,
			   const char *fn UNUSED, const char *format,
			   va_list args)
{
	char *msg;
	size_t i;

	if (vasprintf(&msg, format, args) < 0) {
		fputs("libdmasplit: (a log line lost for want of memory)\n",
		      stderr);
		return;
	}
	for (i = 0; i < ARRAY_SIZE(dir_refusals); i++)
		if (!strncmp(msg, dir_refusals[i], strlen(dir_refusals[i])))
			refused_dirs++;
	/* As the library's own log function writes it. */
	fprintf(stderr, "libdmasplit: %s\n", msg);
	free(msg);
}

/* Directories of the search path that are there, to be loaded or
 * refused: a missing one is searched and found empty, not refused. */
static unsigned int existing_dirs(const char *path)
{
	char *dirs = strdup(path), *dir, *save = NULL;
	unsigned int n = 0;
	struct stat st;

	if (!dirs)
		return 0;
	for (dir = strtok_r(dirs, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save))
		if (stat(dir, &st) == 0 || errno != ENOENT)
			n++;
	free(dirs);
	return n;
}

int cmd_list(struct dmasplit_ctx *ctx, const struct options *opts,
	     char **args UNUSED)
{
	const char *missing, *by;
	unsigned int searched;
	bool from_env, refused;
	int r;

	searched = existing_dirs(backend_path(&from_env));
	dmasplit_ctx_set_log_fn(ctx, count_refusals, NULL);
	/* Refused plugins are only logged; finding none is not an error. */
	r = dmasplit_ctx_load_backends(ctx);
	if (r < 0)
		return fail("loading backends", r);
	/* Every directory refused is a setup to fix, even where the
	 * built-in backend still loads; so is a forced backend that is not
	 * there.  What loaded is listed all the same. */
	refused = searched && refused_dirs >= searched;
	missing = forced_backend_missing(ctx, opts, &by);
	r = refused ? -EACCES : missing ? -ENODEV : 0;
	if (opts->json)
		list_json(ctx, r);
	else
		list_text(ctx, opts->wide);
	fflush(stdout);
	if (refused)
		say("list: every backend directory searched was refused (%s)",
		    backend_path(&from_env));
	if (missing)
		say_not_loaded(missing, by);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
