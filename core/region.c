// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Registered regions (dmasplit_region_new(3)): memory mapped for the
 * device once, so that mapping any buffer inside it is an address
 * computation.  A real kernel maps a window's links with one call per
 * virtually contiguous run, so a buffer made of scattered pages costs one
 * call per page at every I/O; a region of the pool those pages come from
 * costs one call when it is made and none after (dmasplit_region_new(3)).
 *
 * A region is a window with one link and one sync where the device has
 * windows, and one mapping of the per-range path where it has none.  It
 * is only offered where a mapping through it needs no copy and no cache
 * maintenance (coherent, no bounce pool in the way), so that unmap and
 * sync of such a mapping have nothing to do but be checked and counted.
 *
 * The map, unmap and sync calls look here only while the device has a
 * region (one predictable test of dev->nregions otherwise).  Regions are
 * few and long-lived: a read lock and a linear search of a small array.
 *
 * With the checker off the core keeps no record per mapping; a region
 * keeps a count per granule of the mappings that start there, which a
 * map or unmap changes with one atomic operation, so that an unmap of
 * what was not mapped through it, or a second unmap, is refused, and
 * dmasplit_region_free() knows whether any mapping is live.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct dmasplit_region {
	struct dmasplit_dev *dev;
	struct dmasplit_iova *iova;	/* NULL: one mapping of the range */
	uintptr_t va;
	uint64_t len;
	uint64_t dma;
	enum dmasplit_dir dir;
	unsigned int gshift;		/* log2 of the device's granule */
	uint32_t *starts;		/* per granule: live mappings that
					 * start in it (atomic) */
};

/* dir may use a region mapped for rdir. */
static bool dir_covered(enum dmasplit_dir rdir, enum dmasplit_dir dir)
{
	return rdir == DMASPLIT_BIDIRECTIONAL || rdir == dir;
}

/* [x, x + len) inside [start, start + size), with no overflow. */
static bool holds(uint64_t start, uint64_t size, uint64_t x, uint64_t len)
{
	return x >= start && len <= size && x - start <= size - len;
}

/* Read lock held.  The region holding [va, va + len), or NULL. */
static struct dmasplit_region *by_va(const struct dmasplit_dev *dev,
				     uintptr_t va, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < dev->nregions; i++) {
		struct dmasplit_region *r = dev->regions[i];

		if (holds(r->va, r->len, va, len))
			return r;
	}
	return NULL;
}

/* Read lock held.  The region whose device addresses hold
 * [dma, dma + len), or NULL. */
static struct dmasplit_region *by_dma(const struct dmasplit_dev *dev,
				      uint64_t dma, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < dev->nregions; i++) {
		struct dmasplit_region *r = dev->regions[i];

		if (holds(r->dma, r->len, dma, len))
			return r;
	}
	return NULL;
}

/* The count of the mappings that start at device address dma of r. */
static uint32_t *starts_at(const struct dmasplit_region *r, uint64_t dma)
{
	return &r->starts[(dma - r->dma) >> r->gshift];
}

/* One mapping more starting at *c; false when the count is full, which
 * no program that unmaps what it maps reaches. */
static bool start_get(uint32_t *c)
{
	uint32_t n = __atomic_load_n(c, __ATOMIC_RELAXED);

	do {
		if (n == UINT32_MAX)
			return false;
	} while (!__atomic_compare_exchange_n(c, &n, n + 1, true,
					      __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return true;
}

/* One mapping fewer starting at *c; never below none. */
static bool start_put(uint32_t *c)
{
	uint32_t n = __atomic_load_n(c, __ATOMIC_RELAXED);

	do {
		if (!n)
			return false;
	} while (!__atomic_compare_exchange_n(c, &n, n - 1, true,
					      __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return true;
}

static int map_refused(struct dmasplit_dev *dev, uint64_t dma)
{
	return refuse(dev->ctx, 0, -ENOMEM,
		      "%s: map in a registered region at 0x%" PRIx64 ": %" PRIu32 " mappings from that granule are live already",
		      dev->name, dma, UINT32_MAX);
}

int region_map(struct dmasplit_dev *dev, const void *vaddr, size_t len,
	       enum dmasplit_dir dir, uint64_t *dma)
{
	struct dmasplit_region *r;
	uint64_t addr = 0;
	bool full = false;

	pthread_rwlock_rdlock(&dev->regions_lock);
	r = by_va(dev, (uintptr_t)vaddr, len);
	if (r && dir_covered(r->dir, dir)) {
		addr = r->dma + ((uintptr_t)vaddr - r->va);
		full = !start_get(starts_at(r, addr));
	} else {
		r = NULL;
	}
	pthread_rwlock_unlock(&dev->regions_lock);
	if (!r)
		return REGION_NONE;
	if (full)
		return map_refused(dev, addr);
	count_add(dev, C_MAPS, 1);
	*dma = addr;
	return 0;
}

/*
 * Without translation a region's device addresses are its memory's own,
 * so a mapping of that memory made past the region (in a direction the
 * region does not allow, or before it was registered) has them too: an
 * unmap or sync the region cannot have made is that mapping's, for the
 * backend to judge.
 */
static bool untranslated(const struct dmasplit_dev *dev)
{
	return !(dev->info.flags & DMASPLIT_DEV_TRANSLATED);
}

/* Read lock held.  0, why the mapping at dma of r cannot be unmapped for
 * dir, or REGION_NONE for one r cannot have made (untranslated()). */
static int unmap_in(struct dmasplit_region *r, uint64_t dma,
		    enum dmasplit_dir dir)
{
	bool none = untranslated(r->dev);

	if (!dir_covered(r->dir, dir))
		return none ? REGION_NONE : -EINVAL;
	if (start_put(starts_at(r, dma)))
		return 0;
	return none ? REGION_NONE : -ENOENT;
}

static int unmap_refused(struct dmasplit_dev *dev, int err, uint64_t dma,
			 uint64_t len, uint32_t attrs)
{
	return refuse(dev->ctx, attrs, err,
		      "%s: unmap of 0x%" PRIx64 "+0x%" PRIx64 " in a registered region %s",
		      dev->name, dma, len,
		      err == -ENOENT ? "where no mapping through it starts (never mapped, or unmapped already)"
				     : "of another direction");
}

int region_unmap(struct dmasplit_dev *dev, uint64_t dma, size_t len,
		 enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_region *r;
	int ret = 0;

	pthread_rwlock_rdlock(&dev->regions_lock);
	r = by_dma(dev, dma, len);
	if (r)
		ret = unmap_in(r, dma, dir);
	pthread_rwlock_unlock(&dev->regions_lock);
	if (!r || ret == REGION_NONE)
		return REGION_NONE;
	if (ret < 0)
		return unmap_refused(dev, ret, dma, len, attrs);
	count_add(dev, C_UNMAPS, 1);
	return 0;
}

int region_sync(struct dmasplit_dev *dev, uint64_t dma, size_t len,
		enum dmasplit_dir dir)
{
	struct dmasplit_region *r;
	bool covered;

	pthread_rwlock_rdlock(&dev->regions_lock);
	r = by_dma(dev, dma, len);
	covered = r && dir_covered(r->dir, dir);
	pthread_rwlock_unlock(&dev->regions_lock);
	if (!r || (!covered && untranslated(dev)))
		return REGION_NONE;
	/* Coherent and not bounced: nothing to copy or flush. */
	return covered ? 0 : refuse(dev->ctx, 0, -EINVAL,
				    "%s: sync of 0x%" PRIx64 "+0x%zx in a registered region of another direction",
				    dev->name, dma, len);
}

bool region_holds(struct dmasplit_dev *dev, uint64_t dma, size_t len)
{
	bool held;

	pthread_rwlock_rdlock(&dev->regions_lock);
	held = by_dma(dev, dma, len) != NULL;
	pthread_rwlock_unlock(&dev->regions_lock);
	return held;
}

/* Read lock held.  by_va(), trying first the region of the last buffer:
 * the buffers of one vector mostly share one. */
static struct dmasplit_region *by_va_near(const struct dmasplit_dev *dev,
					  struct dmasplit_region *last,
					  uintptr_t va, uint64_t len)
{
	if (last && holds(last->va, last->len, va, len))
		return last;
	return by_va(dev, va, len);
}

int region_map_vec(struct dmasplit_dev *dev, const struct iovec *iov,
		   unsigned int n, enum dmasplit_dir dir,
		   struct dmasplit_seg *segs, unsigned int *nsegs)
{
	struct dmasplit_region *r = NULL, *prev = NULL;
	unsigned int i, used = 0;
	uint64_t full_at = 0;
	int ret = 0;

	pthread_rwlock_rdlock(&dev->regions_lock);
	for (i = 0; i < n && !ret; i++) {
		r = by_va_near(dev, r, (uintptr_t)iov[i].iov_base,
			       iov[i].iov_len);
		if (!r || !dir_covered(r->dir, dir))
			ret = REGION_NONE;
	}
	for (i = 0, r = NULL; i < n && !ret; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base;
		uint64_t dma;

		r = by_va_near(dev, r, va, iov[i].iov_len);
		dma = r->dma + (va - r->va);
		/* One segment never spans two regions: unmap finds each
		 * segment's whole. */
		if (r == prev && segs[used - 1].dma + segs[used - 1].len == dma) {
			segs[used - 1].len += iov[i].iov_len;
			continue;
		}
		if (used == *nsegs) {
			ret = -ENOSPC;
			break;
		}
		/* One live mapping per segment: unmap puts one back per
		 * segment. */
		if (!start_get(starts_at(r, dma))) {
			full_at = dma;
			ret = -ENOMEM;
			break;
		}
		segs[used].dma = dma;
		segs[used++].len = iov[i].iov_len;
		prev = r;
	}
	for (i = 0; ret < 0 && i < used; i++)
		start_put(starts_at(by_dma(dev, segs[i].dma, segs[i].len),
				    segs[i].dma));
	pthread_rwlock_unlock(&dev->regions_lock);
	if (ret == -ENOMEM)
		return map_refused(dev, full_at);
	if (ret == -ENOSPC)
		return refuse(dev->ctx, 0, -ENOSPC,
			      "%s: dmasplit_map_vec: %u buffers in registered regions need more than %u segments",
			      dev->name, n, *nsegs);
	if (ret)
		return ret;
	count_add(dev, C_MAPS, used);
	*nsegs = used;
	return 0;
}

/*
 * Segments that region_map_vec() made are each inside one region; a
 * vector with none there is the backend's, one with some there and some
 * not is refused whole.  A segment refused stops the walk: those before
 * it are unmapped, as the backends' unmap_vec does.
 */
int region_unmap_vec(struct dmasplit_dev *dev, const struct dmasplit_seg *segs,
		     unsigned int nsegs, enum dmasplit_dir dir,
		     uint32_t attrs)
{
	struct dmasplit_region *r = NULL;
	unsigned int i, in = 0, done = 0;
	int ret = 0;

	pthread_rwlock_rdlock(&dev->regions_lock);
	for (i = 0; i < nsegs; i++) {
		r = by_dma(dev, segs[i].dma, segs[i].len);
		/* Without translation, a vector of a region's memory made
		 * past it has its addresses too (unmap_in()). */
		in += r && (!untranslated(dev) ||
			    (dir_covered(r->dir, dir) &&
			     __atomic_load_n(starts_at(r, segs[i].dma),
					     __ATOMIC_RELAXED)));
	}
	for (i = 0; in == nsegs && i < nsegs && !ret; i++) {
		r = by_dma(dev, segs[i].dma, segs[i].len);
		ret = unmap_in(r, segs[i].dma, dir);
		if (ret == REGION_NONE)
			ret = -ENOENT;	/* taken by another thread since */
		done += !ret;
	}
	pthread_rwlock_unlock(&dev->regions_lock);
	if (!in)
		return REGION_NONE;
	if (in < nsegs)
		return refuse(dev->ctx, attrs, -EINVAL,
			      "%s: dmasplit_unmap_vec: %u of %u segments are in registered regions: not one vector of dmasplit_map_vec",
			      dev->name, in, nsegs);
	if (done)
		count_add(dev, C_UNMAPS, done);
	if (ret < 0)
		return unmap_refused(dev, ret, segs[done].dma, segs[done].len,
				     attrs);
	return 0;
}

/* Lock held.  A region over any of [va, va + len)? */
static bool overlaps_region(const struct dmasplit_dev *dev, uintptr_t va,
			    uint64_t len)
{
	unsigned int i;

	for (i = 0; i < dev->nregions; i++) {
		const struct dmasplit_region *r = dev->regions[i];

		if (va < r->va + r->len && r->va < va + len)
			return true;
	}
	return false;
}

/* The device addresses of a new region: a window's, or one mapping's. */
static int region_map_range(struct dmasplit_region *r, void *vaddr)
{
	struct dmasplit_dev *dev = r->dev;
	int ret;

	if (!(dev->info.flags & DMASPLIT_DEV_WINDOWS))
		return map_region_own(dev, vaddr, r->len, r->dir, &r->dma);
	ret = internal_window_alloc(dev, r->len, &r->iova);
	if (ret < 0)
		return ret;
	ret = dmasplit_iova_link(r->iova, 0, vaddr, r->len, r->dir, 0);
	if (!ret) {
		ret = dmasplit_iova_sync(r->iova, 0, r->len);
		if (ret < 0)
			dmasplit_iova_unlink(r->iova, 0, r->len, r->dir,
					     DMASPLIT_ATTR_SKIP_CPU_SYNC);
	}
	if (ret < 0) {
		internal_window_destroy(r->iova);
		r->iova = NULL;
		return ret;
	}
	r->dma = dmasplit_iova_addr(r->iova);
	return 0;
}

/* 0, or the error of an unmap that left the mapping in place (logged). */
static int region_unmap_range(struct dmasplit_region *r)
{
	if (!r->iova)
		return unmap_region_own(r->dev, r->dma, r->len, r->dir,
					DMASPLIT_ATTR_SKIP_CPU_SYNC);
	/* Destroy takes down what an unlink that failed left. */
	(void)dmasplit_iova_unlink(r->iova, 0, r->len, r->dir,
				   DMASPLIT_ATTR_SKIP_CPU_SYNC);
	internal_window_destroy(r->iova);
	return 0;
}

/* Where a mapping through a region would need a copy or a flush, the
 * region could not keep its promise that unmap and sync do nothing. */
static const char *region_unusable(const struct dmasplit_dev *dev)
{
	uint32_t f = dev->info.flags;

	if (!(f & DMASPLIT_DEV_COHERENT))
		return "the device is not coherent (syncs would flush)";
	if (!(f & DMASPLIT_DEV_WINDOWS) && (f & DMASPLIT_DEV_BOUNCE))
		return "the device has no windows and bounces";
	if (!(f & DMASPLIT_DEV_WINDOWS) && !dev->ops->map)
		return "the device has neither windows nor mappings";
	return NULL;
}

DMASPLIT_EXPORT int dmasplit_region_new(struct dmasplit_dev *dev, void *vaddr,
					size_t len, enum dmasplit_dir dir,
					uint32_t flags,
					struct dmasplit_region **out)
{
	CANCEL_DEFERRED;
	struct dmasplit_region *r, **grown;
	const char *why;
	int ret;

	if (!dev || !out)
		return -EINVAL;
	if (buf_bad(vaddr, len) || dir_bad(dir) ||
	    (flags & ~DMASPLIT_REGION_FLAGS_MASK) ||
	    (((uintptr_t)vaddr | len) & (dev->granule - 1)))
		return refuse(dev->ctx, 0, -EINVAL,
			      "%s: %s: invalid arguments (vaddr %p, len 0x%zx, dir %d, flags 0x%x; vaddr and len in whole %" PRIu64 "-byte granules)",
			      dev->name, __func__, vaddr, len, (int)dir, flags,
			      dev->granule);
	why = region_unusable(dev);
	if (why)
		return refuse(dev->ctx, 0, -EOPNOTSUPP,
			      "%s: %s: no registered regions: %s", dev->name,
			      __func__, why);
	r = calloc(1, sizeof(*r));
	if (!r)
		return refuse(dev->ctx, 0, -ENOMEM,
			      "%s: %s: no memory for the region", dev->name,
			      __func__);
	r->dev = dev;
	r->va = (uintptr_t)vaddr;
	r->len = len;
	r->dir = dir;
	r->gshift = (unsigned int)__builtin_ctzll(dev->granule);
	r->starts = calloc(len >> r->gshift, sizeof(*r->starts));
	if (!r->starts) {
		free(r);
		return refuse(dev->ctx, 0, -ENOMEM,
			      "%s: %s: no memory to count the mappings of %" PRIu64 " granules",
			      dev->name, __func__,
			      (uint64_t)len >> __builtin_ctzll(dev->granule));
	}

	/* Checked before mapping, since a mapping of bytes a region holds
	 * would come from that region, and again once it is made, for
	 * another thread's region made meanwhile. */
	pthread_rwlock_rdlock(&dev->regions_lock);
	ret = overlaps_region(dev, r->va, len) ? -EEXIST : 0;
	pthread_rwlock_unlock(&dev->regions_lock);
	if (!ret)
		ret = region_map_range(r, vaddr);
	if (ret < 0)
		goto fail;
	pthread_rwlock_wrlock(&dev->regions_lock);
	if (overlaps_region(dev, r->va, len)) {
		ret = -EEXIST;
		goto fail_unmap;
	}
	grown = realloc(dev->regions,
			(dev->nregions + 1) * sizeof(*dev->regions));
	if (!grown) {
		ret = -ENOMEM;
		goto fail_unmap;
	}
	dev->regions = grown;
	dev->regions[dev->nregions] = r;
	__atomic_store_n(&dev->nregions, dev->nregions + 1, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&dev->regions_lock);
	dev_get(dev);
	log_dbg(dev->ctx, "%s: registered %p+0x%zx at 0x%" PRIx64 "%s",
		dev->name, vaddr, len, r->dma,
		r->iova ? "" : " (per-range mapping)");
	*out = r;
	return 0;
fail_unmap:
	pthread_rwlock_unlock(&dev->regions_lock);
	(void)region_unmap_range(r);
fail:
	free(r->starts);
	free(r);
	if (ret == -EEXIST)
		return refuse(dev->ctx, 0, -EEXIST,
			      "%s: dmasplit_region_new: %p+0x%zx overlaps a registered region",
			      dev->name, vaddr, len);
	return ret;
}

/* Write lock held: no mapping through r comes or goes. */
static uint64_t region_live(const struct dmasplit_region *r)
{
	uint64_t i, live = 0;

	for (i = 0; i < r->len >> r->gshift; i++)
		live += r->starts[i];
	return live;
}

DMASPLIT_EXPORT int dmasplit_region_free(struct dmasplit_region *r)
{
	CANCEL_DEFERRED;
	struct dmasplit_dev *dev;
	uint64_t live;
	unsigned int i;
	int ret;

	if (!r)
		return 0;
	dev = r->dev;
	pthread_rwlock_wrlock(&dev->regions_lock);
	live = region_live(r);
	if (live && !__atomic_load_n(&dev->closed, __ATOMIC_ACQUIRE)) {
		pthread_rwlock_unlock(&dev->regions_lock);
		return refuse(dev->ctx, 0, -EBUSY,
			      "%s: %s: %" PRIu64 " mappings through region 0x%" PRIx64 "+0x%" PRIx64 " are live",
			      dev->name, __func__, live, r->dma, r->len);
	}
	/* Closed, the device is the application's no more: what is still
	 * mapped through the region can never be unmapped, so it goes with
	 * the region, reported as leaked here. */
	if (live)
		log_err(dev->ctx, "%s: %s: %" PRIu64 " mappings through region 0x%" PRIx64 "+0x%" PRIx64 " still live after the device was closed: released with the region",
			dev->name, __func__, live, r->dma, r->len);
	for (i = 0; i < dev->nregions && dev->regions[i] != r; i++)
		;
	if (i < dev->nregions) {
		dev->regions[i] = dev->regions[dev->nregions - 1];
		__atomic_store_n(&dev->nregions, dev->nregions - 1,
				 __ATOMIC_RELEASE);
	}
	pthread_rwlock_unlock(&dev->regions_lock);
	/* Gone now, not again when the device is released. */
	if (live) {
		if (dev->check)
			check_region_leaks(dev, r->dma, r->len);
		count_add(dev, C_UNMAPS, live);
	}
	/* The region goes whatever the unmap says, as a file descriptor
	 * goes whatever close() says: there is nothing left to try again
	 * with. */
	ret = region_unmap_range(r);
	free(r->starts);
	free(r);
	dev_put(dev);
	return ret;
}

DMASPLIT_EXPORT uint64_t dmasplit_region_addr(const struct dmasplit_region *r)
{
	return r ? r->dma : 0;
}

