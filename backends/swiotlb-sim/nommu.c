// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The untranslated device (the kernel's dma-direct with swiotlb): the
 * device address of a buffer is its host address when the DMA mask covers
 * it, and a bounce slot below the mask when it does not (or always, with
 * bounce=force).  Nothing stands between such a device and memory, so its
 * DMA engine reaches any mapped host address under the mask: accesses go
 * through sim_host_rw(), which reports an unmapped address as EFAULT
 * instead of crashing the process.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "sim.h"

#define LOW_STEP (1ull << 20)
#define LOW_TRIES 256

static void *map_at(uint64_t hint, size_t len)
{
	void *p = mmap((void *)(uintptr_t)hint, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
		       MAP_FIXED_NOREPLACE, -1, 0);

	if (p == (void *)(uintptr_t)hint)
		return p;
	/* Kernels before 4.17 take the flag as a mere hint. */
	if (p != MAP_FAILED)
		munmap(p, len);
	return NULL;
}

/*
 * Anonymous memory wholly at or below limit.  The kernel's choice first;
 * then the highest free spots under the limit (low addresses are where a
 * program's image and heap tend to be); then ever lower halves of the
 * space, which also finds the holes that sanitizers leave between their
 * shadow regions.
 */
void *low_mmap(size_t len, uint64_t limit)
{
	uint64_t hint, step, top;
	void *p;
	int i;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	/* Where the kernel finds no room at all (an address-space limit,
	 * no hole that large), no hint finds one either. */
	if (p == MAP_FAILED)
		return NULL;
	if ((uintptr_t)p + (len - 1) <= limit)
		return p;
	munmap(p, len);
	errno = ERANGE;
	if (len - 1 > limit || limit - (len - 1) < LOW_FLOOR)
		return NULL;
	step = (len + LOW_STEP - 1) & ~(LOW_STEP - 1);
	top = (limit - (len - 1)) & ~(LOW_STEP - 1);
	for (i = 0, hint = top; i < LOW_TRIES && hint >= LOW_FLOOR;
	     i++, hint -= step) {
		p = map_at(hint, len);
		if (p)
			return p;
		if (hint < step)
			break;
	}
	for (hint = top / 2; hint >= LOW_FLOOR; hint /= 2) {
		hint &= ~(LOW_STEP - 1);
		for (i = 0; i < 16 && hint + i * step <= top; i++) {
			p = map_at(hint + i * step, len);
			if (p)
				return p;
		}
	}
	errno = ERANGE;
	return NULL;
}

/* Reached at its own address: below the mask, not forced through the
 * pool, and for an untrusted device whole granules (the kernel bounces
 * the rest for such devices, so that the device reaches no neighbour's
 * bytes through them). */
static bool direct_ok(const struct dmasplit_bdev *b, uintptr_t va, size_t len)
{
	if (b->o.force_bounce || va + (len - 1) > b->limit)
		return false;
	return !b->o.untrusted || !((va | len) & (b->o.granule - 1));
}

/* One buffer; inv: made by map_vec, so only unmap_vec takes it. */
static int map_one(struct dmasplit_bdev *b, void *vaddr, size_t len,
		   enum dmasplit_dir dir, uint32_t attrs, bool inv,
		   uint64_t *dma)
{
	uintptr_t va = (uintptr_t)vaddr;
	uint8_t *tlb;
	int r;

	if (direct_ok(b, va, len)) {
		struct held_entry e = {
			.dma = va, .len = len,
			.flags = HELD_DIRECT | (inv ? HELD_INVEC : 0) |
				 (uint32_t)dir << HELD_DIR_SHIFT,
		};

		r = held_add(&b->held, &e);
		if (r < 0)
			return sim_refuse(b, attrs, r, "%s: map of %p+0x%zx: no memory to record the mapping",
					  b->name, vaddr, len);
		*dma = va;
		return 0;
	}
	r = sim_no_peer_bounce(b, vaddr, len, attrs);
	if (r < 0)
		return r;
	r = pool_map(b, &b->pool, va, len, SLOT_SIZE, 1, va, va + len, dir,
		     attrs, &tlb);
	if (r < 0)
		return r;
	if (inv)
		pool_set_vec(&b->pool, (uintptr_t)tlb);
	*dma = (uintptr_t)tlb;
	return 0;
}

int nommu_map(struct dmasplit_bdev *b, void *vaddr, size_t len,
	      enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma)
{
	return map_one(b, vaddr, len, dir, attrs, false, dma);
}

static const char *const why_not[] = {
	[ENOENT] = "no live mapping starts there (never mapped, already unmapped, or inside another mapping)",
	[EINVAL] = "the mapping there has another length or direction, starts elsewhere, or belongs to a vector",
};

/* Claim one mapping for an unmap: 0, -ENOENT or -EINVAL. */
static int claim(struct dmasplit_bdev *b, uint64_t dma, uint64_t len,
		 enum dmasplit_dir dir, bool inv)
{
	struct held_entry e;

	if (pool_contains(&b->pool, dma))
		return pool_claim(&b->pool, dma, (size_t)len, dir, inv);
	return held_take(&b->held, dma, len,
			 HELD_DIRECT | (inv ? HELD_INVEC : 0), dir, NULL, &e);
}

/* Put back a claim; the table never shrinks, so this cannot fail. */
static void unclaim(struct dmasplit_bdev *b, uint64_t dma, uint64_t len,
		    enum dmasplit_dir dir, bool inv)
{
	struct held_entry e = {
		.dma = dma, .len = len,
		.flags = HELD_DIRECT | (inv ? HELD_INVEC : 0) |
			 (uint32_t)dir << HELD_DIR_SHIFT,
	};

	if (pool_contains(&b->pool, dma))
		pool_unclaim(&b->pool, dma);
	else
		held_add(&b->held, &e);
}

/* Take down a claimed mapping: only a bounce has anything to undo. */
static void unmap_claimed(struct dmasplit_bdev *b, uint64_t dma, uint64_t len,
			  enum dmasplit_dir dir, uint32_t attrs)
{
	if (!pool_contains(&b->pool, dma))
		return;
	if (!(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC) && dmasplit_dir_device_writes(dir))
		pool_bounce(b, &b->pool, (uint8_t *)(uintptr_t)dma, len, true);
	pool_unmap(&b->pool, (uint8_t *)(uintptr_t)dma);
}

int nommu_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		enum dmasplit_dir dir, uint32_t attrs)
{
	int r = claim(b, dma, len, dir, false);

	if (r < 0)
		return sim_refuse(b, attrs, r, "%s: unmap of %s0x%" PRIx64 "+0x%zx: %s",
				  b->name,
				  pool_contains(&b->pool, dma) ? "bounce address " : "",
				  dma, len, why_not[-r]);
	unmap_claimed(b, dma, len, dir, attrs);
	return 0;
}

static int vec_map(void *ctx, const struct iovec *buf, uint64_t *dma)
{
	struct sim_vec *v = ctx;

	return map_one(v->b, buf->iov_base, buf->iov_len, v->dir, v->attrs,
		       true, dma);
}

static int vec_record(void *ctx, const struct dmasplit_seg *segs,
		      unsigned int n)
{
	struct sim_vec *v = ctx;
	struct held_entry e = {
		.dma = segs[0].dma, .len = n,
		.cpu = (void *)(uintptr_t)vec_print(segs, n),
		.flags = HELD_VEC | (uint32_t)v->dir << HELD_DIR_SHIFT,
	};
	int r = held_add(&v->b->held, &e);

	if (r < 0)
		sim_refuse(v->b, v->attrs, r, "%s: map_vec: no memory to record the vector",
			   v->b->name);
	return r;
}

static void vec_undo(void *ctx, const struct dmasplit_seg *seg)
{
	struct sim_vec *v = ctx;

	claim(v->b, seg->dma, seg->len, v->dir, true);
	unmap_claimed(v->b, seg->dma, seg->len, v->dir,
		      DMASPLIT_ATTR_SKIP_CPU_SYNC);
}

/*
 * dma-direct maps each buffer on its own; the vector is recorded at its
 * first segment with a fingerprint, so that unmap_vec takes back exactly
 * what map_vec returned, and each segment is marked as a vector's, so
 * that no single unmap takes it.
 */
int nommu_map_vec(struct dmasplit_bdev *b, const struct iovec *iov,
		  unsigned int n, enum dmasplit_dir dir, uint32_t attrs,
		  struct dmasplit_seg *segs, unsigned int *nsegs)
{
	struct sim_vec v = { .b = b, .dir = dir, .attrs = attrs };
	int r;

	if (*nsegs < n)
		return sim_refuse(b, attrs, -ENOSPC, "%s: map_vec of %u buffers: room for %u segments",
				  b->name, n, *nsegs);
	r = dmasplit_map_each(iov, n, segs, vec_map, vec_record, vec_undo, &v);
	if (r < 0)
		return r;
	*nsegs = n;
	return 0;
}

/* Every segment is claimed before any is unmapped, so that a refused
 * vector changes nothing. */
int nommu_unmap_vec(struct dmasplit_bdev *b, const struct dmasplit_seg *segs,
		    unsigned int nsegs, enum dmasplit_dir dir, uint32_t attrs)
{
	struct held_entry v;
	unsigned int i;
	int r;

	r = held_take(&b->held, segs[0].dma, nsegs, HELD_VEC, dir,
		      (void *)(uintptr_t)vec_print(segs, nsegs), &v);
	if (r < 0)
		return sim_refuse(b, attrs, -EINVAL, "%s: unmap_vec of %u segments from 0x%" PRIx64 ": %s; nothing unmapped",
				  b->name, nsegs, segs[0].dma,
				  r == -ENOENT ? "its first segment does not start a dmasplit_map_vec vector"
					       : "not the segments map_vec returned, in its order and direction");
	for (i = 0; i < nsegs; i++)
		if (claim(b, segs[i].dma, segs[i].len, dir, true) < 0)
			break;
	if (i < nsegs) {
		while (i--)
			unclaim(b, segs[i].dma, segs[i].len, dir, true);
		held_add(&b->held, &v);
		return sim_refuse(b, attrs, -EINVAL, "%s: unmap_vec of %u segments from 0x%" PRIx64 ": segment %u is not live; nothing unmapped",
				  b->name, nsegs, segs[0].dma, i);
	}
	for (i = 0; i < nsegs; i++)
		unmap_claimed(b, segs[i].dma, segs[i].len, dir, attrs);
	return 0;
}

/*
 * A sync must lie inside one live mapping.  A bounce slot knows its
 * mapping; a direct mapping is known by its start only (an index of
 * every byte would cost a node per mapping), so a sync that starts
 * inside one is taken on trust: it copies nothing either way.
 */
static __attribute__((noinline)) int direct_sync(struct dmasplit_bdev *b,
						 uint64_t dma, size_t len)
{
	int r;

	if (dma > b->limit || len - 1 > b->limit - dma)
		return sim_refuse(b, 0, -ENOENT, "%s: sync of 0x%" PRIx64 "+0x%zx: beyond the DMA mask, never mapped",
				  b->name, dma, len);
	r = held_covers(&b->held, dma, len);
	if (r < 0)
		return sim_refuse(b, 0, r, "%s: sync of 0x%" PRIx64 "+0x%zx: %s",
				  b->name, dma, len,
				  r == -ENOENT ? "no live mapping there"
					       : "not inside one mapping (longer than any the device holds, or past the end of the only one)");
	return 0;
}

/* Two jumps, no frame: the bounce sync of a page is a copy of a page,
 * and little may stand around it (dmasplit(1), figure 3). */
int nommu_sync(struct dmasplit_bdev *b, uint64_t dma, size_t len,
	       enum dmasplit_dir dir, bool to_host)
{
	if (pool_contains(&b->pool, dma))
		return pool_sync(b, &b->pool, dma, len, dir, to_host);
	return direct_sync(b, dma, len);
}

/* dma-direct: memory the device reaches untranslated, at an address
 * aligned as coh_align() says. */
int nommu_alloc_coherent(struct dmasplit_bdev *b, size_t size, void **cpu,
			 uint64_t *dma)
{
	size_t len = coh_len(b, size), align = coh_align(size);
	struct held_entry e = { .len = size, .flags = HELD_COHERENT };
	void *p = NULL;

	errno = ENOMEM;		/* a size no alignment holds */
	if (align && sim_align_len(len, align))
		p = low_mmap(sim_align_len(len, align), b->limit);
	if (p)
		p = sim_align_trim(p, len, align);
	if (!p && errno == ERANGE) {
		sim_err(b, "%s: no %zu bytes of memory below the DMA mask",
			b->name, len);
		return -ENOMEM;
	}
	if (!p) {
		sim_err(b, "%s: no memory for %zu bytes of coherent memory: %s",
			b->name, len, strerror(errno));
		return -ENOMEM;
	}
	e.dma = (uintptr_t)p;
	e.cpu = p;
	if (held_add(&b->held, &e) < 0) {
		munmap(p, len);
		sim_err(b, "%s: no memory to record %zu bytes of coherent memory",
			b->name, len);
		return -ENOMEM;
	}
	*cpu = p;
	*dma = (uintptr_t)p;
	return 0;
}

int nommu_free_coherent(struct dmasplit_bdev *b, size_t size, void *cpu,
			uint64_t dma)
{
	size_t len = coh_len(b, size);
	struct held_entry e;
	int r;

	r = held_take_coherent(b, size, cpu, dma, &e);
	if (r < 0)
		return r;
	munmap(cpu, len);
	return 0;
}

int nommu_dma_rw(struct dmasplit_bdev *b, uint64_t dma, uint8_t *buf,
		 size_t len, bool write)
{
	struct iovec host = { (void *)(uintptr_t)dma, len };
	int r;

	if (dma > b->limit) {
		sim_fault(b, dma, write, "beyond the device's DMA mask");
		return -EFAULT;
	}
	if (len - 1 <= b->limit - dma)
		return sim_device_copy(b, dma, buf, &host, 1, len, write);
	/* Past the mask part way: the bytes below it move first, as the
	 * translated path moves those before the granule that faults. */
	host.iov_len = b->limit - dma + 1;
	r = sim_device_copy(b, dma, buf, &host, 1, host.iov_len, write);
	if (r < 0)
		return r;
	sim_fault(b, b->limit + 1, write, "beyond the device's DMA mask");
	return -EFAULT;
}
