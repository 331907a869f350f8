// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The per-range path (the kernel's dma_map_* family): every backend has
 * it, so callers can fall back to it when a device cannot pre-allocate a
 * window.  Validation happens here once; with the checker off the core
 * keeps no per-mapping state, so two threads mapping on one device share
 * nothing but the backend's own locks and three counters.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "internal.h"

static bool args_bad(const void *vaddr, size_t len, enum dmasplit_dir dir,
		     uint32_t attrs)
{
	return buf_bad(vaddr, len) ||
	       xfer_bad(dir, attrs);
}

/* app: the application's map, which a registered region may serve and
 * the checker records; not a region's own mapping (map_region_own()),
 * which is no mapping of the application's to sync or unmap
 * (dmasplit_region_new(3)). */
static int map_any(struct dmasplit_dev *dev, void *vaddr, size_t len,
		   enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma,
		   const void *caller, bool app)
{
	/* Address 0 until the backend gives one: one that returns success
	 * without is refused as giving address 0. */
	struct dmasplit_seg seg = { 0 };
	int r;

	if (!dev || !dma)
		return -EINVAL;
	if (args_bad(vaddr, len, dir, attrs))
		return refuse(dev->ctx, attrs, -EINVAL,
			      "%s: dmasplit_map: invalid arguments (vaddr %p, len 0x%zx, dir %d, attrs 0x%x)",
			      dev->name, vaddr, len, (int)dir, attrs);
	if (app && regions_live(dev)) {
		r = region_map(dev, vaddr, len, dir, &seg.dma);
		if (r == 0 && dev->check) {
			seg.len = len;
			r = check_map_add(dev, CHECK_MAP, &seg, 1, dir, vaddr,
					  NULL, 0, caller, true);
			if (r < 0)
				(void)region_unmap(dev, seg.dma, len, dir,
						   DMASPLIT_ATTR_NO_WARN);
		}
		if (r == 0)
			*dma = seg.dma;
		if (r != REGION_NONE)
			return r;
	}
	if (!dev->ops->map)
		return -EOPNOTSUPP;
	r = dev->ops->map(dev->bdev, vaddr, len, dir, attrs, &seg.dma);
	if (r != 0)
		return backend_error(dev, r, ERRS_MAP, "map");
	if (dma_bad(dev, seg.dma, len))
		r = backend_bad_dma(dev, seg.dma, len, "map");
	else if (dev->check && app) {
		seg.len = len;
		r = check_map_add(dev, CHECK_MAP, &seg, 1, dir, vaddr, NULL, 0,
				  caller, false);
	}
	if (r < 0) {
		dev->ops->unmap(dev->bdev, seg.dma, len, dir,
				attrs | DMASPLIT_ATTR_SKIP_CPU_SYNC);
		return r;
	}
	count_add(dev, C_MAPS, 1);
	*dma = seg.dma;
	return 0;
}

/*
 * The common case stays a few instructions around the backend call: the
 * rest (bad arguments, a missing operation, the checker, a backend's
 * error or unusable address) is out of line, in the slow paths, called
 * with the fast path's arguments alone.  This is what keeps the
 * library's dispatch within a few percent of calling the backend
 * directly.
 */
static __attribute__((noinline)) int map_slow(struct dmasplit_dev *dev,
					      void *vaddr, size_t len,
					      enum dmasplit_dir dir,
					      uint32_t attrs, uint64_t *dma,
					      const void *caller)
{
	return map_any(dev, vaddr, len, dir, attrs, dma, caller, true);
}

DMASPLIT_EXPORT int dmasplit_map(struct dmasplit_dev *dev, void *vaddr,
				 size_t len, enum dmasplit_dir dir,
				 uint32_t attrs, uint64_t *dma)
{
	uint64_t addr = 0;	/* as map_any's */
	int r;

	if (unlikely(!dev || !dma || dev->check || regions_live(dev) ||
		     !dev->ops->map || args_bad(vaddr, len, dir, attrs)))
		return map_slow(dev, vaddr, len, dir, attrs, dma,
				__builtin_return_address(0));
	r = dev->ops->map(dev->bdev, vaddr, len, dir, attrs, &addr);
	if (unlikely(r != 0))
		return backend_error(dev, r, ERRS_MAP, "map");
	if (dma_bad(dev, addr, len)) {
		dev->ops->unmap(dev->bdev, addr, len, dir,
				attrs | DMASPLIT_ATTR_SKIP_CPU_SYNC);
		return backend_bad_dma(dev, addr, len, "map");
	}
	count_add(dev, C_MAPS, 1);
	*dma = addr;
	return 0;
}

int map_region_own(struct dmasplit_dev *dev, void *vaddr, size_t len,
		   enum dmasplit_dir dir, uint64_t *dma)
{
	return map_any(dev, vaddr, len, dir, 0, dma,
		       __builtin_return_address(0), false);
}

/* app: the application's unmap, which may name a mapping made through a
 * registered region and which the checker checks; not a region's own
 * mapping (unmap_region_own()). */
static int unmap_any(struct dmasplit_dev *dev, uint64_t dma, size_t len,
		     enum dmasplit_dir dir, uint32_t attrs, const void *caller,
		     bool app)
{
	struct dmasplit_seg seg = { .dma = dma, .len = len };
	struct check_entry *taken = NULL;
	int r;

	if (!dev)
		return -EINVAL;
	if (range_bad(dma, len) || xfer_bad(dir, attrs))
		return refuse(dev->ctx, attrs, -EINVAL,
			      "%s: dmasplit_unmap: invalid arguments (dma 0x%" PRIx64 ", len 0x%zx, dir %d, attrs 0x%x)",
			      dev->name, dma, len, (int)dir, attrs);
	/* The checker first: it knows the mappings made through regions
	 * too, each by its start, length and direction; a region's own
	 * mapping it does not know (map_any()). */
	if (dev->check && app) {
		r = check_map_take(dev, CHECK_MAP, &seg, 1, dir, attrs, NULL,
				   caller, &taken);
		if (r < 0)
			return r;
	}
	/* The checker knows whether a region made the mapping: on a
	 * device without translation a mapping made past a region may
	 * start in the same granule as one made through it. */
	if (app && regions_live(dev) &&
	    (!taken || check_taken_in_region(taken))) {
		r = region_unmap(dev, dma, len, dir, attrs);
		if (r != REGION_NONE) {
			if (taken)
				check_map_done(dev, taken, r == 0);
			return r;
		}
	}
	if (!dev->ops->unmap) {
		if (taken)
			check_map_done(dev, taken, 0);
		return -EOPNOTSUPP;
	}
	r = dev->ops->unmap(dev->bdev, dma, len, dir, attrs);
	if (taken)
		check_map_done(dev, taken, r == 0);
	if (r != 0)
		return backend_error(dev, r, ERRS_UNMAP, "unmap");
	count_add(dev, C_UNMAPS, 1);
	return 0;
}

static __attribute__((noinline)) int unmap_slow(struct dmasplit_dev *dev,
						uint64_t dma, size_t len,
						enum dmasplit_dir dir,
						uint32_t attrs,
						const void *caller)
{
	return unmap_any(dev, dma, len, dir, attrs, caller, true);
}

DMASPLIT_EXPORT int dmasplit_unmap(struct dmasplit_dev *dev, uint64_t dma,
				   size_t len, enum dmasplit_dir dir,
				   uint32_t attrs)
{
	int r;

	if (unlikely(!dev || dev->check || regions_live(dev) || !dev->ops->unmap ||
		     range_bad(dma, len) || xfer_bad(dir, attrs)))
		return unmap_slow(dev, dma, len, dir, attrs,
				  __builtin_return_address(0));
	r = dev->ops->unmap(dev->bdev, dma, len, dir, attrs);
	if (unlikely(r != 0))
		return backend_error(dev, r, ERRS_UNMAP, "unmap");
	count_add(dev, C_UNMAPS, 1);
	return 0;
}

int unmap_region_own(struct dmasplit_dev *dev, uint64_t dma, size_t len,
		     enum dmasplit_dir dir, uint32_t attrs)
{
	return unmap_any(dev, dma, len, dir, attrs,
			 __builtin_return_address(0), false);
}

/* The call's name, for its log lines. */
static inline const char *sync_fn(bool for_cpu)
{
	return for_cpu ? "dmasplit_sync_for_cpu" : "dmasplit_sync_for_device";
}

/* The backend's part of dmasplit_sync_for_cpu (for_cpu) or _for_device,
 * the arguments checked. */
static inline int sync_backend(struct dmasplit_dev *dev, uint64_t dma,
			       size_t len, enum dmasplit_dir dir, bool for_cpu)
{
	int (*op)(struct dmasplit_bdev *, uint64_t, size_t, enum dmasplit_dir) =
		for_cpu ? dev->ops->sync_for_cpu : dev->ops->sync_for_device;
	int r;

	/* No operation: nothing to copy or flush (coherent, translated). */
	if (!op)
		return 0;
	r = op(dev->bdev, dma, len, dir);
	return unlikely(r != 0) ? backend_error(dev, r, ERRS_SYNC,
						sync_fn(for_cpu))
				: 0;
}

/* Everything but the common case, out of line (see sync_fast()). */
static __attribute__((noinline)) _must_check_ int sync_slow(
	struct dmasplit_dev *dev, uint64_t dma, size_t len,
	enum dmasplit_dir dir, bool for_cpu, const void *caller)
{
	int r;

	if (!dev)
		return -EINVAL;
	if (unlikely(range_bad(dma, len) || dir_bad(dir)))
		return refuse(dev->ctx, 0, -EINVAL,
			      "%s: %s: invalid arguments (dma 0x%" PRIx64 ", len 0x%zx, dir %d)",
			      dev->name, sync_fn(for_cpu), dma, len, (int)dir);
	/* The checker first: it records the mappings made through
	 * regions too, each with its length and direction. */
	if (unlikely(dev->check)) {
		r = check_map_sync(dev, dma, len, dir, for_cpu,
				   regions_live(dev) &&
				   region_holds(dev, dma, len), caller);
		if (r < 0)
			return r;
	}
	if (unlikely(regions_live(dev))) {
		r = region_sync(dev, dma, len, dir);
		if (r != REGION_NONE)
			return r;
	}
	return sync_backend(dev, dma, len, dir, for_cpu);
}

/*
 * As map and unmap: the common case (checker off, no region, good
 * arguments) calls the backend and nothing else.  A bounce sync of one
 * page is a copy of one page, and what the library adds to it must stay
 * small beside it (dmasplit(1), figure 3).
 */
static inline int sync_fast(struct dmasplit_dev *dev, uint64_t dma,
			    size_t len, enum dmasplit_dir dir, bool for_cpu,
			    const void *caller)
{
	if (unlikely(!dev || dev->check || regions_live(dev) ||
		     range_bad(dma, len) || dir_bad(dir)))
		return sync_slow(dev, dma, len, dir, for_cpu, caller);
	return sync_backend(dev, dma, len, dir, for_cpu);
}

DMASPLIT_EXPORT int dmasplit_sync_for_cpu(struct dmasplit_dev *dev, uint64_t dma,
					  size_t len, enum dmasplit_dir dir)
{
	return sync_fast(dev, dma, len, dir, true,
			 __builtin_return_address(0));
}

DMASPLIT_EXPORT int dmasplit_sync_for_device(struct dmasplit_dev *dev,
					     uint64_t dma, size_t len,
					     enum dmasplit_dir dir)
{
	return sync_fast(dev, dma, len, dir, false,
			 __builtin_return_address(0));
}

struct each {
	struct dmasplit_dev *dev;
	enum dmasplit_dir dir;
	uint32_t attrs;
};

static int each_map(void *ctx, const struct iovec *buf, uint64_t *dma)
{
	struct each *e = ctx;
	int r = e->dev->ops->map(e->dev->bdev, buf->iov_base, buf->iov_len,
				 e->dir, e->attrs, dma);

	/* The loop takes anything but a negative return for a mapping. */
	return r > 0 ? backend_error(e->dev, r, ERRS_MAP_VEC, "map") : r;
}

static void each_unmap(void *ctx, const struct dmasplit_seg *seg)
{
	struct each *e = ctx;

	e->dev->ops->unmap(e->dev->bdev, seg->dma, seg->len, e->dir,
			   e->attrs | DMASPLIT_ATTR_SKIP_CPU_SYNC);
}

/* Without a backend map_vec: one map per buffer, all undone on failure,
 * by the loop backends that map buffer by buffer use too. */
static _must_check_ int map_each(struct dmasplit_dev *dev,
				 const struct iovec *iov, unsigned int n,
				 enum dmasplit_dir dir, uint32_t attrs,
				 struct dmasplit_seg *segs)
{
	struct each e = { .dev = dev, .dir = dir, .attrs = attrs };
	int r;

	if (!dev->ops->map)
		return -EOPNOTSUPP;
	r = dmasplit_map_each(iov, n, segs, each_map, NULL, each_unmap, &e);
	return r < 0 ? backend_error(dev, r, ERRS_MAP_VEC, "map") : 0;
}

/*
 * Unmap segments; *done says how many the backend released.  A vector
 * operation is all or nothing; without one, the segments go one by one
 * and the first failure stops the walk, leaving that segment and the
 * ones after it mapped.  The first error is returned.
 */
static _must_check_ int unmap_segs(struct dmasplit_dev *dev,
				   const struct dmasplit_seg *segs,
				   unsigned int n, enum dmasplit_dir dir,
				   uint32_t attrs, unsigned int *done)
{
	unsigned int i;
	int r;

	*done = 0;
	if (dev->ops->unmap_vec) {
		r = dev->ops->unmap_vec(dev->bdev, segs, n, dir, attrs);
		if (r != 0)
			return backend_error(dev, r, ERRS_UNMAP, "unmap_vec");
		*done = n;
		return 0;
	}
	for (i = 0; i < n; i++) {
		r = dev->ops->unmap(dev->bdev, segs[i].dma, segs[i].len, dir,
				    attrs);
		if (r != 0)
			return backend_error(dev, r, ERRS_UNMAP, "unmap");
		(*done)++;
	}
	return 0;
}

DMASPLIT_EXPORT int dmasplit_map_vec(struct dmasplit_dev *dev,
				     const struct iovec *iov, unsigned int n,
				     enum dmasplit_dir dir, uint32_t attrs,
				     struct dmasplit_seg *segs,
				     unsigned int *nsegs)
{
	unsigned int i, used, done;
	int r = 0;

	if (!dev || !iov || !segs || !nsegs)
		return -EINVAL;
	if (unlikely(!n || !*nsegs || xfer_bad(dir, attrs)))
		return refuse(dev->ctx, attrs, -EINVAL,
			      "%s: %s: invalid arguments (n %u, nsegs %u, dir %d, attrs 0x%x)",
			      dev->name, __func__, n, *nsegs, (int)dir, attrs);
	for (i = 0; i < n; i++)
		if (unlikely(args_bad(iov[i].iov_base, iov[i].iov_len, dir, 0)))
			return refuse(dev->ctx, attrs, -EINVAL,
				      "%s: %s: invalid buffer %u (%p, len 0x%zx)",
				      dev->name, __func__, i, iov[i].iov_base,
				      iov[i].iov_len);
	if (regions_live(dev)) {
		unsigned int room = *nsegs;

		r = region_map_vec(dev, iov, n, dir, segs, nsegs);
		if (r == 0 && unlikely(dev->check)) {
			r = check_map_add(dev, CHECK_VEC, segs, *nsegs, dir, NULL,
					  iov, n, __builtin_return_address(0),
					  true);
			if (r < 0) {
				(void)region_unmap_vec(dev, segs, *nsegs, dir,
						       DMASPLIT_ATTR_NO_WARN);
				*nsegs = room;
			}
		}
		if (r != REGION_NONE)
			return r;
	}
	if (dev->ops->map_vec) {
		/* Segments the backend says it filled but did not are
		 * refused as address 0, not taken from the caller's array. */
		memset(segs, 0, (size_t)*nsegs * sizeof(*segs));
		used = *nsegs;
		r = dev->ops->map_vec(dev->bdev, iov, n, dir, attrs, segs,
				      &used);
		if (r != 0)
			return backend_error(dev, r, ERRS_MAP_VEC, "map_vec");
		if (used == 0 || used > *nsegs) {
			log_err(dev->ctx, "%s: backend %s returned %u segments for %u: what it mapped stays until the device closes",
				dev->name, dev->backend->ops.name, used, *nsegs);
			return -EPROTO;
		}
	} else {
		if (!dev->ops->map)
			return -EOPNOTSUPP;
		if (*nsegs < n)
			return refuse(dev->ctx, attrs, -ENOSPC,
				      "%s: %s: %u buffers need %u segments, room for %u",
				      dev->name, __func__, n, n, *nsegs);
		r = map_each(dev, iov, n, dir, attrs, segs);
		if (r < 0)
			return r;
		used = n;
	}
	for (i = 0; i < used && !r; i++)
		if (dma_bad(dev, segs[i].dma, segs[i].len))
			r = backend_bad_dma(dev, segs[i].dma, segs[i].len,
					    "map_vec");
	if (!r && unlikely(dev->check))
		r = check_map_add(dev, CHECK_VEC, segs, used, dir, NULL,
				  iov, n, __builtin_return_address(0), false);
	if (r < 0) {
		if (unmap_segs(dev, segs, used, dir,
			       attrs | DMASPLIT_ATTR_SKIP_CPU_SYNC, &done) < 0)
			log_err(dev->ctx, "%s: backend %s failed to undo a refused vector: %u of %u segments stay mapped",
				dev->name, dev->backend->ops.name,
				used - done, used);
		return r;
	}
	count_add(dev, C_MAPS, used);
	*nsegs = used;
	return 0;
}

/*
 * Counts what the backend released, no more: an error leaves the
 * counters and the checker's state matching what is still mapped.
 */
DMASPLIT_EXPORT int dmasplit_unmap_vec(struct dmasplit_dev *dev,
				       const struct dmasplit_seg *segs,
				       unsigned int nsegs,
				       enum dmasplit_dir dir, uint32_t attrs)
{
	unsigned int done;

	return unmap_vec_counted(dev, segs, nsegs, dir, attrs, &done,
				 __builtin_return_address(0));
}

int unmap_vec_counted(struct dmasplit_dev *dev,
		      const struct dmasplit_seg *segs, unsigned int nsegs,
		      enum dmasplit_dir dir, uint32_t attrs, unsigned int *done,
		      const void *caller)
{
	struct check_entry *taken = NULL;
	unsigned int i;
	int r;

	*done = 0;
	if (!dev || !segs)
		return -EINVAL;
	if (unlikely(!nsegs || xfer_bad(dir, attrs)))
		return refuse(dev->ctx, attrs, -EINVAL,
			      "%s: dmasplit_unmap_vec: invalid arguments (nsegs %u, dir %d, attrs 0x%x)",
			      dev->name, nsegs, (int)dir, attrs);
	for (i = 0; i < nsegs; i++)
		if (unlikely(range_bad(segs[i].dma, segs[i].len)))
			return refuse(dev->ctx, attrs, -EINVAL,
				      "%s: dmasplit_unmap_vec: invalid segment %u (0x%" PRIx64 ", len 0x%" PRIx64 ")",
				      dev->name, i, segs[i].dma, segs[i].len);
	if (unlikely(dev->check)) {
		r = check_map_take(dev, CHECK_VEC, segs, nsegs, dir, attrs,
				   NULL, caller, &taken);
		if (r < 0)
			return r;
	}
	if (regions_live(dev) && (!taken || check_taken_in_region(taken))) {
		r = region_unmap_vec(dev, segs, nsegs, dir, attrs);
		if (r != REGION_NONE) {
			if (r == 0)
				*done = nsegs;
			if (taken)
				check_map_done(dev, taken, *done);
			return r;
		}
	}
	if (!dev->ops->unmap_vec && !dev->ops->unmap) {
		if (taken)
			check_map_done(dev, taken, 0);
		return -EOPNOTSUPP;
	}
	r = unmap_segs(dev, segs, nsegs, dir, attrs, done);
	if (taken)
		check_map_done(dev, taken, *done);
	if (*done)
		count_add(dev, C_UNMAPS, *done);
	return r;
}

DMASPLIT_EXPORT int dmasplit_alloc_coherent(struct dmasplit_dev *dev,
					    size_t size, uint32_t flags,
					    void **cpu, uint64_t *dma)
{
	CANCEL_DEFERRED;
	struct dmasplit_seg seg = { 0 };	/* as map_any's */
	void *p = NULL;
	int r;

	if (!dev || !cpu || !dma)
		return -EINVAL;
	/* Backends allocate whole granules: a size that cannot be rounded
	 * up to one would wrap to a small allocation. */
	if (!size || size > SIZE_MAX - (dev->granule - 1) ||
	    flags & ~DMASPLIT_COHERENT_FLAGS_MASK)
		return refuse(dev->ctx, 0, -EINVAL,
			      "%s: %s: invalid arguments (size 0x%zx, flags 0x%x)",
			      dev->name, __func__, size, flags);
	if (!dev->ops->alloc_coherent || !dev->ops->free_coherent)
		return -EOPNOTSUPP;
	r = dev->ops->alloc_coherent(dev->bdev, size, flags, &p, &seg.dma);
	if (r != 0)
		return backend_error(dev, r, ERRS_COHERENT, "alloc_coherent");
	if (dma_bad(dev, seg.dma, size)) {
		r = backend_bad_dma(dev, seg.dma, size, "alloc_coherent");
	} else if (!p) {
		log_err(dev->ctx, "%s: backend %s returned no CPU address from alloc_coherent: refused",
			dev->name, dev->backend->ops.name);
		r = -EIO;
	} else if (unlikely(dev->check)) {
		seg.len = size;
		r = check_map_add(dev, CHECK_COHERENT, &seg, 1,
				  DMASPLIT_BIDIRECTIONAL, p, NULL, 0,
				  __builtin_return_address(0), false);
	}
	if (r < 0) {
		dev->ops->free_coherent(dev->bdev, size, p, seg.dma);
		return r;
	}
	__atomic_add_fetch(&dev->coherent_live, 1, __ATOMIC_RELAXED);
	*cpu = p;
	*dma = seg.dma;
	return 0;
}

DMASPLIT_EXPORT int dmasplit_free_coherent(struct dmasplit_dev *dev,
					   size_t size, void *cpu,
					   uint64_t dma)
{
	CANCEL_DEFERRED;
	struct dmasplit_seg seg = { .dma = dma, .len = size };
	struct check_entry *taken = NULL;
	int r;

	if (!dev)
		return -EINVAL;
	if (buf_bad(cpu, size) || range_bad(dma, size))
		return refuse(dev->ctx, 0, -EINVAL,
			      "%s: %s: invalid arguments (size 0x%zx, cpu %p, dma 0x%" PRIx64 ")",
			      dev->name, __func__, size, cpu, dma);
	if (!dev->ops->free_coherent)
		return -EOPNOTSUPP;
	if (unlikely(dev->check)) {
		r = check_map_take(dev, CHECK_COHERENT, &seg, 1,
				   DMASPLIT_BIDIRECTIONAL, 0, cpu,
				   __builtin_return_address(0), &taken);
		if (r < 0)
			return r;
	}
	r = dev->ops->free_coherent(dev->bdev, size, cpu, dma);
	if (taken)
		check_map_done(dev, taken, r == 0);
	if (r != 0)
		return backend_error(dev, r, ERRS_UNMAP, "free_coherent");
	__atomic_sub_fetch(&dev->coherent_live, 1, __ATOMIC_RELAXED);
	return 0;
}

static _must_check_ int dma_rw_args(struct dmasplit_dev *dev, uint64_t dma,
				    const void *buf, size_t len, const char *fn)
{
	if (!dev)
		return -EINVAL;
	if (buf_bad(buf, len) || range_bad(dma, len))
		return refuse(dev->ctx, 0, -EINVAL,
			      "%s: %s: invalid arguments (dma 0x%" PRIx64 ", buf %p, len 0x%zx)",
			      dev->name, fn, dma, buf, len);
	return 0;
}

DMASPLIT_EXPORT int dmasplit_dev_dma_read(struct dmasplit_dev *dev, uint64_t dma,
					  void *buf, size_t len)
{
	CANCEL_DEFERRED;
	int r = dma_rw_args(dev, dma, buf, len, __func__);

	if (r < 0)
		return r;
	if (!dev->ops->dma_read)
		return -EOPNOTSUPP;
	if (unlikely(dev->check))
		check_device_access(dev, dma, len, false,
				    __builtin_return_address(0));
	r = dev->ops->dma_read(dev->bdev, dma, buf, len);
	return r != 0 ? backend_error(dev, r, ERRS_RW, "dma_read") : 0;
}

DMASPLIT_EXPORT int dmasplit_dev_dma_write(struct dmasplit_dev *dev,
					   uint64_t dma, const void *buf,
					   size_t len)
{
	CANCEL_DEFERRED;
	int r = dma_rw_args(dev, dma, buf, len, __func__);

	if (r < 0)
		return r;
	if (!dev->ops->dma_write)
		return -EOPNOTSUPP;
	if (unlikely(dev->check))
		check_device_access(dev, dma, len, true,
				    __builtin_return_address(0));
	r = dev->ops->dma_write(dev->bdev, dma, buf, len);
	return r != 0 ? backend_error(dev, r, ERRS_RW, "dma_write") : 0;
}
