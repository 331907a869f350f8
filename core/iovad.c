// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device-address allocator shared by backends (host->iovad_*).  Free space
 * is a treap of disjoint, maximal free blocks ordered by address, each
 * node carrying one aggregate: the longest block in its subtree.
 * Allocation takes the lowest block that fits, so addresses stay low and
 * within narrow DMA masks (the edu device reaches only 28 bits).  Because
 * every block starts and ends on a granule boundary and sizes are granule
 * multiples, "the lowest block at least size long" is exactly the lowest
 * fit, found in one descent that enters only subtrees holding a block
 * long enough.
 *
 * The highest free block, most often the untouched rest of the space, is
 * kept out of the tree (top): every block in the tree lies below it, so
 * when no block in the tree fits (the root's aggregate says so in one
 * test) top is the lowest fit, and carving from it or giving back the
 * range just below it changes no aggregate.  Among many small holes an
 * allocation larger than any of them so costs the same whatever their
 * number; one that fits a hole takes the descent.
 *
 * Blocks never overlap, so carving an allocation off the front of a block,
 * or growing a block by a neighbouring free range, leaves it where it is
 * in the order: such changes are made in place, and only the aggregates
 * on the way up to the root are recomputed, stopping where one no longer
 * changes.  Nodes are taken out of and put into the tree only when a
 * block is used up, appears, or two merge.  Nodes have parent pointers,
 * so no operation needs a stack or recursion.
 *
 * An allocation leaves a finger on the subtree it carved its range from
 * (or, when it used a block up, on the subtree that took the block's
 * place), with the two blocks that bound that subtree in address order:
 * its descent passed them.  A free whose range lies between those bounds
 * (most often the range just allocated) searches that subtree only, not
 * the tree from its root, so the free of a window costs about the same
 * among 50000 holes as among 500, and only the allocation's descent
 * grows with their number.  Putting a node into the tree moves subtrees:
 * it forgets the finger; growing or shrinking a block does not.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

/* Blocks are rewritten on every allocation and free: each gets cache
 * lines of its own (zalloc_cacheline), so that the allocators of two
 * devices used by two threads do not share any. */
struct free_block {
	struct free_block *left, *right, *parent;
	uint64_t start;
	uint64_t last;		/* inclusive */
	uint64_t max_len;	/* the longest block in this subtree, less 1 */
	uint32_t prio;
};

/* Nodes kept for reuse rather than freed: a free that makes a new block
 * and an allocation that uses one up come in pairs. */
#define SPARE_MAX 32

struct dmasplit_iovad {
	const struct dmasplit_host *host;
	struct free_block *root;
	struct free_block *top;		/* above every block in the tree */
	struct free_block *tree_max;	/* the highest block in the tree */
	/* The finger: when finger_set, a subtree (finger, maybe empty) of
	 * the blocks between finger_lo and finger_hi (NULL: no bound). */
	struct free_block *finger, *finger_lo, *finger_hi;
	bool finger_set;
	struct free_block *spare;	/* linked through ->right */
	unsigned int nspare;
	uint32_t seed;
	uint64_t granule;
	unsigned int num_ranges;
	struct dmasplit_range *ranges;	/* usable, granule-aligned */
};

/* Lengths less one: last - start cannot overflow, whatever the block. */
static uint64_t len1(const struct free_block *b)
{
	return b->last - b->start;
}

static uint64_t subtree_max(const struct free_block *b)
{
	uint64_t m = len1(b);

	if (b->left && b->left->max_len > m)
		m = b->left->max_len;
	if (b->right && b->right->max_len > m)
		m = b->right->max_len;
	return m;
}

/* After b's own length or children changed: fix the aggregates from b up,
 * as far as they change. */
static void fix_up(struct free_block *b)
{
	while (b) {
		uint64_t m = subtree_max(b);

		if (m == b->max_len)
			return;
		b->max_len = m;
		b = b->parent;
	}
}

static void replace_child(struct dmasplit_iovad *iovad, struct free_block *p,
			  struct free_block *old, struct free_block *new)
{
	if (!p)
		iovad->root = new;
	else if (p->left == old)
		p->left = new;
	else
		p->right = new;
	if (new)
		new->parent = p;
}

/* Lift x above its parent.  The subtree keeps its blocks, so aggregates
 * above it stay right. */
static void rotate_up(struct dmasplit_iovad *iovad, struct free_block *x)
{
	struct free_block *p = x->parent, *mid;

	replace_child(iovad, p->parent, p, x);
	if (p->left == x) {
		mid = x->right;
		p->left = mid;
		x->right = p;
	} else {
		mid = x->left;
		p->right = mid;
		x->left = p;
	}
	if (mid)
		mid->parent = p;
	p->parent = x;
	p->max_len = subtree_max(p);
	x->max_len = subtree_max(x);
}

/* xorshift32: priorities need only be independent of the keys. */
static uint32_t next_prio(struct dmasplit_iovad *iovad)
{
	uint32_t x = iovad->seed ? iovad->seed : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	iovad->seed = x;
	return x;
}

/* b between neighbours prev and next (either may be NULL), found by the
 * caller's descent: b goes where that descent ended, under whichever of
 * them is the deeper, as the lower's right or the upper's left child. */
static void insert_block(struct dmasplit_iovad *iovad, struct free_block *b,
			 struct free_block *prev, struct free_block *next)
{
	iovad->finger_set = false;
	b->left = b->right = NULL;
	b->prio = next_prio(iovad);
	b->max_len = len1(b);
	if (!iovad->tree_max || b->start > iovad->tree_max->start)
		iovad->tree_max = b;
	if (prev && !prev->right) {
		prev->right = b;
		b->parent = prev;
	} else if (next && !next->left) {
		next->left = b;
		b->parent = next;
	} else {
		b->parent = NULL;
		iovad->root = b;
	}
	fix_up(b->parent);
	while (b->parent && b->parent->prio < b->prio)
		rotate_up(iovad, b);
}

/* Returns the subtree (maybe empty) that took b's place: it holds the
 * blocks b's subtree held, b apart. */
static struct free_block *remove_block(struct dmasplit_iovad *iovad,
				       struct free_block *b)
{
	struct free_block *child, *p, *lifted = NULL;

	iovad->finger_set = false;
	if (b == iovad->tree_max) {
		/* The highest has no right child: the next highest is the
		 * greatest in its left subtree, or else its parent. */
		p = b->left;
		if (p)
			while (p->right)
				p = p->right;
		else
			p = b->parent;
		iovad->tree_max = p;
	}
	/* Rotate b down until it has at most one child, then splice. */
	while (b->left && b->right) {
		struct free_block *c = b->left->prio > b->right->prio
				       ? b->left : b->right;

		rotate_up(iovad, c);
		if (!lifted)
			lifted = c;
	}
	child = b->left ? b->left : b->right;
	p = b->parent;
	replace_child(iovad, p, b, child);
	/* p's aggregate counted b: recompute from there. */
	fix_up(p);
	return lifted ? lifted : child;
}

static struct free_block *new_block(struct dmasplit_iovad *iovad)
{
	struct free_block *b = iovad->spare;

	if (b) {
		iovad->spare = b->right;
		iovad->nspare--;
		return b;
	}
	return zalloc_cacheline(sizeof(*b));
}

static void drop_block(struct dmasplit_iovad *iovad, struct free_block *b)
{
	if (iovad->nspare < SPARE_MAX) {
		b->right = iovad->spare;
		iovad->spare = b;
		iovad->nspare++;
		return;
	}
	free(b);
}

/* The blocks around [start, last] in one descent: *prev the one with the
 * greatest start <= last, *next the lowest with start > last.  From the
 * finger when last lies between its bounds, else from the root. */
static void neighbours(const struct dmasplit_iovad *iovad, uint64_t last,
		       struct free_block **prev, struct free_block **next)
{
	struct free_block *n = iovad->root;

	*prev = *next = NULL;
	if (iovad->finger_set &&
	    (!iovad->finger_lo || iovad->finger_lo->start <= last) &&
	    (!iovad->finger_hi || iovad->finger_hi->start > last)) {
		*prev = iovad->finger_lo;
		*next = iovad->finger_hi;
		n = iovad->finger;
	}
	while (n) {
		if (n->start <= last) {
			*prev = n;
			n = n->right;
		} else {
			*next = n;
			n = n->left;
		}
	}
}

/* [start, last] into the tree, which holds no block above it. */
static _must_check_ int tree_add_free(struct dmasplit_iovad *iovad,
				      uint64_t start, uint64_t last)
{
	struct free_block *below, *above, *prev, *next, *b;

	neighbours(iovad, last, &below, &above);
	prev = below;
	next = above;
	/* Overlap with free space: a block starting at or below last that
	 * reaches start.  Only the highest such start can (disjointness). */
	if (prev && prev->last >= start)
		return -EINVAL;
	/* Coalesce with neighbours so the tree holds maximal blocks. */
	if (prev && prev->last + 1 != start)
		prev = NULL;
	if (next && next->start != last + 1)
		next = NULL;
	if (prev && next) {
		uint64_t top = next->last;

		remove_block(iovad, next);
		drop_block(iovad, next);
		prev->last = top;
		fix_up(prev);
		return 0;
	}
	if (prev) {
		prev->last = last;
		fix_up(prev);
		return 0;
	}
	if (next) {
		next->start = start;
		fix_up(next);
		return 0;
	}
	b = new_block(iovad);
	if (!b)
		return -ENOMEM;
	b->start = start;
	b->last = last;
	insert_block(iovad, b, below, above);
	return 0;
}

/* The old top, if any, goes into the tree below the new one. */
static void top_replace(struct dmasplit_iovad *iovad, struct free_block *b)
{
	struct free_block *old = iovad->top, *below, *above;

	iovad->top = b;
	if (!old)
		return;
	neighbours(iovad, old->last, &below, &above);
	insert_block(iovad, old, below, above);
}

/* Free space is maximal blocks: [start, last] joins what it touches. */
static _must_check_ int add_free(struct dmasplit_iovad *iovad, uint64_t start,
				 uint64_t last)
{
	struct free_block *top = iovad->top, *below = iovad->tree_max, *b;

	if (top && last >= top->start && start <= top->last)
		return -EINVAL;		/* overlaps top */
	if (top && last + 1 == top->start) {
		if (below && below->last >= start)
			return -EINVAL;
		top->start = start;
		if (below && below->last + 1 == start) {
			top->start = below->start;
			remove_block(iovad, below);
			drop_block(iovad, below);
		}
		return 0;
	}
	if (top && start == top->last + 1) {
		top->last = last;
		return 0;
	}
	/* Above everything free, apart from it: the new top. */
	if ((top && start > top->last) ||
	    (!top && (!below || start > below->last + 1))) {
		b = new_block(iovad);
		if (!b)
			return -ENOMEM;
		b->start = start;
		b->last = last;
		top_replace(iovad, b);
		return 0;
	}
	return tree_add_free(iovad, start, last);
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
	if (!iovad->top) {
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
	struct free_block *n, *p;

	if (!iovad)
		return;
	/* Post-order, through the parent pointers. */
	n = iovad->root;
	while (n) {
		if (n->left) {
			n = n->left;
		} else if (n->right) {
			n = n->right;
		} else {
			p = n->parent;
			if (p && p->left == n)
				p->left = NULL;
			else if (p)
				p->right = NULL;
			free(n);
			n = p;
		}
	}
	free(iovad->top);
	while ((n = iovad->spare)) {
		iovad->spare = n->right;
		free(n);
	}
	free(iovad->ranges);
	free(iovad);
}

/* The lowest block at least len long (len less one: len1), or NULL.
 * The descent enters a subtree only if it holds such a block; top is
 * above every block of the tree.  *lo and *hi: the blocks bounding the
 * subtree of a block found in the tree. */
static struct free_block *first_fit(const struct dmasplit_iovad *iovad,
				    uint64_t len1, struct free_block **lo,
				    struct free_block **hi)
{
	struct free_block *n = iovad->root;

	*lo = *hi = NULL;
	if (!n || n->max_len < len1) {
		n = iovad->top;
		return n && n->last - n->start >= len1 ? n : NULL;
	}
	for (;;) {
		if (n->left && n->left->max_len >= len1) {
			*hi = n;
			n = n->left;
		} else if (n->last - n->start >= len1) {
			return n;
		} else {
			*lo = n;
			n = n->right;	/* holds it: the aggregate says so */
		}
	}
}

/* The finger on subtree n, between lo and hi. */
static void set_finger(struct dmasplit_iovad *iovad, struct free_block *n,
		       struct free_block *lo, struct free_block *hi)
{
	iovad->finger = n;
	iovad->finger_lo = lo;
	iovad->finger_hi = hi;
	iovad->finger_set = true;
}

int iovad_alloc(struct dmasplit_iovad *iovad, uint64_t size, uint64_t limit,
		uint64_t *addr)
{
	struct free_block *n, *lo, *hi;

	if (!iovad || !addr || !size || (size & (iovad->granule - 1)))
		return -EINVAL;
	/* The lowest fit overall: if it ends above limit, every other fit,
	 * higher up, does too. */
	n = first_fit(iovad, size - 1, &lo, &hi);
	if (!n || n->start + (size - 1) > limit)
		return -ENOSPC;
	*addr = n->start;
	if (n == iovad->top) {
		if (n->last - n->start == size - 1) {
			iovad->top = NULL;
			drop_block(iovad, n);
		} else {
			n->start += size;
		}
	} else if (n->last - n->start == size - 1) {
		set_finger(iovad, remove_block(iovad, n), lo, hi);
		drop_block(iovad, n);
	} else {
		n->start += size;	/* still between its neighbours */
		fix_up(n);
		set_finger(iovad, n, lo, hi);
	}
	return 0;
}

/* The lowest multiple of align a with [a, a + len1] inside n. */
static bool aligned_in(const struct free_block *n, uint64_t len1,
		       uint64_t align, uint64_t *a)
{
	uint64_t s = (n->start + (align - 1)) & ~(align - 1);

	if (s < n->start || s > n->last || n->last - s < len1)
		return false;
	*a = s;
	return true;
}

/* In address order, the lowest block of the subtree at n that holds an
 * aligned fit: only subtrees whose aggregate says a block is long enough
 * are entered, but a long enough block may still not hold one, so this
 * is a walk, not a descent.  Recursion as deep as the treap. */
static struct free_block *aligned_fit(struct free_block *n, uint64_t len1,
				      uint64_t align, uint64_t *a)
{
	struct free_block *f;

	for (; n && n->max_len >= len1; n = n->right) {
		f = aligned_fit(n->left, len1, align, a);
		if (f)
			return f;
		if (aligned_in(n, len1, align, a))
			return n;
	}
	return NULL;
}

int iovad_alloc_aligned(struct dmasplit_iovad *iovad, uint64_t size,
			uint64_t align, uint64_t limit, uint64_t *addr)
{
	struct free_block *n;
	uint64_t a = 0;
	int r;

	if (!iovad || !addr || !size || (size & (iovad->granule - 1)) ||
	    align < iovad->granule || (align & (align - 1)))
		return -EINVAL;
	/* Lowest fit: if it ends above limit, every other, higher, does. */
	n = aligned_fit(iovad->root, size - 1, align, &a);
	if (!n && !(iovad->top && aligned_in(iovad->top, size - 1, align, &a)))
		return -ENOSPC;
	if (a + (size - 1) > limit)
		return -ENOSPC;
	/* Free throughout, inside one block: a reservation carves exactly
	 * it, the block's rest staying free on either side. */
	r = iovad_reserve(iovad, a, size);
	if (r == 0)
		*addr = a;
	return r;
}

/* [start, last] inside the usable ranges: one, or several that meet
 * end to end, which the allocator's blocks span as one. */
static bool in_ranges(const struct dmasplit_iovad *iovad, uint64_t start,
		      uint64_t last)
{
	unsigned int i;

	for (;;) {
		for (i = 0; i < iovad->num_ranges; i++)
			if (start >= iovad->ranges[i].start &&
			    start <= iovad->ranges[i].last)
				break;
		if (i == iovad->num_ranges)
			return false;
		if (last <= iovad->ranges[i].last)
			return true;
		start = iovad->ranges[i].last + 1;
	}
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

/* The block with the greatest start <= addr, or NULL. */
static struct free_block *find_le(const struct dmasplit_iovad *iovad,
				  uint64_t addr)
{
	struct free_block *n = iovad->root, *best = NULL;

	if (iovad->top && iovad->top->start <= addr)
		return iovad->top;

	while (n) {
		if (n->start <= addr) {
			best = n;
			n = n->right;
		} else {
			n = n->left;
		}
	}
	return best;
}

/* [addr, last] out of the tree's blocks, with top in the tree. */
static int tree_reserve(struct dmasplit_iovad *iovad, uint64_t addr,
			uint64_t last)
{
	struct free_block *n, *below, *above;

	/* From the top down: each step takes the highest block starting at
	 * or below last, until none reaches addr. */
	while ((n = find_le(iovad, last)) && n->last >= addr) {
		if (n->start < addr && n->last > last) {
			struct free_block *tail = new_block(iovad);

			if (!tail)
				return -ENOMEM;
			tail->start = last + 1;
			tail->last = n->last;
			n->last = addr - 1;
			fix_up(n);
			neighbours(iovad, tail->last, &below, &above);
			insert_block(iovad, tail, below, above);
			break;
		}
		if (n->start < addr) {
			n->last = addr - 1;
			fix_up(n);
			break;
		}
		if (n->last > last) {
			n->start = last + 1;
			fix_up(n);
		} else {
			remove_block(iovad, n);
			drop_block(iovad, n);
		}
	}
	return 0;
}

int iovad_reserve(struct dmasplit_iovad *iovad, uint64_t addr, uint64_t size)
{
	struct free_block *n;
	uint64_t last, g;
	int r;

	if (!iovad || range_bad(addr, size))
		return -EINVAL;
	/* Reserve whole granules covering the range, whatever part of it is
	 * free: reserved regions (MSI windows) need not be aligned. */
	g = iovad->granule;
	last = addr + size - 1;
	addr &= ~(g - 1);
	last |= g - 1;
	/* Reserving is rare (a device's reserved regions, once): it works
	 * on the tree alone, top included, and then takes the highest block
	 * out of it again as top. */
	top_replace(iovad, NULL);
	r = tree_reserve(iovad, addr, last);
	n = iovad->tree_max;
	if (n) {
		remove_block(iovad, n);
		iovad->top = n;
	}
	return r;
}

/* The spare blocks go: a trim says no allocation is coming soon. */
void iovad_trim(struct dmasplit_iovad *iovad)
{
	struct free_block *b;

	if (!iovad)
		return;
	while ((b = iovad->spare)) {
		iovad->spare = b->right;
		free(b);
	}
	iovad->nspare = 0;
}

/* Free blocks are maximal (add_free coalesces): a stretch of one range
 * is free exactly when one block holds it. */
int iovad_in_use(struct dmasplit_iovad *iovad, uint64_t addr, uint64_t size)
{
	uint64_t last;
	unsigned int i;

	if (!iovad || range_bad(addr, size))
		return -EINVAL;
	last = addr + size - 1;
	for (i = 0; i < iovad->num_ranges; i++) {
		const struct dmasplit_range *r = &iovad->ranges[i];
		uint64_t lo = addr > r->start ? addr : r->start;
		uint64_t hi = last < r->last ? last : r->last;
		struct free_block *n;

		if (lo > hi)
			continue;
		n = find_le(iovad, hi);
		if (!n || n->last < hi || n->start > lo)
			return 1;
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
		struct free_block *n = find_le(iovad, r->last);
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
