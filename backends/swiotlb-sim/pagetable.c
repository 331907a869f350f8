// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The software IOMMU's page table: a radix tree whose tables each fill one
 * granule (512 entries of 8 bytes at 4 KiB, as x86 and Arm do), as deep as
 * the DMA mask needs.  Per linked granule the cost is one 8-byte entry; a
 * walk is paid once per leaf table, not once per granule.
 *
 * Tables are never freed before the device closes: the IOVA allocator
 * hands out the lowest free addresses, so the tree stays as small as the
 * peak of live mappings, and freeing would need a count per table that
 * every link and unlink would pay for.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

int pt_init(struct pagetable *pt, unsigned int shift, unsigned int va_bits)
{
	memset(pt, 0, sizeof(*pt));
	pt->shift = shift;
	pt->bits = shift - 3;
	pt->levels = va_bits <= shift ? 1 :
		     (va_bits - shift + pt->bits - 1) / pt->bits;
	if (!pt->levels)
		pt->levels = 1;
	pt->root = aligned_alloc(1ull << shift, 1ull << shift);
	if (!pt->root)
		return -ENOMEM;
	memset(pt->root, 0, 1ull << shift);
	return 0;
}

static void free_table(uint64_t *table, unsigned int level,
		       const struct pagetable *pt)
{
	uint64_t i, n = 1ull << pt->bits;

	if (level + 1 < pt->levels)
		for (i = 0; i < n; i++)
			if (table[i])
				free_table((uint64_t *)(uintptr_t)table[i],
					   level + 1, pt);
	free(table);
}

void pt_fini(struct pagetable *pt)
{
	if (pt->root)
		free_table(pt->root, 0, pt);
	pt->root = NULL;
}

/* The child table behind *slot, created if asked and missing.  Two
 * threads may race to create it: the loser frees its copy. */
static uint64_t *child(const struct pagetable *pt, uint64_t *slot, bool alloc)
{
	uint64_t cur = __atomic_load_n(slot, __ATOMIC_ACQUIRE), fresh;
	size_t size = (size_t)1 << pt->shift;
	uint64_t *table;

	if (cur || !alloc)
		return (uint64_t *)(uintptr_t)cur;
	table = aligned_alloc(size, size);
	if (!table)
		return NULL;
	memset(table, 0, size);
	fresh = (uintptr_t)table;
	if (__atomic_compare_exchange_n(slot, &cur, fresh, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return table;
	free(table);
	return (uint64_t *)(uintptr_t)cur;
}

uint64_t *pt_leaf(struct pagetable *pt, uint64_t iova, bool alloc,
		  uint64_t *run)
{
	uint64_t mask = (1ull << pt->bits) - 1, pfn = iova >> pt->shift, idx;
	uint64_t *table = pt->root;
	unsigned int level;

	/* Also when nothing is there: callers skip the whole leaf span. */
	*run = (mask + 1) - (pfn & mask);
	if (pt->levels * pt->bits < 64 && (pfn >> (pt->levels * pt->bits)))
		return NULL;	/* beyond the IOMMU's address width */
	for (level = 0; level + 1 < pt->levels; level++) {
		unsigned int sh = pt->bits * (pt->levels - 1 - level);

		idx = sh < 64 ? (pfn >> sh) & mask : 0;
		table = child(pt, &table[idx], alloc);
		if (!table)
			return NULL;
	}
	return &table[pfn & mask];
}
