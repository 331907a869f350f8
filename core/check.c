// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The API misuse checker, the user-space counterpart of the kernel's
 * CONFIG_DMA_API_DEBUG (kernel/dma/debug.c), and stricter: misuse is
 * refused before the backend sees it, not only reported.  This file keeps
 * a device's records, one address-ordered tree of its live windows and
 * mappings, and answers what asks by device address alone (per-range
 * syncs, device accesses); check-window.c and check-map.c keep what is
 * particular to windows and to mappings.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checker.h"

int check_dev_new(struct dmasplit_dev *dev)
{
	struct check_dev *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->gone = calloc(CHECK_GONE_MAX, sizeof(*c->gone));
	if (!c->gone) {
		free(c);
		return -ENOMEM;
	}
	dev->check = c;
	return 0;
}

struct check_entry *check_entry_new(uint64_t start, uint64_t len,
				    enum check_kind kind,
				    enum dmasplit_dir dir, const void *made_at)
{
	struct check_entry *e = calloc(1, sizeof(*e));

	if (e) {
		e->node.start = start;
		e->node.last = start + len - 1;
		e->kind = kind;
		e->dir = dir;
		e->made_at = made_at;
	}
	return e;
}

void check_entry_drop(struct check_entry *e)
{
	free(e->owned);
	check_links_free(&e->links);
	check_group_put(e->group);
	free(e);
}

void check_ctx_release(struct dmasplit_ctx *ctx)
{
	struct checked_iova *q;

	while ((q = ctx->graveyard.head)) {
		ctx->graveyard.head = q->next;
		free(q);
	}
	if (ctx->gone_dev) {
		free(ctx->gone_dev->check);
		free(ctx->gone_dev);
	}
}

/* The device has no other user left: nothing to lock. */
void check_dev_release(struct dmasplit_dev *dev)
{
	struct check_dev *c = dev->check;
	struct checked_iova *q;
	struct itree_node *n;

	while ((n = itree_first(&c->ranges))) {
		struct check_entry *e = entry_of(n);

		check_map_release_leak(dev, e, "as the device went");
		itree_remove(&c->ranges, n);
		check_entry_drop(e);
	}
	while ((q = c->quarantine.head)) {
		c->quarantine.head = q->next;
		free(q);
	}
	free(c->gone);
	free(c);
	dev->check = NULL;
}

/*
 * May a new range share device addresses with live entry e?  Behind an
 * IOMMU never: each mapping gets addresses of its own.  Without
 * translation the device address is a function of the memory, so two
 * mappings of the same bytes (a buffer mapped twice, in two calls or one
 * vector) legitimately share them; what still betrays a backend bug is
 * two different buffers at one address, or a window in the way.
 */
static bool may_share(const struct dmasplit_dev *dev,
		      const struct check_entry *e, uint64_t start,
		      uint64_t len, uintptr_t host)
{
	uint64_t at, end, ps = (uint64_t)sysconf(_SC_PAGESIZE), mine, theirs;

	if (dev->info.flags & DMASPLIT_DEV_TRANSLATED)
		return false;
	if (e->kind == CHECK_WINDOW || !host)
		return false;
	if (e->host && start - e->node.start == (uint64_t)(host - e->host))
		return true;
	/*
	 * The same memory through another virtual address (a ring mapped
	 * twice, the zero page under read-only buffers, buffers a backend
	 * merged by their physical addresses): the page tables say, page
	 * by page of the overlap, whether these bytes are what the other
	 * mapping's are, or, where the device address is the physical one
	 * (direct), whether it is theirs.
	 */
	at = start > e->node.start ? start : e->node.start;
	end = start + len - 1 < e->node.last ? start + len - 1 : e->node.last;
	for (;;) {
		if (virt_to_phys(&dev->ctx->host,
				 (const void *)(host + (uintptr_t)(at - start)), &mine) < 0)
			return false;
		if (mine != at &&
		    (!e->host ||
		     virt_to_phys(&dev->ctx->host,
				  (const void *)(e->host +
						(uintptr_t)(at - e->node.start)),
				  &theirs) < 0 || mine != theirs))
			return false;
		if ((end | (ps - 1)) == (at | (ps - 1)))
			return true;	/* the overlap's last page */
		at = (at | (ps - 1)) + 1;
	}
}

/* A backend bug that would let two owners share device addresses. */
int check_overlap(struct dmasplit_dev *dev, uint64_t start, uint64_t len,
		  uintptr_t host, struct check_report *rep)
{
	uint64_t last = start + len - 1;
	struct itree_node *n;

	for (n = itree_first_overlap(&dev->check->ranges, start, last);
	     n && n->start <= last; n = itree_next(&dev->check->ranges, n)) {
		struct check_entry *e = entry_of(n);

		if (n->last < start || may_share(dev, e, start, len, host))
			continue;
		check_misuse(rep, 0, "%s: backend %s returned 0x%" PRIx64 "+0x%" PRIx64 ", overlapping live range 0x%" PRIx64 "-0x%" PRIx64 " of %s",
			     dev->name, dev->backend->ops.name, start, len,
			     n->start, n->last, check_kind_name[e->kind]);
		check_culprit(rep, e->kind == CHECK_WINDOW ? "allocated at" :
				   "mapped at", e->made_at);
		return -EIO;
	}
	return 0;
}

/*
 * Lock held.  The live mapping or window that holds all of [dma, dma +
 * len), preferring one whose direction allows a sync in dir: without
 * translation the same bytes mapped twice share device addresses, and a
 * sync is right if it is right for any mapping of them.
 */
static struct check_entry *find_holder(struct dmasplit_dev *dev, uint64_t dma,
				       uint64_t len, enum dmasplit_dir dir,
				       bool in_region)
{
	struct itree *t = &dev->check->ranges;
	struct check_entry *e, *best = NULL;
	uint64_t last = dma + len - 1;
	struct itree_node *n;
	int rank, best_rank = -1;
	bool dir_ok, region_ok;

	for (n = itree_first_overlap(t, dma, last); n && n->start <= dma;
	     n = itree_next(t, n)) {
		if (n->last < last)
			continue;
		e = entry_of(n);
		dir_ok = e->kind == CHECK_WINDOW ||
			 e->dir == DMASPLIT_BIDIRECTIONAL || e->dir == dir;
		region_ok = !in_region || e->in_region;
		if (dir_ok && region_ok)
			return e;
		/* In a region, only its mappings; but without translation
		 * a mapping of the region's memory made past it has the
		 * region's addresses too, and one that allows the sync is
		 * the better answer. */
		if (!region_ok && (dev->info.flags & DMASPLIT_DEV_TRANSLATED))
			continue;
		rank = 2 * dir_ok + region_ok;
		if (rank > best_rank) {
			best = e;
			best_rank = rank;
		}
	}
	return best;
}

/* Lock held.  The first owned range of e that ends at or after first. */
static unsigned int owned_from(const struct check_entry *e, uint64_t first)
{
	unsigned int i = 0;

	while (i < e->nowned && e->owned[i].last < first)
		i++;
	return i;
}

/* Lock held.  One more range at i, the ones from i on moved up (the one
 * at i is then in both places); -ENOMEM leaves e as it was. */
static int owned_open(struct check_entry *e, unsigned int i)
{
	struct check_owned *grown;

	grown = realloc(e->owned, (e->nowned + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	e->owned = grown;
	memmove(&e->owned[i + 1], &e->owned[i],
		(e->nowned - i) * sizeof(*grown));
	e->nowned++;
	return 0;
}

/* Lock held.  The CPU owns [first, last] of e too: merged with what it
 * owns that overlaps or touches it.  -ENOMEM leaves e as it was. */
static int owned_take(struct check_entry *e, uint64_t first, uint64_t last)
{
	unsigned int i = owned_from(e, first ? first - 1 : 0), j = i;

	while (j < e->nowned && e->owned[j].first <= last + 1) {
		if (e->owned[j].first < first)
			first = e->owned[j].first;
		if (e->owned[j].last > last)
			last = e->owned[j].last;
		j++;
	}
	if (j == i) {
		if (owned_open(e, i) < 0)
			return -ENOMEM;
		j = i + 1;
	}
	e->owned[i] = (struct check_owned){ first, last };
	memmove(&e->owned[i + 1], &e->owned[j],
		(e->nowned - j) * sizeof(*e->owned));
	e->nowned -= j - i - 1;
	return 0;
}

/* Lock held.  [first, last] of e is the device's again: a range that
 * holds it whole is cut in two.  -ENOMEM leaves e as it was. */
int owned_give(struct check_entry *e, uint64_t first, uint64_t last)
{
	unsigned int i = owned_from(e, first);

	if (i < e->nowned && e->owned[i].first < first &&
	    e->owned[i].last > last) {
		if (owned_open(e, i) < 0)
			return -ENOMEM;
		e->owned[i].last = first - 1;
		e->owned[i + 1].first = last + 1;
		return 0;
	}
	while (i < e->nowned && e->owned[i].first <= last) {
		if (e->owned[i].first < first) {
			e->owned[i++].last = first - 1;
		} else if (e->owned[i].last > last) {
			e->owned[i].first = last + 1;
			break;
		} else {
			memmove(&e->owned[i], &e->owned[i + 1],
				(e->nowned - i - 1) * sizeof(*e->owned));
			e->nowned--;
		}
	}
	return 0;
}

/* Lock held.  Whether the CPU owns any byte of [first, last] of e. */
static bool owned_any(const struct check_entry *e, uint64_t first,
		      uint64_t last)
{
	unsigned int i = owned_from(e, first);

	return i < e->nowned && e->owned[i].first <= last;
}

/*
 * Ownership, as the kernel's DMA API defines it: after a sync for the CPU
 * the CPU owns the memory until a sync for the device.  Tracked per byte
 * range of a mapping or of a window's links, so
 * that device accesses on non-coherent devices can be checked.  Without
 * memory to record a change, the change is not recorded: the checker
 * may then miss an access, never report one that is right.
 */
int check_map_sync(struct dmasplit_dev *dev, uint64_t dma, uint64_t len,
		   enum dmasplit_dir dir, bool for_cpu, bool in_region,
		   const void *caller)
{
	struct check_report rep = { 0 };
	struct check_entry *e;
	int r = 0;

	pthread_mutex_lock(&dev->lock);
	e = find_holder(dev, dma, len, dir, in_region);
	if (!e) {
		r = -ENOENT;
		check_misuse(&rep, 0, "%s: sync of 0x%" PRIx64 "+0x%" PRIx64 ", which is not inside one live mapping or window",
			     dev->name, dma, len);
	} else if (e->kind == CHECK_WINDOW &&
		   (r = check_window_sync(dev, e, dma, len, dir, &rep)) < 0) {
		/* Not linked there, or linked another way: reported. */
	} else if (e->kind != CHECK_WINDOW &&
		   e->dir != DMASPLIT_BIDIRECTIONAL && e->dir != dir) {
		/* As dma-debug: a bidirectional mapping syncs either way. */
		r = -EINVAL;
		check_misuse(&rep, 0, "%s: sync with direction %s of 0x%" PRIx64 ", mapped %s",
			     dev->name, check_dir_name[dir], dma,
			     check_dir_name[e->dir]);
		check_culprit(&rep, "mapped at", e->made_at);
	} else if (!for_cpu) {
		if (owned_give(e, dma, dma + len - 1) < 0)
			e->nowned = 0;
	} else {
		(void)owned_take(e, dma, dma + len - 1);
	}
	pthread_mutex_unlock(&dev->lock);
	check_culprit(&rep, "called from", caller);
	return check_report(dev, &rep, r);
}

/*
 * On a non-coherent device, a device access to memory the CPU owns would
 * see stale data or lose the CPU's writes on real hardware; host memory
 * in one process is coherent, so only the checker can say so.
 */
void check_device_access(struct dmasplit_dev *dev, uint64_t dma, uint64_t len,
			 bool write, const void *caller)
{
	struct check_report rep = { 0 };
	struct check_entry *e = NULL;
	struct itree_node *n;
	bool owned = false;

	if (dev->info.flags & DMASPLIT_DEV_COHERENT)
		return;
	pthread_mutex_lock(&dev->lock);
	n = itree_find_le(&dev->check->ranges, dma);
	if (n && dma <= n->last)
		e = entry_of(n);
	if (e && e->kind != CHECK_COHERENT)
		owned = owned_any(e, dma, dma + len - 1);
	if (owned) {
		check_misuse(&rep, 0, "%s: device %s at 0x%" PRIx64 " while the CPU owns that memory (dmasplit_sync_for_cpu without dmasplit_sync_for_device since): a non-coherent device would %s",
			     dev->name, write ? "write" : "read", dma,
			     write ? "lose the CPU's view of it" :
				     "see stale data");
		check_culprit(&rep, e->kind == CHECK_WINDOW ? "allocated at" :
				    "mapped at", e->made_at);
	}
	pthread_mutex_unlock(&dev->lock);
	check_culprit(&rep, "called from", caller);
	check_report(dev, &rep, 0);
}
