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
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "sim.h"

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

	pte = pt_leaf(&b->sp->pt, iova, true, &run);
	if (!pte)
		return -ENOMEM;
	if (pte_load(pte))
		return -EEXIST;
	r = pool_map(b, &b->pool, lo, hi - lo, b->o.granule, b->o.granule, lo,
		     hi, DMASPLIT_BIDIRECTIONAL, &tlb);
	if (r < 0)
		return r;
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
	uint64_t iova = w->addr + (offset & ~b->gmask);
	uint64_t n = (round_up(b, end) - host) / g;
	/* A sync that runs into the window from below crosses into it. */
	uint64_t head = offset < g ? PTE_HEAD : 0;
	uint64_t bounced_head = 0, bounced_tail = 0;
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
				 flags | head);
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
				 flags | (n == 1 ? head : 0));
		if (r < 0)
			goto undo;
		bounced_tail = iova + (n - 1) * g;
		n--;
	}
	r = pt_set(b, iova, host, n, flags, head);
	if (r == 0)
		return 0;
undo:
	/* Only what this call linked: its bounce granules go back to the
	 * pool with their entries. */
	if (bounced_tail)
		pt_clear(b, bounced_tail, 1, 0);
	if (bounced_head)
		pt_clear(b, bounced_head, 1, 0);
fail:
	if (r == -EEXIST)
		sim_err(b, "%s: link at window 0x%" PRIx64 " offset 0x%" PRIx64 " (%zu bytes): part of it is linked already",
			b->name, w->addr, offset, len);
	return r;
}

int iommu_iova_sync(struct dmasplit_bwin *w, uint64_t offset, uint64_t len)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t first = offset & ~b->gmask, found = 0;

	for_each_pte(b, w->addr + first,
		     (round_up(b, offset + len) - first) >> b->sp->pt.shift, pte, {
		uint64_t v = pte_load(pte);

		if (v & PTE_LINKED)
			pte_store(pte, (v & ~PTE_LINKED) | PTE_VALID);
		found |= v;
	});
	/* Parts of the range may be holes (a batch syncs its whole window
	 * at once); a range with nothing at all is a caller's mistake. */
	if (!found) {
		sim_err(b, "%s: sync of window 0x%" PRIx64 " offset 0x%" PRIx64 " (0x%" PRIx64 " bytes): nothing is linked there",
			b->name, w->addr, offset, len);
		return -ENOENT;
	}
	invalidate(b);
	count_invalidation(b);
	return 0;
}

int iommu_iova_unlink(struct dmasplit_bwin *w, uint64_t offset, uint64_t len,
		      enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t first = offset & ~b->gmask;

	/* Nothing cleared is nothing changed: the refusal is free. */
	if (!pt_clear(b, w->addr + first,
		      (round_up(b, offset + len) - first) >> b->sp->pt.shift,
		      !(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC) &&
		      dmasplit_dir_device_writes(dir)))
		return sim_refuse(b, attrs, -ENOENT, "%s: unlink of window 0x%" PRIx64 " offset 0x%" PRIx64 " (0x%" PRIx64 " bytes): nothing is linked there",
				  b->name, w->addr, offset, len);
	invalidate(b);
	count_invalidation(b);
	return 0;
}

void iommu_iova_destroy(struct dmasplit_bwin *w)
{
	struct dmasplit_bdev *b = w->b;
	unsigned int flush;

	/* An invalidation only if something was still linked. */
	flush = pt_clear(b, w->addr, w->size >> b->sp->pt.shift, -1) != 0;
	if (flush)
		invalidate(b);
	iova_put(b, w->addr, w->size, flush);
	free(w);
}
