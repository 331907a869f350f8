// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit demo - the two-step flow on a simulated device, one numbered
 * step at a time, then the per-range fallback on a device without an
 * IOMMU.  Every claim it prints is checked by what the device itself
 * reads or writes (dmasplit_dev_dma_read/_write), not by what the API
 * returned, so the walkthrough doubles as an end-to-end test: the exit
 * status is 0 only if every check held.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define DEMO_SPEC "sim:demo"
/* No IOMMU, and bounce=force so that the fallback shows the copies even
 * where the buffer happens to lie below the 32-bit mask. */
#define LEGACY_SPEC "sim:legacy,iommu=off,mask=32,bounce=force"
#define DEMO_PAGES 4
#define SHOW_BYTES 32
/* Where the device writes: inside the second page, so that the window
 * offset and the buffer offset visibly agree. */
#define WRITE_OFFSET 0x100

#define INDENT "   "

struct demo {
	int step;
	int failed_step;	/* the first with a failed check, 0: none */
	char failed[160];	/* that check */
	uint64_t granule;
	size_t len;
	uint8_t *buf;		/* host memory handed to the device */
	uint8_t *orig;		/* a copy of what buf held before the device */
	uint8_t *seen;		/* what the device read */
};

/* A call is printed before it is made and its result after, so that a
 * log line it causes (the device fault) lands between the two. */
static bool line_open;

PRINTF_LIKE(6, 0)
static void demo_log(void *data UNUSED, int priority UNUSED,
		     const char *file UNUSED, int line UNUSED,
		     const char *fn UNUSED, const char *format, va_list args)
{
	if (line_open) {
		putchar('\n');
		line_open = false;
	}
	/* stderr, as any library message, but in order with the walkthrough
	 * when both go to one terminal or file. */
	fflush(stdout);
	fputs(INDENT "| libdmasplit: ", stderr);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

static void step(struct demo *d, const char *title)
{
	d->step++;
	printf("\n%d. %s\n", d->step, title);
}

static void tell(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void tell(const char *fmt, ...)
{
	va_list ap;

	fputs(INDENT, stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void call_begin(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void call_begin(const char *fmt, ...)
{
	va_list ap;

	fputs(INDENT, stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	line_open = true;
}

static int call_end(int r)
{
	fputs(line_open ? " " : INDENT "  ", stdout);
	line_open = false;
	if (r < 0)
		printf("= -%s (%s)\n", errno_name(r), strerror(-r));
	else
		printf("= %d\n", r);
	return r;
}

static bool check(struct demo *d, bool ok, const char *fmt, ...)
	PRINTF_LIKE(3, 4);
static bool check(struct demo *d, bool ok, const char *fmt, ...)
{
	va_list ap;

	fputs(ok ? INDENT "ok      " : INDENT "FAILED  ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok && !d->failed_step) {
		d->failed_step = d->step;
		va_start(ap, fmt);
		vsnprintf(d->failed, sizeof(d->failed), fmt, ap);
		va_end(ap);
	}
	return ok;
}

/* An API call that had to succeed did not: the part cannot go on. */
static bool call_ok(struct demo *d, int r, const char *what)
{
	if (r >= 0)
		return true;
	return check(d, false, "%s failed: %s", what, strerror(-r));
}

/* Bytes as they would look in a hex dump's text column. */
static void show_bytes(const char *label, const uint8_t *p, size_t n)
{
	size_t i;

	printf(INDENT "%s \"", label);
	for (i = 0; i < n; i++)
		putchar(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.');
	puts("\"");
}

/* Each 32-byte cell names its page and offset, so that a device that
 * read the wrong page or offset shows it at a glance. */
static void fill(uint8_t *buf, size_t len, uint64_t granule, const char *who)
{
	char cell[2 * SHOW_BYTES];
	size_t off;
	int n;

	for (off = 0; off < len; off += SHOW_BYTES) {
		n = snprintf(cell, sizeof(cell), "%s page %" PRIu64 " +0x%04" PRIx64 " ",
			     who, off / granule, off % granule);
		if (n < 0)
			n = 0;
		if (n < SHOW_BYTES)
			memset(cell + n, '.', SHOW_BYTES - n);
		memcpy(buf + off, cell, SHOW_BYTES);
	}
}

static int get_stats(struct dmasplit_dev *dev, struct dmasplit_dev_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->size = sizeof(*s);
	return dmasplit_dev_get_stats(dev, s);
}

static int open_device(struct demo *d, struct dmasplit_ctx *ctx,
		       const char *spec, struct dmasplit_dev **dev,
		       struct dmasplit_dev_info *info)
{
	int r;

	call_begin("dmasplit_dev_open(ctx, \"%s\", &dev)", spec);
	r = call_end(dmasplit_dev_open(ctx, spec, dev));
	if (!call_ok(d, r, "opening the device"))
		return r;
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	r = dmasplit_dev_get_info(*dev, info);
	if (!call_ok(d, r, "dmasplit_dev_get_info"))
		return r;
	fputs(INDENT "backend ", stdout);
	put_safe(info->backend ? info->backend : "?");
	printf(", granule %" PRIu64 " bytes, DMA mask %u bits\n",
	       info->granule, info->dma_mask_bits);
	fputs(INDENT "flags: ", stdout);
	put_dev_flags(info->flags);
	putchar('\n');
	return 0;
}

/* ------------------------------------------------------------------ */
/* Steps 1-6: the two-step path                                        */

static bool device_faults(struct demo *d, struct dmasplit_dev *dev,
			  uint64_t addr)
{
	int r;

	call_begin("dmasplit_dev_dma_read(dev, 0x%" PRIx64 ", seen, %d)", addr,
		   SHOW_BYTES);
	r = call_end(dmasplit_dev_dma_read(dev, addr, d->seen, SHOW_BYTES));
	return r == -EFAULT;
}

static void link_pages(struct demo *d, struct dmasplit_iova *iova, int *r)
{
	size_t off;

	for (off = 0; off < d->len && *r >= 0; off += d->granule) {
		call_begin("dmasplit_iova_link(iova, 0x%zx, buf + 0x%zx, %" PRIu64 ", DMASPLIT_BIDIRECTIONAL, 0)",
			   off, off, d->granule);
		*r = call_end(dmasplit_iova_link(iova, off, d->buf + off,
						 d->granule,
						 DMASPLIT_BIDIRECTIONAL, 0));
	}
}

static void device_reads_and_writes(struct demo *d, struct dmasplit_dev *dev,
				    uint64_t addr)
{
	static const char msg[] = "written by the device";
	size_t at = d->granule + WRITE_OFFSET;
	int r;

	call_begin("dmasplit_dev_dma_read(dev, 0x%" PRIx64 ", seen, %zu)", addr,
		   d->len);
	r = call_end(dmasplit_dev_dma_read(dev, addr, d->seen, d->len));
	if (!call_ok(d, r, "the device read"))
		return;
	show_bytes("the device read", d->seen, SHOW_BYTES);
	check(d, !memcmp(d->seen, d->buf, d->len),
	      "the device reads exactly the buffer's %zu bytes", d->len);

	call_begin("dmasplit_dev_dma_write(dev, 0x%" PRIx64 ", \"%s\", %zu)",
		   addr + at, msg, sizeof(msg) - 1);
	r = call_end(dmasplit_dev_dma_write(dev, addr + at, msg,
					    sizeof(msg) - 1));
	if (!call_ok(d, r, "the device write"))
		return;
	show_bytes("the host buffer now holds", d->buf + at, SHOW_BYTES);
	check(d, !memcmp(d->buf + at, msg, sizeof(msg) - 1),
	      "the host sees the device's write at buf + 0x%zx at once", at);
}

static void two_step(struct demo *d, struct dmasplit_ctx *ctx,
		     const char *spec)
{
	struct dmasplit_dev_stats s0, s1, s2;
	struct dmasplit_dev_info info;
	struct dmasplit_iova *iova = NULL;
	struct dmasplit_dev *dev = NULL;
	uint64_t addr;
	int r;

	step(d, "Open a simulated device behind an IOMMU");
	if (open_device(d, ctx, spec, &dev, &info) < 0)
		goto out;
	/* Each its own line, so that a device that is not simulated
	 * (dmasplit demo 0000:00:04.0) is told which it lacks. */
	if (!check(d, info.flags & DMASPLIT_DEV_DMA_RW,
		   "the demo can act as the device, as on a simulated one (sim:NAME)") ||
	    !check(d, (info.flags & DMASPLIT_DEV_WINDOWS) && info.granule,
		   "it can reserve windows"))
		goto out;

	d->granule = info.granule;
	d->len = DEMO_PAGES * d->granule;
	d->buf = aligned_alloc(d->granule, d->len);
	d->orig = malloc(d->len);
	d->seen = malloc(d->len);
	if (!call_ok(d, d->buf && d->orig && d->seen ? 0 : -ENOMEM,
		     "allocating the buffers"))
		goto out;

	step(d, "Reserve a window of device addresses (nothing is mapped yet)");
	call_begin("dmasplit_iova_alloc(dev, %zu, 0, &iova)", d->len);
	r = call_end(dmasplit_iova_alloc(dev, d->len, 0, &iova));
	if (!call_ok(d, r, "dmasplit_iova_alloc"))
		goto out;
	addr = dmasplit_iova_addr(iova);
	tell("window at device address 0x%" PRIx64 ", %zu bytes (%d pages)",
	    addr, dmasplit_iova_size(iova), DEMO_PAGES);
	check(d, addr && !(addr & (d->granule - 1)),
	      "granule-aligned, and never device address 0");

	step(d, "Link a buffer into the window, one page at a time");
	fill(d->buf, d->len, d->granule, "host");
	printf(INDENT "buffer at %p, %zu bytes\n", (void *)d->buf, d->len);
	show_bytes("it starts", d->buf, SHOW_BYTES);
	r = get_stats(dev, &s0);
	if (!call_ok(d, r, "dmasplit_dev_get_stats"))
		goto out;
	link_pages(d, iova, &r);
	if (!call_ok(d, r, "dmasplit_iova_link"))
		goto out;
	tell("the device tries to read the window before the sync:");
	check(d, device_faults(d, dev, addr),
	      "the device faults: links are invisible until dmasplit_iova_sync");

	step(d, "Sync: make every link visible at once");
	call_begin("dmasplit_iova_sync(iova, 0, %zu)", d->len);
	r = call_end(dmasplit_iova_sync(iova, 0, d->len));
	if (!call_ok(d, r, "dmasplit_iova_sync"))
		goto out;
	device_reads_and_writes(d, dev, addr);

	step(d, "Count what it cost");
	call_begin("dmasplit_dev_get_stats(dev, &stats)");
	r = call_end(get_stats(dev, &s1));
	if (!call_ok(d, r, "dmasplit_dev_get_stats"))
		goto out;
	tell("since step 3: links %" PRIu64 ", syncs %" PRIu64 ", IOTLB invalidations %" PRIu64 " (kernel_calls)",
	    s1.links - s0.links, s1.syncs - s0.syncs,
	    s1.kernel_calls - s0.kernel_calls);
	check(d, s1.kernel_calls - s0.kernel_calls == 1 &&
		 s1.links - s0.links == DEMO_PAGES,
	      "one invalidation for all %d links; mapping page by page costs one per page",
	      DEMO_PAGES);

	step(d, "Unlink and destroy");
	call_begin("dmasplit_iova_unlink(iova, 0, %zu, DMASPLIT_BIDIRECTIONAL, 0)",
		   d->len);
	r = call_end(dmasplit_iova_unlink(iova, 0, d->len,
					  DMASPLIT_BIDIRECTIONAL, 0));
	if (!call_ok(d, r, "dmasplit_iova_unlink"))
		goto out;
	check(d, device_faults(d, dev, addr),
	      "the device faults again as soon as the unlink returns");
	tell("dmasplit_iova_destroy(iova)");
	dmasplit_iova_destroy(iova);
	iova = NULL;
	r = get_stats(dev, &s2);
	if (!call_ok(d, r, "dmasplit_dev_get_stats"))
		goto out;
	check(d, s2.windows_live == 0 &&
		 s2.device_faults - s0.device_faults == 2,
	      "no window left; the device saw the %" PRIu64 " faults above",
	      s2.device_faults - s0.device_faults);
out:
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(dev);
}

/* ------------------------------------------------------------------ */
/* Step 7: the fallback                                                */

static void fallback_device(struct demo *d, struct dmasplit_dev *dev)
{
	static const char msg[] = "written by the device";
	struct dmasplit_dev_stats s0, s1;
	uint8_t *at = d->buf + WRITE_OFFSET;
	uint64_t dma;
	int r;

	fill(d->buf, d->len, d->granule, "old");
	memcpy(d->orig, d->buf, d->len);
	r = get_stats(dev, &s0);
	if (!call_ok(d, r, "dmasplit_dev_get_stats"))
		return;
	tell("so the per-range path maps the buffer:");
	call_begin("dmasplit_map(dev, buf, %zu, DMASPLIT_BIDIRECTIONAL, 0, &dma)",
		   d->len);
	r = call_end(dmasplit_map(dev, d->buf, d->len, DMASPLIT_BIDIRECTIONAL,
				  0, &dma));
	if (!call_ok(d, r, "dmasplit_map"))
		return;
	tell("device address 0x%" PRIx64 " (the buffer is at %p)", dma,
	    (void *)d->buf);
	check(d, dma != (uintptr_t)d->buf,
	      "the device gets a slot of the bounce pool, not the buffer");

	call_begin("dmasplit_dev_dma_read(dev, 0x%" PRIx64 ", seen, %zu)", dma,
		   d->len);
	r = call_end(dmasplit_dev_dma_read(dev, dma, d->seen, d->len));
	if (call_ok(d, r, "the device read"))
		check(d, !memcmp(d->seen, d->buf, d->len),
		      "the device reads the buffer's bytes: copied to the slot at map");

	call_begin("dmasplit_dev_dma_write(dev, 0x%" PRIx64 ", \"%s\", %zu)",
		   dma + WRITE_OFFSET, msg, sizeof(msg) - 1);
	r = call_end(dmasplit_dev_dma_write(dev, dma + WRITE_OFFSET, msg,
					    sizeof(msg) - 1));
	if (call_ok(d, r, "the device write")) {
		show_bytes("the host buffer still holds", at, SHOW_BYTES);
		check(d, !memcmp(d->buf, d->orig, d->len),
		      "the host does not see the write yet: it is in the slot");
		call_begin("dmasplit_sync_for_cpu(dev, 0x%" PRIx64 ", %zu, DMASPLIT_BIDIRECTIONAL)",
			   dma, d->len);
		r = call_end(dmasplit_sync_for_cpu(dev, dma, d->len,
						   DMASPLIT_BIDIRECTIONAL));
		if (call_ok(d, r, "dmasplit_sync_for_cpu")) {
			show_bytes("the host buffer now holds", at, SHOW_BYTES);
			check(d, !memcmp(at, msg, sizeof(msg) - 1),
			      "after dmasplit_sync_for_cpu the host sees it");
		}
	}

	call_begin("dmasplit_unmap(dev, 0x%" PRIx64 ", %zu, DMASPLIT_BIDIRECTIONAL, 0)",
		   dma, d->len);
	r = call_end(dmasplit_unmap(dev, dma, d->len, DMASPLIT_BIDIRECTIONAL,
				    0));
	if (!call_ok(d, r, "dmasplit_unmap"))
		return;
	r = get_stats(dev, &s1);
	if (call_ok(d, r, "dmasplit_dev_get_stats"))
		tell("%" PRIu64 " bytes went through the bounce pool",
		    s1.bytes_bounced - s0.bytes_bounced);
}

static void fallback(struct demo *d, struct dmasplit_ctx *ctx)
{
	struct dmasplit_dev_info info;
	struct dmasplit_iova *iova = NULL;
	struct dmasplit_dev *dev = NULL;
	int r;

	step(d, "Fallback: a device without an IOMMU, 32-bit DMA mask");
	if (open_device(d, ctx, LEGACY_SPEC, &dev, &info) < 0)
		goto out;
	call_begin("dmasplit_iova_alloc(dev, %zu, 0, &iova)", d->len);
	r = call_end(dmasplit_iova_alloc(dev, d->len, 0, &iova));
	if (check(d, r == -EOPNOTSUPP,
		  "-EOPNOTSUPP: no window to reserve without an IOMMU; fall back to dmasplit_map"))
		fallback_device(d, dev);
out:
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(dev);
}

int cmd_demo(struct dmasplit_ctx *ctx, const struct options *opts,
	     char **args)
{
	const char *spec = args[0] ? args[0] : DEMO_SPEC;
	struct demo d = { 0 };

	/* Both devices, before the walkthrough begins: a forced backend that
	 * refuses either is said in one line, as info and bench say it. */
	if (check_forced_backend(ctx, opts, spec) < 0 ||
	    check_forced_backend(ctx, opts, LEGACY_SPEC) < 0)
		return EXIT_FAILURE;
	dmasplit_ctx_set_log_fn(ctx, demo_log, NULL);
	fputs("The two-step DMA API on ", stdout);
	put_safe(spec);
	puts(": reserve, link, sync, unlink;\n"
	     "each step checked by what the device reads or writes.");
	two_step(&d, ctx, spec);
	/* The fallback needs the buffers sized by the first part. */
	if (d.buf && d.orig && d.seen)
		fallback(&d, ctx);
	free(d.buf);
	free(d.orig);
	free(d.seen);

	if (!d.failed_step) {
		printf("\nEvery check held: windows where the device has an IOMMU,\n"
		       "dmasplit_map where it has none.\n");
		return EXIT_SUCCESS;
	}
	fflush(stdout);
	say("demo: step %d failed: %s", d.failed_step, d.failed);
	return EXIT_FAILURE;
}
