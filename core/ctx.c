// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The context: log function, configuration, loaded backends, open devices.
 * The environment is read once, here, with secure_getenv(), so a setuid or
 * setgid program cannot be pointed at foreign plugins or sysfs trees.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "private.h"

DMASPLIT_PRINTF(6, 0)
static void log_stderr(void *data, int priority, const char *file, int line,
		       const char *fn, const char *format, va_list args)
{
	char small[1024];
	va_list again;
	int n;

	/* One write where the line fits: stderr is unbuffered, and other
	 * processes may write to the same file. */
	va_copy(again, args);
	n = vsnprintf(small, sizeof(small), format, args);
	if (n >= 0 && (size_t)n < sizeof(small)) {
		fprintf(stderr, "libdmasplit: %s\n", small);
	} else {
		/* Threads log at once: one line, whole, under stderr's
		 * lock. */
		flockfile(stderr);
		fputs("libdmasplit: ", stderr);
		vfprintf(stderr, format, again);
		fputc('\n', stderr);
		funlockfile(stderr);
	}
	va_end(again);
}

static void call_log_fn(struct dmasplit_ctx *ctx, int priority,
			const char *file, int line, const char *fn,
			const char *format, ...)
{
	CANCEL_DEFERRED;
	va_list args;

	/* Deferred: the line may be written with a lock of the library
	 * held, and writing is a cancellation point. */
	va_start(args, format);
	ctx->log_fn(ctx->log_data, priority, file, line, fn, format, args);
	va_end(args);
}

/* Lines this thread holds back while it holds a lock the application
 * could need from its log function (log_queue_begin). */
struct queued_line {
	struct queued_line *next;
	int priority;
	const char *file;	/* __FILE__ and __func__: static */
	int line;
	const char *fn;
	char text[];
};

static __thread struct log_queue *held_lines;

void log_queue_begin(struct log_queue *q)
{
	q->head = NULL;
	q->tail = &q->head;
	q->lost = 0;
	held_lines = q;
}

void log_queue_end(struct dmasplit_ctx *ctx, struct log_queue *q)
{
	struct queued_line *l;

	held_lines = NULL;
	while ((l = q->head)) {
		q->head = l->next;
		call_log_fn(ctx, l->priority, l->file, l->line, l->fn, "%s",
			    l->text);
		free(l);
	}
	if (q->lost)
		call_log_fn(ctx, LOG_ERR, __FILE__, __LINE__, __func__,
			    "%u log lines lost for want of memory", q->lost);
}

static void hold_line(struct log_queue *q, int priority, const char *file,
		      int line, const char *fn, const char *text)
{
	size_t len = strlen(text) + 1;
	struct queued_line *l = malloc(sizeof(*l) + len);

	if (!l) {
		q->lost++;
		return;
	}
	*l = (struct queued_line){ .priority = priority, .file = file,
				   .line = line, .fn = fn };
	memcpy(l->text, text, len);
	*q->tail = l;
	q->tail = &l->next;
}

size_t dmasplit_private_utf8_decode(const unsigned char *s, uint32_t *cp)
{
	size_t n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	*cp = s[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and beyond U+10FFFF. */
	if ((n == 3 && *cp < 0x800) || (n == 4 && *cp < 0x10000) ||
	    (*cp >= 0xd800 && *cp <= 0xdfff) || *cp > 0x10ffff)
		return 0;
	return n;
}

/* The longest line a log function is given, escaped, and its NUL: a
 * path of PATH_MAX bytes fits whole with its message; a longer line (a
 * spec of a megabyte, quoted) is cut and ends with CUT. */
#define LOG_LINE_MAX 8192
#define CUT " [cut]"

/*
 * Messages quote device specs, sysfs contents and plugin strings, none of
 * which the library controls: a control character in them could forge
 * log lines or terminal escapes, so every one leaves as \xNN: C0, DEL
 * and C1 (U+0080 to U+009F), and any byte that is not part of
 * well-formed UTF-8, which a terminal not in UTF-8 may take for C1.
 * Other UTF-8 text, names in other scripts, is kept.  The project's
 * tools give their own error lines the same form (core/private.h).
 */
char *dmasplit_private_escape_line(char *buf, size_t size,
				   const char *format, va_list args)
{
	static const char hex[] = "0123456789abcdef";
	char small[512], *msg = small, *out = buf;
	size_t i, o = 0, room = size, need, end;
	va_list again;
	bool capped;
	int n;

	va_copy(again, args);
	n = vsnprintf(small, sizeof(small), format, args);
	if (n < 0) {
		n = snprintf(small, sizeof(small), "%s",
			     "(a line that could not be formatted)");
	} else if ((size_t)n >= sizeof(small)) {
		/* A long line (paths can be) is formatted again, whole, on
		 * the heap; without memory it goes out cut, not lost. */
		msg = malloc((size_t)n + 1);
		if (msg) {
			vsnprintf(msg, (size_t)n + 1, format, again);
		} else {
			msg = small;
			n = (int)sizeof(small) - 1;
		}
	}
	va_end(again);
	/* Four bytes a byte at most (\xNN), unless that passes the limit
	 * (tested so that no product can wrap a 32-bit size_t). */
	capped = (size_t)n > (LOG_LINE_MAX - 1) / 4;
	need = capped ? LOG_LINE_MAX : (size_t)n * 4 + 1;
	if (need > size) {
		out = malloc(need);
		if (out)
			room = need;
		else
			out = buf;	/* cut to buf */
	}
	/* Where the line may not fit whole, its end keeps room for CUT. */
	end = capped || need > room ? room - (sizeof(CUT) - 1) : room;
	for (i = 0; msg[i] && o + 5 <= end; i++) {
		const unsigned char *at = (const unsigned char *)msg + i;
		unsigned char c = *at;
		uint32_t cp;
		size_t seq;

		if (c >= 0x20 && c < 0x7f) {
			out[o++] = (char)c;
			continue;
		}
		seq = c >= 0x80 ? dmasplit_private_utf8_decode(at, &cp) : 0;
		if (seq && cp >= 0xa0) {	/* past C1 */
			memcpy(out + o, at, seq);
			o += seq;
			i += seq - 1;
			continue;
		}
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 0xf];
	}
	if (msg[i]) {
		memcpy(out + o, CUT, sizeof(CUT) - 1);
		o += sizeof(CUT) - 1;
	}
	out[o] = '\0';
	if (msg != small)
		free(msg);
	return out;
}

/* Every line passes through here, escaped. */
void dmasplit_vlog(struct dmasplit_ctx *ctx, int priority, const char *file,
		   int line, const char *fn, const char *format, va_list args)
{
	char buf[2048], *out;

	if (!ctx->log_fn)
		return;
	out = dmasplit_private_escape_line(buf, sizeof(buf), format, args);
	if (held_lines)
		hold_line(held_lines, priority, file, line, fn, out);
	else
		call_log_fn(ctx, priority, file, line, fn, "%s", out);
	if (out != buf)
		free(out);
}

void dmasplit_log(struct dmasplit_ctx *ctx, int priority, const char *file,
		  int line, const char *fn, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	dmasplit_vlog(ctx, priority, file, line, fn, format, args);
	va_end(args);
}

void log_later_set(struct dmasplit_ctx *ctx, struct log_later *l,
		   int priority, const char *file, int line, const char *fn,
		   const char *format, ...)
{
	va_list args;

	if (dmasplit_ctx_get_log_priority(ctx) < priority)
		return;
	l->due = true;
	l->priority = priority;
	l->file = file;
	l->line = line;
	l->fn = fn;
	va_start(args, format);
	vsnprintf(l->msg, sizeof(l->msg), format, args);
	va_end(args);
}

void log_later_flush(struct dmasplit_ctx *ctx, struct log_later *l)
{
	if (!l->due)
		return;
	l->due = false;
	dmasplit_log(ctx, l->priority, l->file, l->line, l->fn, "%s", l->msg);
}

static int parse_priority(const char *s)
{
	static const struct {
		const char *name;
		int priority;
	} names[] = {
		{ "err", LOG_ERR }, { "error", LOG_ERR },
		{ "info", LOG_INFO }, { "debug", LOG_DEBUG },
	};
	unsigned int v = 0;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(s, names[i].name))
			return names[i].priority;
	/* Digits and nothing else: strtol() would also take blanks and a
	 * sign. */
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned int)(*s - '0');
		if (v > LOG_DEBUG)
			return -EINVAL;
	}
	return (int)v;
}

static int parse_bool(const char *s)
{
	if (!strcmp(s, "1") || !strcasecmp(s, "on") || !strcasecmp(s, "yes") ||
	    !strcasecmp(s, "true"))
		return 1;
	if (!strcmp(s, "0") || !strcasecmp(s, "off") || !strcasecmp(s, "no") ||
	    !strcasecmp(s, "false"))
		return 0;
	return -EINVAL;
}

static _must_check_ int set_string(char **field, const char *value)
{
	char *copy = NULL;

	if (value) {
		copy = strdup(value);
		if (!copy)
			return -ENOMEM;
	}
	free(*field);
	*field = copy;
	return 0;
}

/* Bad values are reported and ignored: a typo in the environment must not
 * stop a program that works without the variable. */
static void read_environment(struct dmasplit_ctx *ctx)
{
	const char *v;
	int r;

	v = secure_getenv("DMASPLIT_LOG");
	if (v) {
		r = parse_priority(v);
		if (r < 0)
			log_err(ctx, "ignoring DMASPLIT_LOG='%s': expected err (or error), info, debug or 0-7",
				v);
		else
			ctx->log_priority = r;
	}
	v = secure_getenv("DMASPLIT_CHECK");
	if (v) {
		r = parse_bool(v);
		if (r < 0)
			log_err(ctx, "ignoring DMASPLIT_CHECK='%s': expected 1/on/yes/true or 0/off/no/false",
				v);
		else
			ctx->check = r;
	}
	v = secure_getenv("DMASPLIT_BUILTIN_BACKENDS");
	if (v && *v) {
		r = parse_bool(v);
		if (r < 0)
			log_err(ctx, "ignoring DMASPLIT_BUILTIN_BACKENDS='%s': expected 1/on/yes/true or 0/off/no/false",
				v);
		else
			ctx->no_builtin = !r;
	}
	v = secure_getenv("DMASPLIT_BACKEND");
	if (v && *v && set_string(&ctx->forced_backend, v) < 0)
		log_err(ctx, "ignoring DMASPLIT_BACKEND: out of memory");
	v = secure_getenv("DMASPLIT_BACKEND_PATH");
	if (v && *v && set_string(&ctx->backend_path, v) < 0)
		log_err(ctx, "ignoring DMASPLIT_BACKEND_PATH: out of memory");
	v = secure_getenv("DMASPLIT_SYSFS_ROOT");
	if (v && *v && set_string(&ctx->sysfs_root, v) < 0)
		log_err(ctx, "ignoring DMASPLIT_SYSFS_ROOT: out of memory");
}

DMASPLIT_EXPORT int dmasplit_ctx_new(struct dmasplit_ctx **out)
{
	struct dmasplit_ctx *ctx;

	if (!out)
		return -EINVAL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->refcount = 1;
	ctx->log_fn = log_stderr;
	ctx->log_priority = LOG_ERR;
	pthread_mutex_init(&ctx->lock, NULL);
	host_init(&ctx->host);
	pin_init(&ctx->pins);
	peer_init(&ctx->peers);
	read_environment(ctx);
	if (!ctx->sysfs_root && set_string(&ctx->sysfs_root, "/sys") < 0) {
		dmasplit_ctx_unref(ctx);
		return -ENOMEM;
	}
	log_dbg(ctx, "context %p created", (void *)ctx);
	*out = ctx;
	return 0;
}

DMASPLIT_EXPORT struct dmasplit_ctx *dmasplit_ctx_ref(struct dmasplit_ctx *ctx)
{
	if (ctx)
		__atomic_add_fetch(&ctx->refcount, 1, __ATOMIC_RELAXED);
	return ctx;
}

/*
 * Each open device holds a reference: with devices still open, the
 * caller's reference goes and the context stays for them, so that a
 * device is never closed behind its owner's back.
 */
DMASPLIT_EXPORT struct dmasplit_ctx *dmasplit_ctx_unref(struct dmasplit_ctx *ctx)
{
	CANCEL_DEFERRED;
	struct dmasplit_dev *dev;
	unsigned int devs = 0, held = 0;
	int left;

	if (!ctx)
		return NULL;
	/* Said before dropping the reference: after it, a device closed by
	 * another thread may free the context. */
	if (dmasplit_ctx_get_log_priority(ctx) >= LOG_INFO) {
		pthread_mutex_lock(&ctx->lock);
		for (dev = ctx->devs; dev; dev = dev->next) {
			devs++;
			/* Closed, but kept by its windows, batches or
			 * regions. */
			held += __atomic_load_n(&dev->closed, __ATOMIC_RELAXED);
		}
		pthread_mutex_unlock(&ctx->lock);
		left = __atomic_load_n(&ctx->refcount, __ATOMIC_RELAXED) - 1;
		if (devs && left > 0 && (unsigned int)left <= devs)
			log_info(ctx, "context %p stays for %u open devices and %u closed ones still held by windows, batches or regions: it goes when the last is released",
				 (void *)ctx, devs - held, held);
	}
	ctx_put(ctx);
	return NULL;
}

/* A device's reference: no line, the application was told. */
void ctx_put(struct dmasplit_ctx *ctx)
{
	uint64_t findings;

	if (__atomic_sub_fetch(&ctx->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	findings = __atomic_load_n(&ctx->check_findings, __ATOMIC_RELAXED);
	if (findings)
		log_err(ctx, CHECK_PREFIX "%" PRIu64 " finding%s in this context, reported above but for those made with DMASPLIT_ATTR_NO_WARN",
			findings, findings == 1 ? "" : "s");
	check_ctx_release(ctx);
	loader_unload(ctx);
	pin_fini(&ctx->pins);
	peer_fini(&ctx->peers);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx->backend_path);
	free(ctx->forced_backend);
	free(ctx->sysfs_root);
	free(ctx);
}

DMASPLIT_EXPORT void dmasplit_ctx_set_log_fn(struct dmasplit_ctx *ctx,
					     dmasplit_log_fn fn, void *data)
{
	if (!ctx)
		return;
	ctx->log_fn = fn;
	ctx->log_data = data;
}

DMASPLIT_EXPORT int dmasplit_ctx_get_log_priority(const struct dmasplit_ctx *ctx)
{
	return ctx ? ctx->log_priority : -EINVAL;
}

DMASPLIT_EXPORT void dmasplit_ctx_set_log_priority(struct dmasplit_ctx *ctx,
						   int priority)
{
	if (!ctx)
		return;
	if (priority < 0)
		priority = 0;
	if (priority > LOG_DEBUG)
		priority = LOG_DEBUG;
	ctx->log_priority = priority;
}

DMASPLIT_EXPORT void dmasplit_ctx_set_userdata(struct dmasplit_ctx *ctx,
					       void *data)
{
	if (ctx)
		ctx->userdata = data;
}

DMASPLIT_EXPORT void *dmasplit_ctx_get_userdata(const struct dmasplit_ctx *ctx)
{
	return ctx ? ctx->userdata : NULL;
}

DMASPLIT_EXPORT int dmasplit_ctx_set_backend_path(struct dmasplit_ctx *ctx,
						  const char *path)
{
	if (!ctx)
		return -EINVAL;
	if (ctx->loaded) {
		log_err(ctx, "cannot change the backend path: backends already loaded");
		return -EBUSY;
	}
	return set_string(&ctx->backend_path, path && *path ? path : NULL);
}

DMASPLIT_EXPORT int dmasplit_ctx_set_builtin_backends(struct dmasplit_ctx *ctx,
						      int enable)
{
	if (!ctx)
		return -EINVAL;
	if (ctx->loaded) {
		log_err(ctx, "cannot change the built-in backends: backends already loaded");
		return -EBUSY;
	}
	ctx->no_builtin = !enable;
	return 0;
}

DMASPLIT_EXPORT int dmasplit_ctx_set_backend(struct dmasplit_ctx *ctx,
					     const char *name_or_uuid)
{
	if (!ctx)
		return -EINVAL;
	return set_string(&ctx->forced_backend,
			  name_or_uuid && *name_or_uuid ? name_or_uuid : NULL);
}

DMASPLIT_EXPORT void dmasplit_ctx_set_check(struct dmasplit_ctx *ctx,
					    int enable)
{
	if (ctx)
		ctx->check = enable != 0;
}

DMASPLIT_EXPORT int dmasplit_ctx_get_check(const struct dmasplit_ctx *ctx)
{
	return ctx ? ctx->check : -EINVAL;
}

DMASPLIT_EXPORT uint64_t dmasplit_ctx_get_check_findings(const struct dmasplit_ctx *ctx)
{
	return ctx ? __atomic_load_n(&ctx->check_findings, __ATOMIC_RELAXED) : 0;
}

DMASPLIT_EXPORT const char *dmasplit_version(void)
{
	return PACKAGE_VERSION;
}

DMASPLIT_EXPORT int dmasplit_ctx_set_sysfs_root(struct dmasplit_ctx *ctx,
						const char *root)
{
	if (!ctx)
		return -EINVAL;
	return set_string(&ctx->sysfs_root, root && *root ? root : "/sys");
}

DMASPLIT_EXPORT const char *dmasplit_ctx_get_sysfs_root(const struct dmasplit_ctx *ctx)
{
	return ctx ? ctx->sysfs_root : NULL;
}

struct dmasplit_ctx *ctx_from_host(const struct dmasplit_host *host)
{
	return container_of(host, struct dmasplit_ctx, host);
}
