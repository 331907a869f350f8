// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit - show which backends libdmasplit loads and what it makes of a
 * device: the description, every backend's probe, the choice, and the
 * device as the chosen backend opens it.  The demo (demo.c) and the
 * benchmark (bench.c) live in their own files.
 *
 * Only the public API is used, so what this prints is exactly what any
 * application linked against the library would get; the benchmark alone
 * also calls one backend operation directly, to price the dispatch.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <dmasplit/dmasplit.h>

#include "tool.h"

/* The options a command takes besides the global ones. */
enum {
	TAKES_JSON = 1u << 0,
	TAKES_QUICK = 1u << 1,
	TAKES_PEER = 1u << 2
};

struct command {
	const char *name;
	const char *args;
	const char *summary;
	const char *help;
	int min_args;
	int max_args;
	unsigned int takes;
	int (*run)(struct dmasplit_ctx *ctx, const struct options *opts,
		   char **args);
};

enum { OPT_JSON = 0x100, OPT_QUICK, OPT_PEER };

static const struct option long_options[] = {
	{ "backend", required_argument, NULL, 'b' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quick", no_argument, NULL, OPT_QUICK },
	{ "peer", required_argument, NULL, OPT_PEER },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

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

static int usage_error(const char *fmt, ...) PRINTF_LIKE(1, 2);
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry '" PROG " --help' for more information.\n", stderr);
	return EXIT_USAGE;
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

static void put_padded(const char *s, int width)
{
	int n = (int)strlen(s);

	put_safe(s);
	printf("%*s", width > n ? width - n : 0, "");
}

#define LABEL_WIDTH 17

static void field(const char *label, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void field(const char *label, const char *fmt, ...)
{
	va_list ap;

	printf("%-*s", LABEL_WIDTH, label);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void field_str(const char *label, const char *value)
{
	printf("%-*s", LABEL_WIDTH, label);
	put_safe(value && *value ? value : "-");
	putchar('\n');
}

/* ------------------------------------------------------------------ */
/* JSON output                                                         */

/* Well-formed UTF-8 sequence at s: its code point and length, else 0. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
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
		n = utf8_decode(p, &cp);
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

/* Absent sysfs attributes are empty strings in the description. */
static void json_str_or_null(struct json *j, const char *key,
			     const char *value)
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

/* Addresses can exceed 2^53, which many JSON readers cannot hold exactly. */
static void json_hex(struct json *j, const char *key, uint64_t value)
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

/* ------------------------------------------------------------------ */
/* Backend search path                                                 */

/* Mirrors the library's choice, which it does not expose: the variable
 * replaces the built-in directory. */
static const char *backend_path(bool *from_env)
{
	const char *env = secure_getenv("DMASPLIT_BACKEND_PATH");

	*from_env = env && *env;
	return *from_env ? env : BACKENDDIR;
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

/* ------------------------------------------------------------------ */
/* list                                                                */

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

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

static int cmd_list(struct dmasplit_ctx *ctx, const struct options *opts,
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

/* ------------------------------------------------------------------ */
/* info: gathering                                                     */

struct probe_result {
	struct dmasplit_backend *backend;
	int err;		/* 0, or the probe's negative errno */
	int score;
};

enum info_stage {
	STAGE_DESCRIBE,
	STAGE_SELECT,
	STAGE_OPEN,
	STAGE_GET_INFO,
	STAGE_DONE
};

static const char *const stage_names[] = {
	[STAGE_DESCRIBE] = "describe",
	[STAGE_SELECT] = "select",
	[STAGE_OPEN] = "open",
	[STAGE_GET_INFO] = "get_info",
};

struct report {
	const char *spec;
	const char *forced;	/* backend name or UUID, or NULL */
	const char *forced_by;	/* "--backend" or "DMASPLIT_BACKEND" */
	enum info_stage stage;	/* the one that failed, or STAGE_DONE */
	int err;
	struct dmasplit_desc desc;
	struct probe_result *probes;
	size_t nprobes;
	struct dmasplit_backend *selected;
	struct dmasplit_dev *dev;
	struct dmasplit_dev_info info;
	/* info --peer: how the peer reaches this device's memory. */
	const char *peer;
	int peer_dist;		/* distance, or the negative errno */
	enum dmasplit_p2p_map peer_map;
};

static int probe_all(struct dmasplit_ctx *ctx, struct report *rep)
{
	struct dmasplit_backend *be;
	struct probe_result *p;
	size_t n = 0;

	for (be = NULL; (be = dmasplit_backend_next(ctx, be));)
		n++;
	rep->probes = calloc(n ? n : 1, sizeof(*rep->probes));
	if (!rep->probes)
		return -ENOMEM;
	for (be = NULL; (be = dmasplit_backend_next(ctx, be));) {
		p = &rep->probes[rep->nprobes++];
		p->backend = be;
		p->err = dmasplit_backend_probe(be, &rep->desc, &p->score);
	}
	return 0;
}

static const struct probe_result *probe_of(const struct report *rep,
					   const struct dmasplit_backend *be)
{
	size_t i;

	for (i = 0; i < rep->nprobes; i++)
		if (rep->probes[i].backend == be)
			return &rep->probes[i];
	return NULL;
}

static void find_forced(const struct options *opts, struct report *rep)
{
	const char *env = secure_getenv("DMASPLIT_BACKEND");

	if (opts->backend) {
		rep->forced = opts->backend;
		rep->forced_by = "--backend";
	} else if (env && *env) {
		rep->forced = env;
		rep->forced_by = "DMASPLIT_BACKEND";
	}
}

/* Each step runs only if the one before it worked; the report keeps
 * where it stopped, so that everything learnt so far is still shown. */
static void gather(struct dmasplit_ctx *ctx, struct report *rep)
{
	int r;

	rep->stage = STAGE_DESCRIBE;
	rep->desc.size = sizeof(rep->desc);
	r = dmasplit_describe(ctx, rep->spec, &rep->desc);
	if (r < 0)
		goto out;
	r = probe_all(ctx, rep);
	if (r < 0)
		goto out;

	rep->stage = STAGE_SELECT;
	r = dmasplit_select(ctx, &rep->desc, &rep->selected);
	if (r < 0)
		goto out;

	/* Opened the way applications open it, selection included, rather
	 * than with the backend found above. */
	rep->stage = STAGE_OPEN;
	r = dmasplit_dev_open(ctx, rep->spec, &rep->dev);
	if (r < 0)
		goto out;

	rep->stage = STAGE_GET_INFO;
	rep->info.size = sizeof(rep->info);
	r = dmasplit_dev_get_info(rep->dev, &rep->info);
	if (r < 0)
		goto out;
	rep->stage = STAGE_DONE;
out:
	rep->err = r;
}

/* ------------------------------------------------------------------ */
/* info: text                                                          */

static const char *bus_name(enum dmasplit_bus bus)
{
	switch (bus) {
	case DMASPLIT_BUS_SIM:
		return "sim";
	case DMASPLIT_BUS_PCI:
		return "pci";
	}
	return "unknown";
}

static const char *vfio_iface_name(enum dmasplit_vfio_iface iface)
{
	switch (iface) {
	case DMASPLIT_VFIO_AUTO:
		return "auto";
	case DMASPLIT_VFIO_IOMMUFD:
		return "iommufd";
	case DMASPLIT_VFIO_TYPE1:
		return "type1";
	}
	return "unknown";
}

static const char *const dev_flag_names[] = {
	"windows", "translated", "coherent", "bounce", "untrusted", "dma-rw",
	"has-fd", "lazy-unlink",
};

/* What an unlink leaves reachable, for devices with windows. */
static const char *unlink_mode(uint32_t flags)
{
	if (!(flags & DMASPLIT_DEV_WINDOWS))
		return NULL;
	return flags & DMASPLIT_DEV_LAZY_UNLINK ? "lazy" : "strict";
}

/* From the kernel's include/linux/ioport.h, which is not a UAPI header;
 * sysfs "resource" shows these bits. */
#define IORESOURCE_IO		0x00000100
#define IORESOURCE_MEM		0x00000200
#define IORESOURCE_PREFETCH	0x00002000
#define IORESOURCE_MEM_64	0x00100000

static bool resource_used(const struct dmasplit_pci_resource *res)
{
	return res->flags || res->end;
}

static const char *resource_name(unsigned int i)
{
	static const char *const names[] = {
		"BAR0", "BAR1", "BAR2", "BAR3", "BAR4", "BAR5", "ROM",
	};

	return i < ARRAY_SIZE(names) ? names[i] : "?";
}

static void print_resource(const char *label, unsigned int i,
			   const struct dmasplit_pci_resource *res)
{
	printf("%-*s%-5s 0x%016" PRIx64 "-0x%016" PRIx64 " %s%s%s",
	       LABEL_WIDTH, label, resource_name(i), res->start, res->end,
	       res->flags & IORESOURCE_IO ? "io" :
	       res->flags & IORESOURCE_MEM ? "mem" : "-",
	       res->flags & IORESOURCE_MEM_64 ? " 64-bit" : "",
	       res->flags & IORESOURCE_PREFETCH ? " prefetchable" : "");
	printf(" (flags 0x%" PRIx64 ")\n", res->flags);
}

static void text_pci_iommu(const struct dmasplit_desc *d)
{
	if (d->iommu_group < 0)
		field("IOMMU group:", "none");
	else
		field("IOMMU group:", "%d (%s%s%s)", d->iommu_group,
		      or_dash(d->iommu_group_type),
		      d->iommu_group_name[0] ? ", " : "", d->iommu_group_name);
	field_str("vfio-dev:", d->vfio_dev);
	if (d->spec_vfio != DMASPLIT_VFIO_AUTO)
		field("kernel iface:", "%s (from spec)",
		      vfio_iface_name(d->spec_vfio));
}

static void text_pci_p2pmem(const struct dmasplit_desc *d)
{
	if (!d->has_p2pmem) {
		field("p2pmem:", "none");
		return;
	}
	field("p2pmem:", "size %" PRIu64 ", available %" PRIu64 ", %s",
	      d->p2pmem_size, d->p2pmem_available,
	      d->p2pmem_published ? "published" : "not published");
}

static void text_pci_resources(const struct dmasplit_desc *d)
{
	const char *label = "resources:";
	unsigned int i;

	for (i = 0; i < d->num_resources && i < DMASPLIT_PCI_NUM_RESOURCES;
	     i++) {
		if (!resource_used(&d->resource[i]))
			continue;
		print_resource(label, i, &d->resource[i]);
		label = "";
	}
	if (*label)
		field("resources:", "none");
}

static void text_pci(const struct dmasplit_desc *d)
{
	field("vendor:device:", "%04x:%04x", d->vendor, d->device);
	field("class:", "0x%06" PRIx32, d->pci_class);
	field_str("driver:", d->driver);
	text_pci_iommu(d);
	if (d->dma_mask_bits)
		field("DMA mask:", "%u bits%s", d->dma_mask_bits,
		      d->spec_mask_bits ? " (from spec)" : "");
	else
		field("DMA mask:", "unknown");
	if (d->numa_node < 0)
		field("NUMA node:", "unknown");
	else
		field("NUMA node:", "%d", d->numa_node);
	text_pci_p2pmem(d);
	text_pci_resources(d);
}

static void text_desc(const struct report *rep)
{
	const struct dmasplit_desc *d = &rep->desc;

	field_str("spec:", rep->spec);
	field("bus:", "%s", bus_name(d->bus));
	field_str("name:", d->name);
	field_str("options:", d->options);
	if (d->bus == DMASPLIT_BUS_PCI)
		text_pci(d);
}

static void text_probes(const struct report *rep)
{
	const struct probe_result *p;
	size_t i;

	putchar('\n');
	if (!rep->nprobes) {
		bool from_env;

		field("probes:", "no backends found in %s",
		      backend_path(&from_env));
		return;
	}
	puts("probes:");
	for (i = 0; i < rep->nprobes; i++) {
		p = &rep->probes[i];
		fputs("  ", stdout);
		put_padded(dmasplit_backend_get_name(p->backend),
			   LABEL_WIDTH - 2);
		if (!p->err)
			printf("score %d\n", p->score);
		else
			printf("%s: %s (%s)\n",
			       p->err == -ENODEV ? "declined" : "failed",
			       errno_name(p->err), strerror(-p->err));
	}
}

static void text_selected(const struct report *rep)
{
	const struct probe_result *p;

	if (!rep->selected) {
		field("selected:", "none");
		return;
	}
	printf("%-*s", LABEL_WIDTH, "selected:");
	put_safe(dmasplit_backend_get_name(rep->selected));
	p = probe_of(rep, rep->selected);
	if (rep->forced)
		printf(" (forced by %s)\n", rep->forced_by);
	else if (p && !p->err)
		printf(" (highest score, %d)\n", p->score);
	else
		putchar('\n');
}

void put_dev_flags(uint32_t flags)
{
	unsigned int i;

	if (!flags)
		putchar('-');
	for (i = 0; i < ARRAY_SIZE(dev_flag_names); i++) {
		if (!(flags & (1u << i)))
			continue;
		flags &= ~(1u << i);
		printf("%s%s", dev_flag_names[i], flags ? " " : "");
	}
	if (flags)
		printf("0x%" PRIx32, flags);
}

static void text_flags(uint32_t flags)
{
	printf("%-*s", LABEL_WIDTH, "flags:");
	put_dev_flags(flags);
	putchar('\n');
}

static void text_dev_info(const struct dmasplit_dev_info *info)
{
	const char *label = "ranges:";
	unsigned int i;

	putchar('\n');
	field_str("opened with:", info->backend);
	field_str("UUID:", info->backend_uuid);
	text_flags(info->flags);
	if (unlink_mode(info->flags))
		field_str("unlink:", unlink_mode(info->flags));
	if (info->interface[0])
		field_str("interface:", info->interface);
	if (info->address_space[0])
		field_str("address space:", info->address_space);
	field("DMA mask:", "%u bits", info->dma_mask_bits);
	field("granule:", "%" PRIu64 " bytes", info->granule);
	for (i = 0; i < info->num_ranges && i < DMASPLIT_MAX_RANGES; i++) {
		field(label, "0x%" PRIx64 "-0x%" PRIx64, info->ranges[i].start,
		      info->ranges[i].last);
		label = "";
	}
	if (*label)
		field(label, "none");
}

static const char *p2p_map_name(enum dmasplit_p2p_map map)
{
	switch (map) {
	case DMASPLIT_P2P_BUS_ADDR:
		return "bus-address";
	case DMASPLIT_P2P_THRU_HOST_BRIDGE:
		return "through-host-bridge";
	default:
		return "not-supported";
	}
}

/* A refusal is an answer: only other errors leave the map unknown. */
static bool peer_answered(const struct report *rep)
{
	return rep->peer_dist >= 0 || rep->peer_dist == -EREMOTEIO;
}

static void text_peer(const struct report *rep)
{
	putchar('\n');
	field_str("peer client:", rep->peer);
	if (!peer_answered(rep)) {
		field("peer map:", "unknown (%s)", errno_name(rep->peer_dist));
		return;
	}
	field_str("peer map:", p2p_map_name(rep->peer_map));
	if (rep->peer_dist >= 0)
		field("peer distance:", "%d", rep->peer_dist);
}

static void info_text(const struct report *rep)
{
	if (rep->stage != STAGE_DESCRIBE) {
		text_desc(rep);
		text_probes(rep);
		text_selected(rep);
		if (rep->stage == STAGE_DONE)
			text_dev_info(&rep->info);
	}
	if (rep->peer)
		text_peer(rep);
}

/* ------------------------------------------------------------------ */
/* info: JSON                                                          */

static void json_pci_resources(struct json *j, const struct dmasplit_desc *d)
{
	const struct dmasplit_pci_resource *res;
	unsigned int i;

	json_open(j, "resources", '[');
	for (i = 0; i < d->num_resources && i < DMASPLIT_PCI_NUM_RESOURCES;
	     i++) {
		res = &d->resource[i];
		if (!resource_used(res))
			continue;
		json_open(j, NULL, '{');
		json_str(j, "name", resource_name(i));
		json_hex(j, "start", res->start);
		json_hex(j, "end", res->end);
		json_hex(j, "flags", res->flags);
		json_close(j, '}');
	}
	json_close(j, ']');
}

static void json_pci_p2pmem(struct json *j, const struct dmasplit_desc *d)
{
	if (!d->has_p2pmem) {
		json_null(j, "p2pmem");
		return;
	}
	json_open(j, "p2pmem", '{');
	json_u64(j, "size", d->p2pmem_size);
	json_u64(j, "available", d->p2pmem_available);
	json_bool(j, "published", d->p2pmem_published);
	json_close(j, '}');
}

static void json_pci(struct json *j, const struct dmasplit_desc *d)
{
	char id[16];

	snprintf(id, sizeof(id), "%04x:%04x", d->vendor, d->device);
	json_str(j, "id", id);
	json_hex(j, "vendor", d->vendor);
	json_hex(j, "device", d->device);
	json_hex(j, "class", d->pci_class);
	json_str_or_null(j, "driver", d->driver);
	if (d->iommu_group < 0)
		json_null(j, "iommu_group");
	else
		json_int(j, "iommu_group", d->iommu_group);
	json_str_or_null(j, "iommu_group_type", d->iommu_group_type);
	json_str_or_null(j, "iommu_group_name", d->iommu_group_name);
	json_str_or_null(j, "vfio_dev", d->vfio_dev);
	json_str(j, "spec_vfio", vfio_iface_name(d->spec_vfio));
	json_int(j, "spec_mask_bits", d->spec_mask_bits);
	json_int(j, "dma_mask_bits", d->dma_mask_bits);
	if (d->numa_node < 0)
		json_null(j, "numa_node");
	else
		json_int(j, "numa_node", d->numa_node);
	json_pci_p2pmem(j, d);
	json_pci_resources(j, d);
}

static void json_desc(struct json *j, const struct dmasplit_desc *d)
{
	json_open(j, "device", '{');
	json_str(j, "bus", bus_name(d->bus));
	json_str(j, "name", d->name);
	json_str(j, "options", d->options);
	if (d->bus == DMASPLIT_BUS_PCI)
		json_pci(j, d);
	json_close(j, '}');
}

static void json_probes(struct json *j, const struct report *rep)
{
	const struct probe_result *p;
	size_t i;

	json_open(j, "probes", '[');
	for (i = 0; i < rep->nprobes; i++) {
		p = &rep->probes[i];
		json_open(j, NULL, '{');
		json_str(j, "backend", dmasplit_backend_get_name(p->backend));
		json_str(j, "uuid", dmasplit_backend_get_uuid(p->backend));
		if (p->err) {
			json_null(j, "score");
			json_errno(j, "error", p->err);
		} else {
			json_int(j, "score", p->score);
		}
		json_close(j, '}');
	}
	json_close(j, ']');
}

static void json_selected(struct json *j, const struct report *rep)
{
	const struct probe_result *p = probe_of(rep, rep->selected);

	if (!rep->selected) {
		json_null(j, "selected");
		return;
	}
	json_open(j, "selected", '{');
	json_str(j, "backend", dmasplit_backend_get_name(rep->selected));
	json_str(j, "uuid", dmasplit_backend_get_uuid(rep->selected));
	if (p && !p->err)
		json_int(j, "score", p->score);
	else
		json_null(j, "score");
	json_str(j, "forced_by", rep->forced_by);
	json_close(j, '}');
}

static void json_dev_flags(struct json *j, uint32_t flags)
{
	unsigned int i;

	json_hex(j, "flags", flags);
	json_open(j, "flag_names", '[');
	for (i = 0; i < ARRAY_SIZE(dev_flag_names); i++)
		if (flags & (1u << i))
			json_str(j, NULL, dev_flag_names[i]);
	json_close(j, ']');
}

static void json_dev_info(struct json *j, const struct dmasplit_dev_info *info)
{
	unsigned int i;

	json_open(j, "opened", '{');
	json_str(j, "backend", info->backend);
	json_str(j, "uuid", info->backend_uuid);
	json_dev_flags(j, info->flags);
	json_str(j, "unlink", unlink_mode(info->flags));
	json_str(j, "interface", info->interface[0] ? info->interface : NULL);
	json_str(j, "address_space",
		 info->address_space[0] ? info->address_space : NULL);
	json_int(j, "dma_mask_bits", info->dma_mask_bits);
	json_u64(j, "granule", info->granule);
	json_open(j, "ranges", '[');
	for (i = 0; i < info->num_ranges && i < DMASPLIT_MAX_RANGES; i++) {
		json_open(j, NULL, '{');
		json_hex(j, "start", info->ranges[i].start);
		json_hex(j, "last", info->ranges[i].last);
		json_close(j, '}');
	}
	json_close(j, ']');
	json_close(j, '}');
}

static void json_failure(struct json *j, const struct report *rep)
{
	json_open(j, "error", '{');
	json_str(j, "stage", stage_names[rep->stage]);
	json_int(j, "errno", -rep->err);
	json_str(j, "name", errno_name(rep->err));
	json_str(j, "message", strerror(-rep->err));
	json_close(j, '}');
}

/* One object whatever happened, so that a caller always has something to
 * parse; what was not reached is null. */
static void info_json(const struct report *rep)
{
	struct json j = { 0 };

	json_open(&j, NULL, '{');
	json_str(&j, "spec", rep->spec);
	if (rep->stage > STAGE_DESCRIBE) {
		json_desc(&j, &rep->desc);
		json_probes(&j, rep);
	} else {
		json_null(&j, "device");
		json_null(&j, "probes");
	}
	json_selected(&j, rep);
	if (rep->stage == STAGE_DONE)
		json_dev_info(&j, &rep->info);
	else
		json_null(&j, "opened");
	if (rep->stage != STAGE_DONE)
		json_failure(&j, rep);
	if (rep->peer) {
		json_open(&j, "peer", '{');
		json_str(&j, "client", rep->peer);
		json_str(&j, "map", peer_answered(rep) ?
			 p2p_map_name(rep->peer_map) : NULL);
		if (rep->peer_dist >= 0)
			json_int(&j, "distance", rep->peer_dist);
		else
			json_null(&j, "distance");
		json_str(&j, "error", rep->peer_dist < 0 ?
			 errno_name(rep->peer_dist) : NULL);
		json_close(&j, '}');
	}
	json_close(&j, '}');
}

/* ------------------------------------------------------------------ */
/* info                                                                */

static void info_fail_message(const struct report *rep)
{
	const char *spec = rep->spec;
	const char *why = strerror(-rep->err);

	switch (rep->stage) {
	case STAGE_SELECT:
		if (rep->err == -ENODEV && rep->forced)
			fprintf(stderr, PROG ": %s: backend '%s' (forced by %s) is not loaded\n",
				spec, rep->forced, rep->forced_by);
		else if (rep->err == -ENODEV)
			fprintf(stderr, PROG ": %s: no backend accepts this device\n",
				spec);
		else
			fprintf(stderr, PROG ": %s: selecting a backend: %s\n",
				spec, why);
		break;
	case STAGE_OPEN:
		fprintf(stderr, PROG ": %s: cannot open with backend %s: %s\n",
			spec, dmasplit_backend_get_name(rep->selected), why);
		break;
	case STAGE_GET_INFO:
		fprintf(stderr, PROG ": %s: reading device information: %s\n",
			spec, why);
		break;
	default:
		fprintf(stderr, PROG ": %s: %s\n", spec, why);
		break;
	}
}

static int cmd_info(struct dmasplit_ctx *ctx, const struct options *opts,
		    char **args)
{
	struct report rep = { .spec = args[0], .peer = opts->peer };

	find_forced(opts, &rep);
	gather(ctx, &rep);
	if (rep.peer)
		rep.peer_dist = dmasplit_p2p_distance(ctx, rep.spec, rep.peer,
						      &rep.peer_map);
	if (opts->json)
		info_json(&rep);
	else
		info_text(&rep);
	/* The report names the backend through the device: print first. */
	dmasplit_dev_close(rep.dev);
	free(rep.probes);
	if (rep.stage == STAGE_DONE && (!rep.peer || peer_answered(&rep)))
		return EXIT_SUCCESS;
	/* After stdout, so that the error is the last thing on a terminal. */
	fflush(stdout);
	if (rep.stage != STAGE_DONE)
		info_fail_message(&rep);
	if (rep.peer && !peer_answered(&rep))
		fprintf(stderr, PROG ": %s --peer %s: %s\n", rep.spec, rep.peer,
			strerror(-rep.peer_dist));
	return EXIT_FAILURE;
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */

static int cmd_help(struct dmasplit_ctx *ctx, const struct options *opts,
		    char **args);

static const struct command commands[] = {
	{
		.name = "list",
		.args = "",
		.summary = "show the backends that load, and from where",
		.help = "Show every backend that loads: name, UUID, version, file and\n"
			"description.  Plugins that are refused are logged on stderr.\n",
		.min_args = 0,
		.max_args = 0,
		.takes = TAKES_JSON,
		.run = cmd_list,
	},
	{
		.name = "info",
		.args = " SPEC",
		.summary = "describe a device, probe every backend, open it",
		.help = "Describe the device SPEC, show every backend's probe result and\n"
			"the one chosen, then open the device and show what the backend\n"
			"reports: flags, DMA mask, granule and device-address ranges.\n"
			"Exits 1 if the device cannot be described, selected or opened.\n"
			"\n"
			"With --peer CLIENT: also how the PCI device CLIENT reaches the peer\n"
			"memory of SPEC, as the kernel decides it (bus-address,\n"
			"through-host-bridge or not-supported, with the reason logged), and\n"
			"the distance; exits 1 if the verdict cannot be reached.\n"
			"\n"
			"SPEC is sim:NAME[,key=value...] for a simulated device, or a\n"
			"PCI address [pci:][DDDD:]BB:DD.F[,mask=BITS][,vfio=iommufd|type1].\n",
		.min_args = 1,
		.max_args = 1,
		.takes = TAKES_JSON | TAKES_PEER,
		.run = cmd_info,
	},
	{
		.name = "demo",
		.args = " [SPEC]",
		.summary = "walk through the two-step API and its fallback",
		.help = "Walk through the two-step API on a simulated device, each step\n"
			"proven by what the device itself reads or writes: reserve a window,\n"
			"link a buffer (the device faults until the sync), sync, let the\n"
			"device read and write, unlink (it faults again).  Then the fallback\n"
			"on a device without an IOMMU: no window (-EOPNOTSUPP), a per-range\n"
			"mapping through the bounce pool, visible to the host only after\n"
			"dmasplit_sync_for_cpu.  Exits 1, naming the step, if any check fails.\n"
			"\n"
			"SPEC is the simulated device of the two-step part (default sim:demo);\n"
			"it needs windows and device-side access.\n",
		.min_args = 0,
		.max_args = 1,
		.takes = 0,
		.run = cmd_demo,
	},
	{
		.name = "bench",
		.args = " [SPEC]",
		.summary = "measure the split path, bounce copies, dispatch",
		.help = "Measure the performance model on the device SPEC (default sim:bench,\n"
			"a simulated device behind an IOMMU), with the checker off.  Each\n"
			"figure is a ratio of two things timed side by side in alternating\n"
			"samples, medians taken, shown beside its target.  Missed targets do\n"
			"not change the exit status; a measurement that cannot run exits 1.\n"
			"With --quick: at most 65536 pages and fewer samples, for tests.\n",
		.min_args = 0,
		.max_args = 1,
		.takes = TAKES_JSON | TAKES_QUICK,
		.run = cmd_bench,
	},
	{
		.name = "help",
		.args = "",
		.summary = "show this help",
		.help = "Show the usage of dmasplit.\n",
		.min_args = 0,
		.max_args = 0,
		/* Accepts anything, as it always did: it only prints. */
		.takes = TAKES_JSON | TAKES_QUICK,
		.run = cmd_help,
	},
};

static void print_options(void)
{
	puts("Options:\n"
	     "  -b, --backend=NAME|UUID  use this backend instead of the best-scoring one\n"
	     "      --json               print list, info or bench as one JSON object\n"
	     "      --quick              bench: fewer pages and samples\n"
	     "      --peer=CLIENT        info: how CLIENT reaches the device's peer memory\n"
	     "  -v, --verbose            log backend loading and selection on stderr\n"
	     "  -h, --help               show this help and exit\n"
	     "  -V, --version            show the version and exit");
}

static void print_usage(void)
{
	size_t i;
	char left[32];

	puts("Usage: " PROG " [OPTIONS] COMMAND [ARGS]\n"
	     "\n"
	     "Show the DMA backends libdmasplit loads and what it makes of a device,\n"
	     "demonstrate the two-step API, and measure it.\n"
	     "\n"
	     "Commands:");
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		snprintf(left, sizeof(left), "%s%s", commands[i].name,
			 commands[i].args);
		printf("  %-12s %s\n", left, commands[i].summary);
	}
	putchar('\n');
	print_options();
	puts("\n"
	     "Environment: DMASPLIT_BACKEND_PATH, DMASPLIT_BACKEND, DMASPLIT_LOG,\n"
	     "DMASPLIT_CHECK and DMASPLIT_SYSFS_ROOT, as in libdmasplit(3).\n"
	     "The built-in backend directory is " BACKENDDIR ".");
}

static void print_command_usage(const struct command *cmd)
{
	printf("Usage: " PROG " [OPTIONS] %s%s\n\n%s\n", cmd->name, cmd->args,
	       cmd->help);
	print_options();
}

static int cmd_help(struct dmasplit_ctx *ctx UNUSED,
		    const struct options *opts UNUSED, char **args UNUSED)
{
	print_usage();
	return EXIT_SUCCESS;
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int bad_option(char **argv, int c)
{
	if (c == ':')
		return usage_error("option '%s' needs an argument",
				   argv[optind - 1]);
	if (optopt)
		return usage_error("invalid option '-%c'", optopt);
	return usage_error("unrecognized option '%s'", argv[optind - 1]);
}

/*
 * Options are accepted both before and after the command.  Returns -1 to
 * go on, or the exit status.  cmd is NULL for the global options.
 */
static int parse_options(int argc, char **argv, const char *optstring,
			 const struct command *cmd, struct options *opts)
{
	int c;

	while ((c = getopt_long(argc, argv, optstring, long_options,
				NULL)) != -1) {
		switch (c) {
		case 'b':
			if (!*optarg)
				return usage_error("--backend needs a name or UUID");
			opts->backend = optarg;
			break;
		case OPT_JSON:
			opts->json = true;
			break;
		case OPT_QUICK:
			opts->quick = true;
			break;
		case OPT_PEER:
			opts->peer = optarg;
			break;
		case 'v':
			opts->verbose = true;
			break;
		case 'h':
			if (cmd)
				print_command_usage(cmd);
			else
				print_usage();
			return EXIT_SUCCESS;
		case 'V':
			puts(PROG " (" PACKAGE_NAME ") " PACKAGE_VERSION);
			return EXIT_SUCCESS;
		default:
			return bad_option(argv, c);
		}
	}
	return -1;
}

static int run(const struct command *cmd, const struct options *opts,
	       char **args)
{
	struct dmasplit_ctx *ctx;
	int r, status;

	r = dmasplit_ctx_new(&ctx);
	if (r < 0)
		return fail("creating a library context", r);
	if (opts->verbose)
		dmasplit_ctx_set_log_priority(ctx, LOG_DEBUG);
	if (opts->backend) {
		r = dmasplit_ctx_set_backend(ctx, opts->backend);
		if (r < 0) {
			dmasplit_ctx_unref(ctx);
			return fail(opts->backend, r);
		}
	}
	status = cmd->run(ctx, opts, args);
	dmasplit_ctx_unref(ctx);
	return status;
}

/* A full disk or closed pipe must not pass for success. */
static int flush_stdout(int status)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return status;
	fprintf(stderr, PROG ": write error: %s\n", strerror(errno));
	return EXIT_FAILURE;
}

static int dispatch(int argc, char **argv, struct options *opts)
{
	const struct command *cmd;
	int r, nargs;

	if (optind >= argc)
		return usage_error("missing command");
	cmd = find_command(argv[optind]);
	if (!cmd)
		return usage_error("unknown command '%s'", argv[optind]);

	argc -= optind;
	argv += optind;
	optind = 0;	/* glibc: restart with fresh state on the new vector */
	r = parse_options(argc, argv, ":hVvb:", cmd, opts);
	if (r >= 0)
		return r;

	if (opts->json && !(cmd->takes & TAKES_JSON))
		return usage_error("%s: --json is not supported", cmd->name);
	if (opts->quick && !(cmd->takes & TAKES_QUICK))
		return usage_error("%s: --quick is for bench only", cmd->name);
	if (opts->peer && !(cmd->takes & TAKES_PEER))
		return usage_error("%s: --peer is for info only", cmd->name);
	nargs = argc - optind;
	if (nargs < cmd->min_args)
		return usage_error("%s: missing%s", cmd->name, cmd->args);
	if (nargs > cmd->max_args)
		return usage_error("%s: unexpected argument '%s'", cmd->name,
				   argv[optind + cmd->max_args]);
	return run(cmd, opts, argv + optind);
}

int main(int argc, char **argv)
{
	struct options opts = { 0 };
	int r;

	/* Messages name the command, not a libtool wrapper's lt-dmasplit. */
	opterr = 0;
	/* '+': stop at the command; its own options are parsed after it. */
	r = parse_options(argc, argv, "+:hVvb:", NULL, &opts);
	if (r < 0)
		r = dispatch(argc, argv, &opts);
	return flush_stdout(r);
}
