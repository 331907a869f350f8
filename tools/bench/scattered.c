// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit bench, figure 5: an I/O of scattered pages.
 *
 * Real I/O buffers are pages taken from a pool in any order, not
 * virtually contiguous ones.  A window of such pages gains little on a
 * real kernel: VFIO has no vectored map, so each page is a kernel call at
 * sync, as each is with one dmasplit_map per page.  What gains is to map
 * the pool once (a registered region, dmasplit_region_new(3)) and make
 * each I/O an address computation.
 *
 * Measured: an I/O of SCATTER_PAGES pages, every other page of the pool
 * (no two virtually adjacent), through a region of the pool made once:
 * one dmasplit_map_vec and one dmasplit_unmap_vec of the pages.
 * Baseline: the same pages with one dmasplit_map and one dmasplit_unmap
 * per page.  A window per I/O (one link per page, one sync, one unlink,
 * destroy) is shown beside them.  Each side's kernel calls are counted
 * (dmasplit_dev_stats.kernel_calls: IOMMU map and unmap calls on vfio,
 * IOTLB invalidations on the simulated device).
 * Targets: at least 4 times the per-page path, in time; and at most 4
 * kernel calls for an I/O with the region's own making and freeing
 * counted in - the form that cannot hide a cost in the setup.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "bench.h"

#define SCATTER_PAGES 1024ul
/* A pool: every other page is the I/O's.  The region is made of the
 * first pool; the other paths use a second one beside it, so that the
 * region does not serve them and the rounds can alternate. */
#define SCATTER_POOL_PAGES (2 * SCATTER_PAGES)

struct scattered_data {
	double region_ns, per_page_ns, window_ns;	/* per I/O */
	struct paired vs_map, window_vs_map;	/* per-page / the other */
	/* Kernel calls: per I/O on each path, and the region's making and
	 * freeing. */
	double calls_region, calls_per_page, calls_window;
	uint64_t calls_region_new, calls_region_free;
	bool window_done;	/* every row measured */
};

struct scattered_arg {
	struct iovec iov[SCATTER_PAGES];
	struct dmasplit_seg segs[SCATTER_PAGES];
};

/* Page i of the I/O in the registered pool (pool 0) or the other. */
static void *io_page(const struct bench *b, unsigned int pool,
		     unsigned long i)
{
	return page_at(b, pool * SCATTER_POOL_PAGES + 2 * i);
}

static uint64_t kernel_calls(struct bench *b)
{
	struct dmasplit_dev_stats s;

	return get_stats(b->dev, &s) < 0 ? 0 : s.kernel_calls;
}

static int region_sample(struct bench *b, void *arg, double *ns)
{
	struct scattered_arg *a = arg;
	unsigned int nsegs = SCATTER_PAGES;
	uint64_t t0;
	int r;

	t0 = now_ns();
	r = dmasplit_map_vec(b->dev, a->iov, SCATTER_PAGES,
			     DMASPLIT_BIDIRECTIONAL, 0, a->segs, &nsegs);
	if (r >= 0)
		r = dmasplit_unmap_vec(b->dev, a->segs, nsegs,
				       DMASPLIT_BIDIRECTIONAL, 0);
	*ns = (double)(now_ns() - t0);
	return r < 0 ? failed(b, "dmasplit_map_vec/unmap_vec in a region", r)
		     : 0;
}

static int per_page_sample(struct bench *b, void *arg, double *ns)
{
	unsigned long i, mapped;
	uint64_t t0;
	int r = 0;

	(void)arg;
	t0 = now_ns();
	for (mapped = 0; mapped < SCATTER_PAGES && r >= 0; mapped++)
		r = dmasplit_map(b->dev, io_page(b, 1, mapped), b->page,
				 DMASPLIT_BIDIRECTIONAL, 0, &b->dma[mapped]);
	if (r < 0)
		mapped--;
	for (i = 0; i < mapped; i++) {
		int u = dmasplit_unmap(b->dev, b->dma[i], b->page,
				       DMASPLIT_BIDIRECTIONAL, 0);

		if (u < 0 && r >= 0)
			r = u;
	}
	*ns = (double)(now_ns() - t0);
	return r < 0 ? failed(b, "dmasplit_map/unmap per page", r) : 0;
}

static int window_sample(struct bench *b, void *arg, double *ns)
{
	size_t len = SCATTER_PAGES * b->page;
	struct dmasplit_iova *iova;
	unsigned long i;
	uint64_t t0;
	int r;

	(void)arg;
	t0 = now_ns();
	r = dmasplit_iova_alloc(b->dev, len, 0, &iova);
	if (r < 0)
		return failed(b, "dmasplit_iova_alloc", r);
	for (i = 0; i < SCATTER_PAGES && r >= 0; i++)
		r = dmasplit_iova_link(iova, i * b->page, io_page(b, 1, i),
				       b->page, DMASPLIT_BIDIRECTIONAL, 0);
	r = window_end(iova, len, r);
	*ns = (double)(now_ns() - t0);
	return r < 0 ? failed(b, "window of scattered pages", r) : 0;
}

/* Kernel calls of one run of a side. */
static double calls_of(struct bench *b, sample_fn fn, void *arg)
{
	uint64_t c0 = kernel_calls(b);
	double ns;

	if (fn(b, arg, &ns) < 0)
		return -1;
	return (double)(kernel_calls(b) - c0);
}

static void measure_scattered(struct bench *b, void *data)
{
	struct scattered_data *d = data;
	struct scattered_arg *a;
	struct dmasplit_region *reg;
	uint64_t c0;
	unsigned long i;
	int r;

	if (!need_windows(b))
		return;
	if (b->max_pages < 2 * SCATTER_POOL_PAGES) {
		failed(b, "the page region is too small", -ENOMEM);
		return;
	}
	a = malloc(sizeof(*a));
	if (!a) {
		failed(b, "malloc", -ENOMEM);
		return;
	}
	for (i = 0; i < SCATTER_PAGES; i++) {
		a->iov[i].iov_base = io_page(b, 0, i);
		a->iov[i].iov_len = b->page;
	}
	c0 = kernel_calls(b);
	r = dmasplit_region_new(b->dev, b->region,
				SCATTER_POOL_PAGES * b->page,
				DMASPLIT_BIDIRECTIONAL, 0, &reg);
	if (r < 0) {
		failed(b, "dmasplit_region_new", r);
		goto out;
	}
	d->calls_region_new = kernel_calls(b) - c0;
	progress(b, "a registered region");
	r = compare(b, b->samples, true, per_page_sample, NULL, region_sample,
		    a, &d->vs_map);
	if (r >= 0) {
		progress(b, "a window per I/O");
		r = compare(b, b->samples, true, per_page_sample, NULL,
			    window_sample, NULL, &d->window_vs_map);
	}
	if (r >= 0) {
		d->calls_region = calls_of(b, region_sample, a);
		d->calls_window = calls_of(b, window_sample, NULL);
		d->calls_per_page = calls_of(b, per_page_sample, NULL);
	}
	c0 = kernel_calls(b);
	if (dmasplit_region_free(reg) < 0 && r >= 0)
		r = failed(b, "dmasplit_region_free", -EBUSY);
	d->calls_region_free = kernel_calls(b) - c0;
	if (r < 0 || d->calls_region < 0 || d->calls_window < 0 ||
	    d->calls_per_page < 0)
		goto out;
	d->per_page_ns = d->vs_map.a;
	d->region_ns = d->vs_map.b;
	d->window_ns = d->window_vs_map.b;
	d->window_done = true;
	judge(b, 0, &d->vs_map,
	      "%lu scattered pages: map+unmap per page / map_vec+unmap_vec in a region",
	      SCATTER_PAGES);
	judge_value(b, 1, d->calls_region + (double)d->calls_region_new +
			  (double)d->calls_region_free,
		    "one I/O with the region made and freed for it");
out:
	free(a);
}

static void text_scattered(const struct bench *b, const void *data)
{
	const struct scattered_data *d = data;

	text_head(b, "an I/O of 1024 pages, every other page of a pool");
	if (d->window_done) {
		printf("   %-34s %10.0f ns  %6.0f kernel calls\n",
		       "one dmasplit_map per page", d->per_page_ns,
		       d->calls_per_page);
		printf("   %-34s %10.0f ns  %6.0f kernel calls  %6.2fx\n",
		       "a window, one link per page", d->window_ns,
		       d->calls_window, d->window_vs_map.ratio);
		printf("   %-34s %10.0f ns  %6.0f kernel calls  %6.2fx\n",
		       "map_vec in a registered region", d->region_ns,
		       d->calls_region, d->vs_map.ratio);
		printf("   %-34s %13s  %6llu made, %llu freed\n",
		       "  the region itself, once", "",
		       (unsigned long long)d->calls_region_new,
		       (unsigned long long)d->calls_region_free);
	}
	text_target(b);
}

static void json_scattered(struct json *j, const struct bench *b,
			   const void *data)
{
	const struct scattered_data *d = data;

	(void)b;
	json_u64(j, "pages", SCATTER_PAGES);
	json_double(j, "per_page_ns", d->per_page_ns);
	json_double(j, "window_ns", d->window_ns);
	json_double(j, "region_ns", d->region_ns);
	json_double(j, "window_ratio", d->window_vs_map.ratio);
	json_double(j, "calls_per_page_path", d->calls_per_page);
	json_double(j, "calls_window", d->calls_window);
	json_double(j, "calls_region", d->calls_region);
	json_u64(j, "calls_region_new", d->calls_region_new);
	json_u64(j, "calls_region_free", d->calls_region_free);
}

const struct figure fig_scattered = {
	.key = "scattered",
	.title = "an I/O of scattered pages: registered region vs per-page map",
	.ratio_of = "ns per I/O of one map and unmap per page / ns per I/O of map_vec and unmap_vec in a registered region",
	.goals = {
		{ "region vs per-page map, 1024 scattered pages", "x", false,
		  4.0 },
		{ "kernel calls of one I/O, the region made and freed for it",
		  "calls", true, 4.0 },
	},
	.ngoals = 2,
	.size = sizeof(struct scattered_data),
	.measure = measure_scattered,
	.text = text_scattered,
	.json = json_scattered,
};
