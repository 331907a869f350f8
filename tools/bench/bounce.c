// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit bench, figure 3: bounce buffering against memcpy.
 *
 * Measured: the bandwidth of dmasplit_sync_for_device on a mapping that
 * bounces (a simulated device of its own, BOUNCE_SPEC: no IOMMU, every
 * mapping through a swiotlb pool), from 4 KiB to 4 MiB; the bytes the
 * device reports bounced are shown beside each size.
 * Baseline: memcpy of as many bytes, the copy a bounce sync must make.
 * Target: at least 0.9 of memcpy at 4 KiB, one page: a bounce sync is
 * that copy, and what it adds (finding the slots, the call) must stay
 * small beside it even where the copy is shortest.  The larger sizes
 * are shown, not judged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "bench.h"

/* The most one mapping through a swiotlb pool can hold (128 slots of
 * 2 KiB): larger buffers go through dmasplit_map_vec in pieces. */
#define BOUNCE_PIECE (256 * KIB)
#define BOUNCE_MAX (4 * MIB)

static const size_t bounce_sizes[] = {
	4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, 1 * MIB, 4 * MIB,
};

struct bounce_row {
	size_t size;
	unsigned int segs;
	double sync_ns, memcpy_ns;	/* per pass over size bytes */
	struct paired p;		/* memcpy time / sync time */
	double bounced;			/* bytes_bounced per pass */
};

struct bounce_data {
	unsigned int nrows;
	struct bounce_row rows[ARRAY_SIZE(bounce_sizes)];
};

struct bounce_arg {
	struct dmasplit_dev *dev;
	struct dmasplit_seg segs[BOUNCE_MAX / BOUNCE_PIECE];
	unsigned int nsegs;
	size_t size;
	unsigned int iters;
	uint8_t *src, *dst;
	double bounced;		/* per pass, last sample */
};

/* Keeps the compiler from dropping stores nobody reads. */
static void clobber(const void *p)
{
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/* ns per pass of copying the buffer into its bounce slots. */
static int sync_sample(struct bench *b, void *arg, double *ns)
{
	struct bounce_arg *a = arg;
	struct dmasplit_dev_stats s0, s1;
	unsigned int k, i;
	uint64_t t0;
	int r;

	r = get_stats(a->dev, &s0);
	if (r < 0)
		return failed(b, "dmasplit_dev_get_stats", r);
	t0 = now_ns();
	for (k = 0; k < a->iters; k++)
		for (i = 0; i < a->nsegs; i++) {
			r = dmasplit_sync_for_device(a->dev, a->segs[i].dma,
						     a->segs[i].len,
						     DMASPLIT_TO_DEVICE);
			if (r < 0)
				return failed(b, "dmasplit_sync_for_device", r);
		}
	*ns = (double)(now_ns() - t0) / a->iters;
	r = get_stats(a->dev, &s1);
	if (r < 0)
		return failed(b, "dmasplit_dev_get_stats", r);
	a->bounced = (double)(s1.bytes_bounced - s0.bytes_bounced) / a->iters;
	return 0;
}

static int memcpy_sample(struct bench *b, void *arg, double *ns)
{
	struct bounce_arg *a = arg;
	unsigned int k;
	uint64_t t0;

	t0 = now_ns();
	for (k = 0; k < a->iters; k++) {
		memcpy(a->dst, a->src, a->size);
		clobber(a->dst);
	}
	*ns = (double)(now_ns() - t0) / a->iters;
	return 0;
}

/* The buffer as the device sees it: one mapping, or 256 KiB pieces. */
static int bounce_map(struct bench *b, struct bounce_arg *a)
{
	struct iovec iov[ARRAY_SIZE(a->segs)];
	unsigned int i, n;
	int r;

	if (a->size <= BOUNCE_PIECE) {
		r = dmasplit_map(a->dev, a->src, a->size, DMASPLIT_TO_DEVICE, 0,
				 &a->segs[0].dma);
		if (r < 0)
			return failed(b, "dmasplit_map", r);
		a->segs[0].len = a->size;
		a->nsegs = 1;
		return 0;
	}
	n = (unsigned int)(a->size / BOUNCE_PIECE);
	for (i = 0; i < n; i++) {
		iov[i].iov_base = a->src + (size_t)i * BOUNCE_PIECE;
		iov[i].iov_len = BOUNCE_PIECE;
	}
	a->nsegs = n;
	r = dmasplit_map_vec(a->dev, iov, n, DMASPLIT_TO_DEVICE, 0, a->segs,
			     &a->nsegs);
	return r < 0 ? failed(b, "dmasplit_map_vec", r) : 0;
}

static void bounce_unmap(struct bounce_arg *a)
{
	if (a->size <= BOUNCE_PIECE)
		dmasplit_unmap(a->dev, a->segs[0].dma, a->size,
			       DMASPLIT_TO_DEVICE, 0);
	else
		dmasplit_unmap_vec(a->dev, a->segs, a->nsegs,
				   DMASPLIT_TO_DEVICE, 0);
}

static void measure_bounce(struct bench *b, void *data)
{
	size_t budget = b->quick ? 4 * MIB : 64 * MIB;
	struct bounce_data *d = data;
	struct bounce_arg a = { 0 };
	struct bounce_row *row;
	unsigned int i;
	int r;

	r = dmasplit_dev_open(b->ctx, BOUNCE_SPEC, &a.dev);
	if (r < 0) {
		failed(b, "opening " BOUNCE_SPEC, r);
		return;
	}
	a.src = aligned_alloc(4096, BOUNCE_MAX);
	a.dst = aligned_alloc(4096, BOUNCE_MAX);
	if (!a.src || !a.dst) {
		failed(b, "allocating the buffers", -ENOMEM);
		goto out;
	}
	memset(a.src, 0x5a, BOUNCE_MAX);
	memset(a.dst, 0, BOUNCE_MAX);
	for (i = 0; i < ARRAY_SIZE(bounce_sizes); i++) {
		row = &d->rows[i];
		a.size = row->size = bounce_sizes[i];
		a.iters = a.size < budget ? (unsigned int)(budget / a.size) : 1;
		progress(b, "%zu KiB", a.size / KIB);
		if (bounce_map(b, &a) < 0)
			goto out;
		r = compare(b, b->samples, true, memcpy_sample, &a,
			    sync_sample, &a, &row->p);
		bounce_unmap(&a);
		if (r < 0)
			goto out;
		row->memcpy_ns = row->p.a;
		row->sync_ns = row->p.b;
		row->segs = a.nsegs;
		row->bounced = a.bounced;
		d->nrows++;
		if (row->size == BOUNCE_JUDGE)
			judge(b, 0, &row->p, "%zu KiB", BOUNCE_JUDGE / KIB);
	}
out:
	free(a.src);
	free(a.dst);
	dmasplit_dev_close(a.dev);
}

static void text_bounce(const struct bench *b, const void *data)
{
	const struct bounce_data *d = data;
	const struct bounce_row *row;
	unsigned int i;

	text_head(b, "on " BOUNCE_SPEC ":\n"
		  "   dmasplit_sync_for_device of a mapped buffer vs memcpy of as many bytes");
	if (d->nrows)
		printf("   %9s  %4s  %12s  %12s  %8s  %s\n", "bytes", "segs",
		       "sync MB/s", "memcpy MB/s", "ratio", "bounced/sync");
	for (i = 0; i < d->nrows; i++) {
		row = &d->rows[i];
		printf("   %9zu  %4u  %12.0f  %12.0f  %7.2fx  %.0f\n", row->size,
		       row->segs, row->size / row->sync_ns * 1e3,
		       row->size / row->memcpy_ns * 1e3, row->p.ratio,
		       row->bounced);
	}
	text_target(b);
}

static void json_bounce(struct json *j, const struct bench *b,
			const void *data)
{
	const struct bounce_data *d = data;
	const struct bounce_row *row;
	unsigned int i;

	json_str(j, "spec", BOUNCE_SPEC);
	json_open(j, "rows", '[');
	for (i = 0; i < d->nrows; i++) {
		row = &d->rows[i];
		json_open(j, NULL, '{');
		json_u64(j, "bytes", row->size);
		json_int(j, "segments", row->segs);
		json_double(j, "sync_ns", row->sync_ns);
		json_double(j, "memcpy_ns", row->memcpy_ns);
		json_double(j, "sync_bytes_per_s", row->size / row->sync_ns * 1e9);
		json_double(j, "memcpy_bytes_per_s",
			    row->size / row->memcpy_ns * 1e9);
		json_double(j, "ratio", row->p.ratio);
		json_double(j, "ratio_lo", row->p.lo);
		json_double(j, "ratio_hi", row->p.hi);
		json_double(j, "bytes_bounced_per_sync", row->bounced);
		json_close(j, '}');
	}
	json_close(j, ']');
}

const struct figure fig_bounce = {
	.key = "bounce_vs_memcpy",
	.title = "bounce sync bandwidth vs memcpy",
	.ratio_of = "dmasplit_sync_for_device bandwidth / memcpy bandwidth, paired rounds",
	.goals = { { "bounce sync vs memcpy at 4 KiB", "x", false, 0.9 } },
	.ngoals = 1,
	.sim_only = true,
	.size = sizeof(struct bounce_data),
	.measure = measure_bounce,
	.text = text_bounce,
	.json = json_bounce,
};
