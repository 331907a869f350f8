// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Windows on the translated device (dma_iova_try_alloc, link, sync,
 * unlink, destroy).  A window is a range of the space's addresses; a link
 * writes its entries LINKED, which the device cannot use, and the sync
 * makes every link in its range VALID with one invalidation: the cost the
 * two-step API exists to batch.  Apart from the per-range mappings
 * (iommu-map.c) because windows keep no records: the entries are the
 * whole state, and what an unlink or sync may touch is the caller's
 * range of the window.
 *
 * A window is contiguous, so consecutive links, and its sync, unlink and
 * destroy, mostly use one leaf table: the window keeps the last one it
 * used (w->leaf) and walks the table only when it moves on.  The tables
 * under a live window are never freed, so the cached one stays valid;
 * nor are those under a destroyed window its CPU's cache holds with its
 * addresses (iommu-iotlb.c), so the next window made from it starts
 * with its table cached: the one-page window of one I/O walks nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "sim.h"

/* A granule only partly covered by [lo, hi): its own pool granule, so
 * that an untrusted device cannot reach the bytes around the buffer. */
static int link_bounced(struct dmasplit_bdev *b, uint64_t iova, uintptr_t lo,
			uintptr_t hi, uint64_t flags, uint32_t attrs)
{
	uint64_t run, *pte;
	uint8_t *tlb;
	int r;

	pte = pt_leaf(&b->sp->pt, iova, true, &run);
	if (!pte)
		return -ENOMEM;
	if (pte_load(pte))
		return -EEXIST;
	/* The link's direction decides only what the buffer must allow:
	 * a window's bounce is copied as its entry's permissions say. */
	r = pool_map(b, &b->pool, lo, hi - lo, b->o.granule, b->o.granule, lo,
		     hi, flags & PTE_WRITE ? DMASPLIT_BIDIRECTIONAL
					   : DMASPLIT_TO_DEVICE,
		     attrs, &tlb);
	if (r < 0)
		return r;
	pte_store(pte, ((uintptr_t)tlb & ~b->gmask) | flags | PTE_BOUNCED);
	return 0;
}

/* log2 of the address span of one leaf table: tables fill a granule
 * with 8-byte entries. */
static inline unsigned int leaf_shift(const struct dmasplit_bdev *b)
{
	return b->lshift;
}

/* Walk to the entry of iova (with alloc, making tables) and cache its
 * leaf table in the window. */
static __attribute__((noinline)) uint64_t *win_walk(struct dmasplit_bwin *w,
						    uint64_t iova, bool alloc,
						    uint64_t *run)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t nr = (iova >> leaf_shift(b)) - (win_addr(w) >> leaf_shift(b));
	uint64_t *pte = pt_leaf(&b->sp->pt, iova, alloc, run);
	uint64_t idx = (iova >> b->gshift) & ((1ull << (b->gshift - 3)) - 1);

	if (pte)
		__atomic_store_n(&w->leaf, nr < WIN_NOLEAF ?
				 (uintptr_t)(pte - idx) | nr : WIN_NOLEAF,
				 __ATOMIC_RELEASE);
	return pte;
}

/*
 * The entry of iova (in the window) and in *run the entries from it in
 * the same leaf table, from the window's cached table when it is that
 * one; else walked (with alloc, made) and cached.  NULL as pt_leaf().
 */
static inline uint64_t *win_leaf(struct dmasplit_bwin *w, uint64_t iova,
				 bool alloc, uint64_t *run)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t nr = (iova >> leaf_shift(b)) - (win_addr(w) >> leaf_shift(b));
	uint64_t c = __atomic_load_n(&w->leaf, __ATOMIC_ACQUIRE);
	uint64_t per = 1ull << (b->gshift - 3);
	uint64_t idx = (iova >> b->gshift) & (per - 1);

	if (c > WIN_NOLEAF && (c & WIN_NOLEAF) == nr) {
		*run = per - idx;
		return (uint64_t *)(uintptr_t)(c & ~WIN_NOLEAF) + idx;
	}
	return win_walk(w, iova, alloc, run);
}

/* Something may be linked in the window: its destroy must look.  A
 * store only the first time, so that threads linking parts of one
 * window share the line for reading. */
static inline void win_mark_linked(struct dmasplit_bwin *w)
{
	if (!__atomic_load_n(&w->linked, __ATOMIC_RELAXED))
		__atomic_store_n(&w->linked, 1, __ATOMIC_RELAXED);
}

/* What the fast path leaves out: a leaf table not cached, bounces, a
 * misaligned buffer (refused), links over more than one leaf table and
 * their errors. */
static __attribute__((noinline)) int link_slow(struct dmasplit_bwin *w,
					       uint64_t offset, void *vaddr,
					       size_t len,
					       enum dmasplit_dir dir,
					       uint32_t attrs)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t g = b->o.granule, flags = dir_perms(dir) | PTE_LINKED;
	uintptr_t va = (uintptr_t)vaddr, end = va + len;
	uintptr_t host = va & ~b->gmask;
	uint64_t iova = win_addr(w) + (offset & ~b->gmask);
	uint64_t n = (round_up(b, end) - host) >> b->gshift;
	/* A sync that runs into the window from below crosses into it. */
	uint64_t head = offset < g ? PTE_HEAD : 0;
	uint64_t bounced_head = 0, bounced_tail = 0;
	int r = 0;

	if ((offset ^ va) & b->gmask) {
		return sim_refuse(b, attrs, -EINVAL, "%s: link at window offset 0x%" PRIx64 " of %p: offset and address differ within the %" PRIu64 "-byte granule",
				  b->name, offset, vaddr, g);
	}
	if (!b->o.untrusted) {
		uint64_t run, *pte = win_leaf(w, iova, true, &run);

		/* In one leaf table: walked (and now cached) once. */
		if (pte && run >= n) {
			r = pte_set_run(pte, host, n, g, flags, head);
			if (r < 0)
				goto fail;
			win_mark_linked(w);
			return 0;
		}
	}
	if (b->o.untrusted && ((va | end) & b->gmask)) {
		r = sim_no_peer_bounce(b, vaddr, len, attrs);
		if (r < 0)
			return r;
	}
	if (b->o.untrusted && (va & b->gmask)) {
		r = link_bounced(b, iova, va, end < host + g ? end : host + g,
				 flags | head, attrs);
		if (r < 0)
			goto fail;
		bounced_head = iova;
		iova += g;
		host += g;
		n--;
		head = 0;
	}
	if (b->o.untrusted && n && (end & b->gmask)) {
		r = link_bounced(b, iova + (n - 1) * g, end & ~b->gmask, end,
				 flags | (n == 1 ? head : 0), attrs);
		if (r < 0)
			goto undo;
		bounced_tail = iova + (n - 1) * g;
		n--;
	}
	r = pt_set(b, iova, host, n, flags, head);
	if (r == 0) {
		win_mark_linked(w);
		return 0;
	}
undo:
	/* Only what this call linked: its bounce granules go back to the
	 * pool with their entries. */
	if (bounced_tail)
		pt_clear(b, bounced_tail, 1, 0);
	if (bounced_head)
		pt_clear(b, bounced_head, 1, 0);
fail:
	if (r == -EEXIST)
		sim_refuse(b, attrs, r, "%s: link at window 0x%" PRIx64 " offset 0x%" PRIx64 " (%zu bytes): part of it is linked already",
			   b->name, win_addr(w), offset, len);
	return r;
}

/* The entry bits of a link in each direction. */
static const uint64_t link_perms[] = {
	[DMASPLIT_BIDIRECTIONAL] = PTE_READ | PTE_WRITE | PTE_LINKED,
	[DMASPLIT_TO_DEVICE] = PTE_READ | PTE_LINKED,
	[DMASPLIT_FROM_DEVICE] = PTE_WRITE | PTE_LINKED,
};

/*
 * The common link, one granule of a trusted device's buffer into the leaf
 * table the window used last: one entry written, no walk.  The rest
 * (more granules, another table, a bounce, a refusal) in link_slow().
 * The core has checked dir, attrs and that len is not 0.
 */
static inline __attribute__((always_inline)) int
link_fast(struct dmasplit_bwin *w, uint64_t offset, uintptr_t va, size_t len,
	  enum dmasplit_dir dir, uint32_t attrs, unsigned int gshift,
	  unsigned int lshift)
{
	uint64_t c = __atomic_load_n(&w->leaf, __ATOMIC_ACQUIRE);
	uint64_t gmask = (1ull << gshift) - 1, lmask = (1ull << lshift) - 1;
	uint64_t rel, *pte;

	/* Where the link starts in the span of the cached leaf table, the
	 * window's (c & WIN_NOLEAF)th. */
	rel = (win_addr(w) & lmask) + offset -
	      ((uint64_t)((uint32_t)c & WIN_NOLEAF) << lshift);
	if (unlikely(c <= WIN_NOLEAF || ((offset ^ va) & gmask) ||
		     (va & gmask) + (len - 1) > gmask || rel > lmask))
		return link_slow(w, offset, (void *)va, len, dir, attrs);
	pte = (uint64_t *)(uintptr_t)(c & ~WIN_NOLEAF) + (rel >> gshift);
	if (unlikely(pte_load(pte)))
		return link_slow(w, offset, (void *)va, len, dir, attrs);
	/* A sync that runs into the window from below crosses into it. */
	pte_store(pte, (va & ~gmask) | link_perms[dir] |
		       (offset > gmask ? 0 : PTE_HEAD));
	win_mark_linked(w);
	return 0;
}

/* Other granules, with their shifts read from the device; an untrusted
 * device's links take link_slow(), which bounces what shares a granule
 * with other data.  Apart, so that the 4 KiB path saves no registers. */
static __attribute__((noinline)) int
link_other(struct dmasplit_bwin *w, uint64_t offset, void *vaddr, size_t len,
	   enum dmasplit_dir dir, uint32_t attrs)
{
	const struct dmasplit_bdev *b = w->b;

	if (b->o.untrusted)
		return link_slow(w, offset, vaddr, len, dir, attrs);
	return link_fast(w, offset, (uintptr_t)vaddr, len, dir, attrs,
			 b->gshift, b->lshift);
}

/* The 4 KiB granule of x86 and most Arm systems, its shifts known here. */
int iommu_iova_link(struct dmasplit_bwin *w, uint64_t offset, void *vaddr,
		    size_t len, enum dmasplit_dir dir, uint32_t attrs)
{
	/* lshift as sim_open() derives it: 2 * gshift - 3 */
	if (likely(w->b->link_4k))
		return link_fast(w, offset, (uintptr_t)vaddr, len, dir, attrs,
				 12, 2 * 12 - 3);
	return link_other(w, offset, vaddr, len, dir, attrs);
}

/* Every LINKED entry of n from pte on VALID; what they held, or'ed. */
static uint64_t make_valid(uint64_t *pte, uint64_t n)
{
	uint64_t found = 0, i;

	for (i = 0; i < n; i++) {
		uint64_t v = pte_load(&pte[i]);

		if (v & PTE_LINKED)
			pte_store(&pte[i], (v & ~PTE_LINKED) | PTE_VALID);
		found |= v;
	}
	return found;
}

int iommu_iova_sync(struct dmasplit_bwin *w, uint64_t offset, uint64_t len)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t first = offset & ~b->gmask, found = 0, run;
	uint64_t n = (round_up(b, offset + len) - first) >> b->gshift;
	uint64_t *pte = win_leaf(w, win_addr(w) + first, false, &run);

	if (pte && run >= n)
		found = make_valid(pte, n);
	else
		for_each_pte(b, win_addr(w) + first, n, e, {
			found |= make_valid(e, 1);
		});
	/* Parts of the range may be holes (a batch syncs its whole window
	 * at once); a range with nothing at all is a caller's mistake. */
	if (!found) {
		sim_err(b, "%s: sync of window 0x%" PRIx64 " offset 0x%" PRIx64 " (0x%" PRIx64 " bytes): nothing is linked there",
			b->name, win_addr(w), offset, len);
		return -ENOENT;
	}
	invalidate(b);
	count_invalidation(w);
	return 0;
}

/* Remove n entries of the window from iova; the number there was. */
static uint64_t win_clear(struct dmasplit_bwin *w, uint64_t iova, uint64_t n,
			  int copy_back)
{
	uint64_t run, *pte = win_leaf(w, iova, false, &run);
	struct pool_freed freed = { 0, 0 };

	if (pte && run >= n)
		return pte_clear_run(w->b, pte, n, copy_back, &freed);
	return pt_clear(w->b, iova, n, copy_back);
}

int iommu_iova_unlink(struct dmasplit_bwin *w, uint64_t offset, uint64_t len,
		      enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t first = offset & ~b->gmask;
	uint64_t n = (round_up(b, offset + len) - first) >> b->gshift;

	/* Nothing cleared is nothing changed: the refusal is free. */
	if (!win_clear(w, win_addr(w) + first, n,
		       !(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC) &&
		       dmasplit_dir_device_writes(dir)))
		return sim_refuse(b, attrs, -ENOENT, "%s: unlink of window 0x%" PRIx64 " offset 0x%" PRIx64 " (0x%" PRIx64 " bytes): nothing is linked there",
				  b->name, win_addr(w), offset, len);
	/* All of it: its destroy has nothing left to clear. */
	if (!first && n << b->gshift == win_size(w))
		__atomic_store_n(&w->linked, 0, __ATOMIC_RELAXED);
	invalidate(b);
	count_invalidation(w);
	return 0;
}

void iommu_iova_fini(struct dmasplit_bwin *w)
{
	struct dmasplit_bdev *b = w->b;
	unsigned int flush;

	/* An invalidation only if something was still linked. */
	flush = __atomic_load_n(&w->linked, __ATOMIC_RELAXED) &&
		win_clear(w, win_addr(w), win_size(w) >> b->gshift, -1) != 0;
	if (flush)
		invalidate(b);
	/* Tables that span only this window go before its addresses. */
	pt_release(&b->sp->pt, win_addr(w), win_size(w) >> b->gshift);
	win_put(w, flush);
}
