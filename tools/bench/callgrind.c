// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit bench --callgrind: the per-call figures in instructions.
 *
 * Time on a shared machine moves; the instructions a call executes do
 * not.  Run under valgrind --tool=callgrind --collect-atstart=no (as
 * tools/bench/callgrind.sh does), each measured loop of N calls is
 * bracketed by CALLGRIND_ZERO_STATS, collection toggled on and off, and
 * CALLGRIND_DUMP_STATS_AT(name): a dump holds that loop's instructions
 * and nothing else.  Setup is outside the bracket (the window of the
 * link loop is reserved before it, and synced, unlinked and destroyed
 * after), and each loop runs once untimed first, so that first-touch
 * costs (caches, the page table's first nodes) are not counted.
 *
 * The loops, each N iterations:
 *   loop       the empty loop: its per-iteration instructions are what
 *              callgrind.sh subtracts from every other loop
 *   link       one dmasplit_iova_link of one page (judged: <= 100)
 *   link_bulk  one dmasplit_iova_link of N pages, once (per page: shown)
 *   map_unmap  dmasplit_map + dmasplit_unmap of one page
 *   direct     the backend's map + unmap operations called directly
 *              (dispatch: map_unmap / direct, judged: <= 1.05)
 *   window     dmasplit_iova_alloc + link + sync + unlink +
 *              dmasplit_iova_destroy of one page (against map_unmap:
 *              figure 1's one-page target, at least 1)
 *   bounce_sync    dmasplit_sync_for_device of a 4 KiB mapping on figure
 *              3's device, where every mapping bounces
 *   bounce_memcpy  memcpy of as many bytes, the copy such a sync makes
 *              (bounce_memcpy / bounce_sync: figure 3's target, at
 *              least 0.9)
 *
 * The program cannot read callgrind's counters: it prints one line per
 * dump, "callgrind-dump NAME N", and callgrind.sh divides the dumps'
 * totals.  Outside valgrind the loops would measure nothing: it says so
 * and exits 2, as it does when built without <valgrind/callgrind.h>.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmasplit/backend.h>

#include "private.h"
#include "bench.h"

#ifdef HAVE_VALGRIND_CALLGRIND_H
#include <valgrind/callgrind.h>

/* Calls per loop: instructions do not vary from run to run, N only
 * spreads what is amortised (a page table node per 512 pages). */
#define CG_CALLS 65536ul
#define CG_CALLS_QUICK 4096ul

static unsigned long cg_calls(const struct bench *b)
{
	return b->quick ? CG_CALLS_QUICK : CG_CALLS;
}

static void cg_start(void)
{
	CALLGRIND_ZERO_STATS;
	CALLGRIND_TOGGLE_COLLECT;
}

static void cg_stop(const char *name, unsigned long n)
{
	CALLGRIND_TOGGLE_COLLECT;
	CALLGRIND_DUMP_STATS_AT(name);
	printf("callgrind-dump %s %lu\n", name, n);
}

/* The bookkeeping of a loop of n iterations, with an argument that
 * changes each time as the measured loops' do. */
static void cg_empty(unsigned long n)
{
	unsigned long i;

	cg_start();
	for (i = 0; i < n; i++)
		__asm__ volatile("" : : "r"(i) : "memory");
	cg_stop("loop", n);
}

/* n pages linked one page a call (bulk: one call of all n), counted if
 * name is set; the window's setup and teardown are not. */
static int cg_link(struct bench *b, unsigned long n, bool bulk,
		   const char *name)
{
	size_t len = (size_t)n * b->page;
	struct dmasplit_iova *iova;
	int r;

	r = dmasplit_iova_alloc(b->dev, len, 0, &iova);
	if (r < 0)
		return failed(b, "dmasplit_iova_alloc", r);
	if (name)
		cg_start();
	r = link_pages(b, iova, n, bulk);
	if (name)
		cg_stop(name, n);
	r = window_end(iova, len, r);
	return r < 0 ? failed(b, "dmasplit_iova_link/sync/unlink", r) : 0;
}

static int cg_map_unmap(struct bench *b, void *buf, unsigned long n,
			const char *name)
{
	unsigned long i;
	uint64_t dma;
	int r = 0;

	if (name)
		cg_start();
	for (i = 0; i < n && r >= 0; i++) {
		r = dmasplit_map(b->dev, buf, b->page, DMASPLIT_BIDIRECTIONAL,
				 0, &dma);
		if (r >= 0)
			r = dmasplit_unmap(b->dev, dma, b->page,
					   DMASPLIT_BIDIRECTIONAL, 0);
	}
	if (name)
		cg_stop(name, n);
	return r < 0 ? failed(b, "dmasplit_map/unmap", r) : 0;
}

static int cg_direct(struct bench *b, const struct dmasplit_backend_ops *ops,
		     struct dmasplit_bdev *bdev, void *buf, unsigned long n,
		     const char *name)
{
	unsigned long i;
	uint64_t dma;
	int r = 0;

	if (name)
		cg_start();
	for (i = 0; i < n && r >= 0; i++) {
		r = ops->map(bdev, buf, b->page, DMASPLIT_BIDIRECTIONAL, 0,
			     &dma);
		if (r >= 0)
			r = ops->unmap(bdev, dma, b->page,
				       DMASPLIT_BIDIRECTIONAL, 0);
	}
	if (name)
		cg_stop(name, n);
	return r < 0 ? failed(b, "ops->map/unmap", r) : 0;
}

/* The split path of one page, n times over. */
static int cg_window(struct bench *b, void *buf, unsigned long n,
		     const char *name)
{
	struct dmasplit_iova *iova;
	unsigned long i;
	int r = 0;

	if (name)
		cg_start();
	for (i = 0; i < n && r >= 0; i++) {
		r = dmasplit_iova_alloc(b->dev, b->page, 0, &iova);
		if (r < 0)
			break;
		r = dmasplit_iova_link(iova, 0, buf, b->page,
				       DMASPLIT_BIDIRECTIONAL, 0);
		if (r >= 0)
			r = dmasplit_iova_sync(iova, 0, b->page);
		if (r >= 0)
			r = dmasplit_iova_unlink(iova, 0, b->page,
						 DMASPLIT_BIDIRECTIONAL, 0);
		dmasplit_iova_destroy(iova);
	}
	if (name)
		cg_stop(name, n);
	return r < 0 ? failed(b, "the window of one page", r) : 0;
}

/* n syncs of the bounced mapping at dma, counted if name is set. */
static int cg_bounce_sync(struct dmasplit_dev *dev, uint64_t dma,
			  size_t size, unsigned long n, const char *name)
{
	unsigned long i;
	int r = 0;

	if (name)
		cg_start();
	for (i = 0; i < n && r >= 0; i++)
		r = dmasplit_sync_for_device(dev, dma, size,
					     DMASPLIT_TO_DEVICE);
	if (name)
		cg_stop(name, n);
	return r;
}

/* n copies of size bytes, counted if name is set. */
static void cg_memcpy(void *dst, const void *src, size_t size,
		      unsigned long n, const char *name)
{
	unsigned long i;

	if (name)
		cg_start();
	for (i = 0; i < n; i++) {
		/* The size unknown to the compiler, as the sync's is to the
		 * library: memcpy itself, not an inlined copy of a
		 * constant size. */
		__asm__ volatile("" : "+r"(size));
		memcpy(dst, src, size);
		__asm__ volatile("" : : "r"(dst) : "memory");
	}
	if (name)
		cg_stop(name, n);
}

/* Figure 3 in instructions, on a device of its own: syncs of a bounced
 * mapping of BOUNCE_JUDGE bytes, then memcpy of as many. */
static int cg_bounce(struct bench *b, unsigned long n)
{
	size_t size = BOUNCE_JUDGE;
	struct dmasplit_dev *dev;
	uint8_t *src, *dst;
	uint64_t dma;
	int r;

	src = aligned_alloc(4096, size);
	dst = aligned_alloc(4096, size);
	if (!src || !dst) {
		free(src);
		free(dst);
		return failed(b, "allocating the bounce buffers", -ENOMEM);
	}
	memset(src, 1, size);
	memset(dst, 0, size);
	r = dmasplit_dev_open(b->ctx, BOUNCE_SPEC, &dev);
	if (r < 0) {
		failed(b, "opening " BOUNCE_SPEC, r);
		goto out;
	}
	r = dmasplit_map(dev, src, size, DMASPLIT_TO_DEVICE, 0, &dma);
	if (r < 0) {
		failed(b, "dmasplit_map", r);
		goto close;
	}
	r = cg_bounce_sync(dev, dma, size, n, NULL);
	if (r >= 0)
		r = cg_bounce_sync(dev, dma, size, n, "bounce_sync");
	if (r < 0) {
		failed(b, "dmasplit_sync_for_device", r);
	} else {
		cg_memcpy(dst, src, size, n, NULL);
		cg_memcpy(dst, src, size, n, "bounce_memcpy");
	}
	(void)dmasplit_unmap(dev, dma, size, DMASPLIT_TO_DEVICE, 0);
close:
	dmasplit_dev_close(dev);
out:
	free(src);
	free(dst);
	return r;
}

static int cg_run(struct bench *b)
{
	const struct dmasplit_backend_ops *ops;
	struct dmasplit_bdev *bdev;
	unsigned long n = cg_calls(b);
	void *buf;
	int r;

	if (!need_windows(b))
		return b->res[b->cur].err;
	r = dmasplit_private_dev_ops(b->dev, &ops, &bdev);
	if (r < 0)
		return failed(b, "dmasplit_private_dev_ops", r);
	if (!ops->map || !ops->unmap)
		return failed(b, "the backend has no map operation",
			      -EOPNOTSUPP);
	buf = aligned_alloc(b->page, b->page);
	if (!buf)
		return failed(b, "allocating a page", -ENOMEM);
	memset(buf, 0, b->page);

	cg_empty(n);
	/* Each loop once uncounted, then counted. */
	r = cg_link(b, n, false, NULL);
	if (r >= 0)
		r = cg_link(b, n, false, "link");
	if (r >= 0)
		r = cg_link(b, n, true, NULL);
	if (r >= 0)
		r = cg_link(b, n, true, "link_bulk");
	if (r >= 0)
		r = cg_map_unmap(b, buf, n, NULL);
	if (r >= 0)
		r = cg_map_unmap(b, buf, n, "map_unmap");
	if (r >= 0)
		r = cg_direct(b, ops, bdev, buf, n, NULL);
	if (r >= 0)
		r = cg_direct(b, ops, bdev, buf, n, "direct");
	if (r >= 0)
		r = cg_window(b, buf, n, NULL);
	if (r >= 0)
		r = cg_window(b, buf, n, "window");
	if (r >= 0)
		r = cg_bounce(b, n);
	free(buf);
	return r;
}

bool bench_callgrind_available(const char **why)
{
	if (RUNNING_ON_VALGRIND)
		return true;
	*why = "unavailable outside valgrind: run it under valgrind --tool=callgrind --collect-atstart=no, as " CALLGRIND_SH " does";
	return false;
}

int bench_callgrind(struct bench *b)
{
	const char *name = dmasplit_dev_backend_name(b->dev);
	int r;

	printf("# dmasplit bench --callgrind on %s (backend ", b->spec);
	put_safe(name ? name : "?");
	printf(", granule %" PRIu64 ")%s\n", b->page,
	       b->quick ? ", quick" : "");
	/* The figures' table is not used: the failure goes to the first. */
	b->cur = 0;
	r = cg_run(b);
	fflush(stdout);
	if (r < 0) {
		say("bench --callgrind: %s", b->res[0].why);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

#else /* !HAVE_VALGRIND_CALLGRIND_H */

bool bench_callgrind_available(const char **why)
{
	*why = "unavailable: built without <valgrind/callgrind.h>";
	return false;
}

int bench_callgrind(struct bench *b)
{
	return EXIT_USAGE;
}

#endif
