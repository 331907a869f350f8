// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit bench, figure 2: what a linked page costs against the floor.
 *
 * Measured: the time per page of dmasplit_iova_link as a caller of the
 * split path uses it, one link of one page per page (the figure judged),
 * and as one link of all 65536 pages (shown beside it, not judged: what a
 * page adds to a link once the call's fixed cost of validation, dispatch
 * and a table walk is shared); the window's setup and teardown are not
 * timed.
 * Baseline: the least any page table must do per linked page, one
 * 8-byte entry stored into a packed array of entries.
 * Target: at most 3 times the store, in time, for one link per page.
 * Window bookkeeping is meant to be O(1) per linked page and small (no
 * per-page heap node); a link that costs a few stores per page is that,
 * one that allocates or searches per page is not.
 * In instructions, one link of one page is meant to cost at most 100:
 * judged by tools/bench/callgrind.sh (bench --callgrind under callgrind),
 * which a noisy machine does not move.  The time figure here is judged
 * too, against its own target; the two need not agree.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define LINK_PAGES 65536ul

/* A pass of the store floor lasts tens of microseconds: repeated, a
 * sample lasts about as long as one of the link side. */
#define STORE_REPS 32

struct link_data {
	double link_ns, bulk_link_ns, store_ns;	/* per page */
	unsigned long pages;	/* LINK_PAGES, or fewer where a device holds
				 * fewer mappings */
	struct paired per, bulk;	/* link / store */
};

struct link_arg {
	unsigned long pages;
	bool bulk;	/* one link of every page instead of one per page */
};

/* ns per page of linking alone: the window's setup and teardown are
 * not timed. */
static int link_sample(struct bench *b, void *arg, double *ns)
{
	struct link_arg *a = arg;
	size_t len = (size_t)a->pages * b->page;
	struct dmasplit_iova *iova;
	uint64_t t0, t;
	int r;

	r = dmasplit_iova_alloc(b->dev, len, 0, &iova);
	if (r < 0)
		return failed(b, "dmasplit_iova_alloc", r);
	t0 = now_ns();
	r = link_pages(b, iova, a->pages, a->bulk);
	t = now_ns() - t0;
	r = window_end(iova, len, r);
	if (r < 0)
		return failed(b, "dmasplit_iova_link/sync/unlink", r);
	*ns = (double)t / a->pages;
	return 0;
}

/*
 * The floor: what a page table must do at least per linked page, one
 * 8-byte entry stored into a packed array of entries (b->dma, warm).
 * volatile makes each a real scalar store, neither vectorised nor
 * dropped.
 */
static int store_sample(struct bench *b, void *arg, double *ns)
{
	const struct link_arg *a = arg;
	volatile uint64_t *pte = b->dma;
	uintptr_t base = (uintptr_t)b->region;
	unsigned long i;
	unsigned int k;
	uint64_t t0;

	t0 = now_ns();
	for (k = 0; k < STORE_REPS; k++)
		for (i = 0; i < a->pages; i++)
			pte[i] = (base + (uint64_t)i * b->page) | 3;
	*ns = (double)(now_ns() - t0) / STORE_REPS / a->pages;
	return 0;
}

static void measure_link(struct bench *b, void *data)
{
	struct link_arg per = { .pages = LINK_PAGES };
	struct link_arg bulk = { .pages = LINK_PAGES, .bulk = true };
	struct link_data *d = data;
	int r;

	if (!need_windows(b))
		return;
	memset(b->dma, 0, LINK_PAGES * sizeof(*b->dma));
	progress(b, "one link per page");
	r = compare(b, b->samples, true, link_sample, &per, store_sample,
		    &per, &d->per);
	while (r == -ENOSPC && per.pages > 1024) {
		/* Strict unlink keeps a kernel mapping per link, and the
		 * device holds fewer (type1 allows 65535 by default): the
		 * most pages it holds, halved until they fit. */
		b->res[b->cur].err = 0;
		b->res[b->cur].why[0] = '\0';
		per.pages /= 2;
		bulk.pages = per.pages;
		r = compare(b, b->samples, true, link_sample, &per,
			    store_sample, &per, &d->per);
	}
	if (r < 0)
		return;
	d->pages = per.pages;
	progress(b, "one link for all pages");
	r = compare(b, b->samples, true, link_sample, &bulk, store_sample,
		    &bulk, &d->bulk);
	if (r < 0)
		return;
	d->link_ns = d->per.a;
	d->bulk_link_ns = d->bulk.a;
	/* Both store medians measure the same loop: pool them. */
	d->store_ns = (d->per.b + d->bulk.b) / 2;
	/* One call per page, as the split path links: the call's fixed
	 * cost is in it.  One link of them all is shown beside it. */
	judge(b, 0, &d->per,
	      "one link of one page per page, %lu pages; one link of all: %.1fx",
	      d->pages, d->bulk.ratio);
}

static void text_link(const struct bench *b, const void *data)
{
	const struct link_data *d = data;

	text_head(b, "the floor: one volatile 8-byte store per page into a packed\n"
		  "   array of uint64_t entries, as a page table's leaf entries are");
	if (b->res[b->cur].done) {
		printf("   %-40s %8.2f ns/page  %7.2fx\n",
		       "one dmasplit_iova_link per page", d->link_ns,
		       d->per.ratio);
		printf("   %-40s %8.2f ns/page  %7.2fx\n",
		       "one link for all pages (not judged)", d->bulk_link_ns,
		       d->bulk.ratio);
		printf("   %-40s %8.2f ns/page\n", "one 8-byte store",
		       d->store_ns);
	}
	text_target(b);
}

static void json_link(struct json *j, const struct bench *b,
		      const void *data)
{
	const struct link_data *d = data;

	json_u64(j, "pages", d->pages);
	json_str(j, "floor", "one volatile 8-byte store per page into a packed array of uint64_t");
	json_double(j, "link_ns_per_page", d->link_ns);
	json_double(j, "bulk_link_ns_per_page", d->bulk_link_ns);
	json_double(j, "bulk_ratio", d->bulk.ratio);
	json_double(j, "per_page_ratio", d->per.ratio);
	json_double(j, "store_ns_per_page", d->store_ns);
}

const struct figure fig_link = {
	.key = "link_vs_store",
	.title = "link cost vs one 8-byte store per page",
	.ratio_of = "ns per page of one dmasplit_iova_link per page / ns per 8-byte store, paired rounds",
	.goals = { { "one link per page vs a store per page", "x", true,
		     3.0 } },
	.ngoals = 1,
	.size = sizeof(struct link_data),
	.measure = measure_link,
	.text = text_link,
	.json = json_link,
};
