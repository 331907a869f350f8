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
		*dma = va;
		return 0;
	}
	r = sim_no_peer_bounce(b, vaddr, len, attrs);
	if (r < 0)
		return r;
	r = pool_map(b, &b->pool, va, len, SLOT_SIZE, 1, va, va + len, &tlb);
	if (r < 0)
		return r;
	*dma = (uintptr_t)tlb;
	return 0;
}

int nommu_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		enum dmasplit_dir dir, uint32_t attrs)
{
	if (!pool_contains(&b->pool, dma)) {
		/* A direct mapping: nothing to undo. */
		if (dma + (len - 1) > b->limit) {
			sim_err(b, "%s: unmap of 0x%" PRIx64 ": beyond the DMA mask, never mapped",
				b->name, dma);
			return -ENOENT;
		}
		return 0;
	}
	if (!(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC) && dmasplit_dir_device_writes(dir))
		pool_bounce(b, &b->pool, (uint8_t *)(uintptr_t)dma, len, true);
	pool_unmap(&b->pool, (uint8_t *)(uintptr_t)dma);
	return 0;
}

int nommu_sync(struct dmasplit_bdev *b, uint64_t dma, size_t len,
	       bool to_host)
{
	if (pool_contains(&b->pool, dma))
		pool_bounce(b, &b->pool, (uint8_t *)(uintptr_t)dma, len,
			    to_host);
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
