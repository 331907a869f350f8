/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An intrusive treap of address ranges, ordered by start (ties by node
 * address; the allocator's ranges are disjoint, the checker's may share
 * bytes on devices without translation).  Each
 * node carries one subtree aggregate, the largest last address, for the
 * checker's overlap search.  Every operation is O(log n) expected; no
 * parent pointers, no per-page nodes.  (The IOVA allocator keeps a treap
 * of its own, in core/iovad.c.)
 */
#ifndef DMASPLIT_ITREE_H
#define DMASPLIT_ITREE_H

#include <stdint.h>

struct itree_node {
	struct itree_node *left, *right;
	uint64_t start;
	uint64_t last;		/* inclusive */
	uint64_t max_last;	/* over the subtree */
	uint32_t prio;
};

struct itree {
	struct itree_node *root;
	uint32_t seed;
};

void itree_insert(struct itree *tree, struct itree_node *node);
void itree_remove(struct itree *tree, struct itree_node *node);
/* The node with the greatest start <= addr, or NULL. */
struct itree_node *itree_find_le(const struct itree *tree, uint64_t addr);
/* The lowest node with start >= addr, or NULL. */
struct itree_node *itree_find_ge(const struct itree *tree, uint64_t addr);
/* The lowest node overlapping [start, last], or NULL. */
struct itree_node *itree_first_overlap(const struct itree *tree,
				       uint64_t start, uint64_t last);
/* Lowest first; the tree must not change during a walk. */
struct itree_node *itree_first(const struct itree *tree);
struct itree_node *itree_next(const struct itree *tree,
			      const struct itree_node *node);

#endif
