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
 *
 * Twice: on the simulated device as it is (inval_ns=0: an invalidation
 * costs a memory barrier, the software alone is measured), and with
 * each invalidation costing the modelled BENCH_INVAL_NS (inval_ns=N,
 * --inval-ns), which is what the per-page path pays on real hardware.
 * The break-even, the fewest pages at which the split path is at least
 * as fast, is searched for both.
 * Targets: at least 1x at one page (a caller need not count pages to
 * choose); at 65536 pages, at least 5x with inval_ns=0 and 20x with the
 * modelled cost.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define SPLIT_JUDGE_PAGES 65536ul

static const unsigned long split_pages[] = {
	1, 16, 256, 4096, 65536, 1048576,
};

/* With the modelled cost the per-page path of a million pages lasts
 * seconds a pass: the rows stop at the judged one. */
#define SPLIT_MODELLED_MAX 65536ul

/* The break-even is searched up to this many pages. */
#define SPLIT_BREAK_EVEN_MAX 4096ul

struct split_row {
	unsigned long pages;
	unsigned int samples;
	double split_ns, per_page_ns;	/* per page */
	struct paired p;		/* per-page time / split time */
	double calls_split, calls_per_page;	/* per pass */
};

/* One device: inval_ns=0 or the modelled cost. */
struct split_set {
	uint64_t inval_ns;
	unsigned int nrows;
	struct split_row rows[ARRAY_SIZE(split_pages)];
	unsigned long break_even;	/* 0: above SPLIT_BREAK_EVEN_MAX */
	double break_even_ratio;	/* the search's own, at break_even */
	unsigned long mapping_limit;	/* first size refused, 0: none */
	bool done;
};

struct split_data {
	struct split_set set[2];	/* inval_ns=0, modelled */
	char modelled_spec[128];
};

/* One window, one link per page, one sync, one unlink, destroy. */
static int split_pass(struct bench *b, struct dmasplit_dev *dev,
		      unsigned long n)
{
	size_t len = (size_t)n * b->page;
	struct dmasplit_iova *iova;
	unsigned long i;
	int r;

	r = dmasplit_iova_alloc(dev, len, 0, &iova);
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
static int per_page_pass(struct bench *b, struct dmasplit_dev *dev,
			 unsigned long n)
{
	unsigned long i;
	int r;

	for (i = 0; i < n; i++) {
		r = dmasplit_map(dev, page_at(b, i), b->page,
				 DMASPLIT_BIDIRECTIONAL, 0, &b->dma[i]);
		if (r < 0) {
			while (i--)
				dmasplit_unmap(dev, b->dma[i], b->page,
					       DMASPLIT_BIDIRECTIONAL, 0);
			return failed(b, "dmasplit_map", r);
		}
	}
	for (i = 0; i < n; i++) {
		r = dmasplit_unmap(dev, b->dma[i], b->page,
				   DMASPLIT_BIDIRECTIONAL, 0);
		if (r < 0)
			return failed(b, "dmasplit_unmap", r);
	}
	return 0;
}

struct pass_arg {
	int (*pass)(struct bench *b, struct dmasplit_dev *dev,
		    unsigned long n);
	struct dmasplit_dev *dev;
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

	r = get_stats(a->dev, &s0);
	if (r < 0)
		return failed(b, "dmasplit_dev_get_stats", r);
	t0 = now_ns();
	for (k = 0; k < a->iters; k++) {
		r = a->pass(b, a->dev, a->pages);
		if (r < 0)
			return r;
	}
	*ns = (double)(now_ns() - t0) / a->iters / a->pages;
	r = get_stats(a->dev, &s1);
	if (r < 0)
		return failed(b, "dmasplit_dev_get_stats", r);
	a->calls = (double)(s1.kernel_calls - s0.kernel_calls) / a->iters;
	return 0;
}

/* Per-page time / split time at n pages, paired rounds. */
static int split_compare(struct bench *b, struct dmasplit_dev *dev,
			 unsigned long n, unsigned int rounds,
			 unsigned long budget, struct pass_arg *split,
			 struct pass_arg *per_page, struct paired *p)
{
	*split = (struct pass_arg){ .pass = split_pass, .dev = dev };
	*per_page = (struct pass_arg){ .pass = per_page_pass, .dev = dev };
	split->pages = per_page->pages = n;
	split->iters = per_page->iters = n < budget ? budget / n : 1;
	return compare(b, rounds, true, pass_sample, per_page, pass_sample,
		       split, p);
}

/*
 * The fewest pages at which the split path is at least as fast as the
 * per-page path (the median ratio at least 1): doubling, then halving
 * the gap.  0 if not by SPLIT_BREAK_EVEN_MAX.
 */
static int break_even(struct bench *b, struct dmasplit_dev *dev,
		      unsigned long budget, unsigned long *pages,
		      double *ratio)
{
	unsigned int rounds = b->quick ? 5 : 9;
	struct pass_arg split, per_page;
	unsigned long lo = 0, hi = 1, mid;
	struct paired p;
	int r;

	for (;;) {
		r = split_compare(b, dev, hi, rounds, budget, &split,
				  &per_page, &p);
		if (r < 0)
			return r;
		if (p.ratio >= 1) {
			*ratio = p.ratio;
			break;
		}
		lo = hi;
		if (hi >= SPLIT_BREAK_EVEN_MAX) {
			*pages = 0;
			return 0;
		}
		hi *= 2;
	}
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		r = split_compare(b, dev, mid, rounds, budget, &split,
				  &per_page, &p);
		if (r < 0)
			return r;
		if (p.ratio >= 1) {
			hi = mid;
			*ratio = p.ratio;
		} else {
			lo = mid;
		}
	}
	*pages = hi;
	return 0;
}

static int measure_set(struct bench *b, struct dmasplit_dev *dev,
		       struct split_set *set, unsigned long max,
		       unsigned long budget)
{
	struct pass_arg split, per_page;
	struct split_row *row;
	unsigned int i;
	int r;

	for (i = 0; i < ARRAY_SIZE(split_pages); i++) {
		if (split_pages[i] > max)
			break;
		row = &set->rows[set->nrows];
		row->pages = split_pages[i];
		/* The million-page row costs the most: fewer rounds. */
		row->samples = row->pages > 65536 ? 5 : b->samples;
		progress(b, "inval_ns=%" PRIu64 ", %lu page%s", set->inval_ns,
			 row->pages, row->pages > 1 ? "s" : "");
		r = split_compare(b, dev, row->pages, row->samples, budget,
				  &split, &per_page, &row->p);
		if (r == -ENOSPC && set->nrows) {
			/* The device holds fewer mappings than the per-page
			 * path needs (type1 allows 65535 by default): the
			 * rows end at the last size it holds. */
			b->res[b->cur].err = 0;
			b->res[b->cur].why[0] = '\0';
			set->mapping_limit = row->pages;
			break;
		}
		if (r < 0)
			return r;
		row->per_page_ns = row->p.a;
		row->split_ns = row->p.b;
		row->calls_split = split.calls;
		row->calls_per_page = per_page.calls;
		set->nrows++;
	}
	progress(b, "inval_ns=%" PRIu64 ", break-even", set->inval_ns);
	r = break_even(b, dev, budget, &set->break_even,
		       &set->break_even_ratio);
	if (r < 0)
		return r;
	set->done = true;
	return 0;
}

static const struct split_row *row_at(const struct split_set *set,
				      unsigned long pages)
{
	unsigned int i;

	for (i = 0; i < set->nrows; i++)
		if (set->rows[i].pages == pages)
			return &set->rows[i];
	return NULL;
}

/*
 * The modelled device: the bench's simulated device with inval_ns= added.
 * A real device's invalidations cost what they cost: not modelled.
 */
static int open_modelled(struct bench *b, struct split_data *d,
			 struct dmasplit_dev **dev)
{
	if (strncmp(b->spec, "sim:", 4) || strstr(b->spec, "inval_ns="))
		return -EOPNOTSUPP;
	snprintf(d->modelled_spec, sizeof(d->modelled_spec),
		 "%s,inval_ns=%" PRIu64, b->spec, b->inval_ns);
	return dmasplit_dev_open(b->ctx, d->modelled_spec, dev);
}

static void measure_split(struct bench *b, void *data)
{
	/* Enough pages per sample that even N = 1 is not a clock tick. */
	unsigned long budget = b->quick ? 8192 : 65536;
	struct split_data *d = data;
	struct dmasplit_dev *dev = NULL;
	const struct split_row *row;
	static const struct paired none;
	int r;

	if (!need_windows(b))
		return;
	d->set[0].inval_ns = 0;
	if (measure_set(b, b->dev, &d->set[0], b->max_pages, budget) < 0)
		return;
	row = row_at(&d->set[0], SPLIT_JUDGE_PAGES);
	if (row)
		judge(b, 0, &row->p, "%lu pages, inval_ns=0", row->pages);
	else if (d->set[0].mapping_limit)
		not_judged(b, 0, &none, "the device cannot hold %lu mappings",
			   d->set[0].mapping_limit);
	row = row_at(&d->set[0], 1);
	judge(b, 1, &row->p, "1 page, inval_ns=0; break-even %lu pages",
	      d->set[0].break_even);

	d->set[1].inval_ns = b->inval_ns;
	r = open_modelled(b, d, &dev);
	if (r == -EOPNOTSUPP) {
		not_judged(b, 2, &none, "a real device: its invalidations are not modelled");
		return;
	}
	if (r < 0) {
		failed(b, "opening the device with inval_ns=", r);
		return;
	}
	/* Each sample lasts a millisecond per page already: the budget
	 * need not grow with the full run. */
	r = measure_set(b, dev, &d->set[1],
			b->max_pages < SPLIT_MODELLED_MAX ? b->max_pages
							  : SPLIT_MODELLED_MAX,
			8192);
	dmasplit_dev_close(dev);
	if (r < 0)
		return;
	row = row_at(&d->set[1], SPLIT_JUDGE_PAGES);
	if (row)
		judge(b, 2, &row->p, "%lu pages, inval_ns=%" PRIu64 " (modelled)",
		      row->pages, b->inval_ns);
}

static void text_set(const struct split_set *set)
{
	const struct split_row *row;
	unsigned int i;

	printf("   %9s  %10s  %10s  %8s  %s\n"
	       "   %9s  %10s  %10s  %8s  %s\n", "", "split", "per-page", "",
	       "kernel calls", "pages", "ns/page", "ns/page", "ratio",
	       "split / per-page");
	for (i = 0; i < set->nrows; i++) {
		row = &set->rows[i];
		printf("   %9lu  %10.1f  %10.1f  %7.2fx  %.0f / %.0f\n",
		       row->pages, row->split_ns, row->per_page_ns, row->p.ratio,
		       row->calls_split, row->calls_per_page);
	}
	if (set->mapping_limit)
		printf("   %9lu  the per-page path needs more mappings than the device holds\n",
		       set->mapping_limit);
	if (!set->done)
		return;
	/* The search's rounds are its own: near 1x, its answer and the
	 * row of the same size above can fall on either side. */
	if (set->break_even)
		printf("   break-even (split >= per-page): %lu page%s (%.2fx in the search's own rounds)\n",
		       set->break_even, set->break_even > 1 ? "s" : "",
		       set->break_even_ratio);
	else
		printf("   break-even (split >= per-page): above %lu pages\n",
		       SPLIT_BREAK_EVEN_MAX);
}

static void text_split(const struct bench *b, const void *data)
{
	const struct split_data *d = data;

	text_head(b, "split: 1 iova_alloc, N one-page links, 1 sync, 1 unlink, destroy\n"
		  "   per-page: N dmasplit_map of one page, N dmasplit_unmap");
	if (d->set[0].nrows) {
		printf("   inval_ns=0: an IOTLB invalidation costs a memory barrier (software alone)\n");
		text_set(&d->set[0]);
	}
	if (d->set[1].nrows) {
		printf("   inval_ns=%" PRIu64 ": each IOTLB invalidation costs %" PRIu64 " ns, a modelled\n"
		       "   parameter (--inval-ns; Intel VT-d queued invalidation takes on the\n"
		       "   order of 1 us), on %s\n", d->set[1].inval_ns,
		       d->set[1].inval_ns, d->modelled_spec);
		text_set(&d->set[1]);
	}
	text_target(b);
}

static void json_rows(struct json *j, const char *name,
		      const struct split_set *set)
{
	const struct split_row *row;
	unsigned int i;

	json_open(j, name, '[');
	for (i = 0; i < set->nrows; i++) {
		row = &set->rows[i];
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

static void json_break_even(struct json *j, const char *name,
			    const struct split_set *set)
{
	if (set->done && set->break_even)
		json_u64(j, name, set->break_even);
	else
		json_null(j, name);
}

static void json_split(struct json *j, const struct bench *b,
		       const void *data)
{
	const struct split_data *d = data;

	json_rows(j, "rows", &d->set[0]);
	json_break_even(j, "break_even_pages", &d->set[0]);
	if (d->set[0].mapping_limit)
		json_u64(j, "pages_beyond_the_mapping_limit",
			 d->set[0].mapping_limit);
	else
		json_null(j, "pages_beyond_the_mapping_limit");
	json_u64(j, "inval_ns_modelled", b->inval_ns);
	json_str(j, "inval_ns_source", "modelled parameter: Intel VT-d queued invalidation of the IOTLB takes on the order of 1 us; --inval-ns overrides");
	json_str(j, "modelled_spec", d->modelled_spec[0] ? d->modelled_spec : NULL);
	json_rows(j, "rows_modelled", &d->set[1]);
	json_break_even(j, "break_even_pages_modelled", &d->set[1]);
}

const struct figure fig_split = {
	.key = "split_vs_per_page",
	.title = "split path vs per-page path",
	.ratio_of = "per-page path time / split path time, paired rounds",
	.goals = {
		{ "split vs per-page, 65536 pages, inval_ns=0", "x", false,
		  5.0 },
		{ "split vs per-page, 1 page, inval_ns=0", "x", false, 1.0 },
		{ "split vs per-page, 65536 pages, modelled inval_ns", "x",
		  false, 20.0 },
	},
	.ngoals = 3,
	.size = sizeof(struct split_data),
	.measure = measure_split,
	.text = text_split,
	.json = json_split,
};
