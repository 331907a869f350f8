// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The checker's records of per-range mappings (dmasplit_map, the groups
 * of dmasplit_map_vec, coherent memory): each live one, and the last ones
 * unmapped, so that a second unmap can name the first.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "checker.h"

void check_group_put(struct check_group *g)
{
	if (g && --g->live == 0)
		free(g);
}

/* What the backend could not release stays mapped: say so, as any
 * other call's failure is. */
static void release_failed(struct dmasplit_dev *dev, int r, const char *op,
			   uint64_t dma, uint64_t len)
{
	if (r)
		log_err(dev->ctx, "%s: backend %s returned %d (%s) from %s of 0x%" PRIx64 "+0x%" PRIx64 " at release: it may stay mapped",
			dev->name, dev->backend->ops.name, r,
			is_errno(r) ? strerror(-r) : "not an errno", op, dma,
			len);
}

void check_map_release_leak(struct dmasplit_dev *dev, struct check_entry *e,
			    const char *when)
{
	uint64_t len = e->node.last - e->node.start + 1;
	const struct dmasplit_backend_ops *ops = dev->ops;
	struct check_group *g = e->group;
	struct check_report rep = { 0 };
	unsigned int i;

	/* A vector is one leak, however many segments it came in. */
	if (e->kind == CHECK_VEC && g->n > 1) {
		if (!g->reported) {
			g->reported = true;
			check_misuse(&rep, 0, "%s: leaked %s vector of %u segments from 0x%" PRIx64 "+0x%" PRIx64 " released %s",
				     dev->name, check_kind_name[e->kind], g->n,
				     g->segs[0].dma, g->segs[0].len, when);
			check_culprit(&rep, "mapped at", e->made_at);
			check_report(dev, &rep, 0);
		}
	} else {
		check_misuse(&rep, 0, "%s: leaked %s mapping 0x%" PRIx64 "+0x%" PRIx64 " released %s",
			     dev->name, check_kind_name[e->kind], e->node.start,
			     len, when);
		check_culprit(&rep, e->kind == CHECK_WINDOW ? "allocated at" :
				    "mapped at", e->made_at);
		check_report(dev, &rep, 0);
	}
	/* Through a region, the backend never saw it: the region's own
	 * mapping went with the region. */
	if (e->in_region)
		return;
	switch (e->kind) {
	case CHECK_MAP:
		release_failed(dev, ops->unmap(dev->bdev, e->node.start, len,
					       e->dir,
					       DMASPLIT_ATTR_SKIP_CPU_SYNC),
			       "unmap", e->node.start, len);
		break;
	case CHECK_VEC:
		if (g->released)
			break;
		g->released = true;
		if (ops->unmap_vec)
			release_failed(dev,
				       ops->unmap_vec(dev->bdev, g->segs, g->n,
						      e->dir,
						      DMASPLIT_ATTR_SKIP_CPU_SYNC),
				       "unmap_vec", g->segs[0].dma,
				       g->segs[0].len);
		else
			for (i = 0; i < g->n; i++)
				release_failed(dev,
					       ops->unmap(dev->bdev,
							  g->segs[i].dma,
							  g->segs[i].len,
							  e->dir,
							  DMASPLIT_ATTR_SKIP_CPU_SYNC),
					       "unmap", g->segs[i].dma,
					       g->segs[i].len);
		break;
	case CHECK_COHERENT:
		release_failed(dev, ops->free_coherent(dev->bdev, len, e->cpu,
						       e->node.start),
			       "free_coherent", e->node.start, len);
		break;
	case CHECK_WINDOW:
		break;
	}
}

void check_region_leaks(struct dmasplit_dev *dev, uint64_t dma, uint64_t len)
{
	struct check_entry **gone = NULL, **more;
	struct itree_node *n, *next;
	size_t ngone = 0, cap = 0, i;

	pthread_mutex_lock(&dev->lock);
	for (n = itree_first_overlap(&dev->check->ranges, dma, dma + len - 1);
	     n && n->start <= dma + len - 1; n = next) {
		struct check_entry *e = entry_of(n);

		next = itree_next(&dev->check->ranges, n);
		if (!e->in_region)
			continue;
		if (ngone == cap) {
			cap = cap ? 2 * cap : 16;
			more = realloc(gone, cap * sizeof(*gone));
			if (!more)
				break;	/* the rest at the device's release */
			gone = more;
		}
		itree_remove(&dev->check->ranges, n);
		gone[ngone++] = e;
	}
	pthread_mutex_unlock(&dev->lock);
	/* Reported outside the lock: the log function may call in. */
	for (i = 0; i < ngone; i++) {
		check_map_release_leak(dev, gone[i], "with its region");
		check_entry_drop(gone[i]);
	}
	free(gone);
}

/*
 * Segment seg of a vector whose segments cover its buffers in order,
 * from iov[*b] + *in on: its host address where its buffers follow each
 * other in memory (a backend merged them), else 0; and, with check, its
 * overlap check buffer by buffer, each piece with its own host address,
 * since a backend may also merge buffers that follow each other
 * physically but not virtually.  Lock held.
 */
static int vec_seg_walk(struct dmasplit_dev *dev, const struct iovec *iov,
			unsigned int niov, const struct dmasplit_seg *seg,
			unsigned int *b, uint64_t *in, bool check,
			uintptr_t *host, struct check_report *rep)
{
	uint64_t at = seg->dma, left = seg->len;
	uintptr_t next = *b < niov ? (uintptr_t)iov[*b].iov_base + *in : 0;
	int r = 0;

	*host = next;
	while (left && *b < niov && r == 0) {
		uintptr_t va = (uintptr_t)iov[*b].iov_base + *in;
		uint64_t take = iov[*b].iov_len - *in;

		if (va != next)
			*host = 0;	/* not where the last piece ended */
		if (take > left)
			take = left;
		if (take && check)
			r = check_overlap(dev, at, take, va, rep);
		at += take;
		left -= take;
		next = va + take;
		*in += take;
		while (*b < niov && *in >= iov[*b].iov_len) {
			*in -= iov[*b].iov_len;
			(*b)++;
		}
	}
	return r;
}

int check_map_add(struct dmasplit_dev *dev, enum check_kind kind,
		  const struct dmasplit_seg *segs, unsigned int nsegs,
		  enum dmasplit_dir dir, const void *host,
		  const struct iovec *iov, unsigned int niov,
		  const void *caller, bool in_region)
{
	struct check_entry **e, *one[1];
	struct check_report rep = { 0 };
	struct check_group *g = NULL;
	unsigned int i, added = 0, b = 0;
	uint64_t in = 0, covered = 0;
	int r = 0;

	if (kind == CHECK_VEC) {
		g = calloc(1, sizeof(*g) + nsegs * (sizeof(g->segs[0]) +
						    sizeof(g->ent[0])));
		if (!g)
			return -ENOMEM;
		g->n = nsegs;
		g->segs = (struct dmasplit_seg *)(g + 1);
		g->ent = (struct check_entry **)(g->segs + nsegs);
		memcpy(g->segs, segs, nsegs * sizeof(segs[0]));
		e = g->ent;
	} else {
		e = one;
		nsegs = 1;
	}
	for (i = 0; i < nsegs; i++) {
		e[i] = check_entry_new(segs[i].dma, segs[i].len, kind, dir,
				       caller);
		if (!e[i]) {
			r = -ENOMEM;
			goto out;
		}
		e[i]->cpu = kind == CHECK_COHERENT ? (void *)host : NULL;
		e[i]->in_region = in_region;
		e[i]->host = kind == CHECK_VEC ? 0 : (uintptr_t)host;
		e[i]->group = g;
	}
	/* Segments that cover the buffers exactly are walked buffer by
	 * buffer; others (a bounce) have no host address. */
	if (kind == CHECK_VEC) {
		for (i = 0; i < niov; i++)
			covered += iov[i].iov_len;
		for (i = 0; i < nsegs; i++)
			covered -= segs[i].len;
	}
	pthread_mutex_lock(&dev->lock);
	for (i = 0; i < nsegs; i++) {
		if (kind == CHECK_VEC && !covered)
			r = vec_seg_walk(dev, iov, niov, &segs[i], &b, &in,
					 !in_region, &e[i]->host, &rep);
		else if (!in_region)
			r = check_overlap(dev, segs[i].dma, segs[i].len,
					  e[i]->host, &rep);
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
	check_culprit(&rep, "called from", caller);
	return check_report(dev, &rep, r);
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

/* Lock held.  Remember e, unmapped from dma on. */
static void gone_add(struct check_dev *c, const struct check_entry *e,
		     uint64_t dma, uint64_t len)
{
	struct check_gone *g = &c->gone[c->gone_next];

	g->dma = dma;
	g->len = len;
	g->kind = e->kind;
	g->made_at = e->made_at;
	g->gone_at = e->gone_at;
	c->gone_next = (c->gone_next + 1) % CHECK_GONE_MAX;
}

/* Lock held.  The mapping last unmapped that started at dma, or NULL;
 * device addresses are never 0, so an unused slot ends the search. */
static const struct check_gone *gone_find(struct check_dev *c, uint64_t dma)
{
	unsigned int i, at;

	for (i = 1; i <= CHECK_GONE_MAX; i++) {
		at = (c->gone_next + CHECK_GONE_MAX - i) % CHECK_GONE_MAX;
		if (!c->gone[at].dma)
			return NULL;
		if (c->gone[at].dma == dma)
			return &c->gone[at];
	}
	return NULL;
}

/* Lock held.  A vector is unmapped as the group it was mapped as. */
static int vec_mismatch(struct dmasplit_dev *dev, struct check_entry *e,
			const struct dmasplit_seg *segs, unsigned int nsegs,
			uint32_t attrs, struct check_report *rep)
{
	struct check_group *g = e->group;
	unsigned int i;

	if (g->segs[0].dma != segs[0].dma) {
		check_misuse(rep, attrs, "%s: dmasplit_unmap_vec: 0x%" PRIx64 " is not the first segment of the vector it was mapped in (which starts at 0x%" PRIx64 ", %u segments): unmap the vector as dmasplit_map_vec returned it",
			     dev->name, segs[0].dma, g->segs[0].dma, g->n);
		return -EINVAL;
	}
	for (i = 0; i < nsegs && i < g->n; i++)
		if (segs[i].dma != g->segs[i].dma ||
		    segs[i].len != g->segs[i].len) {
			check_misuse(rep, attrs, "%s: dmasplit_unmap_vec: segment %u is 0x%" PRIx64 "+0x%" PRIx64 ", but the vector mapped at 0x%" PRIx64 " has 0x%" PRIx64 "+0x%" PRIx64 " there: unmap the vector as dmasplit_map_vec returned it",
				     dev->name, i, segs[i].dma, segs[i].len,
				     g->segs[0].dma, g->segs[i].dma,
				     g->segs[i].len);
			return -EINVAL;
		}
	if (nsegs != g->n) {
		check_misuse(rep, attrs, "%s: dmasplit_unmap_vec: %u segments, but the vector mapped at 0x%" PRIx64 " has %u",
			     dev->name, nsegs, g->segs[0].dma, g->n);
		return -EINVAL;
	}
	return 0;
}

/* Lock held.  An unmap of what nothing live starts at. */
static int not_mapped(struct dmasplit_dev *dev, enum check_kind kind,
		      uint64_t dma, uint32_t attrs, struct check_report *rep)
{
	const struct check_gone *g = gone_find(dev->check, dma);

	if (!g) {
		check_misuse(rep, attrs, "%s: %s: 0x%" PRIx64 " was never mapped (or already unmapped)",
			     dev->name, del_name(kind), dma);
		return -ENOENT;
	}
	check_misuse(rep, attrs, "%s: %s: 0x%" PRIx64 " was already unmapped: %s mapping 0x%" PRIx64 "+0x%" PRIx64 ", gone with %s",
		     dev->name, del_name(kind), dma, check_kind_name[g->kind],
		     g->dma, g->len, del_name(g->kind));
	check_culprit(rep, "mapped at", g->made_at);
	check_culprit(rep, "unmapped at", g->gone_at);
	return -ENOENT;
}

/* Lock held.  What differs between an unmap and live mapping e. */
static int mismatch(struct dmasplit_dev *dev, struct check_entry *e,
		    enum check_kind kind, const struct dmasplit_seg *segs,
		    unsigned int nsegs, enum dmasplit_dir dir, uint32_t attrs,
		    void *cpu, struct check_report *rep)
{
	const char *fn = del_name(kind);
	uint64_t len = e->node.last - e->node.start + 1;
	int r = 0;

	if (e->kind != kind) {
		check_misuse(rep, attrs, "%s: %s: 0x%" PRIx64 " was mapped by %s",
			     dev->name, fn, segs[0].dma,
			     check_kind_name[e->kind]);
		r = -EINVAL;
	} else if (kind == CHECK_VEC) {
		r = vec_mismatch(dev, e, segs, nsegs, attrs, rep);
	} else if (len != segs[0].len) {
		check_misuse(rep, attrs, "%s: %s: 0x%" PRIx64 " with length 0x%" PRIx64 ", but mapped with 0x%" PRIx64,
			     dev->name, fn, segs[0].dma, segs[0].len, len);
		r = -EINVAL;
	}
	if (!r && e->dir != dir) {
		check_misuse(rep, attrs, "%s: %s: 0x%" PRIx64 " with direction %s, but mapped %s",
			     dev->name, fn, segs[0].dma, check_dir_name[dir],
			     check_dir_name[e->dir]);
		r = -EINVAL;
	} else if (!r && kind == CHECK_COHERENT && e->cpu != cpu) {
		check_misuse(rep, attrs, "%s: %s: 0x%" PRIx64 " with CPU address %p, but allocated at %p",
			     dev->name, fn, segs[0].dma, cpu, e->cpu);
		r = -EINVAL;
	}
	if (r)
		check_culprit(rep, "mapped at", e->made_at);
	return r;
}

bool check_taken_in_region(const struct check_entry *taken)
{
	return taken->in_region;
}

int check_map_take(struct dmasplit_dev *dev, enum check_kind kind,
		   const struct dmasplit_seg *segs, unsigned int nsegs,
		   enum dmasplit_dir dir, uint32_t attrs, void *cpu,
		   const void *caller, struct check_entry **taken)
{
	struct check_report rep = { 0 };
	struct check_entry *e;
	unsigned int i;
	int r;

	pthread_mutex_lock(&dev->lock);
	e = find_mapping(dev, kind, segs, nsegs, dir, cpu);
	if (!e)
		r = not_mapped(dev, kind, segs[0].dma, attrs, &rep);
	else
		r = mismatch(dev, e, kind, segs, nsegs, dir, attrs, cpu, &rep);
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
	e->gone_at = caller;
	*taken = e;
out:
	pthread_mutex_unlock(&dev->lock);
	check_culprit(&rep, "called from", caller);
	return check_report(dev, &rep, r);
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
		if (done) {
			gone_add(dev->check, taken, taken->node.start,
				 taken->node.last - taken->node.start + 1);
			check_entry_drop(taken);
		} else {
			itree_insert(&dev->check->ranges, &taken->node);
		}
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	if (done)
		gone_add(dev->check, taken, g->segs[0].dma, g->segs[0].len);
	for (i = done; i < n; i++)
		itree_insert(&dev->check->ranges, &g->ent[i]->node);
	if (done && done < n) {
		/* The group lives on: shift what is left to its front. */
		for (i = 0; i < done; i++) {
			g->ent[i]->group = NULL;
			check_entry_drop(g->ent[i]);
			g->live--;
		}
		memmove(g->segs, g->segs + done,
			(n - done) * sizeof(g->segs[0]));
		memmove(g->ent, g->ent + done,
			(n - done) * sizeof(g->ent[0]));
		g->n = n - done;
	} else if (done) {
		for (i = 0; i < n; i++)
			check_entry_drop(g->ent[i]);
	}
	pthread_mutex_unlock(&dev->lock);
}
