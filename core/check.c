// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The API misuse checker, the user-space counterpart of the kernel's
 * CONFIG_DMA_API_DEBUG (kernel/dma/debug.c), and stricter: misuse is
 * refused before the backend sees it, not only reported.  Per device it
 * keeps every live window and mapping in one address-ordered tree, and per
 * window one byte of state for each granule.  It is fixed at device open,
 * so its state is always complete; everything here runs under dev->lock.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Per-granule window state. */
#define PG_LINKED 0x1
#define PG_SYNCED 0x2
#define PG_DIR_SHIFT 2
#define PG_CPU 0x10	/* synced for the CPU, not yet back to the device */

/* Destroyed windows kept to catch use after destroy; bounded, like KASAN's
 * quarantine, so a long-running program does not grow without limit. */
#define QUARANTINE_MAX 1024

struct check_group {
	unsigned int refs;	/* entries still pointing here */
	bool released;
	unsigned int n;
	struct dmasplit_seg segs[];
};

struct check_entry {
	struct itree_node node;
	enum check_kind kind;
	enum dmasplit_dir dir;
	struct dmasplit_iova *iova;	/* CHECK_WINDOW */
	struct check_group *group;	/* CHECK_VEC from a backend map_vec */
	void *cpu;			/* CHECK_COHERENT */
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

int check_dev_new(struct dmasplit_dev *dev)
{
	dev->check = calloc(1, sizeof(*dev->check));
	return dev->check ? 0 : -ENOMEM;
}

static void put_group(struct check_group *g)
{
	if (g && --g->refs == 0)
		free(g);
}

static void free_entry(struct check_dev *c, struct check_entry *e)
{
	itree_remove(&c->ranges, &e->node);
	put_group(e->group);
	free(e);
}

/* Undo a leaked mapping the way its owner should have. */
static void release_leak(struct dmasplit_dev *dev, struct check_entry *e)
{
	uint64_t len = e->node.last - e->node.start + 1;
	const struct dmasplit_backend_ops *ops = dev->ops;

	log_err(dev->ctx, "%s: leaked %s mapping 0x%" PRIx64 "+0x%" PRIx64 " released at close",
		dev->name, kind_name[e->kind], e->node.start, len);
	switch (e->kind) {
	case CHECK_MAP:
		ops->unmap(dev->bdev, e->node.start, len, e->dir,
			   DMASPLIT_ATTR_SKIP_CPU_SYNC);
		break;
	case CHECK_VEC:
		if (e->group && !e->group->released) {
			e->group->released = true;
			ops->unmap_vec(dev->bdev, e->group->segs, e->group->n,
				       e->dir, DMASPLIT_ATTR_SKIP_CPU_SYNC);
		} else if (!e->group) {
			ops->unmap(dev->bdev, e->node.start, len, e->dir,
				   DMASPLIT_ATTR_SKIP_CPU_SYNC);
		}
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
		struct check_entry *e = container_of(n, struct check_entry,
						     node);

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

/* A range the backend handed out overlaps one that is live: a backend
 * bug that would let two owners share device addresses. */
static int overlap_bug(struct dmasplit_dev *dev, uint64_t start, uint64_t len)
{
	struct itree_node *n = itree_first_overlap(&dev->check->ranges, start,
						   start + len - 1);

	if (!n)
		return 0;
	log_err(dev->ctx, "%s: backend %s returned 0x%" PRIx64 "+0x%" PRIx64 ", overlapping live range 0x%" PRIx64 "-0x%" PRIx64,
		dev->name, dev->backend->ops.name, start, len, n->start,
		n->last);
	return -EIO;
}

int check_window_add(struct dmasplit_iova *iova)
{
	struct dmasplit_dev *dev = iova->dev;
	struct check_entry *e;
	int r;

	iova->pages = calloc(iova->size / dev->granule, 1);
	e = new_entry(iova->addr, iova->size, CHECK_WINDOW,
		      DMASPLIT_BIDIRECTIONAL);
	if (!iova->pages || !e) {
		free(iova->pages);
		iova->pages = NULL;
		free(e);
		return -ENOMEM;
	}
	e->iova = iova;
	pthread_mutex_lock(&dev->lock);
	r = overlap_bug(dev, iova->addr, iova->size);
	if (!r) {
		itree_insert(&dev->check->ranges, &e->node);
		iova->check = e;
	}
	pthread_mutex_unlock(&dev->lock);
	if (r < 0) {
		free(iova->pages);
		iova->pages = NULL;
		free(e);
	}
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
	free(iova->pages);
	iova->pages = NULL;
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

int check_link(struct dmasplit_iova *iova, uint64_t offset, uint64_t len,
	       enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_dev *dev = iova->dev;
	uint64_t first, last, i;

	granules(iova, offset, len, &first, &last);
	pthread_mutex_lock(&dev->lock);
	for (i = first; i <= last; i++) {
		if (iova->pages[i] & PG_LINKED) {
			pthread_mutex_unlock(&dev->lock);
			return refuse(dev->ctx, attrs, -EEXIST,
				      "%s: dmasplit_iova_link: offset 0x%" PRIx64 " of window 0x%" PRIx64 " is already linked (link over link)",
				      dev->name, i * dev->granule, iova->addr);
		}
	}
	for (i = first; i <= last; i++)
		iova->pages[i] = PG_LINKED | (uint8_t)(dir << PG_DIR_SHIFT);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

void check_link_undo(struct dmasplit_iova *iova, uint64_t offset,
		     uint64_t len)
{
	uint64_t first, last;

	granules(iova, offset, len, &first, &last);
	pthread_mutex_lock(&iova->dev->lock);
	memset(iova->pages + first, 0, last - first + 1);
	pthread_mutex_unlock(&iova->dev->lock);
}

/* The first granule of [first, last] that is not linked, or last + 1. */
static uint64_t first_unlinked(const struct dmasplit_iova *iova,
			       uint64_t first, uint64_t last)
{
	uint64_t i;

	for (i = first; i <= last; i++)
		if (!(iova->pages[i] & PG_LINKED))
			break;
	return i;
}

int check_sync(struct dmasplit_iova *iova, uint64_t offset, uint64_t len)
{
	struct dmasplit_dev *dev = iova->dev;
	uint64_t first, last, i, hole;

	granules(iova, offset, len, &first, &last);
	pthread_mutex_lock(&dev->lock);
	hole = first_unlinked(iova, first, last);
	if (hole <= last) {
		pthread_mutex_unlock(&dev->lock);
		log_err(dev->ctx, "%s: dmasplit_iova_sync: offset 0x%" PRIx64 " of window 0x%" PRIx64 " is not linked",
			dev->name, hole * dev->granule, iova->addr);
		return -ENOENT;
	}
	for (i = first; i <= last; i++)
		iova->pages[i] |= PG_SYNCED;
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

int check_unlink(struct dmasplit_iova *iova, uint64_t offset, uint64_t len,
		 enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_dev *dev = iova->dev;
	uint64_t first, last, i, hole;
	int r = 0;

	granules(iova, offset, len, &first, &last);
	pthread_mutex_lock(&dev->lock);
	hole = first_unlinked(iova, first, last);
	if (hole <= last) {
		r = refuse(dev->ctx, attrs, -ENOENT,
			   "%s: dmasplit_iova_unlink: offset 0x%" PRIx64 " of window 0x%" PRIx64 " is not linked (never linked, or double unlink)",
			   dev->name, hole * dev->granule, iova->addr);
		goto out;
	}
	for (i = first; i <= last; i++) {
		enum dmasplit_dir linked =
			(iova->pages[i] >> PG_DIR_SHIFT) & 3;

		if (linked != dir) {
			r = refuse(dev->ctx, attrs, -EINVAL,
				   "%s: dmasplit_iova_unlink: direction %s, but offset 0x%" PRIx64 " was linked %s",
				   dev->name, dir_name[dir], i * dev->granule,
				   dir_name[linked]);
			goto out;
		}
	}
	memset(iova->pages + first, 0, last - first + 1);
out:
	pthread_mutex_unlock(&dev->lock);
	return r;
}

int check_map_add(struct dmasplit_dev *dev, enum check_kind kind,
		  const struct dmasplit_seg *segs, unsigned int nsegs,
		  enum dmasplit_dir dir, bool grouped, void *cpu)
{
	struct check_entry **e;
	struct check_group *g = NULL;
	unsigned int i, added = 0;
	int r = 0;

	e = calloc(nsegs, sizeof(*e));
	if (!e)
		return -ENOMEM;
	if (grouped) {
		g = malloc(sizeof(*g) + nsegs * sizeof(g->segs[0]));
		if (!g) {
			free(e);
			return -ENOMEM;
		}
		g->refs = 0;
		g->released = false;
		g->n = nsegs;
		memcpy(g->segs, segs, nsegs * sizeof(segs[0]));
	}
	for (i = 0; i < nsegs; i++) {
		e[i] = new_entry(segs[i].dma, segs[i].len, kind, dir);
		if (!e[i]) {
			r = -ENOMEM;
			goto out;
		}
		e[i]->cpu = cpu;
		e[i]->group = g;
	}
	pthread_mutex_lock(&dev->lock);
	for (i = 0; i < nsegs; i++) {
		r = overlap_bug(dev, segs[i].dma, segs[i].len);
		if (r < 0)
			break;
		itree_insert(&dev->check->ranges, &e[i]->node);
		if (g)
			g->refs++;
		added++;
	}
	if (r < 0)
		while (added--)
			itree_remove(&dev->check->ranges, &e[added]->node);
	pthread_mutex_unlock(&dev->lock);
out:
	if (r < 0) {
		for (i = 0; i < nsegs; i++)
			free(e[i]);
		free(g);
	}
	free(e);
	return r;
}

/* The live mapping starting exactly at dma, or NULL. */
static struct check_entry *find_mapping(struct dmasplit_dev *dev, uint64_t dma)
{
	struct itree_node *n = itree_find_le(&dev->check->ranges, dma);

	return n && n->start == dma ? container_of(n, struct check_entry, node)
				    : NULL;
}

int check_map_del(struct dmasplit_dev *dev, enum check_kind kind,
		  const struct dmasplit_seg *segs, unsigned int nsegs,
		  enum dmasplit_dir dir, uint32_t attrs, void *cpu)
{
	const char *fn = kind == CHECK_MAP ? "dmasplit_unmap" :
			 kind == CHECK_VEC ? "dmasplit_unmap_vec" :
					     "dmasplit_free_coherent";
	struct check_entry *e;
	unsigned int i;
	int r = 0;

	pthread_mutex_lock(&dev->lock);
	/* All or nothing: validate every segment before removing any. */
	for (i = 0; i < nsegs && !r; i++) {
		uint64_t len;

		e = find_mapping(dev, segs[i].dma);
		if (!e || e->kind == CHECK_WINDOW) {
			r = refuse(dev->ctx, attrs, -ENOENT,
				   "%s: %s: 0x%" PRIx64 " was never mapped (or already unmapped)",
				   dev->name, fn, segs[i].dma);
			break;
		}
		len = e->node.last - e->node.start + 1;
		if (e->kind != kind)
			r = refuse(dev->ctx, attrs, -EINVAL,
				   "%s: %s: 0x%" PRIx64 " was mapped by %s",
				   dev->name, fn, segs[i].dma,
				   kind_name[e->kind]);
		else if (len != segs[i].len)
			r = refuse(dev->ctx, attrs, -EINVAL,
				   "%s: %s: 0x%" PRIx64 " with length 0x%" PRIx64 ", but mapped with 0x%" PRIx64,
				   dev->name, fn, segs[i].dma, segs[i].len,
				   len);
		else if (e->dir != dir)
			r = refuse(dev->ctx, attrs, -EINVAL,
				   "%s: %s: 0x%" PRIx64 " with direction %s, but mapped %s",
				   dev->name, fn, segs[i].dma, dir_name[dir],
				   dir_name[e->dir]);
		else if (kind == CHECK_COHERENT && e->cpu != cpu)
			r = refuse(dev->ctx, attrs, -EINVAL,
				   "%s: %s: 0x%" PRIx64 " with CPU address %p, but allocated at %p",
				   dev->name, fn, segs[i].dma, cpu, e->cpu);
	}
	if (!r)
		for (i = 0; i < nsegs; i++)
			free_entry(dev->check, find_mapping(dev, segs[i].dma));
	pthread_mutex_unlock(&dev->lock);
	return r;
}

/*
 * Ownership, as the kernel's DMA API defines it: after a sync for the CPU
 * the CPU owns the memory until a sync for the device.  Tracked per
 * mapping (when a sync covers it whole) and per window granule, so that
 * device accesses on non-coherent devices can be checked.
 */
int check_map_sync(struct dmasplit_dev *dev, uint64_t dma, uint64_t len,
		   enum dmasplit_dir dir, bool for_cpu)
{
	struct check_entry *e = NULL;
	struct itree_node *n;
	int r = 0;

	pthread_mutex_lock(&dev->lock);
	n = itree_find_le(&dev->check->ranges, dma);
	if (n && dma + len - 1 <= n->last)
		e = container_of(n, struct check_entry, node);
	if (!e) {
		r = -ENOENT;
		log_err(dev->ctx, "%s: sync of 0x%" PRIx64 "+0x%" PRIx64 ", which is not inside one live mapping or window",
			dev->name, dma, len);
	} else if (e->kind == CHECK_WINDOW) {
		struct dmasplit_iova *iova = e->iova;
		uint64_t first, last, i;

		granules(iova, dma - iova->addr, len, &first, &last);
		for (i = first; i <= last && !r; i++) {
			enum dmasplit_dir linked =
				(iova->pages[i] >> PG_DIR_SHIFT) & 3;

			if (!(iova->pages[i] & PG_LINKED)) {
				r = -ENOENT;
				log_err(dev->ctx, "%s: sync of 0x%" PRIx64 ", which is not linked",
					dev->name, iova->addr + i * dev->granule);
			} else if (linked != DMASPLIT_BIDIRECTIONAL &&
				   linked != dir) {
				r = -EINVAL;
				log_err(dev->ctx, "%s: sync with direction %s of 0x%" PRIx64 ", linked %s",
					dev->name, dir_name[dir],
					iova->addr + i * dev->granule,
					dir_name[linked]);
			}
		}
		for (i = first; i <= last && !r; i++)
			iova->pages[i] = for_cpu ? iova->pages[i] | PG_CPU
						 : iova->pages[i] & ~PG_CPU;
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
		e = container_of(n, struct check_entry, node);
	if (e && e->kind == CHECK_WINDOW) {
		struct dmasplit_iova *iova = e->iova;
		uint64_t first, last, i;

		if (dma + len - 1 > e->node.last)
			len = e->node.last - dma + 1;
		granules(iova, dma - iova->addr, len, &first, &last);
		for (i = first; i <= last && !owned; i++)
			owned = iova->pages[i] & PG_CPU;
	} else if (e && e->kind != CHECK_COHERENT) {
		owned = e->cpu_owned;
	}
	pthread_mutex_unlock(&dev->lock);
	if (owned)
		log_err(dev->ctx, "%s: device %s at 0x%" PRIx64 " while the CPU owns that memory (dmasplit_sync_for_cpu without dmasplit_sync_for_device since): a non-coherent device would %s",
			dev->name, write ? "write" : "read", dma,
			write ? "lose the CPU's view of it" : "see stale data");
}
