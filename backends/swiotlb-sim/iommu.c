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
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static uint64_t round_up(const struct dmasplit_bdev *b, uint64_t x)
{
	return (x + b->gmask) & ~b->gmask;
}

int iommu_init(struct dmasplit_bdev *b)
{
	struct dmasplit_range range = { b->o.granule, b->limit };
	int r;

	r = pt_init(&b->pt, (unsigned int)__builtin_ctzll(b->o.granule),
		    b->o.mask_bits);
	if (r < 0)
		return r;
	r = b->host->iovad_new(b->host, &range, 1, b->o.granule, &b->iovad);
	if (r < 0) {
		pt_fini(&b->pt);
		return r;
	}
	return 0;
}

void iommu_fini(struct dmasplit_bdev *b)
{
	b->host->iovad_destroy(b->iovad);
	pt_fini(&b->pt);
}

/*
 * The IOTLB invalidation.  The device reads the entries themselves, so a
 * full barrier is all the hardware work there is; it is counted, because
 * on a real IOMMU this is the cost the two-step API batches.
 */
static void invalidate(struct dmasplit_bdev *b)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	stat_add(&b->invalidations, 1);
}

static int iova_get(struct dmasplit_bdev *b, uint64_t size, uint64_t *addr)
{
	int r;

	pthread_mutex_lock(&b->iova_lock);
	r = b->host->iovad_alloc(b->iovad, size, b->limit, addr);
	pthread_mutex_unlock(&b->iova_lock);
	if (r == -ENOSPC)
		sim_err(b, "%s: no %" PRIu64 " bytes of device address space left below the DMA mask",
			b->name, size);
	return r;
}

static int iova_put(struct dmasplit_bdev *b, uint64_t addr, uint64_t size)
{
	int r;

	pthread_mutex_lock(&b->iova_lock);
	r = b->host->iovad_free(b->iovad, addr, size);
	pthread_mutex_unlock(&b->iova_lock);
	return r;
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
 * Remove n entries from iova.  Bounced granules are copied back when
 * copy_back says so (or, with copy_back < 0, when the device could write)
 * and return to the pool with the first granule of their allocation.
 * Copies are for window links, whose bounces are single granules;
 * callers copy multi-granule bounces themselves before.
 */
static void pt_clear(struct dmasplit_bdev *b, uint64_t iova, uint64_t n,
		     int copy_back)
{
	for_each_pte(b, iova, n, pte, {
		uint64_t v = pte_load(pte);
		uintptr_t h = (uintptr_t)(v & ~PTE_FLAGS);

		if (!v)
			continue;
		pte_store(pte, 0);
		if (pool_contains(&b->pool, h) && pool_is_head(&b->pool, h)) {
			if (copy_back > 0 || (copy_back < 0 && (v & PTE_WRITE)))
				pool_bounce(b, &b->pool, (uint8_t *)h,
					    b->o.granule, true);
			pool_unmap(&b->pool, (uint8_t *)h);
		}
	});
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
	r = iova_get(b, size, &w->addr);
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
	invalidate(b);
	return 0;
}

int iommu_iova_unlink(struct dmasplit_bwin *w, uint64_t offset, uint64_t len,
		      enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t first = offset & ~b->gmask;

	pt_clear(b, w->addr + first,
		 (round_up(b, offset + len) - first) >> b->pt.shift,
		 !(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC) && dir_from_device(dir));
	invalidate(b);
	return 0;
}

void iommu_iova_destroy(struct dmasplit_bwin *w)
{
	struct dmasplit_bdev *b = w->b;

	pt_clear(b, w->addr, w->size >> b->pt.shift, -1);
	invalidate(b);
	iova_put(b, w->addr, w->size);
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

	r = iova_get(b, size, &iova);
	if (r < 0)
		return r;
	r = pt_set(b, iova, first, size >> b->pt.shift, flags);
	if (r < 0) {
		pt_clear(b, iova, size >> b->pt.shift, 0);
		iova_put(b, iova, size);
		return r;
	}
	invalidate(b);
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
	    !(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC) && dir_from_device(dir))
		pool_bounce(b, &b->pool, (uint8_t *)h + (dma & b->gmask), len,
			    true);
	/* Entries go before the addresses: once freed, the range may be
	 * handed out again at once. */
	pt_clear(b, base, size >> b->pt.shift, 0);
	invalidate(b);
	if (iova_put(b, base, size) < 0) {
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
	r = iova_get(b, size, &iova);
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
	invalidate(b);
	*nsegs = used;
	return 0;
undo:
	pt_clear(b, iova, size >> b->pt.shift, 0);
	iova_put(b, iova, size);
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
	invalidate(b);
	if (iova_put(b, base, size) < 0) {
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
