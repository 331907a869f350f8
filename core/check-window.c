// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The checker's records of windows: each live window's linked runs, and
 * the windows destroyed lately, kept to catch use after destroy.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checker.h"

void check_links_free(struct itree *links)
{
	struct itree_node *n;

	while ((n = itree_first(links))) {
		itree_remove(links, n);
		free(link_of(n));
	}
}

int check_window_add(struct dmasplit_iova *iova, const void *caller)
{
	struct dmasplit_dev *dev = iova->dev;
	struct check_report rep = { 0 };
	struct check_entry *e;
	int r;

	e = check_entry_new(iova->addr, iova->size, CHECK_WINDOW,
			    DMASPLIT_BIDIRECTIONAL, caller);
	if (!e)
		return -ENOMEM;
	e->iova = iova;
	checked(iova)->made_at = caller;
	pthread_mutex_lock(&dev->lock);
	r = check_overlap(dev, iova->addr, iova->size, 0, &rep);
	if (!r) {
		itree_insert(&dev->check->ranges, &e->node);
		checked(iova)->check = e;
	}
	pthread_mutex_unlock(&dev->lock);
	if (r < 0)
		free(e);
	check_culprit(&rep, "called from", caller);
	return check_report(dev, &rep, r);
}

void check_window_del(struct dmasplit_iova *iova, const void *caller)
{
	struct dmasplit_dev *dev = iova->dev;
	struct checked_iova *w = checked(iova);

	pthread_mutex_lock(&dev->lock);
	if (w->check) {
		itree_remove(&dev->check->ranges, &w->check->node);
		check_entry_drop(w->check);
	}
	pthread_mutex_unlock(&dev->lock);
	w->check = NULL;
	w->gone_at = caller;
}

/* w at the end of q; the oldest, for the caller to free, once q holds
 * more than its bound, else NULL.  Under q's lock. */
static struct checked_iova *quarantine_add(struct quarantine *q,
					   struct checked_iova *w)
{
	struct checked_iova *old = NULL;

	w->next = NULL;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	if (++q->n > CHECK_QUARANTINE_MAX) {
		old = q->head;
		q->head = old->next;
		q->n--;
	}
	return old;
}

/*
 * A window destroyed once its device was closed goes to the context
 * rather than to the device, in the same bound: that destroy, or another
 * thread's, may release the device, and the application may well use
 * the window again.  It points at the context's stand-in for devices
 * gone from now on, so that no later use reads the device.  Without
 * memory for the stand-in it is freed (0 returned).
 */
static bool graveyard_add(struct dmasplit_ctx *ctx, struct checked_iova *w)
{
	struct checked_iova *old = NULL;
	struct dmasplit_dev *gone;

	pthread_mutex_lock(&ctx->lock);
	gone = ctx->gone_dev;
	if (!gone && (gone = zalloc_cacheline(sizeof(*gone)))) {
		gone->check = calloc(1, sizeof(*gone->check));
		if (!gone->check) {
			free(gone);
			gone = NULL;
		} else {
			gone->ctx = ctx;
			gone->link_slow = true;	/* through the checker */
			snprintf(gone->name, sizeof(gone->name),
				 "(a device closed since)");
			ctx->gone_dev = gone;
		}
	}
	if (gone) {
		w->iova.dev = gone;
		old = quarantine_add(&ctx->graveyard, w);
	}
	pthread_mutex_unlock(&ctx->lock);
	free(old);
	return gone != NULL;
}

void check_quarantine(struct dmasplit_iova *iova)
{
	struct dmasplit_dev *dev = iova->dev;
	struct check_dev *c = dev->check;
	struct checked_iova *w = checked(iova), *old = NULL;

	w->gone = true;
	if (__atomic_load_n(&dev->closed, __ATOMIC_ACQUIRE)) {
		if (!graveyard_add(dev->ctx, w))
			free(w);
		return;
	}
	pthread_mutex_lock(&dev->lock);
	old = quarantine_add(&c->quarantine, w);
	pthread_mutex_unlock(&dev->lock);
	free(old);
}

bool check_window_dead(struct dmasplit_iova *iova, const void *caller)
{
	struct check_report rep = { 0 };

	if (!checked(iova)->gone)
		return false;
	check_misuse(&rep, 0, "%s: window 0x%" PRIx64 "+0x%" PRIx64 " used after dmasplit_iova_destroy",
		     iova->dev->name, iova->addr, iova->size);
	check_culprit(&rep, "allocated at", checked(iova)->made_at);
	check_culprit(&rep, "destroyed at", checked(iova)->gone_at);
	check_culprit(&rep, "called from", caller);
	check_report(iova->dev, &rep, 0);
	return true;
}

/* Lock held.  The application's live windows: not those of batches and
 * regions. */
static unsigned int live_windows(struct dmasplit_dev *dev)
{
	struct checked_iova *w;
	unsigned int n = 0;

	for (w = dev->windows; w; w = w->next)
		n += !w->internal;
	return n;
}

unsigned int check_app_windows(struct dmasplit_dev *dev)
{
	unsigned int n;

	pthread_mutex_lock(&dev->lock);
	n = live_windows(dev);
	pthread_mutex_unlock(&dev->lock);
	return n;
}

void check_window_internal(struct dmasplit_iova *iova)
{
	pthread_mutex_lock(&iova->dev->lock);
	checked(iova)->internal = true;
	pthread_mutex_unlock(&iova->dev->lock);
}

/* Reported one by one, from a copy: the log function may not be called
 * under the lock, and another thread may destroy a window meanwhile. */
void check_dev_close(struct dmasplit_dev *dev)
{
	struct check_report rep = { 0 };
	struct checked_iova *iova;
	struct {
		uint64_t addr, size;
		const void *made_at;
	} *w = NULL;
	unsigned int n, i, want = 0;

	for (;;) {
		pthread_mutex_lock(&dev->lock);
		n = live_windows(dev);
		if (n <= want)
			break;
		pthread_mutex_unlock(&dev->lock);
		free(w);
		want = n;
		w = calloc(want, sizeof(*w));
		if (!w) {
			want = 0;
			pthread_mutex_lock(&dev->lock);
			n = live_windows(dev);
			break;
		}
	}
	for (i = 0, iova = dev->windows; iova && i < want;
	     iova = iova->next) {
		if (iova->internal)
			continue;
		w[i].addr = iova->iova.addr;
		w[i].size = iova->iova.size;
		w[i].made_at = iova->made_at;
		i++;
	}
	pthread_mutex_unlock(&dev->lock);
	for (i = 0; i < n; i++) {
		/* Without memory for the copy, each is counted, unnamed. */
		if (!w)
			check_misuse(&rep, 0, "%s: leaked window still live at close: the device stays until it is destroyed",
				     dev->name);
		else
			check_misuse(&rep, 0, "%s: leaked window 0x%" PRIx64 " (%" PRIu64 " bytes) still live at close: the device stays until it is destroyed",
				     dev->name, w[i].addr, w[i].size);
		check_culprit(&rep, "allocated at", w ? w[i].made_at : NULL);
		check_report(dev, &rep, 0);
	}
	free(w);
}

/* Batches and regions keep no record the checker could name them by:
 * each still live is a finding of its own, as a window is. */
void check_dev_close_holders(struct dmasplit_dev *dev, unsigned int n,
			     const char *what)
{
	struct check_report rep = { 0 };

	while (n--) {
		check_misuse(&rep, 0, "%s: leaked %s still live at close: the device stays until it is freed",
			     dev->name, what);
		check_report(dev, &rep, 0);
	}
}

/* Lock held.  The first granule of [first, last] not in a linked run
 * (or in one being unlinked, when that counts as gone), or last + 1. */
static uint64_t first_hole(struct itree *links, uint64_t first, uint64_t last,
			   bool unlinking_is_hole)
{
	struct itree_node *n = itree_find_le(links, first);
	uint64_t pos = first;

	while (pos <= last) {
		if (!n || n->start > pos || n->last < pos ||
		    (unlinking_is_hole && link_of(n)->unlinking))
			return pos;
		if (n->last >= last)
			return last + 1;
		pos = n->last + 1;
		n = itree_next(links, n);
	}
	return pos;
}

/* Lock held.  Make a run boundary at granule at, from *spare if a run
 * has to be cut in two. */
static void split_at(struct itree *links, uint64_t at,
		     struct check_link **spare)
{
	struct itree_node *n;
	struct check_link *l, *right;

	if (!at)
		return;
	n = itree_find_le(links, at - 1);
	if (!n || n->last < at || n->start >= at)
		return;
	l = link_of(n);
	right = *spare;
	*spare = NULL;
	*right = *l;
	itree_remove(links, n);
	right->node.start = at;
	n->last = at - 1;
	itree_insert(links, n);
	itree_insert(links, &right->node);
}

struct check_link *check_links_spare(struct check_link **spare)
{
	spare[0] = calloc(1, sizeof(**spare));
	spare[1] = calloc(1, sizeof(**spare));
	if (spare[0] && spare[1])
		return spare[0];
	free(spare[0]);
	free(spare[1]);
	return NULL;
}

int check_link(struct dmasplit_iova *iova, uint64_t offset, uint64_t len,
	       enum dmasplit_dir dir, uint32_t attrs, const void *caller)
{
	struct dmasplit_dev *dev = iova->dev;
	struct itree *links = &checked(iova)->check->links;
	struct check_link *l = calloc(1, sizeof(*l));
	struct check_report rep = { 0 };
	struct itree_node *n;
	uint64_t first, last;

	if (!l)
		return -ENOMEM;
	granules(iova, offset, len, &first, &last);
	l->node.start = first;
	l->node.last = last;
	l->dir = dir;
	l->made_at = caller;
	pthread_mutex_lock(&dev->lock);
	n = itree_first_overlap(links, first, last);
	if (n) {
		uint64_t at = n->start > first ? n->start : first;

		check_misuse(&rep, attrs, "%s: dmasplit_iova_link: offset 0x%" PRIx64 " of window 0x%" PRIx64 " is already linked (link over link)",
			     dev->name, at * dev->granule, iova->addr);
		check_culprit(&rep, "linked at", link_of(n)->made_at);
		check_culprit(&rep, "called from", caller);
	} else {
		itree_insert(links, &l->node);
	}
	pthread_mutex_unlock(&dev->lock);
	if (n)
		free(l);
	return check_report(dev, &rep, n ? -EEXIST : 0);
}

/* Lock held.  Drop the runs inside [first, last]. */
static void drop_links(struct itree *links, uint64_t first, uint64_t last)
{
	struct itree_node *n;

	while ((n = itree_first_overlap(links, first, last))) {
		itree_remove(links, n);
		free(link_of(n));
	}
}

void check_link_undo(struct dmasplit_iova *iova, uint64_t offset,
		     uint64_t len)
{
	uint64_t first, last;

	granules(iova, offset, len, &first, &last);
	pthread_mutex_lock(&iova->dev->lock);
	drop_links(&checked(iova)->check->links, first, last);
	pthread_mutex_unlock(&iova->dev->lock);
}

int check_sync(struct dmasplit_iova *iova, uint64_t offset, uint64_t len,
	       const void *caller)
{
	struct dmasplit_dev *dev = iova->dev;
	struct check_report rep = { 0 };
	uint64_t first, last, hole;

	granules(iova, offset, len, &first, &last);
	pthread_mutex_lock(&dev->lock);
	hole = first_hole(&checked(iova)->check->links, first, last, false);
	pthread_mutex_unlock(&dev->lock);
	if (hole > last)
		return 0;
	check_misuse(&rep, 0, "%s: dmasplit_iova_sync: offset 0x%" PRIx64 " of window 0x%" PRIx64 " is not linked",
		     dev->name, hole * dev->granule, iova->addr);
	check_culprit(&rep, "allocated at", checked(iova)->made_at);
	check_culprit(&rep, "called from", caller);
	return check_report(dev, &rep, -ENOENT);
}

/* Lock held.  A link of granules [first, last] not in direction dir. */
static struct check_link *wrong_dir(struct itree *links, uint64_t first,
				    uint64_t last, enum dmasplit_dir dir,
				    bool bidirectional_is_any)
{
	struct itree_node *n;

	for (n = itree_first_overlap(links, first, last);
	     n && n->start <= last; n = itree_next(links, n)) {
		enum dmasplit_dir linked = link_of(n)->dir;

		if (linked != dir && !(bidirectional_is_any &&
				       linked == DMASPLIT_BIDIRECTIONAL))
			return link_of(n);
	}
	return NULL;
}

/* Lock held.  Mark granules [first, last], all linked, as being
 * unlinked. */
static void mark_unlinking(struct itree *links, uint64_t first, uint64_t last,
			   struct check_link **spare)
{
	struct itree_node *n;

	split_at(links, first, &spare[0]);
	split_at(links, last + 1, &spare[1]);
	for (n = itree_first_overlap(links, first, last);
	     n && n->start <= last; n = itree_next(links, n))
		link_of(n)->unlinking = true;
}

/*
 * An unlink in two steps around the backend's: the runs are marked first
 * (so a second unlink of them is refused meanwhile, and a link over them
 * still collides), then dropped if the backend unlinked them or unmarked
 * if it failed, so that the checker and the backend never disagree.
 */
int check_unlink(struct dmasplit_iova *iova, uint64_t offset, uint64_t len,
		 enum dmasplit_dir dir, uint32_t attrs, const void *caller)
{
	struct dmasplit_dev *dev = iova->dev;
	struct itree *links = &checked(iova)->check->links;
	struct check_report rep = { 0 };
	struct check_link *spare[2], *l;
	uint64_t first, last, hole;
	int r = 0;

	if (!check_links_spare(spare))
		return -ENOMEM;
	granules(iova, offset, len, &first, &last);
	pthread_mutex_lock(&dev->lock);
	hole = first_hole(links, first, last, true);
	l = hole > last ? wrong_dir(links, first, last, dir, false) : NULL;
	if (hole <= last) {
		r = -ENOENT;
		check_misuse(&rep, attrs, "%s: dmasplit_iova_unlink: offset 0x%" PRIx64 " of window 0x%" PRIx64 " is not linked (never linked, or double unlink)",
			     dev->name, hole * dev->granule, iova->addr);
		check_culprit(&rep, "allocated at", checked(iova)->made_at);
	} else if (l) {
		uint64_t at = l->node.start > first ? l->node.start : first;

		r = -EINVAL;
		check_misuse(&rep, attrs, "%s: dmasplit_iova_unlink: direction %s, but offset 0x%" PRIx64 " was linked %s",
			     dev->name, check_dir_name[dir], at * dev->granule,
			     check_dir_name[l->dir]);
		check_culprit(&rep, "linked at", l->made_at);
	} else {
		mark_unlinking(links, first, last, spare);
	}
	pthread_mutex_unlock(&dev->lock);
	free(spare[0]);
	free(spare[1]);
	check_culprit(&rep, "called from", caller);
	return check_report(dev, &rep, r);
}

void check_unlink_done(struct dmasplit_iova *iova, uint64_t offset,
		       uint64_t len, bool unlinked)
{
	struct itree *links = &checked(iova)->check->links;
	struct itree_node *n;
	uint64_t first, last;

	granules(iova, offset, len, &first, &last);
	pthread_mutex_lock(&iova->dev->lock);
	/* What the CPU owned there is nobody's now; without memory to
	 * record it, nothing is owned (an access is missed, never made
	 * up). */
	if (unlinked &&
	    owned_give(checked(iova)->check, iova->addr + first * iova->dev->granule,
		       iova->addr + (last + 1) * iova->dev->granule - 1) < 0)
		checked(iova)->check->nowned = 0;
	if (unlinked)
		drop_links(links, first, last);
	else
		for (n = itree_first_overlap(links, first, last);
		     n && n->start <= last; n = itree_next(links, n))
			link_of(n)->unlinking = false;
	pthread_mutex_unlock(&iova->dev->lock);
}

/* A per-range sync (dmasplit_sync_for_cpu/_device) inside window e. */
int check_window_sync(struct dmasplit_dev *dev, struct check_entry *e,
		      uint64_t dma, uint64_t len, enum dmasplit_dir dir,
		      struct check_report *rep)
{
	struct dmasplit_iova *iova = e->iova;
	uint64_t first, last, hole;
	struct check_link *l;

	granules(iova, dma - iova->addr, len, &first, &last);
	hole = first_hole(&e->links, first, last, false);
	if (hole <= last) {
		check_misuse(rep, 0, "%s: sync of 0x%" PRIx64 ", which is not linked",
			     dev->name, iova->addr + hole * dev->granule);
		check_culprit(rep, "allocated at", checked(iova)->made_at);
		return -ENOENT;
	}
	l = wrong_dir(&e->links, first, last, dir, true);
	if (l) {
		uint64_t at = l->node.start > first ? l->node.start : first;

		check_misuse(rep, 0, "%s: sync with direction %s of 0x%" PRIx64 ", linked %s",
			     dev->name, check_dir_name[dir],
			     iova->addr + at * dev->granule,
			     check_dir_name[l->dir]);
		check_culprit(rep, "linked at", l->made_at);
		return -EINVAL;
	}
	return 0;
}
