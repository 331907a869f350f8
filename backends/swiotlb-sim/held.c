// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What the device holds that no translation or bounce slot records: the
 * direct mappings of an untranslated device (device address = host
 * address) and coherent memory.  Without this set an unmap of an address
 * never mapped, or unmapped twice, would look like any other; with it
 * both are refused at O(1) cost.
 *
 * An open-addressed hash keyed by device address, with linear probing
 * and backward-shift deletion (no tombstones, so lookups stay short).
 * The same address may be held several times (a buffer mapped twice is
 * legal without an IOMMU): each mapping is its own entry.  The table
 * never shrinks, so putting back an entry just taken cannot fail, which
 * is what lets vector unmaps undo a partial claim.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define HELD_MIN 64

static size_t slot_of(const struct held *h, uint64_t dma)
{
	return (size_t)((dma * 0x9e3779b97f4a7c15ull) >> h->shift);
}

void held_init(struct held *h)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
}

void held_fini(struct held *h, void (*release)(struct held_entry *e,
					       void *arg), void *arg)
{
	size_t i;

	for (i = 0; release && i < h->cap; i++)
		if (h->tab[i].flags)
			release(&h->tab[i], arg);
	free(h->tab);
	h->tab = NULL;
	h->cap = h->n = 0;
	pthread_mutex_destroy(&h->lock);
}

/* Lock held; e is not in the table and there is room. */
static void insert(struct held *h, const struct held_entry *e)
{
	size_t i = slot_of(h, e->dma);

	while (h->tab[i].flags)
		i = (i + 1) & (h->cap - 1);
	h->tab[i] = *e;
	h->n++;
}

/* Lock held.  Keep the load at most 3/4. */
static int grow(struct held *h)
{
	struct held_entry *old = h->tab;
	size_t i, cap = h->cap ? h->cap * 2 : HELD_MIN, oldcap = h->cap;

	if ((h->n + 1) * 4 <= h->cap * 3)
		return 0;
	h->tab = calloc(cap, sizeof(*h->tab));
	if (!h->tab) {
		h->tab = old;
		return -ENOMEM;
	}
	h->cap = cap;
	h->shift = 64 - (unsigned int)__builtin_ctzll(cap);
	h->n = 0;
	for (i = 0; i < oldcap; i++)
		if (old[i].flags)
			insert(h, &old[i]);
	free(old);
	return 0;
}

/* Whether e stands for a range of bytes: a direct mapping or coherent
 * memory. */
static bool is_range(const struct held_entry *e)
{
	uint32_t kind = e->flags & HELD_KIND;

	return kind == HELD_DIRECT || kind == HELD_COHERENT;
}

/* Lock held.  One more (by 1) or one less (by -1) range of len bytes in
 * the longest and its count; one less than the longest changes nothing. */
static void longest_count(struct held *h, uint64_t len, int by)
{
	if (by > 0 && len > h->longest) {
		h->longest = len;
		h->nlongest = 1;
	} else if (len == h->longest) {
		h->nlongest += (size_t)by;
	}
}

/* Lock held.  Entries that stand for a range of bytes, by size. */
static void count_range(struct held *h, const struct held_entry *e, int by)
{
	if (!is_range(e))
		return;
	h->ranges += (size_t)by;
	longest_count(h, e->len, by);
	h->dma_sum += (uint64_t)(int64_t)by * e->dma;
	h->len_sum += (uint64_t)(int64_t)by * e->len;
}

int held_add(struct held *h, const struct held_entry *e)
{
	int r;

	pthread_mutex_lock(&h->lock);
	r = grow(h);
	if (r == 0) {
		insert(h, e);
		count_range(h, e, 1);
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* Lock held.  Remove slot i, moving later entries of its cluster back
 * so that every entry stays reachable from its home slot. */
static void remove_at(struct held *h, size_t i)
{
	size_t j = i, home, mask = h->cap - 1;

	for (;;) {
		h->tab[i].flags = 0;
		for (;;) {
			j = (j + 1) & mask;
			if (!h->tab[j].flags) {
				h->n--;
				return;
			}
			home = slot_of(h, h->tab[j].dma);
			/* j may move to i unless its home lies cyclically
			 * in (i, j]. */
			if (i <= j ? (home <= i || home > j)
				   : (home <= i && home > j))
				break;
		}
		h->tab[i] = h->tab[j];
		i = j;
	}
}

/*
 * Take the entry of kind (with HELD_INVEC or without) at dma with
 * exactly len and dir, and cpu unless that is NULL (several entries may
 * share an address: the same bytes mapped twice, two vectors of them).
 * -ENOENT when nothing of that kind starts at dma; -EINVAL when
 * something does, but differs (*e then describes it).
 */
int held_take(struct held *h, uint64_t dma, uint64_t len, uint32_t kind,
	      enum dmasplit_dir dir, const void *cpu, struct held_entry *e)
{
	size_t i, found = SIZE_MAX;
	int r = -ENOENT;

	pthread_mutex_lock(&h->lock);
	for (i = h->cap ? slot_of(h, dma) : 0; h->cap && h->tab[i].flags;
	     i = (i + 1) & (h->cap - 1)) {
		const struct held_entry *t = &h->tab[i];

		if (t->dma != dma || (t->flags & HELD_KIND) != (kind & HELD_KIND))
			continue;
		*e = *t;
		/* A vector's segment is there, but only unmap_vec takes it. */
		if ((t->flags & HELD_INVEC) == (kind & HELD_INVEC) &&
		    t->len == len && held_dir(t) == dir &&
		    (!cpu || t->cpu == cpu)) {
			found = i;
			break;
		}
		r = -EINVAL;
	}
	if (found != SIZE_MAX) {
		count_range(h, &h->tab[found], -1);
		remove_at(h, found);
		r = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* Lock held.  The longest range held, once the last that long went:
 * a walk of the table, paid by the rare sync that needs it (see
 * held_covers()), not by every unmap. */
static void find_longest(struct held *h)
{
	size_t i;

	h->longest = 0;
	h->nlongest = 0;
	for (i = 0; i < h->cap; i++)
		if (h->tab[i].flags && is_range(&h->tab[i]))
			longest_count(h, h->tab[i].len, 1);
}

/*
 * Whether [dma, dma + len) may lie in a live direct mapping: 0, or
 * -EINVAL when surely not (-ENOENT when nothing is held at all).  A
 * direct mapping is found by its start only, and without an IOMMU the
 * same bytes may be mapped several times, so a range that runs past the
 * mapping starting at dma may still lie in one starting earlier.  Surely
 * not is: longer than the longest mapping held, or not inside the only
 * one.  A mapping at dma that holds the range answers first; the
 * longest, when stale, is still an upper bound, so it is found again
 * only for a sync no mapping at dma holds and no longer than that bound.
 */
int held_covers(struct held *h, uint64_t dma, uint64_t len)
{
	bool short_here = false;
	size_t i;
	int r = 0;

	pthread_mutex_lock(&h->lock);
	if (!h->ranges) {
		r = -ENOENT;
		goto out;
	}
	for (i = h->cap ? slot_of(h, dma) : 0; h->cap && h->tab[i].flags;
	     i = (i + 1) & (h->cap - 1)) {
		const struct held_entry *t = &h->tab[i];

		if (t->dma != dma || (t->flags & HELD_KIND) != HELD_DIRECT)
			continue;
		if (t->len >= len)
			goto out;
		short_here = true;
	}
	if (len <= h->longest && !h->nlongest)
		find_longest(h);
	if (len > h->longest) {
		r = -EINVAL;
		goto out;
	}
	/* The only range there is, wherever in it the sync starts. */
	if (h->ranges == 1 &&
	    (dma < h->dma_sum || len > h->len_sum ||
	     dma - h->dma_sum > h->len_sum - len))
		r = short_here || (dma >= h->dma_sum &&
				   dma - h->dma_sum < h->len_sum) ?
		    -EINVAL : -ENOENT;
out:
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* The coherent memory a free_coherent names, taken out of h; its refusal
 * logged.  The entry holds the size asked for, not the pages it took, so
 * a size that rounds to the same pages is still another size. */
int held_take_coherent(struct dmasplit_bdev *b, size_t size, void *cpu,
		       uint64_t dma, struct held_entry *e)
{
	int r;

	r = held_take(&b->held, dma, size, HELD_COHERENT, DMASPLIT_BIDIRECTIONAL,
		      cpu, e);
	if (r < 0)
		return sim_refuse(b, 0, r, "%s: free_coherent of %p at 0x%" PRIx64 " (%zu bytes): %s",
				  b->name, cpu, dma, size,
				  r == -ENOENT ? "no coherent memory there"
					       : "allocated with another size or CPU address");
	return 0;
}
