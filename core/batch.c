// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The mapping batch (dmasplit_batch_new(3)): pre-allocating a window does not
 * generalise (untranslated DMA has no address space to reserve, bounce
 * buffering is per range), so rather than have every caller write the
 * fallback, a batch tries the two-step path and falls back to the
 * per-range one, and hands out device segments either way.
 *
 * It maps, links and syncs only through the public API, as an
 * application would, so that it could live outside the library; what it
 * takes from the core is the log, so that its refusals read like the
 * library's others.
 *
 * Window layout: each buffer starts a new granule, at its own offset
 * within the granule.  That is what a backend needs to link it without
 * copying (the page table maps whole granules, so an address and its
 * window offset must agree below the granule), and buffers never share a
 * granule, which a link over an existing link would need.  Buffers that
 * fill their granules to the edge come out as one segment.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

struct dmasplit_batch {
	struct dmasplit_dev *dev;
	enum dmasplit_dir dir;
	uint32_t attrs;

	struct iovec *iov;
	size_t *offset;			/* window path: where each buffer is */
	unsigned int n, cap;

	bool mapped;
	struct dmasplit_iova *iova;	/* NULL: mapped per range */
	size_t window_size;
	struct dmasplit_seg *segs;
	unsigned int nsegs;
	/* The first segments, which a failed unmap released (a backend
	 * without a vector unmap goes one by one): the array stays as
	 * dmasplit_batch_map() handed it out. */
	unsigned int released;
};

DMASPLIT_EXPORT int dmasplit_batch_new(struct dmasplit_dev *dev,
				       enum dmasplit_dir dir, uint32_t attrs,
				       struct dmasplit_batch **out)
{
	struct dmasplit_batch *batch;

	if (!dev || !out)
		return -EINVAL;
	if (xfer_bad(dir, attrs))
		return refuse(dev->ctx, attrs, -EINVAL,
			      "%s: %s: invalid arguments (dir %d, attrs 0x%x)",
			      dev->name, __func__, (int)dir, attrs);
	batch = calloc(1, sizeof(*batch));
	if (!batch)
		return refuse(dev->ctx, attrs, -ENOMEM,
			      "%s: %s: no memory for the batch", dev->name,
			      __func__);
	/* The batch keeps its device, even past dmasplit_dev_close(). */
	dev_get(dev);
	__atomic_add_fetch(&dev->batches, 1, __ATOMIC_RELAXED);
	batch->dev = dev;
	batch->dir = dir;
	batch->attrs = attrs;
	*out = batch;
	return 0;
}

DMASPLIT_EXPORT int dmasplit_batch_add(struct dmasplit_batch *batch,
				       void *vaddr, size_t len)
{
	struct dmasplit_dev *dev;
	unsigned int cap;

	if (!batch)
		return -EINVAL;
	dev = batch->dev;
	if (buf_bad(vaddr, len))
		return refuse(dev->ctx, batch->attrs, -EINVAL,
			      "%s: %s: invalid buffer (%p, len 0x%zx)",
			      dev->name, __func__, vaddr, len);
	if (batch->mapped)
		return refuse(dev->ctx, batch->attrs, -EBUSY,
			      "%s: %s: the batch is mapped; unmap it before adding buffers",
			      dev->name, __func__);
	/* map_vec counts buffers in an unsigned int. */
	if (batch->n == UINT_MAX)
		return refuse(dev->ctx, batch->attrs, -E2BIG,
			      "%s: %s: the batch has %u buffers, as many as it can count",
			      dev->name, __func__, batch->n);
	if (batch->n == batch->cap) {
		struct iovec *iov;
		size_t *offset;

		cap = !batch->cap ? 8 :
		      batch->cap > UINT_MAX / 2 ? UINT_MAX : batch->cap * 2;
#if SIZE_MAX <= UINT_MAX
		/* More than a 32-bit host's size_t holds. */
		if (cap > SIZE_MAX / sizeof(*iov))
			goto no_memory;
#endif
		iov = realloc(batch->iov, cap * sizeof(*iov));
		if (!iov)
			goto no_memory;
		batch->iov = iov;
		offset = realloc(batch->offset, cap * sizeof(*offset));
		if (!offset)
			goto no_memory;
		batch->offset = offset;
		batch->cap = cap;
	}
	batch->iov[batch->n].iov_base = vaddr;
	batch->iov[batch->n].iov_len = len;
	batch->n++;
	return 0;
no_memory:
	return refuse(dev->ctx, batch->attrs, -ENOMEM,
		      "%s: %s: no memory for %u buffers", dev->name, __func__,
		      cap);
}

/* The window's size with each buffer at a granule of its own; 0 if it
 * does not fit in a size_t. */
static size_t layout(struct dmasplit_batch *batch, uint64_t granule)
{
	uint64_t g = granule - 1;
	size_t at = 0;
	unsigned int i;

	for (i = 0; i < batch->n; i++) {
		uint64_t in = (uintptr_t)batch->iov[i].iov_base & g;
		uint64_t span = (in + batch->iov[i].iov_len + g) & ~g;

		if (span < batch->iov[i].iov_len || span > SIZE_MAX - at)
			return 0;
		batch->offset[i] = at + (size_t)in;
		at += (size_t)span;
	}
	return at;
}

static void unlink_first(struct dmasplit_batch *batch, unsigned int linked)
{
	unsigned int i;

	/* Never synced: the device saw nothing, so there is nothing to
	 * copy back. */
	for (i = 0; i < linked; i++)
		dmasplit_iova_unlink(batch->iova, batch->offset[i],
				     batch->iov[i].iov_len, batch->dir,
				     batch->attrs | DMASPLIT_ATTR_SKIP_CPU_SYNC);
}

/*
 * The two-step path: one window, a link per buffer, one sync.  1 when
 * the device cannot use it here (no windows, or its granule rules refuse
 * a link), so that the caller falls back; 0 when mapped.
 */
static _must_check_ int map_window(struct dmasplit_batch *batch)
{
	struct dmasplit_dev *dev = batch->dev;
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_seg *segs;
	unsigned int i, used = 0;
	size_t size;
	int r;

	r = dmasplit_dev_get_info(dev, &info);
	if (r < 0)
		return r;
	size = layout(batch, info.granule);
	if (!size)
		return refuse(dev->ctx, batch->attrs, -EOVERFLOW,
			      "%s: dmasplit_batch_map: %u buffers do not fit in one address space",
			      dev->name, batch->n);
	r = internal_window_alloc(dev, size, &batch->iova);
	if (r == -EOPNOTSUPP)
		return 1;
	if (r < 0)
		return r;
	segs = malloc(batch->n * sizeof(*segs));
	if (!segs) {
		r = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < batch->n; i++) {
		/* Quietly: a backend whose granule rules refuse this buffer
		 * (no bouncing of partial granules) maps it per range, and
		 * that path reports what fails there. */
		r = dmasplit_iova_link(batch->iova, batch->offset[i],
				       batch->iov[i].iov_base,
				       batch->iov[i].iov_len, batch->dir,
				       batch->attrs | DMASPLIT_ATTR_NO_WARN);
		if (r == -EINVAL) {
			log_dbg(dev->ctx, "%s: dmasplit_batch_map: linking buffer %u (%p, len 0x%zx): %s",
				dev->name, i, batch->iov[i].iov_base,
				batch->iov[i].iov_len, strerror(-r));
			unlink_first(batch, i);
			r = 1;
			goto fail;
		}
		/* Not a refusal the per-range path answers: the batch's
		 * own error, said here, as the link was told not to. */
		if (r < 0) {
			r = refuse(dev->ctx, batch->attrs, r,
				   "%s: dmasplit_batch_map: buffer %u (%p, len 0x%zx) cannot be linked: %s",
				   dev->name, i, batch->iov[i].iov_base,
				   batch->iov[i].iov_len, strerror(-r));
			unlink_first(batch, i);
			goto fail;
		}
	}
	r = dmasplit_iova_sync(batch->iova, 0, size);
	if (r < 0) {
		unlink_first(batch, batch->n);
		goto fail;
	}
	for (i = 0; i < batch->n; i++) {
		uint64_t dma = dmasplit_iova_addr(batch->iova) + batch->offset[i];

		if (used && segs[used - 1].dma + segs[used - 1].len == dma) {
			segs[used - 1].len += batch->iov[i].iov_len;
		} else {
			segs[used].dma = dma;
			segs[used++].len = batch->iov[i].iov_len;
		}
	}
	batch->window_size = size;
	batch->segs = segs;
	batch->nsegs = used;
	return 0;

fail:
	free(segs);
	internal_window_destroy(batch->iova);
	batch->iova = NULL;
	return r;
}

/*
 * The per-range path.  Behind an IOMMU n segments always suffice, but a
 * device without one needs a segment per physically contiguous run, at
 * worst one per page: room for that.
 */
static _must_check_ int map_ranges(struct dmasplit_batch *batch)
{
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE), room = 0;
	struct dmasplit_seg *segs, *fit;
	unsigned int i, nsegs;
	int r;

	for (i = 0; i < batch->n; i++) {
		uintptr_t va = (uintptr_t)batch->iov[i].iov_base;

		room += (((uint64_t)va + batch->iov[i].iov_len + ps - 1) &
			 ~(ps - 1)) / ps - va / ps;
	}
	nsegs = room > UINT_MAX ? UINT_MAX : (unsigned int)room;
	segs = calloc(nsegs, sizeof(*segs));
	if (!segs)
		return refuse(batch->dev->ctx, batch->attrs, -ENOMEM,
			      "%s: dmasplit_batch_map: no memory for the %u segments %u buffers may need",
			      batch->dev->name, nsegs, batch->n);
	r = dmasplit_map_vec(batch->dev, batch->iov, batch->n, batch->dir,
			     batch->attrs, segs, &nsegs);
	if (r < 0) {
		free(segs);
		return r;
	}
	fit = realloc(segs, nsegs * sizeof(*segs));
	batch->segs = fit ? fit : segs;
	batch->nsegs = nsegs;
	return 0;
}

DMASPLIT_EXPORT int dmasplit_batch_map(struct dmasplit_batch *batch,
				       const struct dmasplit_seg **segs,
				       unsigned int *nsegs)
{
	struct dmasplit_dev *dev;
	int r;

	if (!batch || !segs || !nsegs)
		return -EINVAL;
	dev = batch->dev;
	if (batch->mapped)
		return refuse(dev->ctx, batch->attrs, -EBUSY,
			      "%s: %s: the batch is already mapped",
			      dev->name, __func__);
	if (!batch->n)
		return refuse(dev->ctx, batch->attrs, -EINVAL,
			      "%s: %s: the batch has no buffers",
			      dev->name, __func__);
	r = map_window(batch);
	if (r > 0) {
		log_dbg(dev->ctx, "%s: %s: no window for %u buffers, mapping them per range",
			dev->name, __func__, batch->n);
		r = map_ranges(batch);
	}
	if (r < 0)
		return r;
	batch->mapped = true;
	*segs = batch->segs;
	*nsegs = batch->nsegs;
	return 0;
}

static _must_check_ int sync_all(struct dmasplit_batch *batch, const char *fn,
				 int (*sync)(struct dmasplit_dev *, uint64_t,
					     size_t, enum dmasplit_dir))
{
	unsigned int i;
	int r;

	if (!batch)
		return -EINVAL;
	if (!batch->mapped)
		return refuse(batch->dev->ctx, batch->attrs, -EINVAL,
			      "%s: %s: the batch is not mapped",
			      batch->dev->name, fn);
	for (i = batch->released; i < batch->nsegs; i++) {
		r = sync(batch->dev, batch->segs[i].dma,
			 (size_t)batch->segs[i].len, batch->dir);
		if (r < 0)
			return r;
	}
	return 0;
}

DMASPLIT_EXPORT int dmasplit_batch_sync_for_cpu(struct dmasplit_batch *batch)
{
	return sync_all(batch, __func__, dmasplit_sync_for_cpu);
}

DMASPLIT_EXPORT int dmasplit_batch_sync_for_device(struct dmasplit_batch *batch)
{
	return sync_all(batch, __func__, dmasplit_sync_for_device);
}

DMASPLIT_EXPORT int dmasplit_batch_uses_window(const struct dmasplit_batch *batch)
{
	return batch && batch->mapped && batch->iova;
}

DMASPLIT_EXPORT int dmasplit_batch_unmap(struct dmasplit_batch *batch)
{
	int r;

	if (!batch)
		return -EINVAL;
	if (!batch->mapped)
		return refuse(batch->dev->ctx, batch->attrs, -EINVAL,
			      "%s: %s: the batch is not mapped",
			      batch->dev->name, __func__);
	if (batch->iova) {
		/* Every granule of the window is linked, in one direction:
		 * one unlink, one invalidation.  Refused: still mapped, as
		 * the window says, for another try. */
		r = dmasplit_iova_unlink(batch->iova, 0, batch->window_size,
					 batch->dir, batch->attrs);
		if (r < 0)
			return r;
		internal_window_destroy(batch->iova);
		batch->iova = NULL;
	} else {
		unsigned int done;

		r = unmap_vec_counted(batch->dev,
				      batch->segs + batch->released,
				      batch->nsegs - batch->released,
				      batch->dir, batch->attrs, &done,
				      __builtin_return_address(0));
		/* Refused: what is still mapped stays the batch's, for
		 * another try; a backend without a vector unmap may have
		 * released the segments before the one that failed. */
		if (r < 0) {
			batch->released += done;
			return r;
		}
	}
	free(batch->segs);
	batch->segs = NULL;
	batch->nsegs = 0;
	batch->released = 0;
	batch->mapped = false;
	return r;
}

DMASPLIT_EXPORT void dmasplit_batch_free(struct dmasplit_batch *batch)
{
	struct dmasplit_dev *dev;

	if (!batch)
		return;
	dev = batch->dev;
	/* An unmap refused all the same: the window goes with its links
	 * (destroy unlinks them); what the per-range path mapped is the
	 * device's to release. */
	if (batch->mapped && dmasplit_batch_unmap(batch) < 0) {
		internal_window_destroy(batch->iova);
		free(batch->segs);
	}
	free(batch->iov);
	free(batch->offset);
	free(batch);
	__atomic_sub_fetch(&dev->batches, 1, __ATOMIC_RELAXED);
	dev_put(dev);
}
