// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The API misuse checker, the user-space counterpart of the kernel's
 * CONFIG_DMA_API_DEBUG (kernel/dma/debug.c), and stricter: misuse is
 * refused before the backend sees it, not only reported.  Per device it
 * keeps every live window and mapping in one address-ordered tree, and per
 * window a tree of its linked runs, so its memory follows what is linked,
 * not the window's size.  It is fixed at device open,
 * so its state is always complete; everything here runs under dev->lock.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Destroyed windows kept to catch use after destroy; bounded, like KASAN's
 * quarantine, so a long-running program does not grow without limit. */
#define QUARANTINE_MAX 1024

/*
 * A linked run of a window, in granules [node.start, node.last].  A
 * window's state is a tree of these, so it costs what is linked, not what
 * the window spans: a 2^47-byte window with one link is one node.  Runs
 * are split only where an unlink or a CPU sync ends inside one.
 */
struct check_link {
	struct itree_node node;
	enum dmasplit_dir dir;
	bool cpu;		/* synced for the CPU, not yet back */
	bool unlinking;		/* its unlink is at the backend */
};

/* The segments of one dmasplit_map_vec, which unmap as that group only. */
struct check_group {
	unsigned int n;
	unsigned int live;	/* entries not yet freed */
	bool released;
	struct dmasplit_seg *segs;
	struct check_entry **ent;
};

struct check_entry {
	struct itree_node node;
	enum check_kind kind;
	enum dmasplit_dir dir;
	struct dmasplit_iova *iova;	/* CHECK_WINDOW */
	struct itree links;		/* CHECK_WINDOW: struct check_link */
	struct check_group *group;	/* CHECK_VEC */
	void *cpu;			/* CHECK_COHERENT */
	uintptr_t host;		/* host address at node.start, or 0 */
	bool cpu_owned;			/* synced for the CPU, whole */
};

struct check_dev {
	struct itree ranges;
	struct dmasplit_iova *quarantine, *quarantine_tail;
	unsigned int quarantined;
};

static const char *const kind_name[] = {
	[CHECK_WINDOW] = "window",
	[CHECK_MAP] = "dmasplit_map",
	[CHECK_VEC] = "dmasplit_map_vec",
	[CHECK_COHERENT] = "dmasplit_alloc_coherent",
};

static const char *const dir_name[] = {
	[DMASPLIT_BIDIRECTIONAL] = "BIDIRECTIONAL",
	[DMASPLIT_TO_DEVICE] = "TO_DEVICE",
	[DMASPLIT_FROM_DEVICE] = "FROM_DEVICE",
};

static struct check_link *link_of(struct itree_node *n)
{
	return n ? container_of(n, struct check_link, node) : NULL;
}

static struct check_entry *entry_of(struct itree_node *n)
{
	return n ? container_of(n, struct check_entry, node) : NULL;
}

int check_dev_new(struct dmasplit_dev *dev)
{
	dev->check = calloc(1, sizeof(*dev->check));
	return dev->check ? 0 : -ENOMEM;
}

static void free_links(struct itree *links)
{
	struct itree_node *n;

	while ((n = itree_first(links))) {
		itree_remove(links, n);
		free(link_of(n));
	}
}

static void put_group(struct check_group *g)
{
	if (g && --g->live == 0)
		free(g);
}

/* An entry already out of the tree. */
static void drop_entry(struct check_entry *e)
{
	free_links(&e->links);
	put_group(e->group);
	free(e);
}

static void free_entry(struct check_dev *c, struct check_entry *e)
{
	itree_remove(&c->ranges, &e->node);
	drop_entry(e);
}

/* Undo a leaked mapping the way its owner should have. */
static void release_leak(struct dmasplit_dev *dev, struct check_entry *e)
{
	uint64_t len = e->node.last - e->node.start + 1;
	const struct dmasplit_backend_ops *ops = dev->ops;
	struct check_group *g = e->group;
	unsigned int i;

	log_err(dev->ctx, "%s: leaked %s mapping 0x%" PRIx64 "+0x%" PRIx64 " released at close",
		dev->name, kind_name[e->kind], e->node.start, len);
	switch (e->kind) {
	case CHECK_MAP:
		ops->unmap(dev->bdev, e->node.start, len, e->dir,
			   DMASPLIT_ATTR_SKIP_CPU_SYNC);
		break;
	case CHECK_VEC:
		if (g->released)
			break;
		g->released = true;
		if (ops->unmap_vec)
			ops->unmap_vec(dev->bdev, g->segs, g->n, e->dir,
				       DMASPLIT_ATTR_SKIP_CPU_SYNC);
		else
			for (i = 0; i < g->n; i++)
				ops->unmap(dev->bdev, g->segs[i].dma,
					   g->segs[i].len, e->dir,
					   DMASPLIT_ATTR_SKIP_CPU_SYNC);
		break;
	case CHECK_COHERENT:
		ops->free_coherent(dev->bdev, len, e->cpu, e->node.start);
		break;
	case CHECK_WINDOW:
		break;
	}
}

void check_dev_release(struct dmasplit_dev *dev)
{
	struct check_dev *c = dev->check;
	struct dmasplit_iova *q;
	struct itree_node *n;

	while ((n = itree_first(&c->ranges))) {
		struct check_entry *e = entry_of(n);

		release_leak(dev, e);
		free_entry(c, e);
	}
	while ((q = c->quarantine)) {
		c->quarantine = q->next;
		free(q);
	}
	free(c);
	dev->check = NULL;
}

static struct check_entry *new_entry(uint64_t start, uint64_t len,
				     enum check_kind kind,
				     enum dmasplit_dir dir)
{
	struct check_entry *e = calloc(1, sizeof(*e));

	if (e) {
		e->node.start = start;
		e->node.last = start + len - 1;
		e->kind = kind;
		e->dir = dir;
	}
	return e;
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
		      uintptr_t host)
{
	if (dev->info.flags & DMASPLIT_DEV_TRANSLATED)
		return false;
	if (e->kind == CHECK_WINDOW || !host || !e->host)
		return false;
	return start - e->node.start == (uint64_t)(host - e->host);
}

/* A range the backend handed out overlaps one that is live: a backend
 * bug that would let two owners share device addresses. */
static int overlap_bug(struct dmasplit_dev *dev, uint64_t start, uint64_t len,
		       uintptr_t host)
{
	uint64_t last = start + len - 1;
	struct itree_node *n;

	for (n = itree_first_overlap(&dev->check->ranges, start, last);
	     n && n->start <= last; n = itree_next(&dev->check->ranges, n)) {
		if (n->last < start || may_share(dev, entry_of(n), start, host))
			continue;
		log_err(dev->ctx, "%s: backend %s returned 0x%" PRIx64 "+0x%" PRIx64 ", overlapping live range 0x%" PRIx64 "-0x%" PRIx64,
			dev->name, dev->backend->ops.name, start, len, n->start,
			n->last);
		return -EIO;
	}
	return 0;
}

int check_window_add(struct dmasplit_iova *iova)
{
	struct dmasplit_dev *dev = iova->dev;
	struct check_entry *e;
	int r;

	e = new_entry(iova->addr, iova->size, CHECK_WINDOW,
		      DMASPLIT_BIDIRECTIONAL);
	if (!e)
		return -ENOMEM;
	e->iova = iova;
	pthread_mutex_lock(&dev->lock);
	r = overlap_bug(dev, iova->addr, iova->size, 0);
	if (!r) {
		itree_insert(&dev->check->ranges, &e->node);
		iova->check = e;
	}
	pthread_mutex_unlock(&dev->lock);
	if (r < 0)
		free(e);
	return r;
}

void check_window_del(struct dmasplit_iova *iova)
{
	struct dmasplit_dev *dev = iova->dev;

	pthread_mutex_lock(&dev->lock);
	if (iova->check)
		free_entry(dev->check, iova->check);
	pthread_mutex_unlock(&dev->lock);
	iova->check = NULL;
}

void check_quarantine(struct dmasplit_iova *iova)
{
	struct dmasplit_dev *dev = iova->dev;
	struct check_dev *c = dev->check;
	struct dmasplit_iova *old = NULL;

	iova->bwin = NULL;	/* marks it destroyed */
	iova->next = NULL;
	pthread_mutex_lock(&dev->lock);
	if (c->quarantine_tail)
		c->quarantine_tail->next = iova;
	else
		c->quarantine = iova;
	c->quarantine_tail = iova;
	if (++c->quarantined > QUARANTINE_MAX) {
		old = c->quarantine;
		c->quarantine = old->next;
		c->quarantined--;
	}
	pthread_mutex_unlock(&dev->lock);
	free(old);
}

bool check_window_dead(const struct dmasplit_iova *iova)
{
	if (iova->bwin)
		return false;
	log_err(iova->dev->ctx, "%s: window 0x%" PRIx64 "+0x%" PRIx64 " used after dmasplit_iova_destroy",
		iova->dev->name, iova->addr, iova->size);
	return true;
}

/* Granules [first, last] that [offset, offset + len) touches. */
static void granules(const struct dmasplit_iova *iova, uint64_t offset,
		     uint64_t len, uint64_t *first, uint64_t *last)
{
	*first = offset / iova->dev->granule;
	*last = (offset + len - 1) / iova->dev->granule;
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

static struct check_link *links_spare(struct check_link **spare)
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
	       enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_dev *dev = iova->dev;
	struct itree *links = &iova->check->links;
	struct check_link *l = calloc(1, sizeof(*l));
	struct itree_node *n;
	uint64_t first, last;

	if (!l)
		return -ENOMEM;
	granules(iova, offset, len, &first, &last);
	l->node.start = first;
	l->node.last = last;
	l->dir = dir;
	pthread_mutex_lock(&dev->lock);
	n = itree_first_overlap(links, first, last);
	if (n) {
		uint64_t at = n->start > first ? n->start : first;

		pthread_mutex_unlock(&dev->lock);
		free(l);
		return refuse(dev->ctx, attrs, -EEXIST,
			      "%s: dmasplit_iova_link: offset 0x%" PRIx64 " of window 0x%" PRIx64 " is already linked (link over link)",
			      dev->name, at * dev->granule, iova->addr);
	}
	itree_insert(links, &l->node);
	pthread_mutex_unlock(&dev->lock);
	return 0;
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
	drop_links(&iova->check->links, first, last);
	pthread_mutex_unlock(&iova->dev->lock);
}

int check_sync(struct dmasplit_iova *iova, uint64_t offset, uint64_t len)
{
	struct dmasplit_dev *dev = iova->dev;
	uint64_t first, last, hole;

	granules(iova, offset, len, &first, &last);
	pthread_mutex_lock(&dev->lock);
	hole = first_hole(&iova->check->links, first, last, false);
	pthread_mutex_unlock(&dev->lock);
	if (hole <= last) {
		log_err(dev->ctx, "%s: dmasplit_iova_sync: offset 0x%" PRIx64 " of window 0x%" PRIx64 " is not linked",
			dev->name, hole * dev->granule, iova->addr);
		return -ENOENT;
	}
	return 0;
}

/*
 * An unlink in two steps around the backend's: the runs are marked first
 * (so a second unlink of them is refused meanwhile, and a link over them
 * still collides), then dropped if the backend unlinked them or unmarked
 * if it failed, so that the checker and the backend never disagree.
 */
int check_unlink(struct dmasplit_iova *iova, uint64_t offset, uint64_t len,
		 enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_dev *dev = iova->dev;
	struct itree *links = &iova->check->links;
	struct check_link *spare[2];
	struct itree_node *n;
	uint64_t first, last, hole;
	int r = 0;

	if (!links_spare(spare))
		return -ENOMEM;
	granules(iova, offset, len, &first, &last);
	pthread_mutex_lock(&dev->lock);
	hole = first_hole(links, first, last, true);
	if (hole <= last) {
		r = refuse(dev->ctx, attrs, -ENOENT,
			   "%s: dmasplit_iova_unlink: offset 0x%" PRIx64 " of window 0x%" PRIx64 " is not linked (never linked, or double unlink)",
			   dev->name, hole * dev->granule, iova->addr);
		goto out;
	}
	for (n = itree_first_overlap(links, first, last);
	     n && n->start <= last; n = itree_next(links, n)) {
		struct check_link *l = link_of(n);

		if (l->dir != dir) {
			uint64_t at = n->start > first ? n->start : first;

			r = refuse(dev->ctx, attrs, -EINVAL,
				   "%s: dmasplit_iova_unlink: direction %s, but offset 0x%" PRIx64 " was linked %s",
				   dev->name, dir_name[dir], at * dev->granule,
				   dir_name[l->dir]);
			goto out;
		}
	}
	split_at(links, first, &spare[0]);
	split_at(links, last + 1, &spare[1]);
	for (n = itree_first_overlap(links, first, last);
	     n && n->start <= last; n = itree_next(links, n))
		link_of(n)->unlinking = true;
out:
	pthread_mutex_unlock(&dev->lock);
	free(spare[0]);
	free(spare[1]);
	return r;
}

void check_unlink_done(struct dmasplit_iova *iova, uint64_t offset,
		       uint64_t len, bool unlinked)
{
	struct itree *links = &iova->check->links;
	struct itree_node *n;
	uint64_t first, last;

	granules(iova, offset, len, &first, &last);
	pthread_mutex_lock(&iova->dev->lock);
	if (unlinked)
		drop_links(links, first, last);
	else
		for (n = itree_first_overlap(links, first, last);
		     n && n->start <= last; n = itree_next(links, n))
			link_of(n)->unlinking = false;
	pthread_mutex_unlock(&iova->dev->lock);
}

/*
 * The host address of each segment of a vector: segments cover the
 * buffers' bytes in order, so segment i starts where the bytes before it
 * end.  0 (unknown) for a segment that spans buffers, or when the
 * segments do not add up to the buffers (a backend that bounces).
 */
static void vec_hosts(const struct iovec *iov, unsigned int niov,
		      const struct dmasplit_seg *segs, unsigned int nsegs,
		      uintptr_t *host)
{
	uint64_t in = 0, total = 0;
	unsigned int i, b = 0;

	for (i = 0; i < niov; i++)
		total += iov[i].iov_len;
	for (i = 0; i < nsegs; i++)
		total -= segs[i].len;
	for (i = 0; i < nsegs; i++) {
		host[i] = 0;
		if (total || b >= niov)
			continue;
		if (segs[i].len <= iov[b].iov_len - in)
			host[i] = (uintptr_t)iov[b].iov_base + in;
		in += segs[i].len;
		while (b < niov && in >= iov[b].iov_len) {
			in -= iov[b].iov_len;
			b++;
		}
	}
}

int check_map_add(struct dmasplit_dev *dev, enum check_kind kind,
		  const struct dmasplit_seg *segs, unsigned int nsegs,
		  enum dmasplit_dir dir, const void *host,
		  const struct iovec *iov, unsigned int niov)
{
	struct check_entry **e, *one[1];
	struct check_group *g = NULL;
	uintptr_t *hosts = NULL, one_host[1];
	unsigned int i, added = 0;
	int r = 0;

	if (kind == CHECK_VEC) {
		g = calloc(1, sizeof(*g) + nsegs * (sizeof(g->segs[0]) +
						    sizeof(g->ent[0]) +
						    sizeof(*hosts)));
		if (!g)
			return -ENOMEM;
		g->n = nsegs;
		g->segs = (struct dmasplit_seg *)(g + 1);
		g->ent = (struct check_entry **)(g->segs + nsegs);
		hosts = (uintptr_t *)(g->ent + nsegs);
		memcpy(g->segs, segs, nsegs * sizeof(segs[0]));
		vec_hosts(iov, niov, segs, nsegs, hosts);
		e = g->ent;
	} else {
		one_host[0] = (uintptr_t)host;
		hosts = one_host;
		e = one;
		nsegs = 1;
	}
	for (i = 0; i < nsegs; i++) {
		e[i] = new_entry(segs[i].dma, segs[i].len, kind, dir);
		if (!e[i]) {
			r = -ENOMEM;
			goto out;
		}
		e[i]->cpu = kind == CHECK_COHERENT ? (void *)host : NULL;
		e[i]->host = hosts[i];
		e[i]->group = g;
	}
	pthread_mutex_lock(&dev->lock);
	for (i = 0; i < nsegs; i++) {
		r = overlap_bug(dev, segs[i].dma, segs[i].len, hosts[i]);
		if (r < 0)
			break;
		itree_insert(&dev->check->ranges, &e[i]->node);
		added++;
	}
	if (r < 0)
		while (added--)
			itree_remove(&dev->check->ranges, &e[added]->node);
	else if (g)
		g->live = nsegs;
	pthread_mutex_unlock(&dev->lock);
out:
	if (r < 0) {
		for (i = 0; i < nsegs; i++)
			free(e[i]);
		free(g);
	}
	return r;
}

/* Whether e is exactly what an unmap of segs (or a free of cpu) names. */
static bool mapping_is(const struct check_entry *e,
		       const struct dmasplit_seg *segs, unsigned int nsegs,
		       void *cpu)
{
	const struct check_group *g = e->group;

	if (e->kind == CHECK_COHERENT)
		return e->cpu == cpu;
	if (e->kind != CHECK_VEC)
		return true;
	return g->n == nsegs &&
	       !memcmp(g->segs, segs, nsegs * sizeof(*segs));
}

/*
 * Lock held.  The live entry of a kind starting exactly at segs[0].dma
 * that matches best: exactly the mapping named (without translation the
 * same bytes mapped twice start at one address); else one of the same
 * length and direction; else any other there (to report what differs);
 * NULL when nothing but windows starts there.
 */
static struct check_entry *find_mapping(struct dmasplit_dev *dev,
					enum check_kind kind,
					const struct dmasplit_seg *segs,
					unsigned int nsegs,
					enum dmasplit_dir dir, void *cpu)
{
	struct itree *t = &dev->check->ranges;
	struct check_entry *any = NULL, *near = NULL;
	uint64_t dma = segs[0].dma, len = segs[0].len;
	struct itree_node *n;

	for (n = itree_find_ge(t, dma); n && n->start == dma;
	     n = itree_next(t, n)) {
		struct check_entry *e = entry_of(n);

		if (e->kind == CHECK_WINDOW)
			continue;
		if (e->kind == kind && n->last - n->start + 1 == len &&
		    e->dir == dir &&
		    (kind != CHECK_VEC || e->group->segs[0].dma == dma)) {
			if (mapping_is(e, segs, nsegs, cpu))
				return e;
			if (!near)
				near = e;
		}
		if (!any || (e->kind == kind && any->kind != kind))
			any = e;
	}
	return near ? near : any;
}

static const char *del_name(enum check_kind kind)
{
	return kind == CHECK_MAP ? "dmasplit_unmap" :
	       kind == CHECK_VEC ? "dmasplit_unmap_vec" :
				   "dmasplit_free_coherent";
}

/* Lock held.  A vector is unmapped as the group it was mapped as. */
static int vec_mismatch(struct dmasplit_dev *dev, struct check_entry *e,
			const struct dmasplit_seg *segs, unsigned int nsegs,
			uint32_t attrs)
{
	struct check_group *g = e->group;
	unsigned int i;

	if (g->segs[0].dma != segs[0].dma)
		return refuse(dev->ctx, attrs, -EINVAL,
			      "%s: dmasplit_unmap_vec: 0x%" PRIx64 " is not the first segment of the vector it was mapped in (which starts at 0x%" PRIx64 ", %u segments): unmap the vector as dmasplit_map_vec returned it",
			      dev->name, segs[0].dma, g->segs[0].dma, g->n);
	for (i = 0; i < nsegs && i < g->n; i++)
		if (segs[i].dma != g->segs[i].dma ||
		    segs[i].len != g->segs[i].len)
			return refuse(dev->ctx, attrs, -EINVAL,
				      "%s: dmasplit_unmap_vec: segment %u is 0x%" PRIx64 "+0x%" PRIx64 ", but the vector mapped at 0x%" PRIx64 " has 0x%" PRIx64 "+0x%" PRIx64 " there: unmap the vector as dmasplit_map_vec returned it",
				      dev->name, i, segs[i].dma, segs[i].len,
				      g->segs[0].dma, g->segs[i].dma,
				      g->segs[i].len);
	if (nsegs != g->n)
		return refuse(dev->ctx, attrs, -EINVAL,
			      "%s: dmasplit_unmap_vec: %u segments, but the vector mapped at 0x%" PRIx64 " has %u",
			      dev->name, nsegs, g->segs[0].dma, g->n);
	return 0;
}

int check_map_take(struct dmasplit_dev *dev, enum check_kind kind,
		   const struct dmasplit_seg *segs, unsigned int nsegs,
		   enum dmasplit_dir dir, uint32_t attrs, void *cpu,
		   struct check_entry **taken)
{
	const char *fn = del_name(kind);
	struct check_entry *e;
	unsigned int i;
	uint64_t len;
	int r = 0;

	pthread_mutex_lock(&dev->lock);
	e = find_mapping(dev, kind, segs, nsegs, dir, cpu);
	if (!e) {
		r = refuse(dev->ctx, attrs, -ENOENT,
			   "%s: %s: 0x%" PRIx64 " was never mapped (or already unmapped)",
			   dev->name, fn, segs[0].dma);
		goto out;
	}
	len = e->node.last - e->node.start + 1;
	if (e->kind != kind)
		r = refuse(dev->ctx, attrs, -EINVAL,
			   "%s: %s: 0x%" PRIx64 " was mapped by %s",
			   dev->name, fn, segs[0].dma, kind_name[e->kind]);
	else if (kind == CHECK_VEC)
		r = vec_mismatch(dev, e, segs, nsegs, attrs);
	else if (len != segs[0].len)
		r = refuse(dev->ctx, attrs, -EINVAL,
			   "%s: %s: 0x%" PRIx64 " with length 0x%" PRIx64 ", but mapped with 0x%" PRIx64,
			   dev->name, fn, segs[0].dma, segs[0].len, len);
	if (!r && e->dir != dir)
		r = refuse(dev->ctx, attrs, -EINVAL,
			   "%s: %s: 0x%" PRIx64 " with direction %s, but mapped %s",
			   dev->name, fn, segs[0].dma, dir_name[dir],
			   dir_name[e->dir]);
	else if (!r && kind == CHECK_COHERENT && e->cpu != cpu)
		r = refuse(dev->ctx, attrs, -EINVAL,
			   "%s: %s: 0x%" PRIx64 " with CPU address %p, but allocated at %p",
			   dev->name, fn, segs[0].dma, cpu, e->cpu);
	if (r)
		goto out;
	/* Out of the tree while the backend works: a second unmap of the
	 * same mapping meanwhile is refused, not raced. */
	if (kind == CHECK_VEC)
		for (i = 0; i < e->group->n; i++)
			itree_remove(&dev->check->ranges,
				     &e->group->ent[i]->node);
	else
		itree_remove(&dev->check->ranges, &e->node);
	*taken = e;
out:
	pthread_mutex_unlock(&dev->lock);
	return r;
}

/*
 * After the backend's answer: the first done segments are gone, the rest
 * (all of them when the backend failed) go back, as a vector of what is
 * left for a partly unmapped one.
 */
void check_map_done(struct dmasplit_dev *dev, struct check_entry *taken,
		    unsigned int done)
{
	struct check_group *g = taken->group;
	unsigned int i, n = g ? g->n : 1;

	pthread_mutex_lock(&dev->lock);
	if (!g) {
		if (done)
			drop_entry(taken);
		else
			itree_insert(&dev->check->ranges, &taken->node);
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	for (i = done; i < n; i++)
		itree_insert(&dev->check->ranges, &g->ent[i]->node);
	if (done && done < n) {
		/* The group lives on: shift what is left to its front. */
		for (i = 0; i < done; i++) {
			g->ent[i]->group = NULL;
			drop_entry(g->ent[i]);
			g->live--;
		}
		memmove(g->segs, g->segs + done,
			(n - done) * sizeof(g->segs[0]));
		memmove(g->ent, g->ent + done,
			(n - done) * sizeof(g->ent[0]));
		g->n = n - done;
	} else if (done) {
		for (i = 0; i < n; i++)
			drop_entry(g->ent[i]);
	}
	pthread_mutex_unlock(&dev->lock);
}

/*
 * Ownership, as the kernel's DMA API defines it: after a sync for the CPU
 * the CPU owns the memory until a sync for the device.  Tracked per
 * mapping (when a sync covers it whole) and per window granule, so that
 * device accesses on non-coherent devices can be checked.
 */
/* Lock held.  A live mapping or window that holds [dma, dma + len). */
/*
 * Lock held.  The live mapping or window that holds all of [dma, dma +
 * len), preferring one whose direction allows a sync in dir: without
 * translation the same bytes mapped twice share device addresses, and a
 * sync is right if it is right for any mapping of them.
 */
static struct check_entry *find_holder(struct dmasplit_dev *dev, uint64_t dma,
				       uint64_t len, enum dmasplit_dir dir)
{
	struct itree *t = &dev->check->ranges;
	struct check_entry *e, *first = NULL;
	uint64_t last = dma + len - 1;
	struct itree_node *n;

	for (n = itree_first_overlap(t, dma, last); n && n->start <= dma;
	     n = itree_next(t, n)) {
		if (n->last < last)
			continue;
		e = entry_of(n);
		if (e->kind == CHECK_WINDOW || e->dir == DMASPLIT_BIDIRECTIONAL ||
		    e->dir == dir)
			return e;
		if (!first)
			first = e;
	}
	return first;
}

/* Lock held.  A sync of granules [first, last] of a window. */
static int window_sync(struct dmasplit_dev *dev, struct check_entry *e,
		       uint64_t first, uint64_t last, enum dmasplit_dir dir,
		       bool for_cpu, struct check_link **spare)
{
	struct dmasplit_iova *iova = e->iova;
	struct itree_node *n;
	uint64_t hole;

	hole = first_hole(&e->links, first, last, false);
	if (hole <= last) {
		log_err(dev->ctx, "%s: sync of 0x%" PRIx64 ", which is not linked",
			dev->name, iova->addr + hole * dev->granule);
		return -ENOENT;
	}
	for (n = itree_first_overlap(&e->links, first, last);
	     n && n->start <= last; n = itree_next(&e->links, n)) {
		enum dmasplit_dir linked = link_of(n)->dir;

		if (linked != DMASPLIT_BIDIRECTIONAL && linked != dir) {
			uint64_t at = n->start > first ? n->start : first;

			log_err(dev->ctx, "%s: sync with direction %s of 0x%" PRIx64 ", linked %s",
				dev->name, dir_name[dir],
				iova->addr + at * dev->granule,
				dir_name[linked]);
			return -EINVAL;
		}
	}
	split_at(&e->links, first, &spare[0]);
	split_at(&e->links, last + 1, &spare[1]);
	for (n = itree_first_overlap(&e->links, first, last);
	     n && n->start <= last; n = itree_next(&e->links, n))
		link_of(n)->cpu = for_cpu;
	return 0;
}

/*
 * Ownership, as the kernel's DMA API defines it: after a sync for the CPU
 * the CPU owns the memory until a sync for the device.  Tracked per
 * mapping (when a sync covers it whole) and per linked run of a window,
 * so that device accesses on non-coherent devices can be checked.
 */
int check_map_sync(struct dmasplit_dev *dev, uint64_t dma, uint64_t len,
		   enum dmasplit_dir dir, bool for_cpu)
{
	struct check_link *spare[2];
	struct check_entry *e;
	int r = 0;

	if (!links_spare(spare))
		return -ENOMEM;
	pthread_mutex_lock(&dev->lock);
	e = find_holder(dev, dma, len, dir);
	if (!e) {
		r = -ENOENT;
		log_err(dev->ctx, "%s: sync of 0x%" PRIx64 "+0x%" PRIx64 ", which is not inside one live mapping or window",
			dev->name, dma, len);
	} else if (e->kind == CHECK_WINDOW) {
		uint64_t first, last;

		granules(e->iova, dma - e->iova->addr, len, &first, &last);
		r = window_sync(dev, e, first, last, dir, for_cpu, spare);
	} else if (e->dir != DMASPLIT_BIDIRECTIONAL && e->dir != dir) {
		/* As dma-debug: a bidirectional mapping syncs either way. */
		r = -EINVAL;
		log_err(dev->ctx, "%s: sync with direction %s of 0x%" PRIx64 ", mapped %s",
			dev->name, dir_name[dir], dma, dir_name[e->dir]);
	} else if (!for_cpu) {
		e->cpu_owned = false;
	} else if (dma == e->node.start && dma + len - 1 == e->node.last) {
		e->cpu_owned = true;
	}
	pthread_mutex_unlock(&dev->lock);
	free(spare[0]);
	free(spare[1]);
	return r;
}

/*
 * On a non-coherent device, a device access to memory the CPU owns would
 * see stale data or lose the CPU's writes on real hardware; host memory
 * in one process is coherent, so only the checker can say so.
 */
void check_device_access(struct dmasplit_dev *dev, uint64_t dma, uint64_t len,
			 bool write)
{
	struct check_entry *e = NULL;
	struct itree_node *n;
	bool owned = false;

	if (dev->info.flags & DMASPLIT_DEV_COHERENT)
		return;
	pthread_mutex_lock(&dev->lock);
	n = itree_find_le(&dev->check->ranges, dma);
	if (n && dma <= n->last)
		e = entry_of(n);
	if (e && e->kind == CHECK_WINDOW) {
		struct dmasplit_iova *iova = e->iova;
		uint64_t first, last;

		if (dma + len - 1 > e->node.last)
			len = e->node.last - dma + 1;
		granules(iova, dma - iova->addr, len, &first, &last);
		for (n = itree_first_overlap(&e->links, first, last);
		     n && n->start <= last && !owned;
		     n = itree_next(&e->links, n))
			owned = link_of(n)->cpu;
	} else if (e && e->kind != CHECK_COHERENT) {
		owned = e->cpu_owned;
	}
	pthread_mutex_unlock(&dev->lock);
	if (owned)
		log_err(dev->ctx, "%s: device %s at 0x%" PRIx64 " while the CPU owns that memory (dmasplit_sync_for_cpu without dmasplit_sync_for_device since): a non-coherent device would %s",
			dev->name, write ? "write" : "read", dma,
			write ? "lose the CPU's view of it" : "see stale data");
}
