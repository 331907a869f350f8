// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit bench, figure 4: the library's dispatch against a direct call.
 *
 * Measured: dmasplit_map and dmasplit_unmap of one page, checker off.
 * Baseline: the same backend's map and unmap operations called directly,
 * the work itself without the library around it.  That needs the
 * backend's ops table and its device, which only the core's private
 * dmasplit_private_dev_ops() hands out: the reason the tool links the
 * core itself rather than libdmasplit.so, which exports nothing private.
 * Target: at most 1.05, in time here and in instructions under
 * callgrind (tools/bench/callgrind.sh).  The common path of map and
 * unmap is meant to be a few instructions around the backend call (bad
 * arguments, missing operations and the checker are kept out of line);
 * a twentieth on the cheapest operation there is is what those few
 * instructions may cost.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <dmasplit/backend.h>

#include "private.h"
#include "bench.h"

struct dispatch_data {
	double lib_ns, direct_ns;	/* per map+unmap pair */
	struct paired p;
	unsigned long iters;
};

struct dispatch_arg {
	const struct dmasplit_backend_ops *ops;
	struct dmasplit_bdev *bdev;
	void *buf;
	unsigned long iters;
};

static int library_sample(struct bench *b, void *arg, double *ns)
{
	struct dispatch_arg *a = arg;
	unsigned long k;
	uint64_t t0, dma;
	int r;

	t0 = now_ns();
	for (k = 0; k < a->iters; k++) {
		r = dmasplit_map(b->dev, a->buf, b->page,
				 DMASPLIT_BIDIRECTIONAL, 0, &dma);
		if (r < 0)
			return failed(b, "dmasplit_map", r);
		r = dmasplit_unmap(b->dev, dma, b->page,
				   DMASPLIT_BIDIRECTIONAL, 0);
		if (r < 0)
			return failed(b, "dmasplit_unmap", r);
	}
	*ns = (double)(now_ns() - t0) / a->iters;
	return 0;
}

static int direct_sample(struct bench *b, void *arg, double *ns)
{
	struct dispatch_arg *a = arg;
	unsigned long k;
	uint64_t t0, dma;
	int r;

	t0 = now_ns();
	for (k = 0; k < a->iters; k++) {
		r = a->ops->map(a->bdev, a->buf, b->page,
				DMASPLIT_BIDIRECTIONAL, 0, &dma);
		if (r < 0)
			return failed(b, "ops->map", r);
		r = a->ops->unmap(a->bdev, dma, b->page,
				  DMASPLIT_BIDIRECTIONAL, 0);
		if (r < 0)
			return failed(b, "ops->unmap", r);
	}
	*ns = (double)(now_ns() - t0) / a->iters;
	return 0;
}

static void measure_dispatch(struct bench *b, void *data)
{
	struct dispatch_arg a = { .iters = b->quick ? 20000 : 50000 };
	struct dispatch_data *d = data;
	int r;

	r = dmasplit_private_dev_ops(b->dev, &a.ops, &a.bdev);
	if (r < 0) {
		failed(b, "dmasplit_private_dev_ops", r);
		return;
	}
	if (!a.ops->map || !a.ops->unmap) {
		failed(b, "the backend has no map operation", -EOPNOTSUPP);
		return;
	}
	a.buf = aligned_alloc(b->page, b->page);
	if (!a.buf) {
		failed(b, "allocating a page", -ENOMEM);
		return;
	}
	memset(a.buf, 0, b->page);
	d->iters = a.iters;
	/* The closest of the figures: more samples than the others. */
	r = compare(b, b->quick ? 7 : 51, true, library_sample, &a,
		    direct_sample, &a, &d->p);
	free(a.buf);
	if (r < 0)
		return;
	d->lib_ns = d->p.a;
	d->direct_ns = d->p.b;
	judge(b, 0, &d->p, "one page, checker off");
}

static void text_dispatch(const struct bench *b, const void *data)
{
	const struct dispatch_data *d = data;

	text_head(b, "map + unmap of one page, checker off");
	if (b->res[b->cur].checks[0].done) {
		printf("   %-40s %8.1f ns\n", "through libdmasplit", d->lib_ns);
		printf("   %-40s %8.1f ns\n", "backend operations called directly",
		       d->direct_ns);
	}
	text_target(b);
}

static void json_dispatch(struct json *j, const struct bench *b,
			  const void *data)
{
	const struct dispatch_data *d = data;

	json_u64(j, "iterations", d->iters);
	json_double(j, "library_ns", d->lib_ns);
	json_double(j, "direct_ns", d->direct_ns);
}

const struct figure fig_dispatch = {
	.key = "dispatch",
	.title = "dispatch: library vs direct backend call",
	.ratio_of = "dmasplit_map+dmasplit_unmap time / ops->map+ops->unmap time, paired rounds",
	.goals = { { "dispatch: library vs direct call, time", "x", true,
		     1.05 } },
	.ngoals = 1,
	.size = sizeof(struct dispatch_data),
	.measure = measure_dispatch,
	.text = text_dispatch,
	.json = json_dispatch,
};
