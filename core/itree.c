// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdbool.h>
#include <stddef.h>

#include "itree.h"

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static void update(struct itree_node *n)
{
	n->max_last = n->last;
	if (n->left)
		n->max_last = max_u64(n->max_last, n->left->max_last);
	if (n->right)
		n->max_last = max_u64(n->max_last, n->right->max_last);
}

/*
 * The order: by start, then by node address, so that ranges may share a
 * start (the checker's mappings of the same bytes on a device without
 * translation) and every node still has one place to be found at.
 */
static bool before(const struct itree_node *a, const struct itree_node *b)
{
	return a->start < b->start ||
	       (a->start == b->start && (uintptr_t)a < (uintptr_t)b);
}

/* xorshift32: priorities need only be independent of the keys. */
static uint32_t next_prio(struct itree *tree)
{
	uint32_t x = tree->seed ? tree->seed : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	tree->seed = x;
	return x;
}

static struct itree_node *insert(struct itree_node *root, struct itree_node *n)
{
	struct itree_node *child;

	if (!root)
		return n;
	if (before(n, root)) {
		root->left = insert(root->left, n);
		if (root->left->prio > root->prio) {
			child = root->left;
			root->left = child->right;
			child->right = root;
			update(root);
			root = child;
		}
	} else {
		root->right = insert(root->right, n);
		if (root->right->prio > root->prio) {
			child = root->right;
			root->right = child->left;
			child->left = root;
			update(root);
			root = child;
		}
	}
	update(root);
	return root;
}

void itree_insert(struct itree *tree, struct itree_node *node)
{
	node->left = node->right = NULL;
	node->prio = next_prio(tree);
	update(node);
	tree->root = insert(tree->root, node);
}

static struct itree_node *merge(struct itree_node *a, struct itree_node *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	if (a->prio > b->prio) {
		a->right = merge(a->right, b);
		update(a);
		return a;
	}
	b->left = merge(a, b->left);
	update(b);
	return b;
}

static struct itree_node *remove_node(struct itree_node *root,
				      struct itree_node *n)
{
	if (!root)
		return NULL;
	if (root == n)
		return merge(n->left, n->right);
	if (before(n, root))
		root->left = remove_node(root->left, n);
	else
		root->right = remove_node(root->right, n);
	update(root);
	return root;
}

void itree_remove(struct itree *tree, struct itree_node *node)
{
	tree->root = remove_node(tree->root, node);
	node->left = node->right = NULL;
}

struct itree_node *itree_find_le(const struct itree *tree, uint64_t addr)
{
	struct itree_node *n = tree->root, *best = NULL;

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

static struct itree_node *overlap(struct itree_node *n, uint64_t start,
				  uint64_t last)
{
	struct itree_node *found;

	if (!n || n->max_last < start)
		return NULL;
	found = overlap(n->left, start, last);
	if (found)
		return found;
	if (n->start > last)
		return NULL;
	if (n->last >= start)
		return n;
	return overlap(n->right, start, last);
}

struct itree_node *itree_first_overlap(const struct itree *tree,
				       uint64_t start, uint64_t last)
{
	return overlap(tree->root, start, last);
}

struct itree_node *itree_first(const struct itree *tree)
{
	struct itree_node *n = tree->root;

	while (n && n->left)
		n = n->left;
	return n;
}

struct itree_node *itree_next(const struct itree *tree,
			      const struct itree_node *node)
{
	struct itree_node *n = tree->root, *best = NULL;

	while (n) {
		if (before(node, n)) {
			best = n;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return best;
}

struct itree_node *itree_find_ge(const struct itree *tree, uint64_t addr)
{
	struct itree_node *n = tree->root, *best = NULL;

	while (n) {
		if (n->start >= addr) {
			best = n;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return best;
}
