// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Plugin loading and backend selection: every refusal names the file and
 * the reason and leaves the other plugins loaded; the highest probe score
 * wins unless a backend is forced.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define UUID_A "6f1d2c3a-7b54-4e0e-9a43-1b9d2c7e5a01"
#define UUID_B "0c9b8a7d-6e5f-4a3b-8c2d-1e0f9a8b7c02"

static const char *const both[] = { "testa", "testb", NULL };

static unsigned int count_backends(struct dmasplit_ctx *ctx)
{
	struct dmasplit_backend *be = NULL;
	unsigned int n = 0;

	while ((be = dmasplit_backend_next(ctx, be)))
		n++;
	return n;
}

/* A context over the plugin path given, loaded, with its log captured. */
static struct dmasplit_ctx *load_from(const char *path)
{
	struct dmasplit_ctx *ctx;

	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	tu_log_capture(ctx);
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx, path), 0);
	ck_assert_int_eq(dmasplit_ctx_set_builtin_backends(ctx, 0), 0);
	ck_assert_int_eq(dmasplit_ctx_load_backends(ctx), 0);
	return ctx;
}

static void remove_dir(char *dir)
{
	tu_rm_rf(dir);
	free(dir);
}

START_TEST(loads_good_plugins_in_order)
{
	struct dmasplit_ctx *ctx = tu_ctx_with(both);
	struct dmasplit_backend *be, *found;
	const char *path;

	ck_assert_int_eq(dmasplit_ctx_load_backends(ctx), 0);
	be = dmasplit_backend_next(ctx, NULL);
	ck_assert_ptr_nonnull(be);
	ck_assert_str_eq(dmasplit_backend_get_name(be), "testa");
	ck_assert_str_eq(dmasplit_backend_get_uuid(be), UUID_A);
	ck_assert_str_eq(dmasplit_backend_get_version(be), "1.0-test");
	ck_assert_ptr_nonnull(strstr(dmasplit_backend_get_description(be),
				     "test backend testa"));
	path = dmasplit_backend_get_path(be);
	ck_assert_ptr_nonnull(strstr(path, "/backend-testa.so"));
	be = dmasplit_backend_next(ctx, be);
	ck_assert_str_eq(dmasplit_backend_get_name(be), "testb");
	ck_assert_ptr_null(dmasplit_backend_next(ctx, be));

	ck_assert_int_eq(dmasplit_backend_find(ctx, "testb", &found), 0);
	ck_assert_ptr_eq(found, be);
	/* UUIDs compare case-insensitively, as libuuid parses them. */
	ck_assert_int_eq(dmasplit_backend_find(ctx, "0C9B8A7D-6E5F-4A3B-8C2D-1E0F9A8B7C02",
					       &found), 0);
	ck_assert_ptr_eq(found, be);
	ck_assert_int_eq(dmasplit_backend_find(ctx, "nope", &found), -ENODEV);
	ck_assert_msg(!tu_log_has("refusing"), "unexpected refusal:\n%s",
		      tu_log_text());
	tu_ctx_free(ctx);
}
END_TEST

static const struct {
	const char *plugin;
	const char *reason;
} refusals[] = {
	{ "noentry", "no symbol dmasplit_backend_v1 (it exports dmasplit_backend_v2: built for ABI 2)" },
	{ "badabi", "ABI version 2, expected 1" },
	{ "small", "ops table too small" },
	{ "tiny", "ops table too small (4 bytes" },
	{ "dataentry", "dmasplit_backend_v1 is not a function" },
	{ "baduuid", "invalid UUID" },
	{ "badname", "invalid name" },
	{ "baddesc", "description holds a control character (want one line of at most 255 bytes of UTF-8)" },
	{ "c1desc", "description holds a control character (want one line of at most 255 bytes of UTF-8)" },
	{ "badutf8", "version is not UTF-8 (want one line of at most 63 bytes of UTF-8)" },
	{ "longver", "version is too long (want one line of at most 63 bytes of UTF-8)" },
	{ "longdesc", "description is too long (want one line of at most 255 bytes of UTF-8)" },
	{ "nulltable", "no ops table" },
	{ "undef", "dlopen failed" },
	{ "noprobe", "required operation probe missing" },
	{ "halfset", "operation iova_link missing from a set" },
	{ "nofini", "operation iova_fini missing from a set" },
	{ "winsize", "iova_win_size 257 (want 1 to 256 with iova_init)" },
};

START_TEST(refuses_each_broken_plugin_and_keeps_the_rest)
{
	unsigned int i;

	for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		const char *const list[] = { "testa", refusals[i].plugin, NULL };
		struct dmasplit_ctx *ctx = tu_ctx_with(list);
		char want[256];

		ck_assert_int_eq(dmasplit_ctx_load_backends(ctx), 0);
		snprintf(want, sizeof(want), "/backend-%s.so: %s",
			 refusals[i].plugin, refusals[i].reason);
		ck_assert_msg(tu_log_count("refusing backend") == 1 &&
			      tu_log_has(want),
			      "%s: expected one refusal with '%s', log:\n%s",
			      refusals[i].plugin, want, tu_log_text());
		ck_assert_uint_eq(count_backends(ctx), 1);
		ck_assert_str_eq(dmasplit_backend_get_name(dmasplit_backend_next(ctx, NULL)),
				 "testa");
		tu_ctx_free(ctx);
	}
}
END_TEST

/*
 * A version or description of n ASCII bytes and then tail, with no NUL
 * (or with one at the limit), placed by the plugin edgetext against a
 * page that cannot be read: the loader decides on the longest text and
 * its NUL and reads no further, or the test dies of SIGSEGV.
 */
static const struct {
	const char *var;
	size_t n;
	const char *tail;
	bool nul;
	const char *reason;	/* NULL: the plugin loads */
} edges[] = {
	{ "TB_EDGE_VERSION", 64, "", false,
	  "version is too long (want one line of at most 63 bytes of UTF-8)" },
	{ "TB_EDGE_DESCRIPTION", 256, "", false,
	  "description is too long (want one line of at most 255 bytes of UTF-8)" },
	{ "TB_EDGE_VERSION", 63, "", true, NULL },
	{ "TB_EDGE_DESCRIPTION", 255, "", true, NULL },
	{ "TB_EDGE_DESCRIPTION", 253, "\xc3\xa9", true, NULL },
	/* Well-formed UTF-8 whose last character the limit cuts: too long,
	 * not ill-formed. */
	{ "TB_EDGE_DESCRIPTION", 254, "\xc3\xa9", false,
	  "description is too long (want one line of at most 255 bytes of UTF-8)" },
	{ "TB_EDGE_DESCRIPTION", 254, "\xe2\x82\xac", false,
	  "description is too long (want one line of at most 255 bytes of UTF-8)" },
	{ "TB_EDGE_VERSION", 62, "\xc3\xa9", false,
	  "version is too long (want one line of at most 63 bytes of UTF-8)" },
};

START_TEST(text_is_read_no_further_than_its_limit_and_nul)
{
	const char *const list[] = { "testa", "edgetext", NULL };
	unsigned int i;

	for (i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		struct dmasplit_backend *be;
		struct dmasplit_ctx *ctx;
		char text[512], want[512];

		memset(text, 'v', edges[i].n);
		snprintf(text + edges[i].n, sizeof(text) - edges[i].n, "%s",
			 edges[i].tail);
		ck_assert_int_eq(setenv(edges[i].var, text, 1), 0);
		if (edges[i].nul)
			ck_assert_int_eq(setenv("TB_EDGE_NUL", "1", 1), 0);
		ctx = tu_ctx_with(list);
		ck_assert_int_eq(dmasplit_ctx_load_backends(ctx), 0);
		unsetenv(edges[i].var);
		unsetenv("TB_EDGE_NUL");
		if (edges[i].reason) {
			snprintf(want, sizeof(want), "/backend-edgetext.so: %s",
				 edges[i].reason);
			ck_assert_msg(tu_log_count("refusing backend") == 1 &&
				      tu_log_has(want),
				      "%s of %zu + %zu bytes: expected one refusal with '%s', log:\n%s",
				      edges[i].var, edges[i].n,
				      strlen(edges[i].tail), want, tu_log_text());
			ck_assert_uint_eq(count_backends(ctx), 1);
		} else {
			ck_assert_msg(!tu_log_has("refusing"),
				      "%s of %zu + %zu bytes: refused, log:\n%s",
				      edges[i].var, edges[i].n,
				      strlen(edges[i].tail), tu_log_text());
			ck_assert_int_eq(dmasplit_backend_find(ctx, "broken", &be), 0);
			ck_assert_str_eq(strcmp(edges[i].var, "TB_EDGE_VERSION") ?
					 dmasplit_backend_get_description(be) :
					 dmasplit_backend_get_version(be), text);
		}
		tu_ctx_free(ctx);
	}
}
END_TEST

struct reentry {
	struct dmasplit_ctx *ctx;
	unsigned int lines, backends_seen;
};

static void log_and_list_backends(void *data, int priority, const char *file,
				  int line, const char *fn, const char *format,
				  va_list args)
{
	struct reentry *r = data;
	struct dmasplit_backend *be;

	(void)priority, (void)file, (void)line, (void)fn, (void)format,
		(void)args;
	r->lines++;
	for (be = dmasplit_backend_next(r->ctx, NULL); be;
	     be = dmasplit_backend_next(r->ctx, be))
		r->backends_seen++;
}

/* Loading logs refusals and choices; the log function runs with no lock
 * of the library held, so it may call back in. */
START_TEST(a_log_function_may_call_the_library_while_backends_load)
{
	const char *const list[] = { "testa", "badabi", NULL };
	struct dmasplit_ctx *ctx = tu_ctx_with(list);
	struct reentry r = { .ctx = ctx };

	dmasplit_ctx_set_log_fn(ctx, log_and_list_backends, &r);
	ck_assert_int_eq(dmasplit_ctx_load_backends(ctx), 0);
	ck_assert_uint_ge(r.lines, 1);
	ck_assert_uint_eq(r.backends_seen, r.lines * count_backends(ctx));
	ck_assert_uint_eq(count_backends(ctx), 1);
	tu_ctx_free(ctx);
}
END_TEST

START_TEST(refuses_duplicate_uuid_and_name)
{
	char *first = tu_mkdtemp(), *second = tu_mkdtemp(), path[PATH_MAX * 2];
	struct dmasplit_ctx *ctx;

	tu_copy_plugin(first, "testa");
	tu_copy_plugin(second, "dupuuid");
	tu_copy_plugin(second, "dupname");
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	tu_log_capture(ctx);
	snprintf(path, sizeof(path), "%s:%s", first, second);
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx, path), 0);
	ck_assert_int_eq(dmasplit_ctx_set_builtin_backends(ctx, 0), 0);
	ck_assert_int_eq(dmasplit_ctx_load_backends(ctx), 0);
	ck_assert_msg(tu_log_has("backend-dupuuid.so: UUID " UUID_A " already used by backend testa"),
		      "log:\n%s", tu_log_text());
	ck_assert_msg(tu_log_has("backend-dupname.so: name testa already used by"),
		      "log:\n%s", tu_log_text());
	ck_assert_uint_eq(count_backends(ctx), 1);
	dmasplit_ctx_unref(ctx);
	remove_dir(first);
	remove_dir(second);
}
END_TEST

START_TEST(refuses_plugin_writable_by_others)
{
	struct dmasplit_ctx *ctx;
	char *dir = tu_mkdtemp(), path[PATH_MAX];

	tu_copy_plugin(dir, "testa");
	tu_copy_plugin(dir, "testb");
	snprintf(path, sizeof(path), "%s/backend-testb.so", dir);
	ck_assert_int_eq(chmod(path, 0666), 0);
	ctx = load_from(dir);
	ck_assert_msg(tu_log_has("backend-testb.so: writable by group or others"),
		      "log:\n%s", tu_log_text());
	ck_assert_uint_eq(count_backends(ctx), 1);
	dmasplit_ctx_unref(ctx);
	remove_dir(dir);
}
END_TEST

/* Not there is skipped quietly; there but out of reach is a setup to
 * fix, refused at LOG_ERR as a directory that cannot be listed. */
START_TEST(a_directory_the_path_cannot_reach_is_refused)
{
	char loop[PATH_MAX], file[PATH_MAX], path[3 * PATH_MAX + 16];
	char *dir = tu_mkdtemp();
	struct dmasplit_ctx *ctx;
	FILE *f;

	snprintf(loop, sizeof(loop), "%s/loop", dir);
	ck_assert_int_eq(symlink(loop, loop), 0);
	snprintf(file, sizeof(file), "%s/file", dir);
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s:%s/sub:%s/missing", loop, file, dir);
	ctx = load_from(path);
	ck_assert_msg(tu_log_count("\n") == 2 &&
		      tu_log_count("cannot read backend directory ") == 2 &&
		      tu_log_has("/loop: Too many levels of symbolic links") &&
		      tu_log_has("/file/sub: Not a directory"),
		      "log:\n%s", tu_log_text());
	ck_assert_uint_eq(count_backends(ctx), 0);
	dmasplit_ctx_unref(ctx);
	remove_dir(dir);
}
END_TEST

START_TEST(refuses_directory_writable_by_others)
{
	struct dmasplit_ctx *ctx;
	char *dir = tu_mkdtemp();

	tu_copy_plugin(dir, "testa");
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ctx = load_from(dir);
	ck_assert_msg(tu_log_has("refusing backend directory") &&
		      tu_log_has("writable by group or others"),
		      "log:\n%s", tu_log_text());
	ck_assert_uint_eq(count_backends(ctx), 0);
	dmasplit_ctx_unref(ctx);
	remove_dir(dir);
}
END_TEST

START_TEST(refuses_link_into_a_directory_writable_by_others)
{
	struct dmasplit_ctx *ctx;
	char *safe = tu_mkdtemp(), *unsafe = tu_mkdtemp();
	char target[PATH_MAX], link[PATH_MAX];

	tu_copy_plugin(unsafe, "testa");
	ck_assert_int_eq(chmod(unsafe, 0777), 0);
	snprintf(target, sizeof(target), "%s/backend-testa.so", unsafe);
	snprintf(link, sizeof(link), "%s/backend-testa.so", safe);
	tu_symlink(target, link);
	ctx = load_from(safe);
	ck_assert_msg(tu_log_has("backend-testa.so: its directory") &&
		      tu_log_has("is writable by group or others"),
		      "log:\n%s", tu_log_text());
	ck_assert_uint_eq(count_backends(ctx), 0);
	/* The same link into a safe directory is fine. */
	ck_assert_int_eq(chmod(unsafe, 0755), 0);
	dmasplit_ctx_unref(ctx);
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	tu_log_capture(ctx);
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx, safe), 0);
	ck_assert_int_eq(dmasplit_ctx_set_builtin_backends(ctx, 0), 0);
	ck_assert_uint_eq(count_backends(ctx), 1);
	ck_assert_str_eq(dmasplit_backend_get_path(dmasplit_backend_next(ctx, NULL)),
			 link);
	dmasplit_ctx_unref(ctx);
	remove_dir(safe);
	remove_dir(unsafe);
}
END_TEST

START_TEST(refuses_plugin_owned_by_another_user)
{
	struct dmasplit_ctx *ctx;
	char *dir = tu_mkdtemp(), path[PATH_MAX];

	tu_copy_plugin(dir, "testa");
	tu_copy_plugin(dir, "testb");
	snprintf(path, sizeof(path), "%s/backend-testa.so", dir);
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	ctx = load_from(dir);
	ck_assert_msg(tu_log_has("backend-testa.so: owned by uid 65534"),
		      "log:\n%s", tu_log_text());
	ck_assert_uint_eq(count_backends(ctx), 1);
	dmasplit_ctx_unref(ctx);
	remove_dir(dir);
}
END_TEST

START_TEST(ignores_missing_directories_and_other_files)
{
	struct dmasplit_ctx *ctx;
	char *dir = tu_mkdtemp(), path[PATH_MAX * 2];

	tu_copy_plugin(dir, "testa");
	snprintf(path, sizeof(path), "%s/libother.so", dir);
	tu_write_file(path, "not a plugin");
	snprintf(path, sizeof(path), "%s/backend-notes.txt", dir);
	tu_write_file(path, "not a plugin");
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	tu_log_capture(ctx);
	snprintf(path, sizeof(path), "/nonexistent/dmasplit:%s", dir);
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx, path), 0);
	ck_assert_int_eq(dmasplit_ctx_set_builtin_backends(ctx, 0), 0);
	ck_assert_int_eq(dmasplit_ctx_load_backends(ctx), 0);
	ck_assert_uint_eq(count_backends(ctx), 1);
	ck_assert_msg(!tu_log_has("refusing"), "log:\n%s", tu_log_text());
	dmasplit_ctx_unref(ctx);
	remove_dir(dir);
}
END_TEST

/*
 * Out of descriptors, a load is no verdict on the plugins: it fails with
 * -EMFILE and one line and loads nothing, and the next call that needs
 * the backends loads them all, the first open of a device as well as
 * dmasplit_ctx_load_backends().  The descriptors are given back before
 * any assertion, so that a failure is reported.
 */
START_TEST(out_of_descriptors_the_backends_load_at_the_next_call)
{
	struct dmasplit_ctx *ctx = tu_ctx_with(both);
	struct dmasplit_dev *dev = NULL;
	int fds[64], n, load, opened, lines;
	struct rlimit old;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	n = tu_take_every_descriptor(fds, 64);
	load = dmasplit_ctx_load_backends(ctx);
	lines = (int)tu_log_count("\n");
	opened = dmasplit_dev_open(ctx, "sim:nic0", &dev);
	tu_give_back_descriptors(fds, n);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);

	ck_assert_msg(n >= 0, "the descriptors did not run out");
	ck_assert_msg(load == -EMFILE && lines == 1 &&
		      tu_log_has("cannot load the backends: Too many open files (loaded again at the next call that needs them)"),
		      "the load gave %d with %d lines, log:\n%s", load, lines,
		      tu_log_text());
	ck_assert_int_eq(opened, -EMFILE);
	ck_assert_ptr_null(dev);
	ck_assert_msg(!tu_log_has("refusing") && !tu_log_has("cannot read"),
		      "log:\n%s", tu_log_text());
	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:nic0", &dev), 0);
	ck_assert_str_eq(dmasplit_dev_backend_name(dev), "testa");
	dmasplit_dev_close(dev);
	ck_assert_uint_eq(count_backends(ctx), 2);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_ctx_load_backends(ctx), 0);
	ck_assert_msg(!tu_log_has("loaded backend"), "loaded twice, log:\n%s",
		      tu_log_text());
	tu_ctx_free(ctx);
}
END_TEST

START_TEST(backend_path_is_fixed_once_loaded)
{
	struct dmasplit_ctx *ctx = tu_ctx_with(both);

	ck_assert_uint_eq(count_backends(ctx), 2);
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx, "/elsewhere"), -EBUSY);
	ck_assert(tu_log_has("backends already loaded"));
	tu_ctx_free(ctx);
}
END_TEST

START_TEST(no_backend_means_enodev_with_reason)
{
	struct dmasplit_ctx *ctx;
	struct dmasplit_dev *dev = NULL;
	char *dir = tu_mkdtemp();

	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	tu_log_capture(ctx);
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx, dir), 0);
	ck_assert_int_eq(dmasplit_ctx_set_builtin_backends(ctx, 0), 0);
	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:nic0", &dev), -ENODEV);
	ck_assert_ptr_null(dev);
	ck_assert(tu_log_has("no backend accepts device nic0"));
	dmasplit_ctx_unref(ctx);
	remove_dir(dir);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The built-in backend                                                 */

#define SIM_UUID "5d0c7c2e-8a4b-4f3e-9c61-2b7e0d4a9f11"

static const char *chosen(struct dmasplit_ctx *ctx, const char *spec);

/* A context over dir with the built-in backends on, as by default. */
static struct dmasplit_ctx *load_with_builtin(const char *dir)
{
	struct dmasplit_ctx *ctx;

	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	tu_log_capture(ctx);
	dmasplit_ctx_set_log_priority(ctx, 7);
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx, dir), 0);
	ck_assert_int_eq(dmasplit_ctx_load_backends(ctx), 0);
	return ctx;
}

START_TEST(builtin_sim_works_with_an_empty_backend_directory)
{
	char *dir = tu_mkdtemp();
	struct dmasplit_ctx *ctx = load_with_builtin(dir);
	struct dmasplit_backend *be;
	struct dmasplit_iova *iova;
	struct dmasplit_dev *dev;
	static char buf[4096] __attribute__((aligned(4096)));
	char got[6] = "";

	ck_assert_uint_eq(count_backends(ctx), 1);
	be = dmasplit_backend_next(ctx, NULL);
	ck_assert_str_eq(dmasplit_backend_get_name(be), "swiotlb-sim");
	ck_assert_str_eq(dmasplit_backend_get_uuid(be), SIM_UUID);
	ck_assert_str_eq(dmasplit_backend_get_path(be), "(built-in)");
	ck_assert_int_eq(dmasplit_backend_find(ctx, SIM_UUID, &be), 0);
	ck_assert_msg(!tu_log_has("refusing"), "log:\n%s", tu_log_text());

	/* Not just listed: the device moves data. */
	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:b0", &dev), 0);
	ck_assert_str_eq(dmasplit_dev_backend_name(dev), "swiotlb-sim");
	memcpy(buf, "hello", 6);
	ck_assert_int_eq(dmasplit_iova_alloc(dev, 4096, 0, &iova), 0);
	ck_assert_int_eq(dmasplit_iova_link(iova, 0, buf, 4096,
					    DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_iova_sync(iova, 0, 4096), 0);
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, dmasplit_iova_addr(iova),
					       got, sizeof(got)), 0);
	ck_assert_str_eq(got, "hello");
	ck_assert_int_eq(dmasplit_iova_unlink(iova, 0, 4096,
					      DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(dev);
	dmasplit_ctx_unref(ctx);
	remove_dir(dir);
}
END_TEST

/*
 * A plugin built against the 1.0 header: its ops table ends before
 * iova_win_size, so its windows are its own (iova_alloc) while the
 * built-in backend's live in the library's objects.  Its windows still
 * work, with the checker off and on.
 */
START_TEST(a_plugin_with_the_1_0_ops_table_keeps_its_windows)
{
	static const char *const list[] = { "testv10", NULL };
	static char buf[2 * 4096] __attribute__((aligned(4096)));
	unsigned int check;

	for (check = 0; check < 2; check++) {
		struct dmasplit_ctx *ctx = tu_ctx_with(list);
		struct dmasplit_iova *iova;
		struct dmasplit_dev *dev;
		char got[6] = "";

		dmasplit_ctx_set_check(ctx, (int)check);
		ck_assert_int_eq(dmasplit_ctx_load_backends(ctx), 0);
		ck_assert_uint_eq(count_backends(ctx), 1);
		ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:v0", &dev), 0);
		memcpy(buf + 4096, "hello", 6);
		ck_assert_int_eq(dmasplit_iova_alloc(dev, sizeof(buf), 0, &iova),
				 0);
		ck_assert_uint_eq(dmasplit_iova_size(iova), sizeof(buf));
		ck_assert_int_eq(dmasplit_iova_link(iova, 4096, buf + 4096, 4096,
						    DMASPLIT_TO_DEVICE, 0), 0);
		ck_assert_int_eq(dmasplit_iova_sync(iova, 4096, 4096), 0);
		ck_assert_int_eq(dmasplit_dev_dma_read(dev,
						       dmasplit_iova_addr(iova) + 4096,
						       got, sizeof(got)), 0);
		ck_assert_str_eq(got, "hello");
		/* Out of the window: refused before the plugin sees it. */
		ck_assert_int_eq(dmasplit_iova_link(iova, sizeof(buf), buf, 4096,
						    DMASPLIT_TO_DEVICE, 0),
				 -EINVAL);
		ck_assert_int_eq(dmasplit_iova_unlink(iova, 4096, 4096,
						      DMASPLIT_TO_DEVICE, 0), 0);
		dmasplit_iova_destroy(iova);
		dmasplit_dev_close(dev);
		ck_assert_msg(!tu_log_has("refusing") && !tu_log_has("leak"),
			      "log:\n%s", tu_log_text());
		tu_ctx_free(ctx);
	}
}
END_TEST

/* An unmap_vec without a map_vec undoes vectors the backend never
 * made: the core maps a vector buffer by buffer, and unmaps it so. */
START_TEST(unmap_vec_without_map_vec_is_not_used)
{
	static const char *const list[] = { "testc", NULL };
	static char buf[3 * 4096] __attribute__((aligned(4096)));
	unsigned int check;

	for (check = 0; check < 2; check++) {
		struct dmasplit_ctx *ctx = tu_ctx_with(list);
		struct iovec iov[2] = {
			{ buf, 4096 }, { buf + 2 * 4096, 4096 },
		};
		struct dmasplit_seg segs[2];
		unsigned int n = 2;
		struct dmasplit_dev *dev;

		dmasplit_ctx_set_check(ctx, (int)check);
		ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:c0", &dev), 0);
		ck_assert_int_eq(dmasplit_map_vec(dev, iov, 2,
						  DMASPLIT_TO_DEVICE, 0, segs,
						  &n), 0);
		ck_assert_uint_eq(n, 2);
		tu_log_clear();
		ck_assert_int_eq(dmasplit_unmap_vec(dev, segs, n,
						    DMASPLIT_TO_DEVICE, 0), 0);
		ck_assert_msg(tu_log_count("testc: unmap dma=") == 2 &&
			      !tu_log_has("testc: unmap_vec"),
			      "check %u: log:\n%s", check, tu_log_text());
		dmasplit_dev_close(dev);
		ck_assert_msg(!tu_log_has("leak") && !tu_log_has("still live"),
			      "log:\n%s", tu_log_text());
		tu_ctx_free(ctx);
	}
}
END_TEST

/*
 * A table whose size ends inside a field (here half of get_stats) is
 * read up to the last whole field: the cut one counts as missing, as do
 * all after it, and the device's flags claim none of what went.
 */
START_TEST(a_table_size_inside_a_field_leaves_that_field_out)
{
	static const char *const list[] = { "testv10", NULL };
	struct dmasplit_dev_stats st = { .size = sizeof(st) };
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_iova *iova = NULL;
	struct dmasplit_ctx *ctx;
	struct dmasplit_dev *dev;
	char got[4];

	ck_assert_int_eq(setenv("TB_SIZE_INSIDE_GET_STATS", "1", 1), 0);
	ctx = tu_ctx_with(list);
	ck_assert_int_eq(dmasplit_ctx_load_backends(ctx), 0);
	ck_assert_uint_eq(count_backends(ctx), 1);
	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:h0", &dev), 0);
	/* Half a pointer taken for get_stats would be called here. */
	ck_assert_int_eq(dmasplit_dev_get_stats(dev, &st), 0);
	ck_assert_int_eq(dmasplit_dev_get_info(dev, &info), 0);
	ck_assert_msg(!(info.flags & (DMASPLIT_DEV_WINDOWS | DMASPLIT_DEV_DMA_RW)),
		      "flags 0x%x claim operations the table lacks", info.flags);
	ck_assert_int_eq(dmasplit_iova_alloc(dev, 4096, 0, &iova), -EOPNOTSUPP);
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, 0x1000, got, sizeof(got)),
			 -EOPNOTSUPP);
	dmasplit_dev_close(dev);
	tu_ctx_free(ctx);
	unsetenv("TB_SIZE_INSIDE_GET_STATS");
}
END_TEST

START_TEST(plugin_with_the_builtin_name_shadows_it)
{
	char *dir = tu_mkdtemp(), path[PATH_MAX], line[PATH_MAX + 128];
	struct dmasplit_ctx *ctx;
	struct dmasplit_backend *be;

	tu_copy_plugin(dir, "swiotlb-sim");
	snprintf(path, sizeof(path), "%s/backend-swiotlb-sim.so", dir);
	ctx = load_with_builtin(dir);
	ck_assert_uint_eq(count_backends(ctx), 1);
	be = dmasplit_backend_next(ctx, NULL);
	ck_assert_str_eq(dmasplit_backend_get_name(be), "swiotlb-sim");
	ck_assert_str_eq(dmasplit_backend_get_path(be), path);
	snprintf(line, sizeof(line),
		 "built-in backend swiotlb-sim is shadowed by backend swiotlb-sim from %s",
		 path);
	ck_assert_msg(tu_log_has(line), "log:\n%s", tu_log_text());
	ck_assert_msg(!tu_log_has("refusing"), "log:\n%s", tu_log_text());
	ck_assert_str_eq(chosen(ctx, "sim:nic0"), "swiotlb-sim");
	dmasplit_ctx_unref(ctx);
	remove_dir(dir);
}
END_TEST

START_TEST(plugin_with_the_builtin_uuid_shadows_it)
{
	char *dir = tu_mkdtemp();
	struct dmasplit_ctx *ctx;
	struct dmasplit_backend *be;

	tu_copy_plugin(dir, "simclone");
	ctx = load_with_builtin(dir);
	ck_assert_uint_eq(count_backends(ctx), 1);
	ck_assert_int_eq(dmasplit_backend_find(ctx, SIM_UUID, &be), 0);
	ck_assert_str_eq(dmasplit_backend_get_name(be), "simclone");
	ck_assert_int_eq(dmasplit_backend_find(ctx, "swiotlb-sim", &be), -ENODEV);
	ck_assert_msg(tu_log_has("built-in backend swiotlb-sim is shadowed by backend simclone from "),
		      "log:\n%s", tu_log_text());
	ck_assert_str_eq(chosen(ctx, "sim:nic0"), "simclone");
	dmasplit_ctx_unref(ctx);
	remove_dir(dir);
}
END_TEST

/* Only a plugin that loads replaces the built-in one. */
START_TEST(refused_plugin_leaves_the_builtin_in_place)
{
	char *dir = tu_mkdtemp(), path[PATH_MAX];
	struct dmasplit_ctx *ctx;

	tu_copy_plugin(dir, "swiotlb-sim");
	snprintf(path, sizeof(path), "%s/backend-swiotlb-sim.so", dir);
	ck_assert_int_eq(chmod(path, 0666), 0);
	ctx = load_with_builtin(dir);
	ck_assert_msg(tu_log_has("backend-swiotlb-sim.so: writable by group or others"),
		      "log:\n%s", tu_log_text());
	ck_assert_uint_eq(count_backends(ctx), 1);
	ck_assert_str_eq(dmasplit_backend_get_path(dmasplit_backend_next(ctx, NULL)),
			 "(built-in)");
	ck_assert(!tu_log_has("shadowed"));
	dmasplit_ctx_unref(ctx);
	remove_dir(dir);
}
END_TEST

/* A context made with DMASPLIT_BUILTIN_BACKENDS=value: what it logged on
 * stderr (the log function before the application sets one), in log,
 * and how many backends it loads from dir. */
static unsigned int builtin_from_env(const char *value, const char *dir,
				     char *log, size_t size)
{
	struct dmasplit_ctx *ctx;
	FILE *err = tmpfile();
	int saved = dup(2);
	unsigned int n;
	size_t got;

	ck_assert_ptr_nonnull(err);
	ck_assert_int_ge(saved, 0);
	fflush(stderr);
	ck_assert_int_ge(dup2(fileno(err), 2), 0);
	setenv("DMASPLIT_BUILTIN_BACKENDS", value, 1);
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	unsetenv("DMASPLIT_BUILTIN_BACKENDS");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(err);
	got = fread(log, 1, size - 1, err);
	log[got] = '\0';
	fclose(err);
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx, dir), 0);
	n = count_backends(ctx);
	dmasplit_ctx_unref(ctx);
	return n;
}

/* An empty value is ignored, as that of the other variables; one that
 * means nothing is logged and ignored. */
START_TEST(builtin_backends_variable_empty_or_invalid)
{
	char *dir = tu_mkdtemp();
	char log[512];

	ck_assert_uint_eq(builtin_from_env("", dir, log, sizeof(log)), 1);
	ck_assert_msg(!log[0], "an empty value was logged: %s", log);
	ck_assert_uint_eq(builtin_from_env("maybe", dir, log, sizeof(log)), 1);
	ck_assert_msg(strstr(log, "ignoring DMASPLIT_BUILTIN_BACKENDS='maybe'"),
		      "an invalid value was not logged: '%s'", log);
	ck_assert_uint_eq(builtin_from_env("no", dir, log, sizeof(log)), 0);
	ck_assert_msg(!log[0], "a valid value was logged: %s", log);
	remove_dir(dir);
}
END_TEST

START_TEST(builtin_backends_can_be_turned_off)
{
	char *dir = tu_mkdtemp();
	struct dmasplit_ctx *ctx;

	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	tu_log_capture(ctx);
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx, dir), 0);
	ck_assert_int_eq(dmasplit_ctx_set_builtin_backends(ctx, 0), 0);
	ck_assert_uint_eq(count_backends(ctx), 0);
	ck_assert_int_eq(dmasplit_ctx_set_builtin_backends(ctx, 1), -EBUSY);
	ck_assert(tu_log_has("backends already loaded"));
	dmasplit_ctx_unref(ctx);

	setenv("DMASPLIT_BUILTIN_BACKENDS", "off", 1);
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	unsetenv("DMASPLIT_BUILTIN_BACKENDS");
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx, dir), 0);
	ck_assert_uint_eq(count_backends(ctx), 0);
	dmasplit_ctx_unref(ctx);

	/* The setter wins over the environment, as every setter does. */
	setenv("DMASPLIT_BUILTIN_BACKENDS", "0", 1);
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	unsetenv("DMASPLIT_BUILTIN_BACKENDS");
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx, dir), 0);
	ck_assert_int_eq(dmasplit_ctx_set_builtin_backends(ctx, 1), 0);
	ck_assert_uint_eq(count_backends(ctx), 1);
	dmasplit_ctx_unref(ctx);

	ck_assert_int_eq(dmasplit_ctx_set_builtin_backends(NULL, 0), -EINVAL);
	remove_dir(dir);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Selection                                                            */

static const char *chosen(struct dmasplit_ctx *ctx, const char *spec)
{
	static char name[32];
	struct dmasplit_dev *dev;
	int r = dmasplit_dev_open(ctx, spec, &dev);

	if (r < 0) {
		snprintf(name, sizeof(name), "error %d", r);
		return name;
	}
	snprintf(name, sizeof(name), "%s", dmasplit_dev_backend_name(dev));
	dmasplit_dev_close(dev);
	return name;
}

START_TEST(highest_score_wins_and_every_score_is_logged)
{
	struct dmasplit_ctx *ctx = tu_ctx_with(both);

	ck_assert_str_eq(chosen(ctx, "sim:nic0"), "testa");
	ck_assert_msg(tu_log_has("probe testa for nic0: score 10") &&
		      tu_log_has("probe testb for nic0: score 5") &&
		      tu_log_has("selected testa for nic0 (score 10)"),
		      "log:\n%s", tu_log_text());
	ck_assert_str_eq(chosen(ctx, "sim:nic0,testb.score=50"), "testb");
	ck_assert_str_eq(chosen(ctx, "sim:nic0,testa.reject"), "testb");
	tu_log_clear();
	ck_assert_str_eq(chosen(ctx, "sim:nic0,testa.reject,testb.reject"),
			 "error -19");
	ck_assert_msg(tu_log_has("probe testa for nic0: No such device") &&
		      tu_log_has("no backend accepts device nic0"),
		      "log:\n%s", tu_log_text());
	tu_ctx_free(ctx);
}
END_TEST

START_TEST(forced_backend_overrides_scores)
{
	struct dmasplit_ctx *ctx = tu_ctx_with(both);

	ck_assert_int_eq(dmasplit_ctx_set_backend(ctx, "testb"), 0);
	ck_assert_str_eq(chosen(ctx, "sim:nic0"), "testb");
	ck_assert(tu_log_has("selected testb for nic0 (forced)"));
	ck_assert_int_eq(dmasplit_ctx_set_backend(ctx, UUID_A), 0);
	ck_assert_str_eq(chosen(ctx, "sim:nic0,testb.score=99"), "testa");
	ck_assert_int_eq(dmasplit_ctx_set_backend(ctx, "nope"), 0);
	ck_assert_str_eq(chosen(ctx, "sim:nic0"), "error -19");
	ck_assert(tu_log_has("forced backend 'nope' is not loaded"));
	/* NULL restores selection by score. */
	ck_assert_int_eq(dmasplit_ctx_set_backend(ctx, NULL), 0);
	ck_assert_str_eq(chosen(ctx, "sim:nic0"), "testa");
	tu_ctx_free(ctx);
}
END_TEST

START_TEST(forced_backend_from_environment)
{
	struct dmasplit_ctx *ctx;

	setenv("DMASPLIT_BACKEND", "testb", 1);
	ctx = tu_ctx_with(both);
	unsetenv("DMASPLIT_BACKEND");
	ck_assert_str_eq(chosen(ctx, "sim:nic0"), "testb");
	tu_ctx_free(ctx);
}
END_TEST

START_TEST(backend_path_from_environment)
{
	struct dmasplit_ctx *ctx;
	char *dir = tu_mkdtemp();

	tu_copy_plugin(dir, "testb");
	setenv("DMASPLIT_BACKEND_PATH", dir, 1);
	setenv("DMASPLIT_BUILTIN_BACKENDS", "0", 1);
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	unsetenv("DMASPLIT_BACKEND_PATH");
	unsetenv("DMASPLIT_BUILTIN_BACKENDS");
	ck_assert_uint_eq(count_backends(ctx), 1);
	ck_assert_str_eq(dmasplit_backend_get_name(dmasplit_backend_next(ctx, NULL)),
			 "testb");
	dmasplit_ctx_unref(ctx);
	remove_dir(dir);
}
END_TEST

START_TEST(explicit_backend_open_bypasses_probe)
{
	struct dmasplit_ctx *ctx = tu_ctx_with(both);
	struct dmasplit_dev *dev = NULL;

	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:nic0,testb.reject",
						   "testb", &dev), 0);
	ck_assert_str_eq(dmasplit_dev_backend_name(dev), "testb");
	ck_assert(!tu_log_has("testb: probe"));
	dmasplit_dev_close(dev);
	dev = NULL;
	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:nic0", "nope", &dev),
			 -ENODEV);
	ck_assert(tu_log_has("backend 'nope' is not loaded"));
	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:nic0", NULL, &dev),
			 -EINVAL);
	ck_assert_ptr_null(dev);
	tu_ctx_free(ctx);
}
END_TEST

START_TEST(failing_open_is_reported_and_leaves_nothing)
{
	struct dmasplit_ctx *ctx = tu_ctx_with(both);
	struct dmasplit_dev *dev = NULL;

	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:nic0,testa.failopen", &dev),
			 -EIO);
	ck_assert_ptr_null(dev);
	ck_assert_msg(tu_log_has("backend testa cannot open nic0: Input/output error"),
		      "log:\n%s", tu_log_text());
	tu_log_clear();
	tu_ctx_free(ctx);
	/* Nothing was left open for the context to close. */
	ck_assert(!tu_log_has("leaked"));
}
END_TEST

START_TEST(probe_and_select_are_callable_directly)
{
	struct dmasplit_ctx *ctx = tu_ctx_with(both);
	struct dmasplit_desc desc = { .size = sizeof(desc) };
	struct dmasplit_backend *a, *b, *sel;
	int score = -1;

	ck_assert_int_eq(dmasplit_backend_find(ctx, "testa", &a), 0);
	ck_assert_int_eq(dmasplit_backend_find(ctx, "testb", &b), 0);
	ck_assert_int_eq(dmasplit_describe(ctx, "sim:d0,testb.score=77", &desc), 0);
	ck_assert_int_eq(dmasplit_backend_probe(a, &desc, &score), 0);
	ck_assert_int_eq(score, 10);
	ck_assert_int_eq(dmasplit_backend_probe(b, &desc, &score), 0);
	ck_assert_int_eq(score, 77);
	ck_assert_int_eq(dmasplit_select(ctx, &desc, &sel), 0);
	ck_assert_ptr_eq(sel, b);

	/* A description from an older, smaller struct still works. */
	desc.size = offsetof(struct dmasplit_desc, spec_mask_bits);
	ck_assert_int_eq(dmasplit_select(ctx, &desc, &sel), 0);
	ck_assert_ptr_eq(sel, b);
	/* Too small to hold the bus and name: refused, in one line each. */
	desc.size = 4;
	tu_log_clear();
	ck_assert_int_eq(dmasplit_select(ctx, &desc, &sel), -EINVAL);
	ck_assert_int_eq(dmasplit_backend_probe(a, &desc, &score), -EINVAL);
	ck_assert_msg(tu_log_count("dmasplit_select: a description of 4 bytes") == 1 &&
		      tu_log_count("dmasplit_backend_probe: a description of 4 bytes") == 1,
		      "log:\n%s", tu_log_text());
	ck_assert_int_eq(dmasplit_backend_probe(NULL, &desc, &score), -EINVAL);
	ck_assert_int_eq(dmasplit_select(NULL, &desc, &sel), -EINVAL);
	ck_assert_int_eq(dmasplit_select(ctx, NULL, &sel), -EINVAL);
	ck_assert_int_eq(dmasplit_select(ctx, &desc, NULL), -EINVAL);
	tu_ctx_free(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("load");

	tu_plugin_dir();
	tcase_add_test(tc, loads_good_plugins_in_order);
	tcase_add_test(tc, refuses_each_broken_plugin_and_keeps_the_rest);
	tcase_add_test(tc, text_is_read_no_further_than_its_limit_and_nul);
	tcase_add_test(tc, a_log_function_may_call_the_library_while_backends_load);
	tcase_add_test(tc, refuses_duplicate_uuid_and_name);
	tcase_add_test(tc, refuses_plugin_writable_by_others);
	tcase_add_test(tc, a_directory_the_path_cannot_reach_is_refused);
	tcase_add_test(tc, refuses_directory_writable_by_others);
	tcase_add_test(tc, refuses_link_into_a_directory_writable_by_others);
	tu_add_test_if(tc, refuses_plugin_owned_by_another_user, geteuid() == 0,
		       "giving a file to another user needs root");
	tcase_add_test(tc, ignores_missing_directories_and_other_files);
	tcase_add_test(tc, out_of_descriptors_the_backends_load_at_the_next_call);
	tcase_add_test(tc, backend_path_is_fixed_once_loaded);
	tcase_add_test(tc, no_backend_means_enodev_with_reason);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("builtin");
	tcase_add_test(tc, builtin_sim_works_with_an_empty_backend_directory);
	tcase_add_test(tc, a_plugin_with_the_1_0_ops_table_keeps_its_windows);
	tcase_add_test(tc, unmap_vec_without_map_vec_is_not_used);
	tcase_add_test(tc, a_table_size_inside_a_field_leaves_that_field_out);
	tcase_add_test(tc, plugin_with_the_builtin_name_shadows_it);
	tcase_add_test(tc, plugin_with_the_builtin_uuid_shadows_it);
	tcase_add_test(tc, refused_plugin_leaves_the_builtin_in_place);
	tcase_add_test(tc, builtin_backends_can_be_turned_off);
	tcase_add_test(tc, builtin_backends_variable_empty_or_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("select");
	tcase_add_test(tc, highest_score_wins_and_every_score_is_logged);
	tcase_add_test(tc, forced_backend_overrides_scores);
	tcase_add_test(tc, forced_backend_from_environment);
	tcase_add_test(tc, backend_path_from_environment);
	tcase_add_test(tc, explicit_backend_open_bypasses_probe);
	tcase_add_test(tc, failing_open_is_reported_and_leaves_nothing);
	tcase_add_test(tc, probe_and_select_are_callable_directly);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
