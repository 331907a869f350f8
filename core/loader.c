// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Plugin discovery and validation.  A plugin is refused, with one log line
 * naming the file and the reason, when anyone but root or the user could
 * have replaced it, when it is not a loadable object, when it was built for
 * another ABI, or when its table is malformed or clashes with a plugin
 * already loaded.  The others still load.
 */
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "internal.h"
#include "private.h"

/* What a v1 table must contain: everything up to and including get_info. */
#define OPS_REQUIRED_SIZE \
	(offsetof(struct dmasplit_backend_ops, get_info) + \
	 sizeof(((struct dmasplit_backend_ops *)0)->get_info))

/*
 * The file and the directory it really lives in are checked, then the
 * resolved path is loaded: nobody but root or the user can replace the
 * file in between.  (Like kmod, the directories above are trusted.)
 */
static const char *unsafe_reason(const struct stat *st, char *buf, size_t len)
{
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return "writable by group or others";
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(buf, len, "owned by uid %u", (unsigned int)st->st_uid);
		return buf;
	}
	return NULL;
}

/*
 * A child of fork() makes a context of its own and loads the backends
 * again (libdmasplit(3)).  glibc aborts that child's dlopen()
 * ("Inconsistency detected by ld.so") when the fork came while another
 * thread was inside a dlopen() or dlclose() that changed the list of
 * loaded objects: the list is left half changed.  So an object, once
 * loaded, is never unloaded (RTLD_NODELETE: dlclose() only drops a
 * reference), and a fork waits for the library's dlopen() calls to end.
 *
 * The wait has a price: fork handlers that a backend's constructor
 * registers while a fork waits are not run for that fork (glibc runs only
 * those registered before it began), so an object loaded then must stay
 * untouched until the fork is over; dl_open() does not return it sooner.
 * Nothing is logged under the lock (a log function may fork), and glibc
 * (2.36) runs prepare handlers without its own lock held, so that the
 * constructor can register them.  (Unloading in the meantime would be
 * worse: glibc 2.36 aborts a fork whose list of handlers shrank while a
 * prepare handler ran.)
 */
static pthread_mutex_t dl_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int forks_waiting;

static void fork_prepare(void)
{
	__atomic_add_fetch(&forks_waiting, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&dl_lock);
}

static void fork_parent(void)
{
	__atomic_sub_fetch(&forks_waiting, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&dl_lock);
}

/* The other threads' forks are not the child's to wait for. */
static void fork_child(void)
{
	forks_waiting = 0;
	pthread_mutex_unlock(&dl_lock);
}

__attribute__((constructor)) static void dl_lock_atfork(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void *dl_open(const char *path)
{
	void *dl;

	pthread_mutex_lock(&dl_lock);
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	pthread_mutex_unlock(&dl_lock);
	while (__atomic_load_n(&forks_waiting, __ATOMIC_SEQ_CST)) {
		sched_yield();
		pthread_mutex_lock(&dl_lock);
		pthread_mutex_unlock(&dl_lock);
	}
	return dl;
}

/* Out of memory or descriptors: no verdict on a plugin or a directory,
 * and gone by a later try. */
static bool transient(int err)
{
	return err == ENOMEM || err == EMFILE || err == ENFILE;
}

static bool valid_name(const char *name)
{
	size_t n = 0;

	if (!name)
		return false;
	/* No byte past the longest name is read. */
	for (; n <= 31 && name[n]; n++)
		if (!(islower((unsigned char)name[n]) ||
		      isdigit((unsigned char)name[n]) || name[n] == '-'))
			return false;
	return n >= 1 && n <= 31;
}

static bool valid_uuid(const char *s, char canonical[37])
{
	uuid_t u;

	if (!s || strlen(s) != 36 || uuid_parse(s, u) < 0 || uuid_is_null(u))
		return false;
	uuid_unparse_lower(u, canonical);
	return true;
}

/* Names the ABI a plugin was built for when it exports another entry. */
static int other_abi(void *dl)
{
	char sym[32];
	int v;

	for (v = 0; v <= 64; v++) {
		if (v == DMASPLIT_BACKEND_ABI_VERSION)
			continue;
		snprintf(sym, sizeof(sym), "dmasplit_backend_v%d", v);
		if (dlsym(dl, sym))
			return v;
	}
	return -1;
}

/* The entry symbol is a function: one of that name that is data (a
 * variable, by mistake) would be called.  Where the C library cannot
 * say, or the symbol has no type (hand-written assembly), it is taken
 * as one. */
static bool entry_is_function(void *addr)
{
#ifdef HAVE_DLADDR1
	const ElfW(Sym) *sym = NULL;
	Dl_info info;

	if (dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) && sym)
		switch (ELF64_ST_TYPE(sym->st_info)) {
		case STT_OBJECT:
		case STT_COMMON:
		case STT_TLS:
			return false;
		default:
			return true;
		}
#else
	(void)addr;
#endif
	return true;
}

#define OPS_END(f) (offsetof(struct dmasplit_backend_ops, f) + \
		    sizeof(((struct dmasplit_backend_ops *)0)->f))

/* Where each field of the ops table ends, in order. */
static const size_t ops_ends[] = {
	OPS_END(size), OPS_END(abi_version), OPS_END(name), OPS_END(uuid),
	OPS_END(version), OPS_END(description), OPS_END(probe),
	OPS_END(open), OPS_END(close), OPS_END(get_info), OPS_END(get_stats),
	OPS_END(get_fd), OPS_END(iova_alloc), OPS_END(iova_link),
	OPS_END(iova_sync), OPS_END(iova_unlink), OPS_END(iova_destroy),
	OPS_END(map), OPS_END(unmap), OPS_END(map_vec), OPS_END(unmap_vec),
	OPS_END(sync_for_cpu), OPS_END(sync_for_device),
	OPS_END(alloc_coherent), OPS_END(free_coherent), OPS_END(dma_read),
	OPS_END(dma_write), OPS_END(flags), OPS_END(get_ranges),
	OPS_END(iova_win_size), OPS_END(iova_init), OPS_END(iova_fini),
	OPS_END(trim)
};

_Static_assert(OPS_END(trim) == sizeof(struct dmasplit_backend_ops),
	       "ops_ends lists every field of the ops table, the last last");

/* The bytes of a table of size that hold whole fields. */
static size_t whole_fields(size_t size)
{
	size_t i, end = 0;

	for (i = 0; i < sizeof(ops_ends) / sizeof(ops_ends[0]) &&
		    ops_ends[i] <= size; i++)
		end = ops_ends[i];
	return end;
}

/*
 * A backend's version and description are free text shown in one line
 * of `dmasplit info`, log lines and callers' own tables: printable UTF-8
 * (no C0, DEL or C1, which may break a line or start a terminal's
 * escape, and no byte that is not UTF-8, which a terminal not in UTF-8
 * may take for C1), and short; NULL reads as empty.  At most max + 1
 * bytes of s are read, the longest text and its NUL, so that a string
 * without its NUL costs a refusal, not a read through the plugin's data
 * into a page that may not be there.  False, with the refusal logged,
 * when s is not that.
 */
#define BACKEND_VERSION_MAX 63
#define BACKEND_DESCRIPTION_MAX 255

static bool text_ok(struct dmasplit_ctx *ctx, const char *path,
		    const char *field, const char *s, size_t max)
{
	const char *why = NULL;
	size_t n, end = 0;

	/* The length first, s[max] the last byte read: a character the
	 * limit cuts in two makes the text too long, not ill-formed. */
	while (s && end <= max && s[end])
		end++;
	if (end > max)
		why = "is too long";
	for (n = 0; n < end && !why; n++) {
		unsigned char c = (unsigned char)s[n], seq[5] = { 0 };
		uint32_t cp;
		size_t k, len;

		if (c < 0x20 || c == 0x7f) {
			why = "holds a control character";
		} else if (c >= 0x80) {
			/* The sequence, read no further than the string's
			 * end. */
			for (k = 0; k < 4 && n + k < end; k++)
				seq[k] = (unsigned char)s[n + k];
			len = dmasplit_private_utf8_decode(seq, &cp);
			if (!len)
				why = "is not UTF-8";
			else if (cp < 0xa0)
				why = "holds a control character";
			else
				n += len - 1;
		}
	}
	if (why)
		log_err(ctx, "refusing backend %s: %s %s (want one line of at most %zu bytes of UTF-8)",
			path, field, why, max);
	return !why;
}

static int check_ops(struct dmasplit_ctx *ctx, const char *path,
		     const struct dmasplit_backend_ops *ops,
		     struct dmasplit_backend *be)
{
	const struct dmasplit_backend *other;
	const char *missing;
	bool windows;

	if (!ops) {
		log_err(ctx, "refusing backend %s: no ops table", path);
		return -EINVAL;
	}
	/* The size first: every other field is read only where it covers
	 * it, a table smaller than its header included. */
	if (ops->size < offsetof(struct dmasplit_backend_ops, abi_version) +
			sizeof(ops->abi_version)) {
		log_err(ctx, "refusing backend %s: ops table too small (%u bytes, need %zu)",
			path, ops->size, OPS_REQUIRED_SIZE);
		return -EINVAL;
	}
	if (ops->abi_version != DMASPLIT_BACKEND_ABI_VERSION) {
		log_err(ctx, "refusing backend %s: ABI version %u, expected %d",
			path, ops->abi_version, DMASPLIT_BACKEND_ABI_VERSION);
		return -EINVAL;
	}
	if (ops->size < OPS_REQUIRED_SIZE) {
		log_err(ctx, "refusing backend %s: ops table too small (%u bytes, need %zu)",
			path, ops->size, OPS_REQUIRED_SIZE);
		return -EINVAL;
	}
	/* Zero-extend an older, smaller table: its missing optional
	 * operations read as NULL.  A size that ends inside a field leaves
	 * that field out whole rather than read in part. */
	memcpy(&be->ops, ops,
	       ops->size < sizeof(be->ops) ? whole_fields(ops->size)
					   : sizeof(be->ops));
	be->ops.size = sizeof(be->ops);

	missing = !be->ops.probe ? "probe" :
		  !be->ops.open ? "open" :
		  !be->ops.close ? "close" :
		  !be->ops.get_info ? "get_info" : NULL;
	if (missing) {
		log_err(ctx, "refusing backend %s: required operation %s missing",
			path, missing);
		return -EINVAL;
	}
	/* Optional operations come in sets the core calls together. */
	windows = be->ops.iova_alloc || be->ops.iova_init;
	missing = windows && !be->ops.iova_link ? "iova_link" :
		  windows && !be->ops.iova_unlink ? "iova_unlink" :
		  be->ops.iova_alloc && !be->ops.iova_destroy ? "iova_destroy" :
		  be->ops.iova_init && !be->ops.iova_fini ? "iova_fini" :
		  be->ops.map && !be->ops.unmap ? "unmap" :
		  be->ops.map_vec && !be->ops.unmap_vec ? "unmap_vec" :
		  be->ops.alloc_coherent && !be->ops.free_coherent ?
			"free_coherent" : NULL;
	if (missing) {
		log_err(ctx, "refusing backend %s: operation %s missing from a set it belongs to",
			path, missing);
		return -EINVAL;
	}
	/* An unmap_vec undoes a backend's own vectors: without map_vec the
	 * core maps a vector buffer by buffer, and unmaps it so. */
	if (!be->ops.map_vec)
		be->ops.unmap_vec = NULL;
	if (be->ops.iova_init && (!be->ops.iova_win_size ||
				  be->ops.iova_win_size > DMASPLIT_BWIN_SIZE_MAX)) {
		log_err(ctx, "refusing backend %s: iova_win_size %u (want 1 to %u with iova_init)",
			path, be->ops.iova_win_size, DMASPLIT_BWIN_SIZE_MAX);
		return -EINVAL;
	}
	if (!valid_name(be->ops.name)) {
		log_err(ctx, "refusing backend %s: invalid name (want [a-z0-9-], 1 to 31 characters)",
			path);
		return -EINVAL;
	}
	if (!valid_uuid(be->ops.uuid, be->uuid)) {
		log_err(ctx, "refusing backend %s: invalid UUID '%s'", path,
			be->ops.uuid ? be->ops.uuid : "(null)");
		return -EINVAL;
	}
	if (!text_ok(ctx, path, "version", be->ops.version,
		     BACKEND_VERSION_MAX) ||
	    !text_ok(ctx, path, "description", be->ops.description,
		     BACKEND_DESCRIPTION_MAX))
		return -EINVAL;
	for (other = ctx->backends; other; other = other->next) {
		if (!strcmp(other->uuid, be->uuid)) {
			log_err(ctx, "refusing backend %s: UUID %s already used by backend %s (%s)",
				path, be->uuid, other->ops.name, other->path);
			return -EEXIST;
		}
		if (!strcmp(other->ops.name, be->ops.name)) {
			log_err(ctx, "refusing backend %s: name %s already used by %s",
				path, be->ops.name, other->path);
			return -EEXIST;
		}
	}
	if (!be->ops.version)
		be->ops.version = "";
	if (!be->ops.description)
		be->ops.description = "";
	return 0;
}

/*
 * Check a plugin where it really lives: a symbolic link in a safe
 * directory may lead into one that others can write.
 */
static int check_file(struct dmasplit_ctx *ctx, const char *path,
		      char **real)
{
	char reason[64], *dir;
	const char *why;
	struct stat st;

	*real = realpath(path, NULL);
	if (!*real && transient(errno))
		return -errno;
	if (!*real || stat(*real, &st) < 0) {
		log_err(ctx, "refusing backend %s: %s", path, strerror(errno));
		goto fail;
	}
	why = unsafe_reason(&st, reason, sizeof(reason));
	if (why) {
		log_err(ctx, "refusing backend %s: %s", path, why);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err(ctx, "refusing backend %s: not a regular file", path);
		goto fail;
	}
	dir = strrchr(*real, '/');
	*dir = '\0';
	if (stat(dir == *real ? "/" : *real, &st) < 0)
		why = strerror(errno);
	else
		why = unsafe_reason(&st, reason, sizeof(reason));
	if (why)
		log_err(ctx, "refusing backend %s: its directory %s is %s",
			path, dir == *real ? "/" : *real, why);
	*dir = '/';
	if (!why)
		return 0;
fail:
	free(*real);
	*real = NULL;
	return -EPERM;
}

/* 0 when loaded or refused for good (logged), -ENOMEM, -EMFILE or
 * -ENFILE when it may load at the next try. */
static int load_file(struct dmasplit_ctx *ctx, const char *path,
		     struct dmasplit_backend ***tail)
{
	const struct dmasplit_backend_ops *(*entry)(void);
	struct dmasplit_backend *be;
	char *real;
	int v, r;

	r = check_file(ctx, path, &real);
	if (r < 0)
		return transient(-r) ? r : 0;
	be = calloc(1, sizeof(*be));
	if (!be || !(be->path = strdup(path))) {
		free(be);
		free(real);
		return -ENOMEM;
	}
	be->ctx = ctx;
	/* The checked file, not whatever the link points to by now. */
	be->dl = dl_open(real);
	free(real);
	/* Refused even where the process was out of descriptors or address
	 * space: glibc's dlopen() leaves errno as it was, and says why only
	 * in dlerror()'s text, translated, which for address space ("failed
	 * to map segment from shared object") names no error at all.  The
	 * line quotes that text. */
	if (!be->dl) {
		log_err(ctx, "refusing backend %s: dlopen failed: %s", path,
			dlerror());
		goto fail;
	}
	*(void **)&entry = dlsym(be->dl, DMASPLIT_BACKEND_ENTRY_NAME);
	if (!entry) {
		v = other_abi(be->dl);
		if (v >= 0)
			log_err(ctx, "refusing backend %s: no symbol %s (it exports dmasplit_backend_v%d: built for ABI %d)",
				path, DMASPLIT_BACKEND_ENTRY_NAME, v, v);
		else
			log_err(ctx, "refusing backend %s: no symbol %s",
				path, DMASPLIT_BACKEND_ENTRY_NAME);
		goto fail;
	}
	if (!entry_is_function(*(void **)&entry)) {
		log_err(ctx, "refusing backend %s: %s is not a function",
			path, DMASPLIT_BACKEND_ENTRY_NAME);
		goto fail;
	}
	if (check_ops(ctx, path, entry(), be) < 0)
		goto fail;
	log_dbg(ctx, "loaded backend %s %s (%s) from %s", be->ops.name,
		be->ops.version, be->uuid, path);
	**tail = be;
	*tail = &be->next;
	return 0;
fail:
	if (be->dl)
		dlclose(be->dl);
	free(be->path);
	free(be);
	return 0;
}

/*
 * A plugin on disk with the built-in backend's name or UUID replaces it:
 * it was installed on purpose, most likely as a newer build of the same
 * backend, and the built-in copy is only a fallback for when nothing is
 * installed.  Built-in backends come after the directories so that a
 * plugin is never refused for clashing with one.
 */
/* 0 when loaded, shadowed or refused (logged); -ENOMEM as load_file(). */
static int load_builtin(struct dmasplit_ctx *ctx, builtin_entry_fn entry,
			struct dmasplit_backend ***tail)
{
	const struct dmasplit_backend_ops *ops = entry();
	const struct dmasplit_backend *other;
	struct dmasplit_backend *be;
	char uuid[37];

	for (other = ctx->backends; ops && ops->name && other;
	     other = other->next) {
		if (strcmp(other->ops.name, ops->name) &&
		    !(valid_uuid(ops->uuid, uuid) && !strcmp(other->uuid, uuid)))
			continue;
		log_info(ctx, "built-in backend %s is shadowed by backend %s from %s",
			 ops->name, other->ops.name, other->path);
		return 0;
	}
	be = calloc(1, sizeof(*be));
	if (!be || !(be->path = strdup(BUILTIN_PATH))) {
		free(be);
		return -ENOMEM;
	}
	be->ctx = ctx;
	/* The same checks as for a plugin: the table is built from the
	 * plugin's sources and must pass them the same way. */
	if (check_ops(ctx, BUILTIN_PATH, ops, be) < 0) {
		free(be->path);
		free(be);
		return 0;
	}
	log_dbg(ctx, "loaded backend %s %s (%s), built in", be->ops.name,
		be->ops.version, be->uuid);
	**tail = be;
	*tail = &be->next;
	return 0;
}

static bool plugin_name(const char *name)
{
	size_t n = strlen(name);

	return n > strlen("backend-.so") && !strncmp(name, "backend-", 8) &&
	       !strcmp(name + n - 3, ".so");
}

static int not_dot(const struct dirent *d)
{
	return strcmp(d->d_name, ".") && strcmp(d->d_name, "..");
}

/* 0, or -ENOMEM, -EMFILE or -ENFILE as load_file(). */
static int load_dir(struct dmasplit_ctx *ctx, const char *dir,
		    struct dmasplit_backend ***tail)
{
	struct dirent **names;
	char reason[64], *path;
	const char *why;
	struct stat st;
	int i, n, r = 0;

	/* Only a directory that is not there is no one's mistake: one the
	 * path cannot reach (a loop of links, a file on the way) is a
	 * setup to fix, as one that cannot be listed. */
	if (stat(dir, &st) < 0) {
		if (errno == ENOENT)
			log_dbg(ctx, "backend directory %s: %s", dir,
				strerror(errno));
		else if (transient(errno))
			return -errno;
		else
			log_err(ctx, "cannot read backend directory %s: %s",
				dir, strerror(errno));
		return 0;
	}
	why = unsafe_reason(&st, reason, sizeof(reason));
	if (why) {
		log_err(ctx, "refusing backend directory %s: %s", dir, why);
		return 0;
	}
	n = scandir(dir, &names, not_dot, alphasort);
	if (n < 0 && transient(errno))
		return -errno;
	if (n < 0) {
		log_err(ctx, "cannot read backend directory %s: %s", dir,
			strerror(errno));
		return 0;
	}
	for (i = 0; i < n; i++) {
		const char *name = names[i]->d_name;

		/* A plugin installed as libfoo.so or backend-foo.so.1 would
		 * otherwise vanish without a word. */
		if (r == 0 && !plugin_name(name)) {
			log_dbg(ctx, "backend directory %s: ignoring %s: not named backend-NAME.so",
				dir, name);
		} else if (r == 0) {
			if (asprintf(&path, "%s/%s", dir, name) < 0) {
				r = -ENOMEM;
			} else {
				r = load_file(ctx, path, tail);
				free(path);
			}
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int loader_load(struct dmasplit_ctx *ctx)
{
	struct dmasplit_backend **tail = &ctx->backends;
	char *dirs, *dir, *save = NULL;
	const builtin_entry_fn *entry;
	struct log_queue lines;
	int r = 0;

	/* Two threads opening their first devices must not both load; the
	 * refusals and choices it logs wait for the unlock, so a log
	 * function may call the library. */
	log_queue_begin(&lines);
	pthread_mutex_lock(&ctx->lock);
	if (ctx->loaded)
		goto out;
	dirs = strdup(ctx->backend_path ? ctx->backend_path : BACKENDDIR);
	if (!dirs) {
		r = -ENOMEM;
		goto out;
	}
	for (dir = strtok_r(dirs, ":", &save); dir && r == 0;
	     dir = strtok_r(NULL, ":", &save))
		r = load_dir(ctx, dir, &tail);
	free(dirs);
	for (entry = builtin_backends; !ctx->no_builtin && *entry && r == 0;
	     entry++)
		r = load_builtin(ctx, *entry, &tail);
	/* Out of memory or descriptors is no verdict on a backend: none
	 * stays loaded, and the next call that needs them loads them all
	 * again. */
	if (r < 0) {
		loader_unload(ctx);
		log_err(ctx, "cannot load the backends: %s (loaded again at the next call that needs them)",
			strerror(-r));
		goto out;
	}
	ctx->loaded = true;
out:
	pthread_mutex_unlock(&ctx->lock);
	log_queue_end(ctx, &lines);
	return r;
}

void loader_unload(struct dmasplit_ctx *ctx)
{
	struct dmasplit_backend *be;

	while ((be = ctx->backends)) {
		ctx->backends = be->next;
		if (be->dl)
			dlclose(be->dl);
		free(be->path);
		free(be);
	}
	ctx->loaded = false;
}

struct dmasplit_backend *loader_find(struct dmasplit_ctx *ctx,
				     const char *name_or_uuid)
{
	struct dmasplit_backend *be;

	for (be = ctx->backends; be; be = be->next)
		if (!strcmp(be->ops.name, name_or_uuid) ||
		    !strcasecmp(be->uuid, name_or_uuid))
			return be;
	return NULL;
}

DMASPLIT_EXPORT int dmasplit_ctx_load_backends(struct dmasplit_ctx *ctx)
{
	CANCEL_DEFERRED;

	return ctx ? loader_load(ctx) : -EINVAL;
}

DMASPLIT_EXPORT struct dmasplit_backend *
dmasplit_backend_next(struct dmasplit_ctx *ctx,
		      const struct dmasplit_backend *prev)
{
	CANCEL_DEFERRED;

	if (!ctx || loader_load(ctx) < 0)
		return NULL;
	return prev ? prev->next : ctx->backends;
}

DMASPLIT_EXPORT int dmasplit_backend_find(struct dmasplit_ctx *ctx,
					  const char *name_or_uuid,
					  struct dmasplit_backend **backend)
{
	CANCEL_DEFERRED;
	struct dmasplit_backend *be;
	int r;

	if (!ctx || !name_or_uuid || !backend)
		return -EINVAL;
	r = loader_load(ctx);
	if (r < 0)
		return r;
	be = loader_find(ctx, name_or_uuid);
	if (!be)
		return -ENODEV;
	*backend = be;
	return 0;
}

DMASPLIT_EXPORT const char *dmasplit_backend_get_name(const struct dmasplit_backend *be)
{
	return be ? be->ops.name : NULL;
}

DMASPLIT_EXPORT const char *dmasplit_backend_get_uuid(const struct dmasplit_backend *be)
{
	return be ? be->uuid : NULL;
}

DMASPLIT_EXPORT const char *dmasplit_backend_get_version(const struct dmasplit_backend *be)
{
	return be ? be->ops.version : NULL;
}

DMASPLIT_EXPORT const char *dmasplit_backend_get_path(const struct dmasplit_backend *be)
{
	return be ? be->path : NULL;
}

DMASPLIT_EXPORT const char *dmasplit_backend_get_description(const struct dmasplit_backend *be)
{
	return be ? be->ops.description : NULL;
}
