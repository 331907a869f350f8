// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel calls both interfaces share, with their accounting, and the
 * device's address space: the IOVA allocator over the usable ranges.
 */
#include <errno.h>
#include <inttypes.h>

#include "vfio.h"

int kmap(struct dmasplit_bdev *b, uint64_t iova, uintptr_t va, uint64_t len,
	 unsigned int prot)
{
	int r;

	/* type1 refuses the entry past its limit with a bare ENOSPC; say
	 * what it is before the kernel has to. */
	if (b->map_limit && b->kernel_maps >= b->map_limit) {
		vfio_err(b, "%s: the type1 container holds its limit of %" PRIu32 " mappings (vfio_iommu_type1 dma_entry_limit); link contiguous memory in one link, use unlink=lazy so that iova_sync coalesces links, or raise the limit",
			 b->name, b->map_limit);
		return -ENOSPC;
	}
	b->kernel_calls++;
	r = b->k->map(b, iova, va, len, prot);
	if (r == 0) {
		b->kernel_maps++;
		b->bytes_mapped += len;
	}
	return r;
}

int kunmap(struct dmasplit_bdev *b, uint64_t iova, uint64_t len,
	   uint64_t mappings, uint64_t bytes)
{
	int r;

	b->kernel_calls++;
	r = b->k->unmap(b, iova, len);
	if (r == 0) {
		b->kernel_maps -= mappings;
		b->bytes_mapped -= bytes;
	}
	return r;
}

int iova_get(struct dmasplit_bdev *b, uint64_t size, uint64_t *addr)
{
	int r = b->host->iovad_alloc(b->iovad, size, b->limit, addr);

	if (r == -ENOSPC)
		vfio_err(b, "%s: no %" PRIu64 " bytes of usable IOVA space left below the DMA mask (%u bits)",
			 b->name, size, b->mask_bits);
	return r;
}

void iova_put(struct dmasplit_bdev *b, uint64_t addr, uint64_t size)
{
	b->host->iovad_free(b->iovad, addr, size);
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
