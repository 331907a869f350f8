// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Per-range mappings on the translated device (the kernel's dma_map_*
 * family through dma-iommu): map, unmap, map_vec, unmap_vec, coherent
 * memory and the CPU syncs, with the records that tell an unmap or a sync
 * what was mapped.  Every call here pays an IOVA allocation or free and
 * an invalidation; this is the path the benchmark compares windows with,
 * so its callees stay in this file where the compiler can see them,
 * except the entries (iommu.c) and the addresses (iommu-iotlb.c), which
 * windows share.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "sim.h"

/*
 * The record of a per-range mapping: two words at its first granule in
 * b->recs, written when the mapping is complete and cleared with one
 * compare-and-swap by the unmap that claims it, so that of two unmaps of
 * one mapping exactly one proceeds.
 *   w0: kind | direction << 3 | offset of the address in its granule << 8
 *       | owner << 24 | number of segments << 32; 0 when nothing starts
 *       there.  The owner is the member of the space that mapped it:
 *       only that device may unmap or sync it, and its close takes it.
 *   w1: the length (MAP, VSEG, COH); for VEC, a fingerprint of the
 *       segments, so that an unmap_vec is checked against the vector
 *       that map_vec returned in O(segments) and no space per segment.
 * A mapping of MAP or VSEG that ends inside a granule other than its
 * first also has a TAIL record at that granule, so that a sync that
 * starts past the first granule finds where the mapping ends without
 * walking back to its start:
 *   w0: TAIL | direction << 3 | offset of the end in its granule << 8
 *       | owner << 24 | kind of the mapping << 32;
 *   w1: the mapping's address.
 * Nothing starts at a TAIL record: unmaps see none there.
 */
#define REC_MAP		1u	/* dmasplit_map */
#define REC_VEC		2u	/* dmasplit_map_vec: the vector, at its first
				 * segment */
#define REC_VSEG	3u	/* the other segments of an untrusted device's
				 * map_vec, each mapped on its own */
#define REC_COH		4u	/* coherent memory */
#define REC_TAIL	5u	/* where a mapping ends, at its last granule */
#define REC_KIND	7u

static const char *const rec_what[] = {
	[REC_MAP] = "dmasplit_map mapping",
	[REC_VEC] = "dmasplit_map_vec vector",
	[REC_VSEG] = "dmasplit_map_vec segment",
	[REC_COH] = "coherent allocation",
	[REC_TAIL] = "mapping's last granule",
};

static uint64_t rec_w0(const struct dmasplit_bdev *b, unsigned int kind,
		       enum dmasplit_dir dir, uint64_t off, unsigned int nsegs)
{
	return kind | (uint64_t)dir << 3 | off << 8 | (uint64_t)b->owner << 24 |
	       (uint64_t)nsegs << 32;
}

static unsigned int rec_owner(uint64_t w0)
{
	return (unsigned int)((w0 >> 24) & 0xff);
}

static unsigned int rec_kind(uint64_t w0)
{
	return (unsigned int)(w0 & REC_KIND);
}

static enum dmasplit_dir rec_dir(uint64_t w0)
{
	return (enum dmasplit_dir)((w0 >> 3) & 3);
}

static uint64_t rec_off(uint64_t w0)
{
	return (w0 >> 8) & 0xffff;	/* granules are at most 64 KiB */
}

static unsigned int rec_nsegs(uint64_t w0)
{
	return (unsigned int)(w0 >> 32);
}

/* The two words at granule-aligned iova; NULL when none can exist.  In
 * *run, how many words from them lie in the same leaf, also when NULL. */
static uint64_t *rec_at_run(struct dmasplit_bdev *b, uint64_t iova,
			    bool alloc, uint64_t *run)
{
	*run = 0;
	if (iova > b->sp->top)
		return NULL;
	return pt_leaf(&b->sp->recs, iova << 2, alloc, run);
}

static uint64_t *rec_at(struct dmasplit_bdev *b, uint64_t iova, bool alloc)
{
	uint64_t run;

	return rec_at_run(b, iova, alloc, &run);
}

/* The words at at, a granule after iova, whose words (rec, run) are
 * known: in the same leaf without a walk. */
static uint64_t *rec_after(struct dmasplit_bdev *b, uint64_t *rec,
			   uint64_t run, uint64_t iova, uint64_t at, bool alloc)
{
	uint64_t k = ((at - iova) >> b->gshift) * 2;

	if (k < run)
		return rec ? rec + k : NULL;
	return rec_at(b, at, alloc);
}

/* The granule of a mapping of len bytes at dma that gets a TAIL record,
 * or 0: one that ends in its first granule or at a granule's end needs
 * none, as the walk of a sync past it meets another mapping's first
 * granule or nothing. */
static uint64_t tail_of(const struct dmasplit_bdev *b, uint64_t dma,
			uint64_t len)
{
	uint64_t end = dma + len;

	if (!(end & b->gmask) || (end & ~b->gmask) == (dma & ~b->gmask))
		return 0;
	return end & ~b->gmask;
}

/* No table, no record (rec_at() gave NULL): nothing to set, as
 * rec_load() reads it as empty. */
static void rec_set(uint64_t *rec, uint64_t w0, uint64_t w1)
{
	if (unlikely(!rec))
		return;
	__atomic_store_n(&rec[1], w1, __ATOMIC_RELAXED);
	__atomic_store_n(&rec[0], w0, __ATOMIC_RELEASE);
}

static uint64_t rec_load(const uint64_t *rec, uint64_t *w1)
{
	uint64_t w0;

	if (!rec) {
		*w1 = 0;
		return 0;
	}
	w0 = __atomic_load_n(&rec[0], __ATOMIC_ACQUIRE);
	*w1 = __atomic_load_n(&rec[1], __ATOMIC_RELAXED);
	return w0;
}

static bool rec_claim(uint64_t *rec, uint64_t w0)
{
	return __atomic_compare_exchange_n(&rec[0], &w0, 0, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/*
 * The mapping of kind that starts at dma with len and dir: 0 with its
 * record, or the refusal (logged): -ENOENT when no mapping starts in that
 * granule (never mapped, already unmapped, or the middle of one), -EINVAL
 * when one does but of another kind, address, length or direction.
 */
static int rec_find(struct dmasplit_bdev *b, const char *op, uint64_t dma,
		    uint64_t len, enum dmasplit_dir dir, unsigned int kind,
		    uint32_t attrs, uint64_t **recp, uint64_t *w0p)
{
	uint64_t *rec = rec_at(b, dma & ~b->gmask, false), w1;
	uint64_t w0 = rec_load(rec, &w1);
	uint64_t start = (dma & ~b->gmask) + rec_off(w0);

	if (!w0 || rec_kind(w0) == REC_TAIL)
		return sim_refuse(b, attrs, -ENOENT, "%s: %s of 0x%" PRIx64 ": no mapping starts there (never mapped, already unmapped, or inside one)",
				  b->name, op, dma);
	if (rec_owner(w0) != b->owner)
		return sim_refuse(b, attrs, -EINVAL, "%s: %s of 0x%" PRIx64 ": another device of address space %s mapped it; only that one may %s it",
				  b->name, op, dma, b->sp->name, op);
	if (rec_kind(w0) != kind)
		return sim_refuse(b, attrs, -EINVAL, "%s: %s of 0x%" PRIx64 ": that is a %s",
				  b->name, op, dma, rec_what[rec_kind(w0)]);
	if (start != dma || w1 != len || rec_dir(w0) != dir)
		return sim_refuse(b, attrs, -EINVAL, "%s: %s of 0x%" PRIx64 "+0x%" PRIx64 " dir %d: the mapping there is 0x%" PRIx64 "+0x%" PRIx64 " dir %d",
				  b->name, op, dma, len, (int)dir, start, w1,
				  (int)rec_dir(w0));
	*recp = rec;
	*w0p = w0;
	return 0;
}

/*
 * [src, src + len) of host memory at a new device address, recorded as
 * kind.  The record's words are made before any entry, so that a failure
 * leaves nothing to undo but the entries this call wrote.
 */
static inline __attribute__((always_inline)) int
map_host(struct dmasplit_bdev *b, uintptr_t src, size_t len,
	 enum dmasplit_dir dir, uint32_t attrs, unsigned int kind,
	 uint64_t align, uint64_t *dma)
{
	uintptr_t first = src & ~b->gmask;
	uint64_t size = round_up(b, src + len) - first, iova, *rec, run;
	uint64_t *tail = NULL, t;
	int r;

	r = align > b->o.granule ? iova_get_aligned(b, size, align, &iova)
				 : iova_get(b, size, &iova, 1);
	if (unlikely(r < 0))
		return r == -ENOSPC && align <= b->o.granule
			       ? iova_none_left(b, attrs, size) : r;
	rec = rec_at_run(b, iova, true, &run);
	t = tail_of(b, iova + (src & b->gmask), len);
	if (rec && t) {
		tail = rec_after(b, rec, run, iova, t, true);
		if (!tail)
			rec = NULL;
	}
	r = rec ? pt_set(b, iova, first, size >> b->sp->pt.shift,
			 dir_perms(dir) | PTE_VALID, PTE_HEAD)
		: -ENOMEM;
	if (r < 0) {
		/* Nor was there an invalidation: take back its count. */
		iova_put(b, iova, size, -1);
		if (r == -EEXIST) {
			/* A live entry at a free address: never lose it. */
			sim_err(b, "%s: map: device address 0x%" PRIx64 " is free but mapped",
				b->name, iova);
			r = -EIO;
		}
		return r;
	}
	invalidate(b);
	*dma = iova + (src & b->gmask);
	if (tail)
		rec_set(tail, rec_w0(b, REC_TAIL, dir, (*dma + len) & b->gmask,
				     kind), *dma);
	rec_set(rec, rec_w0(b, kind, dir, src & b->gmask, 1), len);
	return 0;
}

/*
 * Take down a mapping whose record this caller has claimed: copy back
 * what a bounce holds if asked, clear its entries, free its addresses.
 */
static void unmap_claimed(struct dmasplit_bdev *b, uint64_t dma, uint64_t len,
			  enum dmasplit_dir dir, uint32_t attrs)
{
	uint64_t base = dma & ~b->gmask, size = round_up(b, dma + len) - base;
	uint64_t run, v = 0, *pte, *tail, t = tail_of(b, dma, len);
	uintptr_t h;

	/* Before the addresses are freed, or their next mapping would
	 * inherit where this one ended. */
	if (t) {
		tail = rec_at(b, t, false);
		if (tail)
			rec_set(tail, 0, 0);
	}

	/* Only a device with a pool has bounces to copy back. */
	if (b->pool.base && !(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC) &&
	    dmasplit_dir_device_writes(dir)) {
		pte = pt_leaf(&b->sp->pt, base, false, &run);
		if (pte)
			v = pte_load(pte);
		h = (uintptr_t)(v & ~PTE_FLAGS);
		if (v && pool_contains(&b->pool, h))
			pool_bounce(b, &b->pool, (uint8_t *)h + (dma & b->gmask),
				    len, true);
	}
	/* Entries go before the addresses: once freed, the range may be
	 * handed out again at once. */
	pt_clear(b, base, size >> b->sp->pt.shift, 0);
	invalidate(b);
	pt_release(&b->sp->pt, base, size >> b->sp->pt.shift);
	if (iova_put(b, base, size, 1) < 0)
		sim_err(b, "%s: unmap of 0x%" PRIx64 ": the allocator refused its addresses back",
			b->name, dma);
}

static bool must_bounce(const struct dmasplit_bdev *b, uintptr_t va,
			size_t len)
{
	return b->o.untrusted && ((va | (va + len)) & b->gmask);
}

static int map_one(struct dmasplit_bdev *b, void *vaddr, size_t len,
		   enum dmasplit_dir dir, uint32_t attrs, unsigned int kind,
		   uint64_t *dma)
{
	uintptr_t va = (uintptr_t)vaddr;
	uint8_t *tlb = NULL;
	int r;

	if (must_bounce(b, va, len)) {
		r = sim_no_peer_bounce(b, vaddr, len, attrs);
		if (r < 0)
			return r;
		r = pool_map(b, &b->pool, va, len, b->o.granule, b->o.granule,
			     va, va + len, dir, attrs, &tlb);
		if (r < 0)
			return r;
		va = (uintptr_t)tlb;
	}
	r = map_host(b, va, len, dir, attrs, kind, 0, dma);
	if (r < 0 && tlb)
		pool_unmap(&b->pool, tlb);
	return r;
}

int iommu_map(struct dmasplit_bdev *b, void *vaddr, size_t len,
	      enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma)
{
	return map_one(b, vaddr, len, dir, attrs, REC_MAP, dma);
}

int iommu_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		enum dmasplit_dir dir, uint32_t attrs)
{
	uint64_t *rec, w0;
	int r;

	r = rec_find(b, "unmap", dma, len, dir, REC_MAP, attrs, &rec, &w0);
	if (r < 0)
		return r;
	if (!rec_claim(rec, w0))
		return sim_refuse(b, attrs, -ENOENT, "%s: unmap of 0x%" PRIx64 ": unmapped meanwhile by another thread",
				  b->name, dma);
	unmap_claimed(b, dma, len, dir, attrs);
	return 0;
}

static int vseg_map(void *ctx, const struct iovec *buf, uint64_t *dma)
{
	struct sim_vec *v = ctx;

	return map_one(v->b, buf->iov_base, buf->iov_len, v->dir, v->attrs,
		       REC_VSEG, dma);
}

/* The first segment's record becomes the vector's. */
static int vseg_record(void *ctx, const struct dmasplit_seg *segs,
		       unsigned int n)
{
	struct sim_vec *v = ctx;
	struct dmasplit_bdev *b = v->b;

	rec_set(rec_at(b, segs[0].dma & ~b->gmask, false),
		rec_w0(b, REC_VEC, v->dir, segs[0].dma & b->gmask, n),
		vec_print(segs, n));
	return 0;
}

static void vseg_undo(void *ctx, const struct dmasplit_seg *seg)
{
	struct sim_vec *v = ctx;
	struct dmasplit_bdev *b = v->b;

	rec_set(rec_at(b, seg->dma & ~b->gmask, false), 0, 0);
	unmap_claimed(b, seg->dma, seg->len, v->dir,
		      DMASPLIT_ATTR_SKIP_CPU_SYNC);
}

/* As the kernel's dma-iommu: buffers of untrusted devices go one by one,
 * each bounced if it must be; the first segment records the vector. */
static int map_vec_untrusted(struct dmasplit_bdev *b, const struct iovec *iov,
			     unsigned int n, enum dmasplit_dir dir,
			     uint32_t attrs, struct dmasplit_seg *segs,
			     unsigned int *nsegs)
{
	struct sim_vec v = { .b = b, .dir = dir, .attrs = attrs };
	int r;

	if (*nsegs < n)
		return sim_refuse(b, attrs, -ENOSPC, "%s: map_vec of %u buffers: room for %u segments",
				  b->name, n, *nsegs);
	r = dmasplit_map_each(iov, n, segs, vseg_map, vseg_record, vseg_undo,
			      &v);
	if (r < 0)
		return r;
	*nsegs = n;
	return 0;
}

int iommu_map_vec(struct dmasplit_bdev *b, const struct iovec *iov,
		  unsigned int n, enum dmasplit_dir dir, uint32_t attrs,
		  struct dmasplit_seg *segs, unsigned int *nsegs)
{
	uint64_t flags = dir_perms(dir) | PTE_VALID, size = 0, iova, at, *rec;
	unsigned int i, used = 0;
	int r;

	if (b->o.untrusted)
		return map_vec_untrusted(b, iov, n, dir, attrs, segs, nsegs);
	for (i = 0; i < n; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base;

		/* Past 2^64 is past any device's addresses. */
		if (__builtin_add_overflow(size, round_up(b, va + iov[i].iov_len) -
						 (va & ~b->gmask), &size))
			return sim_refuse(b, attrs, -ENOSPC, "%s: map_vec of %u buffers: more than 2^64 bytes of device addresses",
					  b->name, n);
	}
	r = iova_get(b, size, &iova, 1);
	if (r == -ENOSPC)
		return iova_none_left(b, attrs, size);
	if (r < 0)
		return r;
	rec = rec_at(b, iova, true);
	if (!rec) {
		r = -ENOMEM;
		goto put;
	}
	for (i = 0, at = iova; i < n; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base;
		uint64_t pages = (round_up(b, va + iov[i].iov_len) -
				  (va & ~b->gmask)) >> b->sp->pt.shift;
		uint64_t dma = at + (va & b->gmask);

		if (used && segs[used - 1].dma + segs[used - 1].len == dma) {
			segs[used - 1].len += iov[i].iov_len;
		} else if (used == *nsegs) {
			r = -ENOSPC;
			goto undo;
		} else {
			segs[used].dma = dma;
			segs[used++].len = iov[i].iov_len;
		}
		r = pt_set(b, at, va & ~b->gmask, pages, flags,
			   i ? 0 : PTE_HEAD);
		if (r < 0)
			goto undo;
		at += pages << b->sp->pt.shift;
	}
	invalidate(b);
	rec_set(rec, rec_w0(b, REC_VEC, dir, 0, used), vec_print(segs, used));
	*nsegs = used;
	return 0;
undo:
	pt_zero(b, iova, (at - iova) >> b->sp->pt.shift);
put:
	iova_put(b, iova, size, -1);
	if (r == -ENOSPC)
		sim_refuse(b, attrs, r, "%s: map_vec of %u buffers: they need more than the %u segments given",
			   b->name, n, *nsegs);
	return r;
}

/* The refusal of an unmap_vec: one line, nothing changed. */
#define vec_refuse(b, attrs, segs, nsegs, why, ...)                          \
	sim_refuse(b, attrs, -EINVAL, "%s: unmap_vec of %u segments from 0x%" PRIx64 ": " why "; nothing unmapped", \
		   (b)->name, nsegs, (segs)[0].dma, ##__VA_ARGS__)

/* The vector's first segment must carry the record of the map_vec that
 * returned exactly these segments, in this order. */
static int vec_head(struct dmasplit_bdev *b, const struct dmasplit_seg *segs,
		    unsigned int nsegs, enum dmasplit_dir dir, uint32_t attrs,
		    uint64_t **recp, uint64_t *w0p)
{
	uint64_t *rec = rec_at(b, segs[0].dma & ~b->gmask, false), w1;
	uint64_t w0 = rec_load(rec, &w1);

	if (rec_kind(w0) == REC_TAIL)
		w0 = 0;
	if (w0 && rec_owner(w0) != b->owner)
		return vec_refuse(b, attrs, segs, nsegs,
				  "another device of address space %s mapped it",
				  b->sp->name);
	if (rec_kind(w0) != REC_VEC)
		return vec_refuse(b, attrs, segs, nsegs,
				  "its first segment does not start a dmasplit_map_vec vector%s",
				  w0 ? "" : " (never mapped, or unmapped already)");
	if (rec_nsegs(w0) != nsegs || rec_dir(w0) != dir)
		return vec_refuse(b, attrs, segs, nsegs,
				  "that vector has %u segments, direction %d",
				  rec_nsegs(w0), (int)rec_dir(w0));
	if (vec_print(segs, nsegs) != w1)
		return vec_refuse(b, attrs, segs, nsegs,
				  "not the segments map_vec returned, in its order");
	*recp = rec;
	*w0p = w0;
	return 0;
}

static int unmap_vec_untrusted(struct dmasplit_bdev *b,
			       const struct dmasplit_seg *segs,
			       unsigned int nsegs, enum dmasplit_dir dir,
			       uint32_t attrs)
{
	uint64_t *rec, w0;
	unsigned int i;
	int r;

	r = vec_head(b, segs, nsegs, dir, attrs, &rec, &w0);
	if (r < 0)
		return r;
	if (!rec_claim(rec, w0))
		return vec_refuse(b, attrs, segs, nsegs,
				  "unmapped meanwhile by another thread");
	/* Claim every segment before unmapping any, so that a refusal
	 * half way puts back what it took. */
	for (i = 1; i < nsegs; i++) {
		uint64_t *srec, sw0;

		r = rec_find(b, "unmap_vec", segs[i].dma, segs[i].len, dir,
			     REC_VSEG, attrs | DMASPLIT_ATTR_NO_WARN, &srec,
			     &sw0);
		if (r < 0 || !rec_claim(srec, sw0))
			break;
	}
	if (i < nsegs) {
		rec_set(rec, w0, __atomic_load_n(&rec[1], __ATOMIC_RELAXED));
		while (--i > 0)
			rec_set(rec_at(b, segs[i].dma & ~b->gmask, false),
				rec_w0(b, REC_VSEG, dir, segs[i].dma & b->gmask, 1),
				segs[i].len);
		return vec_refuse(b, attrs, segs, nsegs,
				  "segment %u is not live", i);
	}
	for (i = 0; i < nsegs; i++)
		unmap_claimed(b, segs[i].dma, segs[i].len, dir, attrs);
	return 0;
}

int iommu_unmap_vec(struct dmasplit_bdev *b, const struct dmasplit_seg *segs,
		    unsigned int nsegs, enum dmasplit_dir dir, uint32_t attrs)
{
	uint64_t base = segs[0].dma & ~b->gmask, end, *rec, w0;
	unsigned int i;
	int r;

	if (b->o.untrusted)
		return unmap_vec_untrusted(b, segs, nsegs, dir, attrs);
	/* map_vec lays its segments out in order, each from the granule
	 * after the previous one's end: any other vector is not one it
	 * returned, and its span must never be walked. */
	for (i = 1; i < nsegs; i++) {
		uint64_t prev = segs[i - 1].dma + segs[i - 1].len;

		if (segs[i].dma == prev ||
		    (segs[i].dma & ~b->gmask) != round_up(b, prev))
			return vec_refuse(b, attrs, segs, nsegs,
					  "segment %u is not where map_vec put it (out of order, repeated or foreign)",
					  i);
	}
	r = vec_head(b, segs, nsegs, dir, attrs, &rec, &w0);
	if (r < 0)
		return r;
	if (!rec_claim(rec, w0))
		return vec_refuse(b, attrs, segs, nsegs,
				  "unmapped meanwhile by another thread");
	end = round_up(b, segs[nsegs - 1].dma + segs[nsegs - 1].len);
	pt_clear(b, base, (end - base) >> b->sp->pt.shift, 0);
	invalidate(b);
	pt_release(&b->sp->pt, base, (end - base) >> b->sp->pt.shift);
	if (iova_put(b, base, end - base, 1) < 0)
		sim_err(b, "%s: unmap_vec of 0x%" PRIx64 ": the allocator refused its addresses back",
			b->name, base);
	return 0;
}

/*
 * A member leaves its space with per-range mappings still live (the
 * library's checker, when on, has unmapped them already): they go, as
 * they would with a page table of its own.  A vector's record does not
 * keep its end; its granules run up to the next mapping's first granule
 * or the first hole.
 */
static void release_leaf(uint64_t *leaf, uint64_t pfn, void *arg)
{
	struct dmasplit_bdev *b = arg;
	uint64_t j, n = 1ull << b->sp->recs.bits;

	for (j = 0; j < n; j += 2) {
		uint64_t *rec = &leaf[j], w1, w0 = rec_load(rec, &w1);
		uint64_t iova = ((pfn + j) >> 1) << b->sp->pt.shift, end, run;
		uint64_t *pte, v;

		if (!w0 || rec_owner(w0) != b->owner)
			continue;
		/* A tail goes with its mapping, or here where the mapping
		 * goes without it: the first segment of an untrusted
		 * device's vector has one under the vector's record. */
		if (rec_kind(w0) == REC_TAIL) {
			/* Only if still this one: the addresses may be
			 * another member's by now. */
			(void)rec_claim(rec, w0);
			continue;
		}
		if (!rec_claim(rec, w0))
			continue;
		if (rec_kind(w0) != REC_VEC) {
			unmap_claimed(b, iova + rec_off(w0), w1, rec_dir(w0),
				      DMASPLIT_ATTR_SKIP_CPU_SYNC);
			continue;
		}
		for (end = iova + b->o.granule; end && end <= b->sp->top;
		     end += b->o.granule) {
			pte = pt_leaf(&b->sp->pt, end, false, &run);
			v = pte ? pte_load(pte) : 0;
			if (!v || (v & PTE_HEAD))
				break;
		}
		pt_clear(b, iova, (end - iova) >> b->sp->pt.shift, 0);
		invalidate(b);
		iova_put(b, iova, end - iova, 1);
	}
}

void iommu_release_owned(struct dmasplit_bdev *b)
{
	pthread_mutex_lock(&b->sp->trim_lock);
	pt_for_each_leaf(&b->sp->recs, release_leaf, b);
	pthread_mutex_unlock(&b->sp->trim_lock);
}

/*
 * Coherent memory: whole granules of their own pages, mapped both ways,
 * recorded so that only free_coherent takes it down and close releases
 * (unmaps) what is left.  Both addresses are aligned as coh_align()
 * says; whole granules, so never bounced.
 */
int iommu_alloc_coherent(struct dmasplit_bdev *b, size_t size, void **cpu,
			 uint64_t *dma)
{
	size_t len = coh_len(b, size);
	uint64_t *rec, w0, align = coh_align(size);
	struct held_entry e = { .len = size, .flags = HELD_COHERENT };
	void *p = NULL;
	int r;

	if (align && align < b->o.granule)
		align = b->o.granule;
	if (align)
		p = sim_mmap_aligned(len, align);
	if (!p) {
		sim_err(b, "%s: no %zu bytes of memory for coherent memory",
			b->name, len);
		return -ENOMEM;
	}
	r = map_host(b, (uintptr_t)p, len, DMASPLIT_BIDIRECTIONAL, 0, REC_COH,
		     align, dma);
	if (r < 0) {
		munmap(p, len);
		return r;
	}
	e.dma = *dma;
	e.cpu = p;
	r = held_add(&b->held, &e);
	if (r < 0) {
		/* Unless another thread's stray unmap took it meanwhile. */
		if (rec_find(b, "free_coherent", *dma, len,
			     DMASPLIT_BIDIRECTIONAL, REC_COH, 0, &rec, &w0) == 0 &&
		    rec_claim(rec, w0))
			unmap_claimed(b, *dma, len, DMASPLIT_BIDIRECTIONAL,
				      DMASPLIT_ATTR_SKIP_CPU_SYNC);
		munmap(p, len);
		sim_err(b, "%s: no memory to record %zu bytes of coherent memory",
			b->name, len);
		return r;
	}
	*cpu = p;
	return 0;
}

int iommu_free_coherent(struct dmasplit_bdev *b, size_t size, void *cpu,
			uint64_t dma)
{
	size_t len = coh_len(b, size);
	struct held_entry e;
	uint64_t *rec, w0;
	int r;

	r = held_take_coherent(b, size, cpu, dma, &e);
	if (r < 0)
		return r;
	r = rec_find(b, "free_coherent", dma, len, DMASPLIT_BIDIRECTIONAL,
		     REC_COH, 0, &rec, &w0);
	if (r < 0 || !rec_claim(rec, w0)) {
		held_add(&b->held, &e);
		return r < 0 ? r : -ENOENT;
	}
	unmap_claimed(b, dma, len, DMASPLIT_BIDIRECTIONAL,
		      DMASPLIT_ATTR_SKIP_CPU_SYNC);
	munmap(cpu, len);
	return 0;
}

/* ------------------------------------------------------------------ */
/* CPU syncs                                                            */

/*
 * The record at the first granule of the mapping that holds granule g,
 * where a sync starts past that first granule and finds none: the walk
 * back to the entry marked HEAD, a leaf at a time, costs a load per
 * granule between.  0 when g is empty or a first granule itself, when
 * an empty entry comes first (the mapping is being taken down) and for
 * a window, which keeps no record.
 */
static uint64_t head_record(struct dmasplit_bdev *b, uint64_t g)
{
	uint64_t run, left, w1, *pte = pt_leaf(&b->sp->pt, g, false, &run);
	uint64_t v = pte ? pte_load(pte) : 0;

	if (!v || (v & PTE_HEAD))
		return 0;
	while (g) {
		g -= b->o.granule;
		pte = pt_leaf(&b->sp->pt, g, false, &run);
		if (!pte)
			return 0;
		/* The entries before g in its leaf. */
		left = (g & b->lmask) >> b->gshift;
		for (;; pte--, g -= b->o.granule) {
			v = pte_load(pte);
			if (!v)
				return 0;
			if (v & PTE_HEAD)
				return rec_load(rec_at(b, g, false), &w1);
			if (!left--)
				break;
		}
	}
	return 0;
}

/*
 * A sync must lie inside one mapping or one window's links: every
 * granule mapped or linked, none the first of another mapping, the
 * direction one the entries allow, and, from a mapping's first granule,
 * no byte outside its buffer.  Checked before any copy, so a refused
 * sync copies nothing, and it stops at the first granule that fails: a
 * huge range costs no more than what is mapped of it.
 */
static int sync_check(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		      enum dmasplit_dir dir)
{
	uint64_t first = dma & ~b->gmask, last, tg, a, w0, w1, tw0, tw1, rrun;
	uint64_t ow0;
	uint64_t perms = dir_perms(dir), *rec;

	if (dma > b->iommu_last || len - 1 > b->iommu_last - dma)
		return sim_refuse(b, 0, -ENOENT, "%s: sync of 0x%" PRIx64 "+0x%zx: beyond the IOMMU's address width",
				  b->name, dma, len);
	rec = rec_at_run(b, first, false, &rrun);
	w0 = rec_load(rec, &w1);
	/* Past a mapping's first granule the owner is in the record at its
	 * first, which only a space with other members need look for. */
	ow0 = w0 || !b->sp->name[0] ? w0 : head_record(b, first);
	if (ow0 && rec_owner(ow0) != b->owner)
		return sim_refuse(b, 0, -EINVAL, "%s: sync of 0x%" PRIx64 "+0x%zx: another device of address space %s mapped it; only that one may sync it",
				  b->name, dma, len, b->sp->name);
	/* A vector's record is at its first granule, with where its
	 * first segment starts there (not 0 on an untrusted device, whose
	 * segments start where their buffers do). */
	if (rec_kind(w0) == REC_VEC && dma < first + rec_off(w0))
		return sim_refuse(b, 0, -EINVAL, "%s: sync of 0x%" PRIx64 "+0x%zx: starts before the %s at 0x%" PRIx64,
				  b->name, dma, len, rec_what[REC_VEC],
				  first + rec_off(w0));
	/* A sync that starts past a mapping's first granule learns where
	 * the mapping ends from the TAIL record of its last: at the sync's
	 * first granule, or at its last, found in the leaf of records the
	 * first was found in unless the sync runs on into the next leaf. */
	last = (dma + len - 1) & ~b->gmask;
	tg = first;
	if ((!w0 || rec_kind(w0) == REC_VEC) && last != first) {
		tw0 = rec_load(rec_after(b, rec, rrun, first, last, false),
			       &tw1);
		if (rec_kind(tw0) == REC_TAIL) {
			w0 = tw0;
			w1 = tw1;
			tg = last;
		}
	}
	if (rec_kind(w0) == REC_TAIL && dma + len > tg + rec_off(w0))
		return sim_refuse(b, 0, -EINVAL, "%s: sync of 0x%" PRIx64 "+0x%zx: runs past the end of the %s at 0x%" PRIx64 "+0x%" PRIx64,
				  b->name, dma, len, rec_what[rec_nsegs(w0)], w1,
				  tg + rec_off(w0) - w1);
	if (w0 && rec_kind(w0) != REC_VEC && rec_kind(w0) != REC_TAIL &&
	    (dma < first + rec_off(w0) || len > w1 ||
	     dma - first - rec_off(w0) > w1 - len))
		return sim_refuse(b, 0, -EINVAL, "%s: sync of 0x%" PRIx64 "+0x%zx: not inside the %s at 0x%" PRIx64 "+0x%" PRIx64,
				  b->name, dma, len, rec_what[rec_kind(w0)],
				  first + rec_off(w0), w1);
	for (a = first; a - first < dma + len - first; ) {
		uint64_t run, i, *pte = pt_leaf(&b->sp->pt, a, false, &run);

		for (i = 0; i < run && a - first < dma + len - first;
		     i++, a += b->o.granule) {
			uint64_t v = pte ? pte_load(&pte[i]) : 0;

			if (!v)
				return sim_refuse(b, 0, -ENOENT, "%s: sync of 0x%" PRIx64 "+0x%zx: 0x%" PRIx64 " is neither mapped nor linked",
						  b->name, dma, len, a);
			if (a != first && (v & PTE_HEAD))
				return sim_refuse(b, 0, -EINVAL, "%s: sync of 0x%" PRIx64 "+0x%zx: runs into another mapping or window at 0x%" PRIx64,
						  b->name, dma, len, a);
			/* A window keeps no record: its bounced granules
			 * are known by their slot, in its device's pool,
			 * which knows the bytes that are the buffer's. */
			if (unlikely(v & PTE_BOUNCED)) {
				uint8_t *h = (uint8_t *)(uintptr_t)(v & ~PTE_FLAGS);
				uint64_t from = a > dma ? a : dma;
				uint64_t to = dma + len - a > b->o.granule
						      ? a + b->o.granule
						      : dma + len;

				if (!pool_contains(&b->pool, (uintptr_t)h))
					return sim_refuse(b, 0, -EINVAL, "%s: sync of 0x%" PRIx64 "+0x%zx: another device of address space %s linked 0x%" PRIx64 " through its bounce pool; only that one may sync it",
							  b->name, dma, len, b->sp->name, a);
				if (!pool_holds(&b->pool, h + (from - a),
						to - from))
					return sim_refuse(b, 0, -EINVAL, "%s: sync of 0x%" PRIx64 "+0x%zx: runs past the bytes bounced at 0x%" PRIx64 ", which the buffer holds",
							  b->name, dma, len, a);
			}
			if ((v & PTE_PERMS) != perms &&
			    (v & PTE_PERMS) != PTE_PERMS)
				return sim_refuse(b, 0, -EINVAL, "%s: sync of 0x%" PRIx64 "+0x%zx direction %d: 0x%" PRIx64 " was mapped in another direction",
						  b->name, dma, len, (int)dir, a);
		}
	}
	return 0;
}

int iommu_sync(struct dmasplit_bdev *b, uint64_t dma, size_t len,
	       enum dmasplit_dir dir, bool to_host)
{
	int r = sync_check(b, dma, len, dir);

	if (r < 0 || !b->pool.base ||
	    !(to_host ? dmasplit_dir_device_writes(dir)
		      : dmasplit_dir_device_reads(dir)))
		return r;
	while (len) {
		uint64_t run, in = dma & b->gmask, chunk = b->o.granule - in;
		uint64_t *pte = pt_leaf(&b->sp->pt, dma, false, &run);
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
