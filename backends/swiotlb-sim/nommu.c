// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The untranslated device (the kernel's dma-direct with swiotlb): the
 * device address of a buffer is its host address when the DMA mask covers
 * it, and a bounce slot below the mask when it does not (or always, with
 * bounce=force).  Nothing stands between such a device and memory, so its
 * DMA engine reaches any mapped host address under the mask: accesses go
 * through process_vm_readv/writev, which report an unmapped address as
 * EFAULT instead of crashing the process.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sim.h"

/* Below this, mmap_min_addr and the program's own image live. */
#define LOW_FLOOR (16ull << 20)
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
	if (p != MAP_FAILED) {
		if ((uintptr_t)p + (len - 1) <= limit)
			return p;
		munmap(p, len);
	}
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
	return NULL;
}

int nommu_map(struct dmasplit_bdev *b, void *vaddr, size_t len,
	      enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma)
{
	uintptr_t va = (uintptr_t)vaddr;
	uint8_t *tlb;
	int r;

	if (!b->o.force_bounce && va + (len - 1) <= b->limit) {
		struct held_entry e = {
			.dma = va, .len = len,
			.flags = HELD_DIRECT | (uint32_t)dir << HELD_DIR_SHIFT,
		};

		r = held_add(&b->held, &e);
		if (r < 0)
			return sim_refuse(b, attrs, r, "%s: map of %p+0x%zx: no memory to record the mapping",
					  b->name, vaddr, len);
		*dma = va;
		return 0;
	}
	r = pool_map(b, &b->pool, va, len, SLOT_SIZE, 1, va, va + len, dir,
		     &tlb);
	if (r < 0)
		return r;
	*dma = (uintptr_t)tlb;
	return 0;
}

static const char *const why_not[] = {
	[ENOENT] = "no live mapping starts there (never mapped, already unmapped, or inside another mapping)",
	[EINVAL] = "the mapping there has another length or direction, or starts elsewhere",
};

int nommu_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		enum dmasplit_dir dir, uint32_t attrs)
{
	struct held_entry e;
	int r;

	if (!pool_contains(&b->pool, dma)) {
		r = held_take(&b->held, dma, len, HELD_DIRECT, dir, &e);
		if (r < 0)
			return sim_refuse(b, attrs, r, "%s: unmap of 0x%" PRIx64 "+0x%zx: %s",
					  b->name, dma, len, why_not[-r]);
		return 0;
	}
	r = pool_claim(&b->pool, dma, len, dir);
	if (r < 0)
		return sim_refuse(b, attrs, r, "%s: unmap of bounce address 0x%" PRIx64 "+0x%zx: %s",
				  b->name, dma, len, why_not[-r]);
	if (!(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC) && dmasplit_dir_device_writes(dir))
		pool_bounce(b, &b->pool, (uint8_t *)(uintptr_t)dma, len, true);
	pool_unmap(&b->pool, (uint8_t *)(uintptr_t)dma);
	return 0;
}

/* Put back what a vector unmap claimed before one of its segments was
 * refused; the table never shrinks, so putting back cannot fail. */
static void unclaim(struct dmasplit_bdev *b, const struct dmasplit_seg *seg,
		    enum dmasplit_dir dir)
{
	struct held_entry e = {
		.dma = seg->dma, .len = seg->len,
		.flags = HELD_DIRECT | (uint32_t)dir << HELD_DIR_SHIFT,
	};

	if (pool_contains(&b->pool, seg->dma))
		pool_unclaim(&b->pool, seg->dma);
	else
		held_add(&b->held, &e);
}

/*
 * Every segment is claimed before any is unmapped, so that a vector with
 * one foreign, repeated or already unmapped segment changes nothing.
 * dma-direct maps each buffer on its own, so any order is the vector.
 */
int nommu_unmap_vec(struct dmasplit_bdev *b, const struct dmasplit_seg *segs,
		    unsigned int nsegs, enum dmasplit_dir dir, uint32_t attrs)
{
	struct held_entry e;
	unsigned int i;
	int r = 0;

	for (i = 0; i < nsegs; i++) {
		if (pool_contains(&b->pool, segs[i].dma))
			r = pool_claim(&b->pool, segs[i].dma,
				       (size_t)segs[i].len, dir);
		else
			r = held_take(&b->held, segs[i].dma, segs[i].len,
				      HELD_DIRECT, dir, &e);
		if (r < 0)
			break;
	}
	if (r < 0) {
		sim_refuse(b, attrs, r, "%s: unmap_vec: segment %u (0x%" PRIx64 "+0x%" PRIx64 "): %s; nothing unmapped",
			   b->name, i, segs[i].dma, segs[i].len, why_not[-r]);
		while (i--)
			unclaim(b, &segs[i], dir);
		return -EINVAL;
	}
	for (i = 0; i < nsegs; i++) {
		uint8_t *tlb = (uint8_t *)(uintptr_t)segs[i].dma;

		if (!pool_contains(&b->pool, segs[i].dma))
			continue;
		if (!(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC) &&
		    dmasplit_dir_device_writes(dir))
			pool_bounce(b, &b->pool, tlb, segs[i].len, true);
		pool_unmap(&b->pool, tlb);
	}
	return 0;
}

/*
 * A sync must lie inside one live mapping.  A bounce slot knows its
 * mapping; a direct mapping is known by its start only (an index of
 * every byte would cost a node per mapping), so a sync that starts
 * inside one is taken on trust: it copies nothing either way.
 */
int nommu_sync(struct dmasplit_bdev *b, uint64_t dma, size_t len,
	       enum dmasplit_dir dir, bool to_host)
{
	int r;

	if (pool_contains(&b->pool, dma)) {
		r = pool_covers(&b->pool, dma, len, dir);
		if (r < 0)
			return sim_refuse(b, 0, r, "%s: sync of bounce address 0x%" PRIx64 "+0x%zx: %s",
					  b->name, dma, len,
					  r == -ENOENT ? "no live mapping there"
						       : "not inside one mapping made in that direction");
		if (to_host ? dmasplit_dir_device_writes(dir)
			    : dmasplit_dir_device_reads(dir))
			pool_bounce(b, &b->pool, (uint8_t *)(uintptr_t)dma,
				    len, to_host);
		return 0;
	}
	if (dma > b->limit || len - 1 > b->limit - dma)
		return sim_refuse(b, 0, -ENOENT, "%s: sync of 0x%" PRIx64 "+0x%zx: beyond the DMA mask, never mapped",
				  b->name, dma, len);
	r = held_covers(&b->held, dma, len);
	if (r == -EINVAL)
		return sim_refuse(b, 0, r, "%s: sync of 0x%" PRIx64 "+0x%zx: longer than the mapping there",
				  b->name, dma, len);
	return 0;
}

/* dma-direct: memory the device reaches untranslated. */
int nommu_alloc_coherent(struct dmasplit_bdev *b, size_t size, void **cpu,
			 uint64_t *dma)
{
	size_t len = (size + 4095) & ~(size_t)4095;
	struct held_entry e = { .len = len, .flags = HELD_COHERENT };
	void *p;

	p = low_mmap(len, b->limit);
	if (!p) {
		sim_err(b, "%s: no %zu bytes of memory below the DMA mask",
			b->name, len);
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
	size_t len = (size + 4095) & ~(size_t)4095;
	struct held_entry e;
	int r;

	r = held_take(&b->held, dma, len, HELD_COHERENT, DMASPLIT_BIDIRECTIONAL,
		      &e);
	if (r == 0 && e.cpu != cpu) {
		held_add(&b->held, &e);
		r = -EINVAL;
	}
	if (r < 0)
		return sim_refuse(b, 0, r, "%s: free_coherent of %p at 0x%" PRIx64 " (%zu bytes): %s",
				  b->name, cpu, dma, size,
				  r == -ENOENT ? "no coherent memory there"
					       : "allocated with another size or CPU address");
	munmap(cpu, len);
	return 0;
}

int nommu_dma_rw(struct dmasplit_bdev *b, uint64_t dma, uint8_t *buf,
		 size_t len, bool write)
{
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)dma, len };
	ssize_t n;

	if (dma > b->limit || len - 1 > b->limit - dma) {
		sim_fault(b, dma, write, "beyond the device's DMA mask");
		return -EFAULT;
	}
	n = write ? process_vm_writev(getpid(), &local, 1, &remote, 1, 0)
		  : process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	if (n != (ssize_t)len) {
		sim_fault(b, dma, write, "no memory at this address");
		return -EFAULT;
	}
	return 0;
}
