// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit bench, figure 1: the split path against the per-page path.
 *
 * Measured: the two-step API as a caller uses it for N pages - one
 * window, one link per page, one sync, one unlink, destroy.
 * Baseline: what a caller without it does - one dmasplit_map per page,
 * then one dmasplit_unmap per page.  Each pass also counts the IOTLB
 * invalidations (kernel calls) of each side: one per map and per unmap
 * on the per-page path, a fixed few on the split path whatever N is.
 * That difference is the reason the library exists.
 * Target: the per-page path at least 4 times slower per page, judged at
 * 65536 pages, where the window's own fixed cost is spread thin; the
 * rows from 1 to 1048576 pages show where the split path starts to pay.
 */
#include <stdio.h>

#include "bench.h"

#define SPLIT_JUDGE_PAGES 65536ul

static const unsigned long split_pages[] = {
	1, 16, 256, 4096, 65536, 1048576,
};

struct split_row {
	unsigned long pages;
	unsigned int samples;
	double split_ns, per_page_ns;	/* per page */
	struct paired p;		/* per-page time / split time */
	double calls_split, calls_per_page;	/* per pass */
};

struct split_data {
	unsigned int nrows;
	struct split_row rows[ARRAY_SIZE(split_pages)];
};

/* One window, one link per page, one sync, one unlink, destroy. */
static int split_pass(struct bench *b, unsigned long n)
{
	size_t len = (size_t)n * b->page;
	struct dmasplit_iova *iova;
	unsigned long i;
	int r;

	r = dmasplit_iova_alloc(b->dev, len, 0, &iova);
	if (r < 0)
		return failed(b, "dmasplit_iova_alloc", r);
	for (i = 0; i < n; i++) {
		r = dmasplit_iova_link(iova, (size_t)i * b->page,
				       page_at(b, i), b->page,
				       DMASPLIT_BIDIRECTIONAL, 0);
		if (r < 0) {
			dmasplit_iova_destroy(iova);
			return failed(b, "dmasplit_iova_link", r);
		}
	}
	r = dmasplit_iova_sync(iova, 0, len);
	if (r < 0) {
		dmasplit_iova_destroy(iova);
		return failed(b, "dmasplit_iova_sync", r);
	}
	r = dmasplit_iova_unlink(iova, 0, len, DMASPLIT_BIDIRECTIONAL, 0);
	dmasplit_iova_destroy(iova);
	return r < 0 ? failed(b, "dmasplit_iova_unlink", r) : 0;
}

/* One map per page, then one unmap per page. */
static int per_page_pass(struct bench *b, unsigned long n)
{
	unsigned long i;
	int r;

	for (i = 0; i < n; i++) {
		r = dmasplit_map(b->dev, page_at(b, i), b->page,
				 DMASPLIT_BIDIRECTIONAL, 0, &b->dma[i]);
		if (r < 0) {
			while (i--)
				dmasplit_unmap(b->dev, b->dma[i], b->page,
					       DMASPLIT_BIDIRECTIONAL, 0);
			return failed(b, "dmasplit_map", r);
		}
	}
	for (i = 0; i < n; i++) {
		r = dmasplit_unmap(b->dev, b->dma[i], b->page,
				   DMASPLIT_BIDIRECTIONAL, 0);
		if (r < 0)
			return failed(b, "dmasplit_unmap", r);
	}
	return 0;
}

struct pass_arg {
	int (*pass)(struct bench *b, unsigned long n);
	unsigned long pages;
	unsigned int iters;	/* passes per sample */
	double calls;		/* IOTLB invalidations per pass, last sample */
};

/* ns per page; the statistics are read outside the timed part. */
static int pass_sample(struct bench *b, void *arg, double *ns)
{
	struct pass_arg *a = arg;
	struct dmasplit_dev_stats s0, s1;
	unsigned int k;
	uint64_t t0;
	int r;

	r = get_stats(b->dev, &s0);
	if (r < 0)
		return failed(b, "dmasplit_dev_get_stats", r);
	t0 = now_ns();
	for (k = 0; k < a->iters; k++) {
		r = a->pass(b, a->pages);
		if (r < 0)
			return r;
	}
	*ns = (double)(now_ns() - t0) / a->iters / a->pages;
	r = get_stats(b->dev, &s1);
	if (r < 0)
		return failed(b, "dmasplit_dev_get_stats", r);
	a->calls = (double)(s1.kernel_calls - s0.kernel_calls) / a->iters;
	return 0;
}

static void measure_split(struct bench *b, void *data)
{
	/* Enough pages per sample that even N = 1 is not a clock tick. */
	unsigned long budget = b->quick ? 8192 : 65536;
	struct pass_arg split = { .pass = split_pass };
	struct pass_arg per_page = { .pass = per_page_pass };
	struct split_data *d = data;
	struct split_row *row;
	unsigned int i;
	int r;

	if (!need_windows(b))
		return;
	for (i = 0; i < ARRAY_SIZE(split_pages); i++) {
		if (split_pages[i] > b->max_pages)
			break;
		row = &d->rows[d->nrows];
		row->pages = split_pages[i];
		/* The million-page row costs the most: fewer samples. */
		row->samples = row->pages > 65536 ? 5 : b->samples;
		split.pages = per_page.pages = row->pages;
		split.iters = per_page.iters =
			row->pages < budget ? budget / row->pages : 1;
		progress(b, "%lu page%s", row->pages,
			 row->pages > 1 ? "s" : "");
		r = compare(b, row->samples, true, pass_sample, &per_page,
			    pass_sample, &split, &row->p);
		if (r < 0)
			return;
		row->per_page_ns = row->p.a;
		row->split_ns = row->p.b;
		row->calls_split = split.calls;
		row->calls_per_page = per_page.calls;
		d->nrows++;
		if (row->pages == 1)
			judge(b, 1, &row->p, "1 page");
		if (row->pages == SPLIT_JUDGE_PAGES)
			judge(b, 0, &row->p, "%lu pages", row->pages);
	}
}

static void text_split(const struct bench *b, const void *data)
{
	const struct split_data *d = data;
	const struct split_row *row;
	unsigned int i;

	text_head(b, "split: 1 iova_alloc, N one-page links, 1 sync, 1 unlink, destroy\n"
		  "   per-page: N dmasplit_map of one page, N dmasplit_unmap");
	if (d->nrows)
		printf("   %9s  %10s  %10s  %8s  %s\n"
		       "   %9s  %10s  %10s  %8s  %s\n", "", "split",
		       "per-page", "", "kernel calls", "pages",
		       "ns/page", "ns/page", "ratio", "split / per-page");
	for (i = 0; i < d->nrows; i++) {
		row = &d->rows[i];
		printf("   %9lu  %10.1f  %10.1f  %7.2fx  %.0f / %.0f\n",
		       row->pages, row->split_ns, row->per_page_ns, row->p.ratio,
		       row->calls_split, row->calls_per_page);
	}
	text_target(b);
}

static void json_split(struct json *j, const struct bench *b,
		       const void *data)
{
	const struct split_data *d = data;
	const struct split_row *row;
	unsigned int i;

	json_open(j, "rows", '[');
	for (i = 0; i < d->nrows; i++) {
		row = &d->rows[i];
		json_open(j, NULL, '{');
		json_u64(j, "pages", row->pages);
		json_int(j, "samples", row->samples);
		json_double(j, "split_ns_per_page", row->split_ns);
		json_double(j, "per_page_ns_per_page", row->per_page_ns);
		json_double(j, "ratio", row->p.ratio);
		json_double(j, "ratio_lo", row->p.lo);
		json_double(j, "ratio_hi", row->p.hi);
		json_double(j, "iotlb_invalidations_split", row->calls_split);
		json_double(j, "iotlb_invalidations_per_page",
			    row->calls_per_page);
		json_close(j, '}');
	}
	json_close(j, ']');
}

const struct figure fig_split = {
	.key = "split_vs_per_page",
	.title = "split path vs per-page path",
	.ratio_of = "per-page path time / split path time, paired rounds",
	.goals = {
		{ "split vs per-page, 65536 pages", "x", false, 5.0 },
		{ "split vs per-page, 1 page", "x", false, 1.0 },
	},
	.ngoals = 2,
	.size = sizeof(struct split_data),
	.measure = measure_split,
	.text = text_split,
	.json = json_split,
};
