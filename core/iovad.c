// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device-address allocator shared by backends (host->iovad_*).  Free space
 * is a treap of disjoint free blocks; allocation takes the lowest block that
 * fits, so addresses stay low and within narrow DMA masks (the edu device
 * reaches only 28 bits).  Because every block starts and ends on a granule
 * boundary and sizes are granule multiples, "the lowest block at least
 * size long" is exactly the lowest fit, found in one descent.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

/* Blocks are rewritten on every allocation and free: each gets cache
 * lines of its own (zalloc_cacheline), so that the allocators of two
 * devices used by two threads do not share any. */
struct free_block {
	struct itree_node node;
};

struct dmasplit_iovad {
	const struct dmasplit_host *host;
	struct itree free;
	uint64_t granule;
	unsigned int num_ranges;
	struct dmasplit_range *ranges;	/* usable, granule-aligned */
};

static _must_check_ int add_free(struct dmasplit_iovad *iovad, uint64_t start,
				 uint64_t last)
{
	struct itree_node *prev, *next;
	struct free_block *b;

	if (itree_first_overlap(&iovad->free, start, last))
		return -EINVAL;

	/* Coalesce with neighbours so the tree holds maximal blocks. */
	prev = start ? itree_find_le(&iovad->free, start - 1) : NULL;
	next = last < UINT64_MAX ? itree_find_le(&iovad->free, last + 1) : NULL;
	if (next && next->start != last + 1)
		next = NULL;
	if (prev && prev->last + 1 == start) {
		itree_remove(&iovad->free, prev);
		prev->last = last;
		if (next) {
			itree_remove(&iovad->free, next);
			prev->last = next->last;
			free(container_of(next, struct free_block, node));
		}
		itree_insert(&iovad->free, prev);
		return 0;
	}
	if (next) {
		itree_remove(&iovad->free, next);
		next->start = start;
		itree_insert(&iovad->free, next);
		return 0;
	}
	b = zalloc_cacheline(sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->node.start = start;
	b->node.last = last;
	itree_insert(&iovad->free, &b->node);
	return 0;
}

int iovad_new(const struct dmasplit_host *host,
	      const struct dmasplit_range *ranges, unsigned int n,
	      uint64_t granule, struct dmasplit_iovad **out)
{
	struct dmasplit_iovad *iovad;
	unsigned int i;
	int r;

	if (!host || !ranges || !n || !out || !is_pow2(granule))
		return -EINVAL;
	iovad = zalloc_cacheline(sizeof(*iovad));
	if (!iovad)
		return -ENOMEM;
	iovad->host = host;
	iovad->granule = granule;
	iovad->ranges = calloc(n, sizeof(*iovad->ranges));
	if (!iovad->ranges) {
		free(iovad);
		return -ENOMEM;
	}

	for (i = 0; i < n; i++) {
		/* Address 0 is never handed out: many devices read it as
		 * "no address". */
		uint64_t start = ranges[i].start < granule ? granule
							    : ranges[i].start;
		uint64_t last = ranges[i].last;

		if (ranges[i].last < ranges[i].start) {
			r = -EINVAL;
			goto fail;
		}
		start = (start + granule - 1) & ~(granule - 1);
		if (start < granule)	/* rounding wrapped */
			continue;
		/* The end rounds down to a granule boundary; a range ending
		 * at 2^64 - 1 already does. */
		if (last != UINT64_MAX) {
			uint64_t end = (last + 1) & ~(granule - 1);

			if (!end)
				continue;
			last = end - 1;
		}
		if (last < start)
			continue;
		r = add_free(iovad, start, last);
		if (r < 0)
			goto fail;
		iovad->ranges[iovad->num_ranges].start = start;
		iovad->ranges[iovad->num_ranges++].last = last;
	}
	if (!iovad->free.root) {
		r = -EINVAL;
		goto fail;
	}
	*out = iovad;
	return 0;
fail:
	iovad_destroy(iovad);
	return r;
}

void iovad_destroy(struct dmasplit_iovad *iovad)
{
	struct itree_node *n;

	if (!iovad)
		return;
	while ((n = iovad->free.root)) {
		itree_remove(&iovad->free, n);
		free(container_of(n, struct free_block, node));
	}
	free(iovad->ranges);
	free(iovad);
}

int iovad_alloc(struct dmasplit_iovad *iovad, uint64_t size, uint64_t limit,
		uint64_t *addr)
{
	struct itree_node *n;

	if (!iovad || !addr || !size || (size & (iovad->granule - 1)))
		return -EINVAL;
	n = itree_first_fit(&iovad->free, size);
	if (!n || n->start + (size - 1) > limit)
		return -ENOSPC;
	*addr = n->start;
	itree_remove(&iovad->free, n);
	if (n->last - n->start + 1 == size) {
		free(container_of(n, struct free_block, node));
	} else {
		n->start += size;
		itree_insert(&iovad->free, n);
	}
	return 0;
}

static bool in_ranges(const struct dmasplit_iovad *iovad, uint64_t start,
		      uint64_t last)
{
	unsigned int i;

	for (i = 0; i < iovad->num_ranges; i++)
		if (start >= iovad->ranges[i].start &&
		    last <= iovad->ranges[i].last)
			return true;
	return false;
}

int iovad_free(struct dmasplit_iovad *iovad, uint64_t addr, uint64_t size)
{
	if (!iovad || range_bad(addr, size) ||
	    ((addr | size) & (iovad->granule - 1)) ||
	    !in_ranges(iovad, addr, addr + size - 1))
		return -EINVAL;
	/* Overlap with free space means a double free or a foreign range. */
	return add_free(iovad, addr, addr + size - 1);
}

int iovad_reserve(struct dmasplit_iovad *iovad, uint64_t addr, uint64_t size)
{
	uint64_t last, g;
	struct itree_node *n;

	if (!iovad || range_bad(addr, size))
		return -EINVAL;
	/* Reserve whole granules covering the range, whatever part of it is
	 * free: reserved regions (MSI windows) need not be aligned. */
	g = iovad->granule;
	last = addr + size - 1;
	addr &= ~(g - 1);
	last |= g - 1;
	while ((n = itree_first_overlap(&iovad->free, addr, last))) {
		itree_remove(&iovad->free, n);
		if (n->start < addr && n->last > last) {
			struct free_block *tail = zalloc_cacheline(sizeof(*tail));

			if (!tail) {
				itree_insert(&iovad->free, n);
				return -ENOMEM;
			}
			tail->node.start = last + 1;
			tail->node.last = n->last;
			n->last = addr - 1;
			itree_insert(&iovad->free, n);
			itree_insert(&iovad->free, &tail->node);
			break;
		}
		if (n->start < addr) {
			n->last = addr - 1;
			itree_insert(&iovad->free, n);
		} else if (n->last > last) {
			n->start = last + 1;
			itree_insert(&iovad->free, n);
		} else {
			free(container_of(n, struct free_block, node));
		}
	}
	return 0;
}

/* Free blocks are maximal (add_free coalesces): a range's top is free
 * exactly as far down as the block holding its last address reaches. */
int iovad_last_used(struct dmasplit_iovad *iovad, uint64_t *last)
{
	bool found = false;
	uint64_t best = 0;
	unsigned int i;

	if (!iovad || !last)
		return -EINVAL;
	for (i = 0; i < iovad->num_ranges; i++) {
		const struct dmasplit_range *r = &iovad->ranges[i];
		struct itree_node *n = itree_find_le(&iovad->free, r->last);
		uint64_t top;

		if (!n || n->last < r->last)
			top = r->last;
		else if (n->start > r->start)
			top = n->start - 1;
		else
			continue;
		if (!found || top > best)
			best = top;
		found = true;
	}
	if (!found)
		return -ENOENT;
	*last = best;
	return 0;
}
