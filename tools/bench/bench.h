/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dmasplit bench - what the harness (bench.c) and the figures (one file
 * each) share.
 *
 * A figure is described by a struct figure: its name, what it divides and
 * its target, and three functions - measure it, print it as text, print
 * its details as JSON.  The harness owns everything else: the device and
 * the untouched page region, timing and the alternating samples,
 * judging MET or MISSED, the order of the figures and the output around
 * them.  A figure keeps what it measured in a block of its own (size
 * bytes, zeroed, handed to each of its functions), so that no figure
 * reaches into another's.
 */
#ifndef DMASPLIT_TOOL_BENCH_H
#define DMASPLIT_TOOL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../tool.h"

#define MAX_SAMPLES 63
#define KIB ((size_t)1024)
#define MIB (KIB * 1024)

/* The figures, in the order of bench.c's table. */
#define BENCH_FIGURES 8

/*
 * The modelled cost of one IOTLB invalidation, ns (--inval-ns): Intel
 * VT-d queued invalidation completes an IOTLB invalidation on the order
 * of a microsecond (a wait descriptor polled by the CPU).  A model, not
 * a measurement of this machine.
 */
#define BENCH_INVAL_NS 1000

/* Figure 3's device, every mapping bounced through a swiotlb pool, and
 * the size its target is judged at (bounce.c, and callgrind.c in
 * instructions). */
#define BOUNCE_SPEC "sim:bounce,iommu=off,bounce=force,pool=64M"
#define BOUNCE_JUDGE (4 * KIB)

struct bench;

/* A figure has one goal or a few (MAX_GOALS), each with its target. */
#define MAX_GOALS 4

struct goal {
	const char *name;	/* what is judged */
	const char *unit;	/* "x" for a ratio, else the unit */
	bool at_most;		/* the target is an upper bound */
	double target;
};

struct figure {
	const char *key;	/* JSON member */
	const char *title;
	const char *ratio_of;	/* what the first goal divides */
	struct goal goals[MAX_GOALS];
	unsigned int ngoals;
	/* Needs a second device or the simulated pool: a real device is
	 * opened once and has no DMA engine of the library's. */
	bool sim_only;
	size_t size;		/* of the figure's data */

	/* Sets the goals with judge() or says why not with failed(). */
	void (*measure)(struct bench *b, void *data);
	/* Called only when the figure applies to the device. */
	void (*text)(const struct bench *b, const void *data);
	/* The members after the verdict; called only when it was measured. */
	void (*json)(struct json *j, const struct bench *b, const void *data);
};

extern const struct figure fig_split;
extern const struct figure fig_link;
extern const struct figure fig_bounce;
extern const struct figure fig_dispatch;
extern const struct figure fig_metadata;
extern const struct figure fig_alloc;
extern const struct figure fig_threads;
extern const struct figure fig_scattered;

enum verdict {
	MET,
	MISSED,
	UNCERTAIN,	/* the spread crosses the target */
	NOT_JUDGED,	/* measured, but what it needs was not there */
};

/*
 * A figure of paired rounds: each round measures both sides, one right
 * after the other, and divides them.  The median of those ratios is the
 * figure; their interquartile range is its spread.
 */
struct paired {
	double a, b;		/* the medians of each side */
	double ratio;		/* the median of a / b, round by round */
	double lo, hi;		/* the interquartile range of those ratios */
	unsigned int rounds;
};

struct check {
	bool done;
	double value, lo, hi;
	unsigned int rounds;	/* 0: a single value, no spread */
	enum verdict verdict;
	char judged_on[112];
};

struct result {
	bool done;		/* measured: every goal done */
	struct check checks[MAX_GOALS];
	int err;		/* why it could not run, with what */
	char why[160];
	bool inapplicable;	/* not a figure of this kind of device */
};

struct bench {
	struct dmasplit_ctx *ctx;
	const char *spec;
	bool quick;
	bool tty;		/* stderr: progress is rewritten in place */
	unsigned int samples;	/* rounds of a figure */
	uint64_t inval_ns;	/* the modelled IOTLB invalidation cost */
	unsigned int cur;	/* the figure measured or printed */

	struct dmasplit_dev *dev;
	struct dmasplit_dev_info info;
	uint64_t page;		/* the device granule */
	unsigned long max_pages;
	uint8_t *region;	/* max_pages pages, never touched */
	size_t region_len;
	uint64_t *dma;		/* max_pages entries, also the store floor */

	struct result res[BENCH_FIGURES];
	void *data[BENCH_FIGURES];
};

static inline void *page_at(const struct bench *b, unsigned long i)
{
	return b->region + (size_t)i * b->page;
}

uint64_t now_ns(void);
double median(const double *v, unsigned int n);
/* p->ratio, lo and hi of n ratios (the sides' medians are left alone). */
void spread_of(const double *ratios, unsigned int n, struct paired *p);

/* Records why the current figure could not be measured (the first
 * reason only) and returns r. */
int failed(struct bench *b, const char *what, int r);
/* false, with the reason recorded, if the device has no windows. */
bool need_windows(struct bench *b);
/* The first n pages of the region linked BIDIRECTIONAL at their offsets
 * in iova: one link per page, or (bulk) one link of them all. */
int link_pages(struct bench *b, struct dmasplit_iova *iova, unsigned long n,
	       bool bulk);
/* A window's end after r, the result of its links: if they went well, a
 * sync and an unlink of its first len bytes; then its destroy.  The
 * first error, or 0. */
int window_end(struct dmasplit_iova *iova, size_t len, int r);
/* A window of one page on dev, from alloc to destroy, buf linked
 * BIDIRECTIONAL: the first error, or 0. */
int one_page_window(struct dmasplit_dev *dev, size_t page, void *buf);
int get_stats(struct dmasplit_dev *dev, struct dmasplit_dev_stats *s);

/* The progress line on a terminal: the figure, then fmt. */
void progress(struct bench *b, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* One timed sample of one side: its time in ns (per whatever unit the
 * side chooses), or a negative errno. */
typedef int (*sample_fn)(struct bench *b, void *arg, double *ns);

/* rounds paired rounds of fa against fb: p->ratio is fa / fb. */
int compare(struct bench *b, unsigned int rounds, bool warm,
	    sample_fn fa, void *a, sample_fn fb, void *bb,
	    struct paired *p);

/* Goal g of the current figure is p, judged on what fmt says: MET or
 * MISSED when the whole spread is on one side of the target, UNCERTAIN
 * when it crosses it. */
void judge(struct bench *b, unsigned int g, const struct paired *p,
	   const char *fmt, ...) PRINTF_LIKE(4, 5);
/* The same for a single value, with no spread (a count of bytes). */
void judge_value(struct bench *b, unsigned int g, double v,
		 const char *fmt, ...) PRINTF_LIKE(4, 5);
/* Goal g was measured (p) but cannot be judged, for the reason fmt. */
void not_judged(struct bench *b, unsigned int g, const struct paired *p,
		const char *fmt, ...) PRINTF_LIKE(4, 5);

/* Text output of the current figure: its number and title, what is
 * measured (what may be NULL), and its targets with the verdicts. */
void text_head(const struct bench *b, const char *what);
void text_target(const struct bench *b);

/* bench --callgrind (callgrind.c): false, with the reason, when the
 * loops would count nothing (not under valgrind, or built without
 * <valgrind/callgrind.h>). */
bool bench_callgrind_available(const char **why);
/* Runs the counted loops on the open device: an exit status. */
int bench_callgrind(struct bench *b);

#endif
