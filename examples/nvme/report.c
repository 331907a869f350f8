// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * nvme-rw: what it prints, as text or as one JSON object, and its error
 * lines.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nvme-rw.h"

/* The first error line, for --json: the cause, where the lines after it
 * are often its consequences. */
static char first_error[4096];
static bool json_printed;

/*
 * Error lines quote arguments, device names and the library's strings:
 * a control byte there could split a line or reach the terminal as an
 * escape, so each byte outside printable ASCII is written \xNN, the
 * form of the library's log lines (which escape control bytes only).
 */
static void escape(char *out, size_t len, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *s && o + 5 <= len; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch >= 0x20 && ch <= 0x7e) {
			out[o++] = (char)ch;
			continue;
		}
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[ch >> 4];
		out[o++] = hex[ch & 0xf];
	}
	out[o] = 0;
}

void error_line(const char *fmt, ...)
{
	char msg[1024], line[sizeof(msg) * 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	escape(line, sizeof(line), msg);
	fprintf(stderr, "%s: %s\n", prog, line);
	if (!first_error[0])
		snprintf(first_error, sizeof(first_error), "%s", line);
}

const char *human(size_t bytes, char *buf, size_t len)
{
	if (bytes >= (1u << 20) && !(bytes & ((1u << 20) - 1)))
		snprintf(buf, len, "%zu MiB", bytes >> 20);
	else if (bytes >= 1024 && !(bytes & 1023))
		snprintf(buf, len, "%zu KiB", bytes >> 10);
	else
		snprintf(buf, len, "%zu bytes", bytes);
	return buf;
}

static double iops(const struct figures *f)
{
	return f->seconds > 0 ? (double)f->ios / f->seconds : 0;
}

static double ratio_vs_map(const struct figures *all, unsigned int n,
			   const struct figures *f)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (all[i].strategy == MAP && all[i].io_size == f->io_size &&
		    iops(&all[i]) > 0)
			return iops(f) / iops(&all[i]);
	return 0;
}

/* n per I/O of f; negative when f completed no I/O (a run whose first
 * I/O failed): null in JSON, and the text says no I/O completed. */
static double per_io(uint64_t n, const struct figures *f)
{
	return f->ios ? (double)n / (double)f->ios : -1;
}

/* ,"key":v with three decimals, or null where v is negative (unknown). */
static void json_figure(const char *key, double v)
{
	if (v < 0)
		printf(",\"%s\":null", key);
	else
		printf(",\"%s\":%.3f", key, v);
}

void print_text(const struct run *r, const struct figures *all,
		       unsigned int n)
{
	unsigned int i;
	char sz[32], tot[32];

	for (i = 0; i < n; i++) {
		const struct figures *f = &all[i];
		double ratio = ratio_vs_map(all, n, f);

		printf("%-10s %7s I/Os: %5lu of %s written and read back, %s",
		       strategy_names[f->strategy], human(f->io_size, sz, sizeof(sz)),
		       f->ios, human(r->out.size, tot, sizeof(tot)),
		       f->verified ? "bytes match" : "FAILED");
		if (f->fallback)
			printf(" (no windows: per-range path)");
		printf("\n");
		if (!r->o->bench)
			continue;
		if (!f->ios) {
			printf("%-10s %7s no I/O completed\n", "", "");
			continue;
		}
		printf("%-10s %7s %10.0f I/O/s  %6.2f kernel calls/I/O  %6.2f library calls/I/O  setup %" PRIu64 " kernel calls",
		       "", "", iops(f), per_io(f->kernel_calls, f),
		       per_io(f->library_calls, f), f->setup_kernel_calls);
		if (ratio > 0)
			printf("  %.2fx map", ratio);
		printf("\n");
	}
}

/* Identify strings are printable ASCII by the specification; anything
 * else is escaped rather than trusted. */
static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch > 0x7e)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void json_error(int err)
{
	printf("\"error\":");
	json_string(first_error[0] ? first_error : strerror(-err));
}

void print_json(const struct run *r, const struct figures *all,
		unsigned int n, int err)
{
	const struct nvme_ctrl *c = r->c;
	unsigned int i;

	printf("{\"device\":");
	json_string(c->name);
	printf(",\"backend\":");
	json_string(r->info.backend);
	printf(",\"interface\":");
	json_string(r->info.interface);
	printf(",\"controller\":{\"model\":");
	json_string(c->model);
	printf(",\"serial\":");
	json_string(c->serial);
	printf(",\"firmware\":");
	json_string(c->firmware);
	printf(",\"vid\":%u,\"version\":\"%u.%u\",\"max_transfer\":%u}",
	       c->vid, c->version >> 16, (c->version >> 8) & 0xff,
	       c->max_transfer);
	printf(",\"namespace\":{\"nsid\":%u,\"blocks\":%" PRIu64 ",\"lba_size\":%u,\"lba_format\":%u}",
	       c->nsid, c->ns_blocks, c->lba_size, c->lba_format);
	printf(",\"total\":%zu,\"chunk\":%zu,\"runs\":[", r->out.size,
	       r->o->chunk);
	for (i = 0; i < n; i++) {
		const struct figures *f = &all[i];

		double ratio = ratio_vs_map(all, n, f);

		printf("%s{\"strategy\":\"%s\",\"io_size\":%zu,\"ios\":%lu,\"seconds\":%.6f,\"iops\":%.1f",
		       i ? "," : "", strategy_names[f->strategy], f->io_size,
		       f->ios, f->seconds, iops(f));
		json_figure("kernel_calls_per_io", per_io(f->kernel_calls, f));
		json_figure("library_calls_per_io", per_io(f->library_calls, f));
		printf(",\"setup_kernel_calls\":%" PRIu64 ",\"per_range_fallback\":%s,\"verified\":%s",
		       f->setup_kernel_calls, f->fallback ? "true" : "false",
		       f->verified ? "true" : "false");
		/* Without a run of map at that size, nothing to compare. */
		json_figure("iops_vs_map", ratio > 0 ? ratio : -1);
		printf("}");
	}
	printf("]");
	if (err < 0) {
		printf(",");
		json_error(err);
	}
	printf("}\n");
	json_printed = true;
}

void print_json_failure(int err)
{
	if (json_printed)
		return;
	printf("{");
	json_error(err);
	printf("}\n");
	json_printed = true;
}

void print_identify(const struct run *r)
{
	const struct nvme_ctrl *c = r->c;
	char a[32], b[32];

	printf("controller %s: %s, serial %s, firmware %s, NVMe %u.%u, max transfer %s\n",
	       c->name, c->model, c->serial, c->firmware, c->version >> 16,
	       (c->version >> 8) & 0xff, human(c->max_transfer, a, sizeof(a)));
	printf("namespace %u: %" PRIu64 " blocks of %u bytes (%s), LBA format %u\n",
	       c->nsid, c->ns_blocks, c->lba_size,
	       human((size_t)(c->ns_blocks * c->lba_size), b, sizeof(b)),
	       c->lba_format);
	printf("mapped through %s%s%s\n", r->info.backend,
	       *r->info.interface ? " on " : "", r->info.interface);
}
