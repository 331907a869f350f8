// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Windows: links are recorded, not mapped; iova_sync issues them.
 *
 * Neither kernel interface unmaps part of a mapping (type1 v2 refuses to
 * bisect one, iommufd to cut an area), and unmapping a whole mapping to
 * map its rest again leaves addresses the caller still has linked
 * unmapped in between -- a device using them takes an IOMMU fault -- and
 * gone for good if the second call fails.  So a kernel mapping (an area)
 * is never split, and the kernel's two invalidation modes give the two
 * ways to live with that:
 *
 * strict (the default in a DMA group, and always for untrusted devices):
 * each link is an
 * area of its own.  An unlink covers whole areas and unmaps them in one
 * call however many they are; unlinking part of a synced link is refused
 * with -EINVAL.  A sync costs one map call per link.
 *
 * lazy (unlink=lazy, and the default in a DMA-FQ group, where the kernel
 * defers its own invalidations to a flush queue): runs of links contiguous
 * in the window and in user memory, with one protection, share an area:
 * one map call per run.  An unlinked part of an area stays mapped and
 * pinned (stale_bytes) while any of the area is still linked, and the
 * area is unmapped in one call when its last link goes.  Lazy areas hold
 * at most LAZY_LIMIT bytes of the device; beyond it, sync maps link by
 * link as strict mode does.
 *
 * Either way an unlink issues at most one kernel call and never a map:
 * the areas it empties are contiguous, since only the first and the last
 * area it touches can keep linked parts.  Everything an unlink or a sync
 * needs is allocated before the kernel call, so a failed call changes
 * nothing.  Bookkeeping is one record per link or area, never per page.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vfio.h"

static int spans_reserve(struct spans *s, size_t extra)
{
	size_t cap = s->cap ? s->cap : 16;
	struct span *v;

	if (s->n + extra <= s->cap)
		return 0;
	while (cap < s->n + extra)
		cap *= 2;
	v = realloc(s->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->v = v;
	s->cap = cap;
	return 0;
}

static int spans_push(struct spans *s, const struct span *x)
{
	int r = spans_reserve(s, 1);

	if (r == 0)
		s->v[s->n++] = *x;
	return r;
}

static int by_offset(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* Put v[n] in offset order.  Links come in ascending order as a rule,
 * and descending now and then (a ring filled from its end): both cost
 * one pass; any other order a sort. */
static void sort_links(struct span *v, size_t n)
{
	size_t i, up = 1, down = 1;

	for (i = 1; i < n; i++) {
		up += v[i].off >= v[i - 1].off;
		down += v[i].off <= v[i - 1].off;
	}
	if (up == n || n < 2)
		return;
	if (down < n) {
		qsort(v, n, sizeof(*v), by_offset);
		return;
	}
	for (i = 0; i < n / 2; i++) {
		struct span t = v[i];

		v[i] = v[n - 1 - i];
		v[n - 1 - i] = t;
	}
}

static uint64_t end_of(const struct span *s)
{
	return s->off + s->len;
}

/* Add n sorted spans to sorted s, whose room is reserved already. */
static void spans_merge(struct spans *s, const struct span *add, size_t n)
{
	size_t i = s->n, j = n, k = s->n + n;

	while (j)
		s->v[--k] = i && s->v[i - 1].off > add[j - 1].off ? s->v[--i]
								 : add[--j];
	s->n += n;
}

/* The first span of sorted, disjoint s that ends after lo. */
static size_t first_after(const struct spans *s, uint64_t lo)
{
	size_t a = 0, z = s->n;

	while (a < z) {
		size_t m = a + (z - a) / 2;

		if (end_of(&s->v[m]) <= lo)
			a = m + 1;
		else
			z = m;
	}
	return a;
}

/* Bytes of synced links in [lo, hi). */
static uint64_t linked_in(const struct dmasplit_bwin *w, uint64_t lo,
			  uint64_t hi)
{
	uint64_t bytes = 0;
	size_t i;

	for (i = first_after(&w->linked, lo);
	     i < w->linked.n && w->linked.v[i].off < hi; i++) {
		const struct span *x = &w->linked.v[i];
		uint64_t from = x->off > lo ? x->off : lo;
		uint64_t to = end_of(x) < hi ? end_of(x) : hi;

		bytes += to - from;
	}
	return bytes;
}

/* Lock held.  Whether a kernel mapping of the window meets [lo, hi). */
static bool area_over(const struct dmasplit_bwin *w, uint64_t lo, uint64_t hi)
{
	size_t a = first_after(&w->areas, lo);

	return a < w->areas.n && w->areas.v[a].off < hi;
}

/* Keep the parts of sorted, disjoint s outside [lo, hi): the spans across
 * it give way to at most two pieces, so one free slot is enough. */
static void sorted_cut(struct spans *s, uint64_t lo, uint64_t hi)
{
	size_t i0 = first_after(s, lo), i1 = i0, k = 0;
	struct span piece[2];

	while (i1 < s->n && s->v[i1].off < hi)
		i1++;
	if (i0 == i1)
		return;
	if (s->v[i0].off < lo) {
		piece[k] = s->v[i0];
		piece[k++].len = lo - s->v[i0].off;
	}
	if (end_of(&s->v[i1 - 1]) > hi) {
		piece[k] = s->v[i1 - 1];
		piece[k].va += hi - piece[k].off;
		piece[k].len = end_of(&s->v[i1 - 1]) - hi;
		piece[k++].off = hi;
	}
	memmove(&s->v[i0 + k], &s->v[i1], (s->n - i1) * sizeof(s->v[0]));
	memcpy(&s->v[i0], piece, k * sizeof(piece[0]));
	s->n = s->n - (i1 - i0) + k;
}

/* Keep the parts of the pending links outside [lo, hi); each link across
 * both ends takes one more slot, which the caller has reserved. */
static void pending_cut(struct spans *p, uint64_t lo, uint64_t hi)
{
	size_t i, n = p->n;

	for (i = 0; i < n; i++) {
		struct span *x = &p->v[i], right = *x;

		if (x->off >= hi || end_of(x) <= lo)
			continue;
		if (end_of(&right) > hi) {
			right.va += hi - right.off;
			right.len = end_of(&right) - hi;
			right.off = hi;
		} else {
			right.len = 0;
		}
		if (x->off < lo) {
			x->len = lo - x->off;
			if (right.len)
				p->v[p->n++] = right;
		} else {
			*x = right;	/* possibly empty, dropped below */
		}
	}
	for (i = 0, n = 0; i < p->n; i++)
		if (p->v[i].len)
			p->v[n++] = p->v[i];
	p->n = n;
}

int win_alloc(struct dmasplit_bdev *b, uint64_t size, uint32_t flags,
	      struct dmasplit_bwin **out, uint64_t *addr)
{
	struct dmasplit_bwin *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	pthread_mutex_lock(&b->sp->lock);
	r = iova_get(b, size, &w->addr);
	pthread_mutex_unlock(&b->sp->lock);
	if (r < 0) {
		free(w);
		return r;
	}
	w->b = b;
	w->size = size;
	*out = w;
	*addr = w->addr;
	return 0;
}

int win_link(struct dmasplit_bwin *w, uint64_t offset, void *vaddr,
	     size_t len, enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t g = b->sp->granule, va = (uintptr_t)vaddr;
	struct span s = { 0 };
	int r;

	/* The kernel maps whole pages: the buffer keeps its offset within
	 * the granule, and the granules around it are mapped whole, as the
	 * kernel's dma-iommu does for trusted devices. */
	if ((offset ^ va) & (g - 1)) {
		vfio_err(b, "%s: link at window offset 0x%" PRIx64 " of %p: offset and address differ within the %" PRIu64 "-byte granule",
			 b->name, offset, vaddr, g);
		return -EINVAL;
	}
	r = vfio_peer_check(b, vaddr, len, attrs);
	if (r < 0)
		return r;
	s.off = offset & ~(g - 1);
	s.va = va & ~(g - 1);
	s.len = ((offset + len + g - 1) & ~(g - 1)) - s.off;
	s.prot = dir_prot(dir);
	pthread_mutex_lock(&b->sp->lock);
	if (area_over(w, s.off, end_of(&s))) {
		/* The kernel would refuse the map at sync (EEXIST). */
		if (!(attrs & DMASPLIT_ATTR_NO_WARN))
			vfio_err(b, "%s: link at window offset 0x%" PRIx64 ": still mapped, by a link or by an area that keeps unlinked parts mapped until all of it is unlinked (unlink=lazy)",
				 b->name, offset);
		r = -EBUSY;
	} else {
		r = spans_push(&w->pending, &s);
	}
	pthread_mutex_unlock(&b->sp->lock);
	return r;
}

/* Lock held.  The links todo[i..) that one map call covers: in lazy mode
 * the run contiguous in window and memory with one protection, while the
 * lazy areas stay within LAZY_LIMIT; else one link. */
static size_t run_end(const struct dmasplit_bwin *w, const struct span *todo,
		      size_t i, size_t n, uint64_t *len, bool *lazy)
{
	const struct dmasplit_bdev *b = w->b;
	size_t j = i + 1;

	*len = todo[i].len;
	*lazy = false;
	if (!b->lazy)
		return j;
	for (; j < n && todo[j].off == todo[i].off + *len &&
	       todo[j].va == todo[i].va + *len && todo[j].prot == todo[i].prot;
	     j++)
		*len += todo[j].len;
	if (b->sp->lazy_bytes + *len <= LAZY_LIMIT) {
		*lazy = true;
		return j;
	}
	*len = todo[i].len;
	return i + 1;
}

int win_sync(struct dmasplit_bwin *w, uint64_t offset, uint64_t len)
{
	struct dmasplit_bdev *b = w->b;
	struct spans todo = { 0 }, added = { 0 };
	size_t i, j, n = 0, keep = 0;
	int r = 0;

	pthread_mutex_lock(&b->sp->lock);
	for (i = 0; i < w->pending.n; i++) {
		const struct span *s = &w->pending.v[i];

		if (s->off < offset + len && end_of(s) > offset)
			n++;
	}
	/* Room for every outcome, before any kernel call. */
	if (spans_reserve(&todo, n) < 0 || spans_reserve(&added, n) < 0 ||
	    spans_reserve(&w->areas, n) < 0 ||
	    spans_reserve(&w->linked, n) < 0) {
		r = -ENOMEM;
		goto out;
	}
	/* The links the range touches go; the others wait for their sync. */
	for (i = 0; i < w->pending.n; i++) {
		struct span *s = &w->pending.v[i];

		if (s->off < offset + len && end_of(s) > offset)
			todo.v[todo.n++] = *s;
		else
			w->pending.v[keep++] = *s;
	}
	w->pending.n = keep;
	if (!todo.n)
		goto out;
	sort_links(todo.v, todo.n);
	for (i = 0; i < todo.n; i = j) {
		struct span area = todo.v[i];

		j = run_end(w, todo.v, i, todo.n, &area.len, &area.lazy);
		r = kmap(b, w->addr + area.off, area.va, area.len, area.prot);
		if (r < 0)
			break;
		area.live = area.len;
		if (area.lazy)
			b->sp->lazy_bytes += area.len;
		added.v[added.n++] = area;
	}
	/* What got mapped is linked; the rest stays pending, for another
	 * try, in the room it had. */
	spans_merge(&w->areas, added.v, added.n);
	spans_merge(&w->linked, todo.v, i);
	for (; i < todo.n; i++)
		w->pending.v[w->pending.n++] = todo.v[i];
out:
	pthread_mutex_unlock(&b->sp->lock);
	free(todo.v);
	free(added.v);
	return r;
}

int win_unlink(struct dmasplit_bwin *w, uint64_t offset, uint64_t len,
	       enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t g = b->sp->granule, lo = offset & ~(g - 1);
	uint64_t hi = (offset + len + g - 1) & ~(g - 1);
	uint64_t gone_first = 0, gone_last = 0, kept = 0, bytes = 0;
	size_t first, last, d0, d1, i, pending = 0, splits = 0;
	int r = 0;

	pthread_mutex_lock(&b->sp->lock);
	for (i = 0; i < w->pending.n; i++) {
		const struct span *x = &w->pending.v[i];

		pending += x->off < hi && end_of(x) > lo;
		splits += x->off < lo && end_of(x) > hi;
	}
	if (!pending && !linked_in(w, lo, hi)) {
		if (!(attrs & DMASPLIT_ATTR_NO_WARN))
			vfio_err(b, "%s: unlink of window 0x%" PRIx64 " offset 0x%" PRIx64 " length 0x%" PRIx64 ": nothing is linked there",
				 b->name, w->addr, offset, len);
		r = -ENOENT;
		goto out;
	}
	/* The areas the range touches: [first, last). */
	first = first_after(&w->areas, lo);
	for (last = first; last < w->areas.n && w->areas.v[last].off < hi;
	     last++)
		;
	d0 = first;
	d1 = last;
	if (first < last) {
		const struct span *a = &w->areas.v[first], *z = &w->areas.v[last - 1];

		if ((!a->lazy && a->off < lo) || (!z->lazy && end_of(z) > hi)) {
			if (!(attrs & DMASPLIT_ATTR_NO_WARN))
				vfio_err(b, "%s: unlink of window 0x%" PRIx64 " offset 0x%" PRIx64 " length 0x%" PRIx64 ": part of a link, which in strict mode is unlinked whole (the kernel cannot unmap part of a mapping); unlink whole links, or open with unlink=lazy",
					 b->name, w->addr, offset, len);
			r = -EINVAL;
			goto out;
		}
		/* Only the first and the last area can keep linked parts;
		 * the others lie inside the range. */
		gone_first = linked_in(w, a->off > lo ? a->off : lo,
				       end_of(a) < hi ? end_of(a) : hi);
		gone_last = linked_in(w, z->off > lo ? z->off : lo,
				      end_of(z) < hi ? end_of(z) : hi);
		if (gone_first < a->live)
			d0++;
		if (d1 > d0 && gone_last < z->live)
			d1--;
	}
	/* Room for the pieces that stay, before the kernel is asked. */
	if (spans_reserve(&w->pending, splits) < 0 ||
	    spans_reserve(&w->linked, 1) < 0) {
		r = -ENOMEM;
		goto out;
	}
	if (d0 < d1) {
		for (i = d0; i < d1; i++)
			bytes += w->areas.v[i].len;
		r = kunmap(b, w->addr + w->areas.v[d0].off,
			   end_of(&w->areas.v[d1 - 1]) - w->areas.v[d0].off,
			   d1 - d0, bytes);
		if (r < 0)
			goto out;
	}
	/* Committed: nothing below fails. */
	if (first < last && d0 > first) {
		w->areas.v[first].live -= gone_first;
		kept += gone_first;
	}
	if (last > first + 1 && d1 < last) {
		w->areas.v[last - 1].live -= gone_last;
		kept += gone_last;
	}
	for (i = d0; i < d1; i++) {
		const struct span *a = &w->areas.v[i];

		b->sp->stale_bytes -= a->len - a->live;
		if (a->lazy)
			b->sp->lazy_bytes -= a->len;
	}
	b->sp->stale_bytes += kept;
	if (d1 > d0) {
		memmove(&w->areas.v[d0], &w->areas.v[d1],
			(w->areas.n - d1) * sizeof(w->areas.v[0]));
		w->areas.n -= d1 - d0;
	}
	pending_cut(&w->pending, lo, hi);
	sorted_cut(&w->linked, lo, hi);
	if (kept)
		vfio_dbg(b, "%s: unlink of window 0x%" PRIx64 " offset 0x%" PRIx64 ": %" PRIu64 " bytes stay mapped until the rest of their area is unlinked (%" PRIu64 " bytes so on the device)",
			 b->name, w->addr, offset, kept, b->sp->stale_bytes);
out:
	pthread_mutex_unlock(&b->sp->lock);
	return r;
}

void win_destroy(struct dmasplit_bwin *w)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t bytes = 0, stale = 0, lazy = 0;
	size_t i;
	int r = 0;

	pthread_mutex_lock(&b->sp->lock);
	for (i = 0; i < w->areas.n; i++) {
		const struct span *a = &w->areas.v[i];

		bytes += a->len;
		stale += a->len - a->live;
		lazy += a->lazy ? a->len : 0;
	}
	if (w->areas.n)
		r = kunmap(b, w->addr, w->size, w->areas.n, bytes);
	if (r == 0) {
		b->sp->stale_bytes -= stale;
		b->sp->lazy_bytes -= lazy;
		iova_put(b, w->addr, w->size);
	} else {
		/* Handing the addresses out again would map over what the
		 * kernel still holds. */
		vfio_err(b, "%s: window 0x%" PRIx64 " stays mapped; its %" PRIu64 " bytes of device addresses are not reused",
			 b->name, w->addr, w->size);
	}
	pthread_mutex_unlock(&b->sp->lock);
	free(w->pending.v);
	free(w->areas.v);
	free(w->linked.v);
	free(w);
}

/* The kernel marks devices behind an external-facing port (Thunderbolt
 * and the like) untrusted and removable alike, and gives untrusted ones
 * strict invalidation whatever iommu.strict says; only "removable" is
 * in sysfs. */
static bool untrusted(const struct dmasplit_host *host,
		      const struct dmasplit_desc *desc)
{
	char path[96], buf[32];

	snprintf(path, sizeof(path), "bus/pci/devices/%s/removable", desc->name);
	return host->sysfs_read(host, path, buf, sizeof(buf)) >= 0 &&
	       !strcmp(buf, "removable");
}

/*
 * The unlink mode: unlink= if given; without it what the kernel does for
 * the group's own domain, lazy under its flush queue (DMA-FQ,
 * iommu.strict=0) and strict otherwise, so the application gets no
 * weaker guarantee than the kernel gives its own drivers.
 */
bool win_unlink_lazy(const struct dmasplit_host *host,
		     const struct dmasplit_desc *desc)
{
	bool lazy = desc->spec_unlink == DMASPLIT_UNLINK_LAZY ||
		    (desc->spec_unlink == DMASPLIT_UNLINK_AUTO &&
		     !strcmp(desc->iommu_group_type, "DMA-FQ"));

	if (lazy && untrusted(host, desc)) {
		dmasplit_host_info(host, VFIO_NAME ": %s: lazy unlink not taken: the device is removable, which the kernel treats as untrusted; unlinks stay strict",
				   desc->name);
		return false;
	}
	return lazy;
}
