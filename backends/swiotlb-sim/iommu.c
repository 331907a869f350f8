// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The translated device: windows and per-range mappings in a software
 * IOMMU.  A link writes page-table entries that the device cannot use
 * until the IOTLB sync (dma_iova_sync); a per-range map pays the whole
 * page-API price on every call: an IOVA allocation, the entries and an
 * invalidation.  Untrusted devices bounce whatever does not fill whole
 * granules, as the kernel's dma-iommu does for them, so they never reach
 * the bytes that share a granule with a buffer.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static uint64_t round_up(const struct dmasplit_bdev *b, uint64_t x)
{
	return (x + b->gmask) & ~b->gmask;
}

int iommu_init(struct dmasplit_bdev *b)
{
	unsigned int i, bits = b->o.mask_bits < IOMMU_ADDR_BITS ? b->o.mask_bits
							     : IOMMU_ADDR_BITS;
	struct dmasplit_range range;
	int r;

	b->iommu_last = bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
	range.start = b->o.granule;
	range.last = b->iommu_last;
	r = pt_init(&b->pt, (unsigned int)__builtin_ctzll(b->o.granule), bits);
	if (r < 0)
		return r;
	r = b->host->iovad_new(b->host, &range, 1, b->o.granule, &b->iovad);
	if (r < 0)
		goto fail;
	b->caches = aligned_alloc(64, CPU_CACHES * sizeof(*b->caches));
	if (!b->caches) {
		r = -ENOMEM;
		goto fail;
	}
	memset(b->caches, 0, CPU_CACHES * sizeof(*b->caches));
	for (i = 0; i < CPU_CACHES; i++)
		pthread_mutex_init(&b->caches[i].lock, NULL);
	return 0;
fail:
	iommu_fini(b);
	return r;
}

/* Also after a failed or partial iommu_init(): what exists goes. */
void iommu_fini(struct dmasplit_bdev *b)
{
	unsigned int i;

	if (b->caches) {
		for (i = 0; i < CPU_CACHES; i++)
			pthread_mutex_destroy(&b->caches[i].lock);
		free(b->caches);
		b->caches = NULL;
	}
	if (b->iovad)
		b->host->iovad_destroy(b->iovad);
	b->iovad = NULL;
	if (b->pt.root)
		pt_fini(&b->pt);
}

static struct iova_cache *my_cache(const struct dmasplit_bdev *b)
{
	int cpu = sched_getcpu();

	return &b->caches[(unsigned int)(cpu < 0 ? 0 : cpu) % CPU_CACHES];
}

uint64_t iommu_invalidations(const struct dmasplit_bdev *b)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; b->caches && i < CPU_CACHES; i++)
		sum += __atomic_load_n(&b->caches[i].invalidations,
				       __ATOMIC_RELAXED);
	return sum;
}

/*
 * The IOTLB invalidation.  The device reads the entries themselves, so a
 * full barrier is all the hardware work there is; it is counted, because
 * on a real IOMMU this is the cost the two-step API batches.
 */
static void invalidate(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Count an invalidation that comes with no IOVA allocation or free. */
static void count_invalidation(struct dmasplit_bdev *b)
{
	stat_add(&my_cache(b)->invalidations, 1);
}

/* The cache order of size, or -1 when size is not cached. */
static int cache_order(const struct dmasplit_bdev *b, uint64_t size)
{
	uint64_t pages = size >> b->pt.shift;

	return pages && !(pages & (pages - 1)) && pages < (1u << CACHE_ORDERS)
		       ? __builtin_ctzll(pages) : -1;
}

static void global_free(struct dmasplit_bdev *b, const uint64_t *addr,
			unsigned int n, uint64_t size)
{
	unsigned int i;

	pthread_mutex_lock(&b->iova_lock);
	for (i = 0; i < n; i++)
		b->host->iovad_free(b->iovad, addr[i], size);
	pthread_mutex_unlock(&b->iova_lock);
}

/* Give every cached address back, so that a large allocation can use
 * the space (the kernel flushes its rcaches before failing too). */
static void drain_caches(struct dmasplit_bdev *b)
{
	uint64_t addr[CACHE_DEPTH];
	unsigned int i, o, n;

	for (i = 0; i < CPU_CACHES; i++) {
		struct iova_cache *c = &b->caches[i];

		for (o = 0; o < CACHE_ORDERS; o++) {
			pthread_mutex_lock(&c->lock);
			n = c->n[o];
			memcpy(addr, c->addr[o], n * sizeof(addr[0]));
			c->n[o] = 0;
			pthread_mutex_unlock(&c->lock);
			global_free(b, addr, n, b->o.granule << o);
		}
	}
}

static int global_alloc(struct dmasplit_bdev *b, uint64_t size, uint64_t *addr)
{
	int r;

	pthread_mutex_lock(&b->iova_lock);
	r = b->host->iovad_alloc(b->iovad, size, b->iommu_last, addr);
	pthread_mutex_unlock(&b->iova_lock);
	return r;
}

/*
 * Allocate and free device addresses.  flushes is the number of IOTLB
 * invalidations the caller makes along with it: counting them here, under
 * the per-CPU lock taken anyway, spares the hot path an atomic operation.
 */
static int iova_get(struct dmasplit_bdev *b, uint64_t size, uint64_t *addr,
		    unsigned int flushes)
{
	int order = cache_order(b, size), r;
	struct iova_cache *c;
	uint64_t run;
	unsigned int i;

	if (order >= 0) {
		c = my_cache(b);
		pthread_mutex_lock(&c->lock);
		if (c->n[order]) {
			*addr = c->addr[order][--c->n[order]];
			c->invalidations += flushes;
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		pthread_mutex_unlock(&c->lock);
		/* A run for this CPU: its entries share cache lines with no
		 * other CPU's. */
		if (global_alloc(b, size * CACHE_REFILL, &run) == 0) {
			pthread_mutex_lock(&c->lock);
			for (i = CACHE_REFILL - 1; i > 0; i--) {
				if (c->n[order] == CACHE_DEPTH)
					break;
				c->addr[order][c->n[order]++] = run + i * size;
			}
			c->invalidations += flushes;
			pthread_mutex_unlock(&c->lock);
			if (i)	/* the cache filled up meanwhile */
				for (; i > 0; i--)
					global_free(b, &(uint64_t){ run + i * size },
						    1, size);
			*addr = run;
			return 0;
		}
	}
	r = global_alloc(b, size, addr);
	if (r == -ENOSPC) {
		drain_caches(b);
		r = global_alloc(b, size, addr);
	}
	if (r == -ENOSPC)
		sim_err(b, "%s: no %" PRIu64 " bytes of device address space left below the DMA mask",
			b->name, size);
	if (r == 0 && flushes)
		stat_add(&my_cache(b)->invalidations, flushes);
	return r;
}

static int iova_put(struct dmasplit_bdev *b, uint64_t addr, uint64_t size,
		    unsigned int flushes)
{
	int order = cache_order(b, size), r;
	uint64_t spill[CACHE_DEPTH / 2];
	struct iova_cache *c;
	unsigned int n = 0;

	if (order < 0) {
		pthread_mutex_lock(&b->iova_lock);
		r = b->host->iovad_free(b->iovad, addr, size);
		pthread_mutex_unlock(&b->iova_lock);
		if (flushes)
			stat_add(&my_cache(b)->invalidations, flushes);
		return r;
	}
	c = my_cache(b);
	pthread_mutex_lock(&c->lock);
	if (c->n[order] == CACHE_DEPTH) {
		n = CACHE_DEPTH / 2;
		c->n[order] -= n;
		memcpy(spill, &c->addr[order][c->n[order]], sizeof(spill));
	}
	c->addr[order][c->n[order]++] = addr;
	c->invalidations += flushes;
	pthread_mutex_unlock(&c->lock);
	if (n)
		global_free(b, spill, n, size);
	return 0;
}

/* Entries for n granules from iova, pointing at consecutive host granules
 * from host. */
static int pt_set(struct dmasplit_bdev *b, uint64_t iova, uintptr_t host,
		  uint64_t n, uint64_t flags)
{
	uint64_t run, i, g = b->o.granule;
	uint64_t *pte;

	while (n) {
		pte = pt_leaf(&b->pt, iova, true, &run);
		if (!pte)
			return -ENOMEM;
		if (run > n)
			run = n;
		for (i = 0; i < run; i++, host += g)
			pte_store(&pte[i], host | flags);
		n -= run;
		iova += run * g;
	}
	return 0;
}

/* Visit the n entries from iova that exist. */
#define for_each_pte(b, iova, n, pte, body)                                  \
	do {                                                                 \
		uint64_t a_ = (iova), left_ = (n), run_, i_;                 \
		while (left_) {                                              \
			uint64_t *t_ = pt_leaf(&(b)->pt, a_, false, &run_);  \
			if (run_ > left_)                                    \
				run_ = left_;                                \
			for (i_ = 0; t_ && i_ < run_; i_++) {                \
				uint64_t *pte = &t_[i_];                     \
				body                                         \
			}                                                    \
			left_ -= run_;                                       \
			a_ += run_ * (b)->o.granule;                         \
		}                                                            \
	} while (0)

/*
 * Remove n entries from iova; the number there was.  Bounced granules are copied back when
 * copy_back says so (or, with copy_back < 0, when the device could write)
 * and return to the pool with the first granule of their allocation.
 * Copies are for window links, whose bounces are single granules;
 * callers copy multi-granule bounces themselves before.
 */
static uint64_t pt_clear(struct dmasplit_bdev *b, uint64_t iova, uint64_t n,
			 int copy_back)
{
	uint64_t cleared = 0;

	for_each_pte(b, iova, n, pte, {
		uint64_t v = pte_load(pte);
		uintptr_t h = (uintptr_t)(v & ~PTE_FLAGS);

		if (!v)
			continue;
		pte_store(pte, 0);
		cleared++;
		if (pool_contains(&b->pool, h) && pool_is_head(&b->pool, h)) {
			if (copy_back > 0 || (copy_back < 0 && (v & PTE_WRITE)))
				pool_bounce(b, &b->pool, (uint8_t *)h,
					    b->o.granule, true);
			pool_unmap(&b->pool, (uint8_t *)h);
		}
	});
	return cleared;
}

/* ------------------------------------------------------------------ */
/* Windows                                                              */

int iommu_iova_alloc(struct dmasplit_bdev *b, uint64_t size, uint32_t flags,
		     struct dmasplit_bwin **out, uint64_t *addr)
{
	struct dmasplit_bwin *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	r = iova_get(b, size, &w->addr, 0);
	if (r < 0) {
		free(w);
		return r;
	}
	w->b = b;
	w->size = size;
	*out = w;
	*addr = w->addr;
	return 0;
}

/* A granule only partly covered by [lo, hi): its own pool granule, so
 * that an untrusted device cannot reach the bytes around the buffer. */
static int link_bounced(struct dmasplit_bdev *b, uint64_t iova, uintptr_t lo,
			uintptr_t hi, uint64_t flags)
{
	uint64_t run, *pte;
	uint8_t *tlb;
	int r;

	r = pool_map(b, &b->pool, lo, hi - lo, b->o.granule, b->o.granule, lo,
		     hi, &tlb);
	if (r < 0)
		return r;
	pte = pt_leaf(&b->pt, iova, true, &run);
	if (!pte) {
		pool_unmap(&b->pool, tlb);
		return -ENOMEM;
	}
	pte_store(pte, ((uintptr_t)tlb & ~b->gmask) | flags);
	return 0;
}

int iommu_iova_link(struct dmasplit_bwin *w, uint64_t offset, void *vaddr,
		    size_t len, enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t g = b->o.granule, flags = dir_perms(dir) | PTE_LINKED;
	uintptr_t va = (uintptr_t)vaddr, end = va + len;
	uintptr_t host = va & ~b->gmask;
	uint64_t iova = w->addr + (offset & ~b->gmask), first = iova;
	uint64_t n = (round_up(b, end) - host) / g;
	int r = 0;

	if ((offset ^ va) & b->gmask) {
		sim_err(b, "%s: link at window offset 0x%" PRIx64 " of %p: offset and address differ within the %" PRIu64 "-byte granule",
			b->name, offset, vaddr, g);
		return -EINVAL;
	}
	if (b->o.untrusted && ((va | end) & b->gmask)) {
		r = sim_no_peer_bounce(b, vaddr, len, attrs);
		if (r < 0)
			return r;
	}
	if (b->o.untrusted && (va & b->gmask)) {
		r = link_bounced(b, iova, va, end < host + g ? end : host + g,
				 flags);
		if (r < 0)
			return r;
		iova += g;
		host += g;
		n--;
	}
	if (b->o.untrusted && n && (end & b->gmask)) {
		r = link_bounced(b, iova + (n - 1) * g, end & ~b->gmask, end,
				 flags);
		if (r < 0)
			goto undo;
		n--;
	}
	r = pt_set(b, iova, host, n, flags);
	if (r == 0)
		return 0;
undo:
	pt_clear(b, first, (round_up(b, end) - (va & ~b->gmask)) / g, 0);
	return r;
}

int iommu_iova_sync(struct dmasplit_bwin *w, uint64_t offset, uint64_t len)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t first = offset & ~b->gmask;

	for_each_pte(b, w->addr + first,
		     (round_up(b, offset + len) - first) >> b->pt.shift, pte, {
		uint64_t v = pte_load(pte);

		if (v & PTE_LINKED)
			pte_store(pte, (v & ~PTE_LINKED) | PTE_VALID);
	});
	invalidate();
	count_invalidation(b);
	return 0;
}

int iommu_iova_unlink(struct dmasplit_bwin *w, uint64_t offset, uint64_t len,
		      enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t first = offset & ~b->gmask;

	pt_clear(b, w->addr + first,
		 (round_up(b, offset + len) - first) >> b->pt.shift,
		 !(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC) && dmasplit_dir_device_writes(dir));
	invalidate();
	count_invalidation(b);
	return 0;
}

void iommu_iova_destroy(struct dmasplit_bwin *w)
{
	struct dmasplit_bdev *b = w->b;
	unsigned int flush;

	/* An invalidation only if something was still linked. */
	flush = pt_clear(b, w->addr, w->size >> b->pt.shift, -1) != 0;
	if (flush)
		invalidate();
	iova_put(b, w->addr, w->size, flush);
	free(w);
}

/* ------------------------------------------------------------------ */
/* Per-range mappings                                                   */

/* [src, src + len) of host memory at a new device address. */
static int map_host(struct dmasplit_bdev *b, uintptr_t src, size_t len,
		    uint64_t flags, uint64_t *dma)
{
	uintptr_t first = src & ~b->gmask;
	uint64_t size = round_up(b, src + len) - first, iova;
	int r;

	r = iova_get(b, size, &iova, 1);
	if (r < 0)
		return r;
	r = pt_set(b, iova, first, size >> b->pt.shift, flags);
	if (r < 0) {
		pt_clear(b, iova, size >> b->pt.shift, 0);
		iova_put(b, iova, size, 0);
		return r;
	}
	invalidate();
	*dma = iova + (src & b->gmask);
	return 0;
}

static bool must_bounce(const struct dmasplit_bdev *b, uintptr_t va,
			size_t len)
{
	return b->o.untrusted && ((va | (va + len)) & b->gmask);
}

int iommu_map(struct dmasplit_bdev *b, void *vaddr, size_t len,
	      enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma)
{
	uintptr_t va = (uintptr_t)vaddr;
	uint8_t *tlb = NULL;
	int r;

	if (must_bounce(b, va, len)) {
		r = sim_no_peer_bounce(b, vaddr, len, attrs);
		if (r < 0)
			return r;
		r = pool_map(b, &b->pool, va, len, b->o.granule, b->o.granule,
			     va, va + len, &tlb);
		if (r < 0)
			return r;
		va = (uintptr_t)tlb;
	}
	r = map_host(b, va, len, dir_perms(dir) | PTE_VALID, dma);
	if (r < 0 && tlb)
		pool_unmap(&b->pool, tlb);
	return r;
}

int iommu_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		enum dmasplit_dir dir, uint32_t attrs)
{
	uint64_t base = dma & ~b->gmask, size = round_up(b, dma + len) - base;
	uint64_t run, v = 0, *pte = pt_leaf(&b->pt, base, false, &run);
	uintptr_t h;

	if (pte)
		v = pte_load(pte);
	if (!(v & PTE_VALID) || (v & PTE_LINKED)) {
		sim_err(b, "%s: unmap of 0x%" PRIx64 ": nothing is mapped there",
			b->name, dma);
		return -ENOENT;
	}
	h = (uintptr_t)(v & ~PTE_FLAGS);
	if (pool_contains(&b->pool, h) &&
	    !(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC) && dmasplit_dir_device_writes(dir))
		pool_bounce(b, &b->pool, (uint8_t *)h + (dma & b->gmask), len,
			    true);
	/* Entries go before the addresses: once freed, the range may be
	 * handed out again at once. */
	pt_clear(b, base, size >> b->pt.shift, 0);
	invalidate();
	if (iova_put(b, base, size, 1) < 0) {
		sim_err(b, "%s: unmap of 0x%" PRIx64 "+0x%zx: not one dmasplit_map mapping",
			b->name, dma, len);
		return -EINVAL;
	}
	return 0;
}

int iommu_map_vec(struct dmasplit_bdev *b, const struct iovec *iov,
		  unsigned int n, enum dmasplit_dir dir, uint32_t attrs,
		  struct dmasplit_seg *segs, unsigned int *nsegs)
{
	uint64_t flags = dir_perms(dir) | PTE_VALID, size = 0, iova, at;
	unsigned int i, used = 0;
	int r;

	if (b->o.untrusted) {
		/* As the kernel's dma-iommu: buffers of untrusted devices go
		 * one by one, each bounced if it must be. */
		if (*nsegs < n)
			return -ENOSPC;
		for (i = 0; i < n; i++) {
			r = iommu_map(b, iov[i].iov_base, iov[i].iov_len, dir,
				      attrs, &segs[i].dma);
			if (r < 0) {
				while (i--)
					iommu_unmap(b, segs[i].dma, segs[i].len,
						    dir, DMASPLIT_ATTR_SKIP_CPU_SYNC);
				return r;
			}
			segs[i].len = iov[i].iov_len;
		}
		*nsegs = n;
		return 0;
	}
	for (i = 0; i < n; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base;

		size += round_up(b, va + iov[i].iov_len) - (va & ~b->gmask);
	}
	r = iova_get(b, size, &iova, 1);
	if (r < 0)
		return r;
	for (i = 0, at = iova; i < n; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base;
		uint64_t pages = (round_up(b, va + iov[i].iov_len) -
				  (va & ~b->gmask)) >> b->pt.shift;
		uint64_t dma = at + (va & b->gmask);

		r = pt_set(b, at, va & ~b->gmask, pages, flags);
		if (r < 0)
			goto undo;
		if (used && segs[used - 1].dma + segs[used - 1].len == dma) {
			segs[used - 1].len += iov[i].iov_len;
		} else if (used == *nsegs) {
			r = -ENOSPC;
			goto undo;
		} else {
			segs[used].dma = dma;
			segs[used++].len = iov[i].iov_len;
		}
		at += pages << b->pt.shift;
	}
	invalidate();
	*nsegs = used;
	return 0;
undo:
	pt_clear(b, iova, size >> b->pt.shift, 0);
	iova_put(b, iova, size, 0);
	return r;
}

int iommu_unmap_vec(struct dmasplit_bdev *b, const struct dmasplit_seg *segs,
		    unsigned int nsegs, enum dmasplit_dir dir, uint32_t attrs)
{
	uint64_t base, size;
	unsigned int i;
	int r = 0;

	if (b->o.untrusted) {
		for (i = 0; i < nsegs; i++) {
			int e = iommu_unmap(b, segs[i].dma, segs[i].len, dir,
					    attrs);

			if (e < 0 && !r)
				r = e;
		}
		return r;
	}
	/* The segments of one map_vec share one allocation, in order. */
	base = segs[0].dma & ~b->gmask;
	size = round_up(b, segs[nsegs - 1].dma + segs[nsegs - 1].len) - base;
	pt_clear(b, base, size >> b->pt.shift, 0);
	invalidate();
	if (iova_put(b, base, size, 1) < 0) {
		sim_err(b, "%s: unmap_vec of 0x%" PRIx64 "+0x%" PRIx64 ": not one dmasplit_map_vec mapping",
			b->name, base, size);
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* CPU syncs and the DMA engine                                         */

int iommu_sync(struct dmasplit_bdev *b, uint64_t dma, size_t len, bool to_host)
{
	while (len) {
		uint64_t run, in = dma & b->gmask, chunk = b->o.granule - in;
		uint64_t *pte = pt_leaf(&b->pt, dma, false, &run);
		uint64_t v = pte ? pte_load(pte) : 0;
		uintptr_t h = (uintptr_t)(v & ~PTE_FLAGS);

		if (chunk > len)
			chunk = len;
		/* Only bounced granules need copies: the rest is the
		 * buffer itself, and host memory is coherent. */
		if (v && pool_contains(&b->pool, h))
			pool_bounce(b, &b->pool, (uint8_t *)h + in, chunk,
				    to_host);
		dma += chunk;
		len -= chunk;
	}
	return 0;
}

int iommu_dma_rw(struct dmasplit_bdev *b, uint64_t dma, uint8_t *buf,
		 size_t len, bool write)
{
	uint64_t need = write ? PTE_WRITE : PTE_READ;

	while (len) {
		uint64_t run, in = dma & b->gmask, chunk = b->o.granule - in;
		uint64_t *pte, v = 0;
		uint8_t *host;

		if (dma > b->limit) {
			sim_fault(b, dma, write, "beyond the device's DMA mask");
			return -EFAULT;
		}
		if (dma > b->iommu_last) {
			sim_fault(b, dma, write, "beyond the IOMMU's address width");
			return -EFAULT;
		}
		pte = pt_leaf(&b->pt, dma, false, &run);
		if (pte)
			v = pte_load(pte);
		if (!(v & PTE_VALID)) {
			sim_fault(b, dma, write,
				  v & PTE_LINKED ? "linked, but not synced (no dmasplit_iova_sync yet)"
						 : "not mapped");
			return -EFAULT;
		}
		if (!(v & need)) {
			sim_fault(b, dma, write,
				  write ? "PTE Write access is not set"
					: "PTE Read access is not set");
			return -EFAULT;
		}
		if (chunk > len)
			chunk = len;
		host = (uint8_t *)(uintptr_t)(v & ~PTE_FLAGS) + in;
		if (write)
			memcpy(host, buf, chunk);
		else
			memcpy(buf, host, chunk);
		dma += chunk;
		buf += chunk;
		len -= chunk;
	}
	return 0;
}
