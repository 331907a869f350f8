// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit bench, figure 7: reserving a window among many.
 *
 * Measured: dmasplit_iova_alloc and dmasplit_iova_destroy of one more
 * window on a device where 100000 windows were reserved and every other
 * one destroyed again, in two layouts:
 *  - uniform: one-page windows, so 50000 live windows with a one-page
 *    hole between each two, the free space as fragmented as it gets,
 *    and no hole that a window of more than one page fits;
 *  - mixed: windows of 1 to 17 pages in a pseudo-random order, so holes
 *    of every size from 1 to 17 pages: a 3-page window fits one low
 *    down, and so does a 17-page one, in a tree of 50000 free blocks.
 * Each window is destroyed as soon as it is made, or (in flight) after
 * the next ALLOC_INFLIGHT - 1 are made, as the windows of a queue of
 * I/Os are: the allocator's search from the range it last handed out
 * (core/iovad.c) serves the first, not the second.
 * Baseline: the same on a device fragmented from 1000 windows.
 * Target: at most 1.3 times slower, the worst of every layout and size.
 * IOVA caches in the kernel's manner hold power-of-two sizes only, and a
 * one-page window may never leave its per-CPU cache: 3 and 17 pages
 * reach the allocator.  One that finds a fitting free range in
 * O(log n) costs little more among 50000 holes than among 500; one that
 * walks the holes costs a hundred times more.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define ALLOC_FEW 1000ul
#define ALLOC_MANY 100000ul
#define ALLOC_INFLIGHT 32u

/*
 * The windows timed: IOVA caches in the kernel's manner hold
 * power-of-two sizes only, so a one-page window may never reach the
 * allocator whose scaling is measured here; 3 and 17 pages do.
 */
static const struct alloc_row {
	bool mixed;		/* the layout: holes of 1 to 17 pages */
	unsigned int pages;	/* of the window timed */
	unsigned int inflight;	/* windows made before each destroy */
} alloc_rows[] = {
	{ false, 1, 1 }, { false, 3, 1 }, { false, 17, 1 },
	{ true, 3, 1 }, { true, 17, 1 },
	{ true, 3, ALLOC_INFLIGHT }, { true, 17, ALLOC_INFLIGHT },
};

struct alloc_data {
	struct paired p[ARRAY_SIZE(alloc_rows)];	/* many / few */
};

struct alloc_arg {
	struct dmasplit_dev *dev;
	struct dmasplit_iova **live;
	unsigned long nlive;
	unsigned long iters;
	uint64_t size;		/* of the window timed */
	unsigned int inflight;
};

/* The ring of windows in flight, when the sample ends or fails. */
static void drain(struct dmasplit_iova **ring, unsigned int n)
{
	while (n)
		dmasplit_iova_destroy(ring[--n]);
}

/* ns per window made and destroyed, with a->inflight made (counting it)
 * each time one is destroyed: the oldest. */
static int alloc_sample(struct bench *b, void *arg, double *ns)
{
	struct alloc_arg *a = arg;
	struct dmasplit_iova *ring[ALLOC_INFLIGHT];
	unsigned int q = a->inflight, slot = 0, i;
	unsigned long k;
	uint64_t t0;
	int r;

	if (q < 1 || q > ALLOC_INFLIGHT)
		return failed(b, "windows in flight beyond the ring", -EINVAL);

	for (i = 0; i + 1 < q; i++) {
		r = dmasplit_iova_alloc(a->dev, a->size, 0, &ring[i]);
		if (r < 0) {
			drain(ring, i);
			return failed(b, "dmasplit_iova_alloc", r);
		}
	}
	t0 = now_ns();
	for (k = 0; k < a->iters; k++) {
		r = dmasplit_iova_alloc(a->dev, a->size, 0, &ring[q - 1]);
		if (r < 0) {
			drain(ring, q - 1);
			return failed(b, "dmasplit_iova_alloc", r);
		}
		dmasplit_iova_destroy(ring[slot]);
		ring[slot] = ring[q - 1];
		slot = slot + 2 < q ? slot + 1 : 0;
	}
	*ns = (double)(now_ns() - t0) / a->iters;
	drain(ring, q - 1);
	return 0;
}

/* Windows back to back from the bottom, then every other one destroyed:
 * holes a lowest-fit search that walks them must step over.  One page
 * each, or (mixed) 1 to 17 pages in an order that repeats in no short
 * period, the same for both devices. */
static int alloc_setup(struct bench *b, struct alloc_arg *a, bool mixed,
		       unsigned long nlive, unsigned long iters)
{
	uint32_t x = 0x9e3779b9u;
	unsigned long i;
	int r;

	a->iters = iters;
	r = dmasplit_dev_open(b->ctx, b->spec, &a->dev);
	if (r < 0)
		return failed(b, "opening another device", r);
	a->live = calloc(nlive, sizeof(*a->live));
	if (!a->live)
		return failed(b, "allocating the window list", -ENOMEM);
	for (a->nlive = 0; a->nlive < nlive; a->nlive++) {
		unsigned int pages = 1;

		if (mixed) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			pages = 1 + x % 17;
		}
		r = dmasplit_iova_alloc(a->dev, pages * b->page, 0,
					&a->live[a->nlive]);
		if (r < 0)
			return failed(b, "dmasplit_iova_alloc", r);
	}
	for (i = 0; i < nlive; i++) {
		if (i % 2)
			dmasplit_iova_destroy(a->live[i]);
		else
			a->live[i / 2] = a->live[i];
	}
	a->nlive = (nlive + 1) / 2;
	return 0;
}

/* Whatever alloc_setup made of a, if anything; a is empty again. */
static void alloc_teardown(struct alloc_arg *a)
{
	while (a->nlive)
		dmasplit_iova_destroy(a->live[--a->nlive]);
	free(a->live);
	dmasplit_dev_close(a->dev);
	*a = (struct alloc_arg){ 0 };
}

static void measure_alloc(struct bench *b, void *data)
{
	unsigned long iters = b->quick ? 20000 : 200000;
	struct alloc_arg few = { 0 }, many = { 0 };
	struct alloc_data *d = data;
	unsigned int i, worst = 0;
	int r = 0;

	if (!need_windows(b))
		return;
	for (i = 0; i < ARRAY_SIZE(alloc_rows) && r >= 0; i++) {
		const struct alloc_row *row = &alloc_rows[i];

		if (!i || row->mixed != alloc_rows[i - 1].mixed) {
			alloc_teardown(&many);
			alloc_teardown(&few);
			progress(b, "%lu windows, %s", ALLOC_MANY,
				 row->mixed ? "mixed" : "uniform");
			r = alloc_setup(b, &few, row->mixed, ALLOC_FEW, iters);
			if (r >= 0)
				r = alloc_setup(b, &many, row->mixed,
						ALLOC_MANY, iters);
			if (r < 0)
				break;
		}
		progress(b, "timing %u-page windows, %u in flight",
			 row->pages, row->inflight);
		few.size = many.size = row->pages * b->page;
		few.inflight = many.inflight = row->inflight;
		r = compare(b, b->quick ? 5 : 11, true, alloc_sample, &many,
			    alloc_sample, &few, &d->p[i]);
		if (r >= 0 && d->p[i].ratio > d->p[worst].ratio)
			worst = i;
	}
	if (r >= 0)
		judge(b, 0, &d->p[worst],
		      "the worst: %u-page windows, %s, %u in flight",
		      alloc_rows[worst].pages,
		      alloc_rows[worst].mixed ? "mixed" : "uniform",
		      alloc_rows[worst].inflight);
	alloc_teardown(&many);
	alloc_teardown(&few);
}

static void text_alloc(const struct bench *b, const void *data)
{
	const struct alloc_data *d = data;
	unsigned int i;

	text_head(b, "iova_alloc + iova_destroy of one more window, where N windows were\n"
		  "   reserved and every other one destroyed (N/2 live, N/2 holes); the\n"
		  "   windows of one page (uniform) or of 1 to 17 pages (mixed); each\n"
		  "   destroyed at once, or when 32 are in flight, the oldest");
	if (b->res[b->cur].done) {
		printf("   %-8s %-10s %9s  %12s  %12s  %8s\n", "layout", "window",
		       "in flight", "N = 1000", "N = 100000", "ratio");
		for (i = 0; i < ARRAY_SIZE(alloc_rows); i++)
			printf("   %-8s %2u page%-3s %9u  %9.1f ns  %9.1f ns  %7.2fx\n",
			       alloc_rows[i].mixed ? "mixed" : "uniform",
			       alloc_rows[i].pages,
			       alloc_rows[i].pages > 1 ? "s" : "",
			       alloc_rows[i].inflight,
			       d->p[i].b, d->p[i].a, d->p[i].ratio);
	}
	text_target(b);
}

static void json_alloc(struct json *j, const struct bench *b,
		       const void *data)
{
	const struct alloc_data *d = data;
	unsigned int i;

	json_u64(j, "live_few", ALLOC_FEW);
	json_u64(j, "live_many", ALLOC_MANY);
	json_str(j, "fragmented", "every other window destroyed before timing");
	json_open(j, "rows", '[');
	for (i = 0; i < ARRAY_SIZE(alloc_rows); i++) {
		json_open(j, NULL, '{');
		json_str(j, "layout", alloc_rows[i].mixed ? "mixed" : "uniform");
		json_int(j, "window_pages", alloc_rows[i].pages);
		json_int(j, "in_flight", alloc_rows[i].inflight);
		json_double(j, "ns_few", d->p[i].b);
		json_double(j, "ns_many", d->p[i].a);
		json_double(j, "ratio", d->p[i].ratio);
		json_double(j, "ratio_lo", d->p[i].lo);
		json_double(j, "ratio_hi", d->p[i].hi);
		json_close(j, '}');
	}
	json_close(j, ']');
}

const struct figure fig_alloc = {
	.key = "iova_alloc_scaling",
	.title = "iova_alloc among many vs few fragmented windows",
	.ratio_of = "iova_alloc+iova_destroy time among 100000 fragmented windows / among 1000, the worst of one-page windows with 1, 3 and 17 pages timed and of 1- to 17-page windows with 3 and 17 timed, each destroyed at once or 32 in flight, paired rounds",
	.goals = { { "iova_alloc, 100K vs 1K windows, fragmented", "x",
		     true, 1.3 } },
	.ngoals = 1,
	.sim_only = true,
	.size = sizeof(struct alloc_data),
	.measure = measure_alloc,
	.text = text_alloc,
	.json = json_alloc,
};
