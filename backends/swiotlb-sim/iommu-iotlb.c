// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device addresses for the translated device, and the count of IOTLB
 * invalidations that goes with them.  Every per-range map and unmap
 * allocates or frees addresses, so this is the hot path's lock: per-CPU
 * caches of small ranges in front of the space's allocator (the core's,
 * through the host table) keep threads off the allocator's lock, and the
 * invalidations a call makes are counted under the cache lock it takes
 * anyway, which spares it an atomic operation.  Kept apart from the
 * entries so that the allocator's lock order (iova_lock, then a cache's
 * lock or the depot's) is visible in one place.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

uint64_t iommu_invalidations(struct dmasplit_bdev *b)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; b->sp && i < CPU_CACHES; i++)
		sum += __atomic_load_n(&b->sp->caches[i].invalidations,
				       __ATOMIC_RELAXED);
	return sum;
}

/* The cache order of size, or -1 when size is not cached. */
static int cache_order(const struct dmasplit_bdev *b, uint64_t size)
{
	uint64_t pages = size >> b->sp->pt.shift;

	return pages && !(pages & (pages - 1)) && pages < (1u << CACHE_ORDERS)
		       ? __builtin_ctzll(pages) : -1;
}

static void global_free(struct dmasplit_bdev *b, const uint64_t *addr,
			unsigned int n, uint64_t size)
{
	unsigned int i;

	pthread_mutex_lock(&b->sp->iova_lock);
	for (i = 0; i < n; i++)
		b->host->iovad_free(b->sp->iovad, addr[i], size);
	pthread_mutex_unlock(&b->sp->iova_lock);
}

/* Give every cached address back, so that a large allocation can use
 * the space (the kernel flushes its rcaches before failing too).  Under
 * iova_lock, which is taken before a cache's lock, never after. */
void iova_drain_locked(struct sim_space *sp)
{
	unsigned int i, o, k;

	for (i = 0; i < CPU_CACHES; i++) {
		struct iova_cache *c = &sp->caches[i];

		pthread_mutex_lock(&c->lock);
		for (o = 0; o < CACHE_ORDERS; o++) {
			for (k = 0; k < c->n[o]; k++)
				sp->host->iovad_free(sp->iovad, c->addr[o][k],
						     sp->granule << o);
			c->n[o] = 0;
		}
		/* Held windows' addresses too. */
		for (k = 0; k < c->nheld; k++)
			sp->host->iovad_free(sp->iovad, c->held[k].addr,
					     sp->granule << c->held_order[k]);
		c->nheld = 0;
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_lock(&sp->depot->lock);
	for (o = 0; o < CACHE_ORDERS; o++) {
		for (i = 0; i < sp->depot->n[o]; i++)
			for (k = 0; k < CACHE_DEPTH / 2; k++)
				sp->host->iovad_free(sp->iovad,
						     sp->depot->mag[o][i][k],
						     sp->granule << o);
		sp->depot->n[o] = 0;
	}
	pthread_mutex_unlock(&sp->depot->lock);
}

/* A full cache's spill: whole into the depot while it has room, else
 * to the allocator. */
static void spill_free(struct dmasplit_bdev *b, int order,
		       const uint64_t *spill, uint64_t size)
{
	struct iova_depot *d = b->sp->depot;

	pthread_mutex_lock(&d->lock);
	if (d->n[order] < DEPOT_MAGS) {
		memcpy(d->mag[order][d->n[order]++], spill,
		       sizeof(d->mag[order][0]));
		pthread_mutex_unlock(&d->lock);
		return;
	}
	pthread_mutex_unlock(&d->lock);
	global_free(b, spill, CACHE_DEPTH / 2, size);
}

/* A spill of order from the depot into mag; false when it has none. */
static bool depot_take(struct sim_space *sp, int order, uint64_t *mag)
{
	struct iova_depot *d = sp->depot;
	bool found;

	pthread_mutex_lock(&d->lock);
	found = d->n[order] > 0;
	if (found)
		memcpy(mag, d->mag[order][--d->n[order]],
		       sizeof(d->mag[order][0]));
	pthread_mutex_unlock(&d->lock);
	return found;
}

static void drain_caches(struct dmasplit_bdev *b)
{
	pthread_mutex_lock(&b->sp->iova_lock);
	iova_drain_locked(b->sp);
	pthread_mutex_unlock(&b->sp->iova_lock);
}

static int global_alloc(struct dmasplit_bdev *b, uint64_t size, uint64_t *addr)
{
	int r;

	pthread_mutex_lock(&b->sp->iova_lock);
	r = b->host->iovad_alloc(b->sp->iovad, size, b->sp->last, addr);
	pthread_mutex_unlock(&b->sp->iova_lock);
	return r;
}

/*
 * Allocate and free device addresses.  flushes is the number of IOTLB
 * invalidations the caller makes along with it, counted in the share of
 * the cache the addresses come from or go to.  A map that fails after
 * its iova_get() puts back with -1: the sum over the per-CPU shares
 * stays exact, modulo 2^64 like any counter.
 */
/* All but the first of n addresses of order into c, the first to addr;
 * those the cache has no room for (it filled up meanwhile) back to the
 * allocator. */
static void cache_fill(struct dmasplit_bdev *b, struct iova_cache *c,
		       int order, const uint64_t *fill, unsigned int n,
		       uint64_t size, uint64_t *addr)
{
	unsigned int i;

	pthread_mutex_lock(&c->lock);
	for (i = n - 1; i > 0 && c->n[order] < CACHE_DEPTH; i--)
		c->addr[order][c->n[order]++] = fill[i];
	pthread_mutex_unlock(&c->lock);
	if (i)
		global_free(b, fill + 1, i, size);
	*addr = fill[0];
}

/* After the cache had nothing: a spill from the depot, or from the
 * allocator a run of this CPU's (entries of one run share cache lines
 * with no other CPU's), or the addresses alone. */
static __attribute__((noinline)) int iova_alloc_slow(struct dmasplit_bdev *b,
						     struct iova_cache *c,
						     int order, uint64_t size,
						     uint64_t *addr)
{
	uint64_t fill[CACHE_DEPTH / 2 > CACHE_REFILL ? CACHE_DEPTH / 2
						      : CACHE_REFILL];
	uint64_t run;
	unsigned int i;
	int r;

	if (order >= 0 && depot_take(b->sp, order, fill)) {
		cache_fill(b, c, order, fill, CACHE_DEPTH / 2, size, addr);
		return 0;
	}
	if (order >= 0 && global_alloc(b, size * CACHE_REFILL, &run) == 0) {
		for (i = 0; i < CACHE_REFILL; i++)
			fill[i] = run + i * size;
		cache_fill(b, c, order, fill, CACHE_REFILL, size, addr);
		return 0;
	}
	r = global_alloc(b, size, addr);
	if (r == -ENOSPC) {
		drain_caches(b);
		r = global_alloc(b, size, addr);
	}
	return r;
}

int iova_none_left(struct dmasplit_bdev *b, uint32_t attrs, uint64_t size)
{
	uint64_t last;

	pthread_mutex_lock(&b->sp->iova_lock);
	last = b->sp->last;
	pthread_mutex_unlock(&b->sp->iova_lock);
	/* In a shared space the limit may be another member's mask, one
	 * that stays until that member is released. */
	if (last < b->iommu_last)
		return sim_refuse(b, attrs, -ENOSPC, "%s: no %" PRIu64 " bytes of device address space left below 0x%" PRIx64 ", the narrowest mask of the members of address space %s",
				  b->name, size, last + 1, b->sp->name);
	return sim_refuse(b, attrs, -ENOSPC, "%s: no %" PRIu64 " bytes of device address space left below the DMA mask",
			  b->name, size);
}

#define hot_inline inline __attribute__((always_inline))

static hot_inline int iova_alloc_on(struct dmasplit_bdev *b,
				    struct iova_cache *c, uint64_t size,
				    uint64_t *addr)
{
	int order = cache_order(b, size);

	if (order >= 0) {
		pthread_mutex_lock(&c->lock);
		if (c->n[order]) {
			*addr = c->addr[order][--c->n[order]];
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		pthread_mutex_unlock(&c->lock);
	}
	return iova_alloc_slow(b, c, order, size, addr);
}

static hot_inline int iova_get_on(struct dmasplit_bdev *b, struct iova_cache *c,
		       uint64_t size, uint64_t *addr, unsigned int flushes)
{
	int r = iova_alloc_on(b, c, size, addr);

	if (r == 0 && flushes)
		add_invalidations(c, (int)flushes);
	return r;
}

int iova_get(struct dmasplit_bdev *b, uint64_t size, uint64_t *addr,
	     unsigned int flushes)
{
	return iova_get_on(b, my_cache(b), size, addr, flushes);
}

/* addr to c's stack of its order, which is full when *spill gets half of
 * it (their number returned) for spill_free() after the unlock.  Under
 * c's lock. */
static hot_inline unsigned int cache_push(struct iova_cache *c, int order, uint64_t addr,
			       uint64_t *spill)
{
	unsigned int n = 0;

	if (c->n[order] == CACHE_DEPTH) {
		n = CACHE_DEPTH / 2;
		c->n[order] -= n;
		memcpy(spill, &c->addr[order][c->n[order]],
		       n * sizeof(*spill));
	}
	c->addr[order][c->n[order]++] = addr;
	return n;
}

static hot_inline int iova_put_on(struct dmasplit_bdev *b, struct iova_cache *c,
		       uint64_t addr, uint64_t size, int flushes)
{
	int order = cache_order(b, size), r;
	uint64_t spill[CACHE_DEPTH / 2];
	unsigned int n;

	if (flushes)
		add_invalidations(c, flushes);
	if (order < 0) {
		pthread_mutex_lock(&b->sp->iova_lock);
		r = b->host->iovad_free(b->sp->iovad, addr, size);
		pthread_mutex_unlock(&b->sp->iova_lock);
		return r;
	}
	pthread_mutex_lock(&c->lock);
	n = cache_push(c, order, addr, spill);
	pthread_mutex_unlock(&c->lock);
	if (n)
		spill_free(b, order, spill, size);
	return 0;
}

int iova_put(struct dmasplit_bdev *b, uint64_t addr, uint64_t size,
	     int flushes)
{
	return iova_put_on(b, my_cache(b), addr, size, flushes);
}

/*
 * The core's aligned lowest fit where it has one.  An older core's
 * allocator has no alignment: take align - granule more and give back
 * what lies before and after the aligned part (which then needs that
 * much more room below the mask).  The tail first: it meets the free
 * block the allocation was cut from, or takes the node that block left
 * spare if it was used up, so it needs no memory.  The head may;
 * without it, the head goes back with the aligned part, which then
 * meets the tail, and the call fails.  Under iova_lock.
 */
static int alloc_aligned_locked(struct sim_space *sp, uint64_t size,
				uint64_t align, uint64_t *addr)
{
	uint64_t over = size + align - sp->granule, at, a;
	int r;

	if (DMASPLIT_HOST_HAS(sp->host, iovad_alloc_aligned) &&
	    sp->host->iovad_alloc_aligned)
		return sp->host->iovad_alloc_aligned(sp->iovad, size, align,
						     sp->last, addr);
	if (over < size)
		return -ENOSPC;
	r = sp->host->iovad_alloc(sp->iovad, over, sp->last, &at);
	if (r < 0)
		return r;
	a = (at + align - 1) & ~(align - 1);
	if (a + size < at + over)
		sp->host->iovad_free(sp->iovad, a + size, at + over - (a + size));
	if (a > at && sp->host->iovad_free(sp->iovad, at, a - at) < 0) {
		sp->host->iovad_free(sp->iovad, at, a + size - at);
		return -ENOMEM;
	}
	*addr = a;
	return 0;
}

int iova_get_aligned(struct dmasplit_bdev *b, uint64_t size, uint64_t align,
		     uint64_t *addr)
{
	int r;

	pthread_mutex_lock(&b->sp->iova_lock);
	r = alloc_aligned_locked(b->sp, size, align, addr);
	if (r == -ENOSPC) {
		iova_drain_locked(b->sp);
		r = alloc_aligned_locked(b->sp, size, align, addr);
	}
	pthread_mutex_unlock(&b->sp->iova_lock);
	if (r == 0)
		add_invalidations(my_cache(b), 1);
	else if (r == -ENOSPC)
		sim_err(b, "%s: no %" PRIu64 " bytes of device address space aligned to 0x%" PRIx64 " left below the DMA mask",
			b->name, size, align);
	return r;
}

int win_get(struct dmasplit_bdev *b, struct dmasplit_bwin *w, uint64_t size,
	    uint64_t *addr)
{
	unsigned int cpu = my_cpu(), i;
	struct iova_cache *c = &b->sp->caches[cpu];
	int order = cache_order(b, size);

	int r;

	*w = (struct dmasplit_bwin){ .b = b, .cpu = cpu };
	if (order < 0) {
		r = iova_get_on(b, c, size, addr, 0);
		goto out;
	}
	pthread_mutex_lock(&c->lock);
	for (i = c->nheld; i-- > 0;)
		if (c->held_order[i] == order) {
			/* Its addresses, and the leaf table it used, are
			 * still there. */
			*addr = c->held[i].addr;
			w->leaf = c->held[i].leaf;
			c->nheld--;
			c->held[i] = c->held[c->nheld];
			c->held_order[i] = c->held_order[c->nheld];
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
	if (c->n[order]) {
		*addr = c->addr[order][--c->n[order]];
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	pthread_mutex_unlock(&c->lock);
	r = iova_alloc_slow(b, c, order, size, addr);
out:
	/* A window's alloc has no attributes: always said. */
	return r == -ENOSPC ? iova_none_left(b, 0, size) : r;
}

void win_put(struct dmasplit_bwin *w, unsigned int flushes)
{
	struct dmasplit_bdev *b = w->b;
	struct iova_cache *c = &b->sp->caches[w->cpu];
	uint64_t size = win_size(w), addr = win_addr(w);
	uint64_t spill[CACHE_DEPTH / 2];
	int order = cache_order(b, size);
	unsigned int n;

	if (flushes)
		add_invalidations(c, (int)flushes);
	if (order < 0) {
		iova_put_on(b, c, addr, size, 0);
		return;
	}
	pthread_mutex_lock(&c->lock);
	if (c->nheld < CACHE_WINDOWS) {
		c->held[c->nheld] = (struct held_window){ addr, w->leaf };
		c->held_order[c->nheld++] = (uint8_t)order;
		pthread_mutex_unlock(&c->lock);
		return;
	}
	n = cache_push(c, order, addr, spill);
	pthread_mutex_unlock(&c->lock);
	if (n)
		spill_free(b, order, spill, size);
}
