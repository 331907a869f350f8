// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit bench - the measurements of the performance model.
 *
 * Every figure is a ratio of two things timed side by side in the same
 * run: each round times both sides, one right after the other (which
 * goes first alternates), and divides them.  The figure is the median of
 * those paired ratios, and its spread their interquartile range.
 * Absolute times on a shared machine move by tens of percent from one
 * minute to the next; a ratio taken within one round barely does, and
 * the spread says how much it still did.  A target inside the spread is
 * neither met nor missed: the verdict is UNCERTAIN.
 *
 * This file is the harness: the device and its page region, timing and
 * the alternating samples, the verdicts, the table of figures and the
 * text and JSON around them.  Each figure, with its baseline and its
 * target, is a file of its own beside this one.
 *
 * Memory that is linked or mapped but never touched by the CPU comes from
 * one large MAP_NORESERVE region: a simulated device behind its IOMMU only
 * records host addresses, so a million pages cost address space, not RAM.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define BENCH_SPEC "sim:bench"

/* The order of the figures, in the output as in the runs. */
static const struct figure *const figures[BENCH_FIGURES] = {
	&fig_split,
	&fig_link,
	&fig_bounce,
	&fig_dispatch,
	&fig_scattered,
	/* Before the threads, whose arenas would blur the heap figures. */
	&fig_metadata,
	&fig_alloc,
	&fig_threads,
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double median(const double *v, unsigned int n)
{
	double s[MAX_SAMPLES];

	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Linear interpolation between the order statistics of sorted s. */
static double quantile(const double *s, unsigned int n, double q)
{
	double x = q * (n - 1);
	unsigned int i = (unsigned int)x;

	if (i + 1 >= n)
		return s[n - 1];
	return s[i] + (s[i + 1] - s[i]) * (x - i);
}

void spread_of(const double *ratios, unsigned int n, struct paired *p)
{
	double s[MAX_SAMPLES];

	memcpy(s, ratios, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	p->ratio = quantile(s, n, 0.5);
	p->lo = quantile(s, n, 0.25);
	p->hi = quantile(s, n, 0.75);
	p->rounds = n;
}

int failed(struct bench *b, const char *what, int r)
{
	struct result *res = &b->res[b->cur];

	if (!res->err) {
		res->err = r;
		snprintf(res->why, sizeof(res->why), "%s: %s", what,
			 strerror(-r));
	}
	return r;
}

int get_stats(struct dmasplit_dev *dev, struct dmasplit_dev_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->size = sizeof(*s);
	return dmasplit_dev_get_stats(dev, s);
}

bool need_windows(struct bench *b)
{
	if (b->info.flags & DMASPLIT_DEV_WINDOWS)
		return true;
	failed(b, "the device has no windows", -EOPNOTSUPP);
	return false;
}

int link_pages(struct bench *b, struct dmasplit_iova *iova, unsigned long n,
	       bool bulk)
{
	unsigned long i;
	int r = 0;

	if (bulk)
		return dmasplit_iova_link(iova, 0, b->region,
					  (size_t)n * b->page,
					  DMASPLIT_BIDIRECTIONAL, 0);
	for (i = 0; i < n && r >= 0; i++)
		r = dmasplit_iova_link(iova, (size_t)i * b->page,
				       page_at(b, i), b->page,
				       DMASPLIT_BIDIRECTIONAL, 0);
	return r;
}

int window_end(struct dmasplit_iova *iova, size_t len, int r)
{
	if (r >= 0)
		r = dmasplit_iova_sync(iova, 0, len);
	if (r >= 0)
		r = dmasplit_iova_unlink(iova, 0, len, DMASPLIT_BIDIRECTIONAL,
					 0);
	dmasplit_iova_destroy(iova);
	return r;
}

int one_page_window(struct dmasplit_dev *dev, size_t page, void *buf)
{
	struct dmasplit_iova *iova;
	int r;

	r = dmasplit_iova_alloc(dev, page, 0, &iova);
	if (r < 0)
		return r;
	r = dmasplit_iova_link(iova, 0, buf, page, DMASPLIT_BIDIRECTIONAL, 0);
	return window_end(iova, page, r);
}

void progress(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	if (!b->tty)
		return;
	fprintf(stderr, "\r\033[Kbench: [%d/%d] %s", (int)b->cur + 1,
		BENCH_FIGURES, figures[b->cur]->title);
	if (fmt) {
		fputs(": ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
	}
}

static void announce(struct bench *b, unsigned int m)
{
	b->cur = m;
	if (b->tty)
		progress(b, NULL);
	else
		fprintf(stderr, "bench: measuring %s...\n", figures[m]->title);
}

/*
 * Paired rounds: each times both sides, one right after the other, so
 * that what the machine does meanwhile weighs on both alike, and divides
 * them.  The order alternates too, so that neither side always runs in
 * the other's wake (caches, the heap it left behind).  warm: one untimed
 * run of each side first, for first-touch costs.
 */
int compare(struct bench *b, unsigned int rounds, bool warm,
	    sample_fn fa, void *a, sample_fn fb, void *bb,
	    struct paired *p)
{
	double ta[MAX_SAMPLES], tb[MAX_SAMPLES], ratios[MAX_SAMPLES], t;
	unsigned int i;
	int r;

	if (rounds > MAX_SAMPLES)
		rounds = MAX_SAMPLES;
	if (warm) {
		r = fa(b, a, &t);
		if (r >= 0)
			r = fb(b, bb, &t);
		if (r < 0)
			return r;
	}
	for (i = 0; i < rounds; i++) {
		if (i % 2) {
			r = fb(b, bb, &tb[i]);
			if (r >= 0)
				r = fa(b, a, &ta[i]);
		} else {
			r = fa(b, a, &ta[i]);
			if (r >= 0)
				r = fb(b, bb, &tb[i]);
		}
		if (r < 0)
			return r;
		ratios[i] = ta[i] / tb[i];
	}
	p->a = median(ta, rounds);
	p->b = median(tb, rounds);
	spread_of(ratios, rounds, p);
	return 0;
}

static bool meets(const struct goal *g, double v)
{
	return g->at_most ? v <= g->target : v >= g->target;
}

static struct check *check_of(struct bench *b, unsigned int g)
{
	struct result *res = &b->res[b->cur];
	unsigned int i;

	res->checks[g].done = true;
	res->done = true;
	for (i = 0; i < figures[b->cur]->ngoals; i++)
		if (!res->checks[i].done)
			res->done = false;
	return &res->checks[g];
}

PRINTF_LIKE(7, 0)
static void set_check(struct bench *b, unsigned int g, double v, double lo,
		      double hi, unsigned int rounds, const char *fmt,
		      va_list ap)
{
	const struct goal *goal = &figures[b->cur]->goals[g];
	struct check *c = check_of(b, g);
	bool lo_ok = meets(goal, lo), hi_ok = meets(goal, hi);

	c->value = v;
	c->lo = lo;
	c->hi = hi;
	c->rounds = rounds;
	c->verdict = lo_ok && hi_ok ? MET : !lo_ok && !hi_ok ? MISSED
							     : UNCERTAIN;
	vsnprintf(c->judged_on, sizeof(c->judged_on), fmt, ap);
}

void judge(struct bench *b, unsigned int g, const struct paired *p,
	   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_check(b, g, p->ratio, p->lo, p->hi, p->rounds, fmt, ap);
	va_end(ap);
}

void judge_value(struct bench *b, unsigned int g, double v,
		 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_check(b, g, v, v, v, 0, fmt, ap);
	va_end(ap);
}

void not_judged(struct bench *b, unsigned int g, const struct paired *p,
		const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_check(b, g, p->ratio, p->lo, p->hi, p->rounds, fmt, ap);
	va_end(ap);
	b->res[b->cur].checks[g].verdict = NOT_JUDGED;
}

static const char *verdict_name(enum verdict v)
{
	switch (v) {
	case MET:
		return "MET";
	case MISSED:
		return "MISSED";
	case UNCERTAIN:
		return "UNCERTAIN";
	default:
		return "NOT JUDGED";
	}
}

/* ------------------------------------------------------------------ */
/* Text output                                                         */

/* "5x", "64 B", "100 instructions" */
static void fmt_value(char *buf, size_t size, const struct goal *g, double v)
{
	if (!strcmp(g->unit, "x"))
		snprintf(buf, size, "%.2fx", v);
	else
		snprintf(buf, size, "%.*f %s", v == (long long)v ? 0 : 1, v,
			 g->unit);
}

static void fmt_target(char *buf, size_t size, const struct goal *g)
{
	char v[24];

	fmt_value(v, sizeof(v), g, g->target);
	snprintf(buf, size, "%s %s", g->at_most ? "<=" : ">=", v);
}

void text_target(const struct bench *b)
{
	const struct figure *f = figures[b->cur];
	const struct result *res = &b->res[b->cur];
	const struct check *c;
	char target[48], v[32], lo[32], hi[32];
	unsigned int g;

	for (g = 0; g < f->ngoals; g++) {
		c = &res->checks[g];
		fmt_target(target, sizeof(target), &f->goals[g]);
		printf("   target %s, %s: ", target, f->goals[g].name);
		if (!c->done) {
			printf("not measured (%s)\n",
			       res->why[0] ? res->why : "not run");
			continue;
		}
		fmt_value(v, sizeof(v), &f->goals[g], c->value);
		printf("%s", v);
		if (c->rounds) {
			fmt_value(lo, sizeof(lo), &f->goals[g], c->lo);
			fmt_value(hi, sizeof(hi), &f->goals[g], c->hi);
			printf(" [IQR %s-%s, %u rounds]", lo, hi, c->rounds);
		}
		printf(" (%s)  %s\n", c->judged_on, verdict_name(c->verdict));
	}
}

void text_head(const struct bench *b, const char *what)
{
	printf("\n%d. %s\n", (int)b->cur + 1, figures[b->cur]->title);
	if (what)
		printf("   %s\n", what);
}

static void text_summary(const struct bench *b)
{
	const struct figure *f;
	const struct result *res;
	const struct check *c;
	char figure[32], target[32];
	unsigned int m, g;

	printf("\n%-3s %-52s %16s %18s  %s\n", "", "summary", "figure",
	       "target", "result");
	for (m = 0; m < BENCH_FIGURES; m++) {
		f = figures[m];
		res = &b->res[m];
		for (g = 0; g < f->ngoals; g++) {
			c = &res->checks[g];
			fmt_target(target, sizeof(target), &f->goals[g]);
			if (c->done)
				fmt_value(figure, sizeof(figure), &f->goals[g],
					  c->value);
			else
				snprintf(figure, sizeof(figure), "-");
			if (g)
				printf("%-3s %-52s", "", f->goals[g].name);
			else
				printf("%2u. %-52s", m + 1, f->goals[g].name);
			printf(" %16s %18s  %s\n", figure, target,
			       res->inapplicable ? "N/A" :
			       !c->done ? "NOT RUN" : verdict_name(c->verdict));
		}
	}
}

static void bench_text(struct bench *b)
{
	const char *name = dmasplit_dev_backend_name(b->dev);
	unsigned int m;

	fputs("dmasplit bench on ", stdout);
	put_safe(b->spec);
	fputs(" (backend ", stdout);
	put_safe(name ? name : "?");
	printf(", granule %" PRIu64 "), checker off%s\n", b->page,
	       b->quick ? ", quick" : "");
	printf("each figure: the median of paired ratios over rounds that time both sides\n"
	       "side by side, with their interquartile range (IQR); a target inside\n"
	       "the IQR is UNCERTAIN\n");
	for (m = 0; m < BENCH_FIGURES; m++) {
		if (b->res[m].inapplicable)
			continue;
		b->cur = m;
		figures[m]->text(b, b->data[m]);
	}
	text_summary(b);
}

/* ------------------------------------------------------------------ */
/* JSON output                                                         */

static void json_goal(struct json *j, const struct goal *g,
		      const struct check *c)
{
	json_str(j, "name", g->name);
	json_str(j, "unit", g->unit);
	json_open(j, "target", '{');
	json_str(j, "op", g->at_most ? "<=" : ">=");
	json_double(j, "value", g->target);
	json_close(j, '}');
	if (c->done)
		json_double(j, "median", c->value);
	else
		json_null(j, "median");
	json_open(j, "spread", '{');
	json_str(j, "kind", c->rounds ? "interquartile range of paired ratios"
				      : "none: a single value");
	if (c->done) {
		json_double(j, "lo", c->lo);
		json_double(j, "hi", c->hi);
	} else {
		json_null(j, "lo");
		json_null(j, "hi");
	}
	json_int(j, "rounds", c->rounds);
	json_close(j, '}');
	json_str(j, "verdict", c->done ? verdict_name(c->verdict) : "NOT RUN");
	json_str(j, "judged_on", c->done ? c->judged_on : NULL);
}

/* The first goal is the figure's: its ratio, target, verdict and spread
 * stand at the top; every goal is under goals. */
static void json_result(struct json *j, const struct bench *b,
			unsigned int m)
{
	const struct figure *f = figures[m];
	const struct result *res = &b->res[m];
	const struct check *c = &res->checks[0];
	bool met = res->done;
	unsigned int g;

	for (g = 0; g < f->ngoals; g++)
		if (res->checks[g].verdict != MET)
			met = false;
	json_str(j, "title", f->title);
	if (c->done)
		json_double(j, "ratio", c->value);
	else
		json_null(j, "ratio");
	json_str(j, "unit", f->goals[0].unit);
	json_str(j, "ratio_of", f->ratio_of);
	json_open(j, "target", '{');
	json_str(j, "op", f->goals[0].at_most ? "<=" : ">=");
	json_double(j, "value", f->goals[0].target);
	json_close(j, '}');
	json_open(j, "spread", '{');
	if (c->done) {
		json_double(j, "lo", c->lo);
		json_double(j, "hi", c->hi);
	} else {
		json_null(j, "lo");
		json_null(j, "hi");
	}
	json_close(j, '}');
	json_str(j, "verdict", c->done ? verdict_name(c->verdict) : "NOT RUN");
	json_str(j, "judged_on", c->done ? c->judged_on : NULL);
	/* Every goal MET. */
	json_bool(j, "met", met);
	json_bool(j, "applicable", !res->inapplicable);
	if (!res->done && !res->inapplicable)
		json_errno(j, "error", res->err ? res->err : -ECANCELED);
	if (!res->done)
		json_str(j, "why", res->why);
	json_open(j, "goals", '[');
	for (g = 0; g < f->ngoals; g++) {
		json_open(j, NULL, '{');
		json_goal(j, &f->goals[g], &res->checks[g]);
		json_close(j, '}');
	}
	json_close(j, ']');
}

static void bench_json(struct bench *b)
{
	struct json j = { 0 };
	unsigned int m;

	json_open(&j, NULL, '{');
	json_str(&j, "spec", b->spec);
	json_str(&j, "backend", dmasplit_dev_backend_name(b->dev));
	json_u64(&j, "granule", b->page);
	json_bool(&j, "quick", b->quick);
	json_bool(&j, "checker", false);
	json_open(&j, "measurements", '{');
	for (m = 0; m < BENCH_FIGURES; m++) {
		b->cur = m;
		json_open(&j, figures[m]->key, '{');
		json_result(&j, b, m);
		if (b->res[m].checks[0].done)
			figures[m]->json(&j, b, b->data[m]);
		json_close(&j, '}');
	}
	json_close(&j, '}');
	json_close(&j, '}');
}

/* ------------------------------------------------------------------ */
/* bench                                                               */

static int bench_setup(struct bench *b)
{
	int r;

	r = dmasplit_dev_open(b->ctx, b->spec, &b->dev);
	if (r < 0) {
		say("%s: cannot open: %s", b->spec, strerror(-r));
		return r;
	}
	/* -v showed the selection; what follows is measured, not logged. */
	dmasplit_ctx_set_log_priority(b->ctx, LOG_ERR);
	b->info.size = sizeof(b->info);
	r = dmasplit_dev_get_info(b->dev, &b->info);
	if (r < 0) {
		fail("reading device information", r);
		return r;
	}
	b->page = b->info.granule ? b->info.granule : 4096;
	/* A real device pins what it maps, which would fault the untouched
	 * region in: keep it to 64K pages there. */
	if (!(b->info.flags & DMASPLIT_DEV_DMA_RW) && b->max_pages > 65536)
		b->max_pages = 65536;
	b->region_len = (size_t)b->max_pages * b->page;
	b->region = mmap(NULL, b->region_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b->region == MAP_FAILED) {
		r = -errno;
		b->region = NULL;
		fail("reserving address space for the pages", r);
		return r;
	}
	b->dma = calloc(b->max_pages, sizeof(*b->dma));
	if (!b->dma) {
		fail("allocating the address table", -ENOMEM);
		return -ENOMEM;
	}
	return 0;
}

static void bench_free(struct bench *b)
{
	unsigned int m;

	if (b->region)
		munmap(b->region, b->region_len);
	free(b->dma);
	dmasplit_dev_close(b->dev);
	for (m = 0; m < BENCH_FIGURES; m++)
		free(b->data[m]);
	free(b);
}

int cmd_bench(struct dmasplit_ctx *ctx, const struct options *opts,
	      char **args)
{
	struct bench *b;
	unsigned int m, missing = 0;
	int status = EXIT_FAILURE;

	if (opts->callgrind) {
		const char *why;

		if (opts->json) {
			say("bench: --callgrind prints what callgrind dumps; " CALLGRIND_SH " --json has the figures");
			return EXIT_USAGE;
		}
		if (!bench_callgrind_available(&why)) {
			say("bench: --callgrind: %s", why);
			return EXIT_USAGE;
		}
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return fail("bench", -ENOMEM);
	for (m = 0; m < BENCH_FIGURES; m++) {
		b->data[m] = calloc(1, figures[m]->size);
		if (!b->data[m]) {
			bench_free(b);
			return fail("bench", -ENOMEM);
		}
	}
	b->ctx = ctx;
	b->spec = args[0] ? args[0] : BENCH_SPEC;
	b->quick = opts->quick;
	b->tty = isatty(STDERR_FILENO);
	b->samples = b->quick ? 5 : 15;
	b->inval_ns = opts->inval_ns >= 0 ? (uint64_t)opts->inval_ns
					  : BENCH_INVAL_NS;
	b->max_pages = b->quick ? 65536 : 1048576;
	/* Under callgrind, the loops need no more than 65536 pages. */
	if (opts->callgrind)
		b->max_pages = 65536;
	/* Before the device opens: the checker is chosen per device then. */
	dmasplit_ctx_set_check(ctx, 0);
	if (bench_setup(b) < 0)
		goto out;
	if (opts->callgrind) {
		status = bench_callgrind(b);
		goto out;
	}

	for (m = 0; m < BENCH_FIGURES; m++) {
		/* A real device is opened once and has no DMA engine of the
		 * library's: the figures that need a second device or the
		 * simulated pool are the simulated device's to give. */
		if (!(b->info.flags & DMASPLIT_DEV_DMA_RW) &&
		    figures[m]->sim_only) {
			b->res[m].inapplicable = true;
			snprintf(b->res[m].why, sizeof(b->res[m].why),
				 "measured on the simulated device only");
			continue;
		}
		announce(b, m);
		figures[m]->measure(b, b->data[m]);
		if (!b->res[m].done && !b->res[m].inapplicable) {
			missing++;
			if (!b->res[m].err)
				failed(b, "no figure", -ECANCELED);
		}
	}
	if (b->tty)
		fputs("\r\033[K", stderr);
	if (opts->json)
		bench_json(b);
	else
		bench_text(b);
	status = EXIT_SUCCESS;
	if (missing) {
		fflush(stdout);
		for (m = 0; m < BENCH_FIGURES; m++)
			if (!b->res[m].done && !b->res[m].inapplicable)
				say("bench: %s: %s", figures[m]->title,
				    b->res[m].why);
		status = EXIT_FAILURE;
	}
out:
	bench_free(b);
	return status;
}
