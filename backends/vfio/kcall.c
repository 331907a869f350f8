// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel calls both interfaces share, with their accounting, and the
 * device's address space: the IOVA allocator over the usable ranges.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "vfio.h"

const char *memlock_hint(int r, char *buf, size_t len)
{
	struct rlimit rl;

	if (r != -ENOMEM || getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return "";
	if (rl.rlim_cur == RLIM_INFINITY)
		snprintf(buf, len, " (RLIMIT_MEMLOCK unlimited)");
	else
		snprintf(buf, len, " (RLIMIT_MEMLOCK %llu bytes, which pinned pages count against)",
			 (unsigned long long)rl.rlim_cur);
	return buf;
}

int kmap(struct dmasplit_bdev *b, uint64_t iova, uintptr_t va, uint64_t len,
	 unsigned int prot, uint32_t attrs)
{
	bool quiet = attrs & DMASPLIT_ATTR_NO_WARN;
	char hint[80];
	int r;

	/* type1 refuses the entry past its limit with a bare ENOSPC; say
	 * what it is before the kernel has to. */
	if (b->sp->map_limit && b->sp->kernel_maps >= b->sp->map_limit) {
		if (!quiet)
			vfio_err(b, "%s: the type1 container holds its limit of %" PRIu32 " mappings (vfio_iommu_type1 dma_entry_limit); link contiguous memory in one link, use unlink=lazy so that iova_sync coalesces links, or raise the limit",
				 b->name, b->sp->map_limit);
		return -ENOSPC;
	}
	b->sp->kernel_calls++;
	r = b->sp->k->map(b, iova, va, len, prot);
	if (r == 0) {
		b->sp->kernel_maps++;
		b->sp->bytes_mapped += len;
	} else if (!quiet) {
		vfio_err(b, "%s: %s iova 0x%" PRIx64 " length 0x%" PRIx64 " vaddr 0x%" PRIxPTR ": %s%s",
			 b->name, b->sp->k->map_call, iova, len, va,
			 strerror(-r), memlock_hint(r, hint, sizeof(hint)));
	}
	return r;
}

int kunmap(struct dmasplit_bdev *b, uint64_t iova, uint64_t len,
	   uint64_t mappings, uint64_t bytes)
{
	int r;

	b->sp->kernel_calls++;
	r = b->sp->k->unmap(b, iova, len);
	if (r == 0) {
		b->sp->kernel_maps -= mappings;
		b->sp->bytes_mapped -= bytes;
	}
	return r;
}

int iova_get(struct dmasplit_bdev *b, uint64_t size, uint64_t *addr,
	     uint32_t attrs)
{
	int r = b->host->iovad_alloc(b->sp->iovad, size, b->sp->limit, addr);

	if (r == -ENOSPC && !(attrs & DMASPLIT_ATTR_NO_WARN))
		vfio_err(b, "%s: no %" PRIu64 " bytes of usable IOVA space left below 0x%" PRIx64 " (the smallest DMA mask in the address space)",
			 b->name, size, b->sp->limit);
	return r;
}

/*
 * The core's aligned lowest fit where it has one.  An older core's
 * allocator has no alignment: take align - granule more (which needs
 * that much more room below the mask) and give back what lies before and
 * after the aligned part.  The tail first: it meets the free block the
 * allocation was cut from, or takes the node that block left spare if it
 * was used up, so it needs no memory.  The head may; without it, the
 * head goes back with the aligned part, which then meets the tail, and
 * the call fails.
 */
int iova_get_aligned(struct dmasplit_bdev *b, uint64_t size, uint64_t align,
		     uint64_t *addr)
{
	const struct dmasplit_host *h = b->host;
	uint64_t over = size + align - b->sp->granule, at, a;
	int r;

	if (DMASPLIT_HOST_HAS(h, iovad_alloc_aligned) && h->iovad_alloc_aligned) {
		r = h->iovad_alloc_aligned(b->sp->iovad, size, align,
					   b->sp->limit, addr);
	} else if (over < size) {
		r = -ENOSPC;
	} else {
		r = h->iovad_alloc(b->sp->iovad, over, b->sp->limit, &at);
		if (r < 0)
			goto out;
		a = (at + align - 1) & ~(align - 1);
		if (a + size < at + over)
			iova_put(b, a + size, at + over - (a + size));
		if (a > at && h->iovad_free(b->sp->iovad, at, a - at) < 0) {
			iova_put(b, at, a + size - at);
			return -ENOMEM;
		}
		*addr = a;
	}
out:
	if (r == -ENOSPC)
		vfio_err(b, "%s: no %" PRIu64 " bytes of usable IOVA space aligned to 0x%" PRIx64 " left below 0x%" PRIx64 " (the smallest DMA mask in the address space)",
			 b->name, size, align, b->sp->limit);
	return r;
}

/* Callers are undoing or tearing down and cannot fail; a refusal here
 * means the backend's own bookkeeping is wrong, which is worth a line. */
void iova_put(struct dmasplit_bdev *b, uint64_t addr, uint64_t size)
{
	int r = b->host->iovad_free(b->sp->iovad, addr, size);

	if (r < 0)
		vfio_err(b, "%s: IOVA 0x%" PRIx64 "+0x%" PRIx64 " not given back to the allocator: %s",
			 b->name, addr, size, strerror(-r));
}

unsigned int ranges_below(const struct dmasplit_range *r, unsigned int n,
			  uint64_t granule, uint64_t limit,
			  struct dmasplit_range *out, unsigned int max,
			  unsigned int *total)
{
	unsigned int i, k = 0, all = 0;

	for (i = 0; i < n; i++) {
		struct dmasplit_range x = r[i];

		/* Address 0 is never handed out. */
		if (x.start < granule)
			x.start = granule;
		if (x.last > limit)
			x.last = limit;
		if (x.start > x.last)
			continue;
		all++;
		if (k < max)
			out[k++] = x;
	}
	*total = all;
	return k;
}

int vfio_get_ranges(struct dmasplit_bdev *b, struct dmasplit_range *ranges,
		    unsigned int *n)
{
	unsigned int total;

	pthread_mutex_lock(&b->sp->lock);
	ranges_below(b->sp->ranges, b->sp->num_ranges, b->sp->granule,
		     b->sp->limit, ranges, *n, &total);
	pthread_mutex_unlock(&b->sp->lock);
	if (total > *n) {
		*n = total;
		return -ENOSPC;
	}
	*n = total;
	return 0;
}
