// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Windows: links are recorded, not mapped; iova_sync sorts the recorded
 * links and issues one kernel map call per run that is contiguous in both
 * the window and the user address space, with one protection.  Kernel
 * mappings (areas) are kept sorted by offset.  Neither kernel interface
 * can unmap part of a mapping, so unlinking part of an area costs one
 * unmap of the areas it touches and up to two maps of what remains on
 * either side; unlinking whole areas costs one unmap, whatever their
 * number.  Bookkeeping is one record per link or area, never per page.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vfio.h"

static int spans_push(struct spans *s, const struct span *x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct span *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = *x;
	return 0;
}

static int by_offset(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static uint64_t end_of(const struct span *s)
{
	return s->off + s->len;
}

int win_alloc(struct dmasplit_bdev *b, uint64_t size, uint32_t flags,
	      struct dmasplit_bwin **out, uint64_t *addr)
{
	struct dmasplit_bwin *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	pthread_mutex_lock(&b->lock);
	r = iova_get(b, size, &w->addr);
	pthread_mutex_unlock(&b->lock);
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
	uint64_t g = b->granule, va = (uintptr_t)vaddr;
	struct span s;
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
	pthread_mutex_lock(&b->lock);
	r = spans_push(&w->pending, &s);
	pthread_mutex_unlock(&b->lock);
	return r;
}

/* Lock held.  Add sorted, disjoint new areas to the sorted areas. */
static int areas_merge(struct spans *areas, const struct span *add, size_t n)
{
	struct span *v;
	size_t i = 0, j = 0, k = 0, cap = areas->n + n;

	if (!n)
		return 0;
	v = malloc(cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	while (i < areas->n || j < n)
		v[k++] = j == n || (i < areas->n && areas->v[i].off < add[j].off)
				 ? areas->v[i++] : add[j++];
	free(areas->v);
	areas->v = v;
	areas->n = k;
	areas->cap = cap;
	return 0;
}

/* Lock held.  Map sorted spans, one kernel call per contiguous run; the
 * mapped runs are appended to *mapped.  Stops at the first failure. */
static int map_runs(struct dmasplit_bwin *w, const struct span *s, size_t n,
		    struct spans *mapped)
{
	size_t i = 0, j;
	int r;

	while (i < n) {
		struct span run = s[i];

		for (j = i + 1; j < n && s[j].off == end_of(&run) &&
				s[j].va == run.va + run.len &&
				s[j].prot == run.prot; j++)
			run.len += s[j].len;
		r = kmap(w->b, w->addr + run.off, run.va, run.len, run.prot);
		if (r < 0)
			return r;
		r = spans_push(mapped, &run);
		if (r < 0) {
			kunmap(w->b, w->addr + run.off, run.len, 1, run.len);
			return r;
		}
		i = j;
	}
	return 0;
}

int win_sync(struct dmasplit_bwin *w, uint64_t offset, uint64_t len)
{
	struct dmasplit_bdev *b = w->b;
	struct spans todo = { 0 }, mapped = { 0 };
	size_t i, keep = 0;
	int r = 0;

	pthread_mutex_lock(&b->lock);
	/* The links the range touches go; the others wait for their sync. */
	for (i = 0; i < w->pending.n && !r; i++) {
		struct span *s = &w->pending.v[i];

		if (s->off < offset + len && end_of(s) > offset)
			r = spans_push(&todo, s);
		else
			w->pending.v[keep++] = *s;
	}
	if (r < 0) {
		pthread_mutex_unlock(&b->lock);
		free(todo.v);
		return r;
	}
	w->pending.n = keep;
	qsort(todo.v, todo.n, sizeof(*todo.v), by_offset);
	r = map_runs(w, todo.v, todo.n, &mapped);
	if (r == 0)
		r = areas_merge(&w->areas, mapped.v, mapped.n);
	else if (areas_merge(&w->areas, mapped.v, mapped.n) < 0)
		r = -ENOMEM;
	if (r < 0) {
		/* What did not get mapped stays linked, for another try. */
		for (i = 0; i < todo.n; i++) {
			size_t m;
			bool done = false;

			for (m = 0; m < mapped.n && !done; m++)
				done = todo.v[i].off >= mapped.v[m].off &&
				       end_of(&todo.v[i]) <= end_of(&mapped.v[m]);
			if (!done)
				spans_push(&w->pending, &todo.v[i]);
		}
	}
	pthread_mutex_unlock(&b->lock);
	free(todo.v);
	free(mapped.v);
	return r;
}

/* Lock held.  Keep the parts of pending links outside [lo, hi). */
static int trim_pending(struct dmasplit_bwin *w, uint64_t lo, uint64_t hi)
{
	struct spans *p = &w->pending;
	size_t i, n = p->n;
	int r = 0;

	for (i = 0; i < n && !r; i++) {
		struct span s = p->v[i], right = s;

		if (s.off >= hi || end_of(&s) <= lo)
			continue;
		p->v[i].len = 0;	/* dropped below, unless a piece stays */
		if (s.off < lo) {
			p->v[i].len = lo - s.off;
		}
		if (end_of(&s) > hi) {
			right.off = hi;
			right.va = s.va + (hi - s.off);
			right.len = end_of(&s) - hi;
			r = spans_push(p, &right);
		}
	}
	for (i = 0, n = 0; i < p->n; i++)
		if (p->v[i].len)
			p->v[n++] = p->v[i];
	p->n = n;
	return r;
}

int win_unlink(struct dmasplit_bwin *w, uint64_t offset, uint64_t len,
	       enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t g = b->granule, lo = offset & ~(g - 1);
	uint64_t hi = (offset + len + g - 1) & ~(g - 1), ulo, uhi, bytes = 0;
	struct span rest[2];
	size_t first, last, i, nrest = 0;
	int r;

	pthread_mutex_lock(&b->lock);
	r = trim_pending(w, lo, hi);
	if (r < 0)
		goto out;
	/* The areas the range touches: [first, last). */
	for (first = 0; first < w->areas.n && end_of(&w->areas.v[first]) <= lo;
	     first++)
		;
	for (last = first; last < w->areas.n && w->areas.v[last].off < hi;
	     last++)
		bytes += w->areas.v[last].len;
	if (first == last)
		goto out;
	ulo = w->areas.v[first].off;
	uhi = end_of(&w->areas.v[last - 1]);
	/* One call unmaps every area wholly inside [ulo, uhi). */
	r = kunmap(b, w->addr + ulo, uhi - ulo, last - first, bytes);
	if (r < 0)
		goto out;
	if (ulo < lo) {
		rest[nrest] = w->areas.v[first];
		rest[nrest++].len = lo - ulo;
	}
	if (uhi > hi) {
		rest[nrest] = w->areas.v[last - 1];
		rest[nrest].va += hi - rest[nrest].off;
		rest[nrest].off = hi;
		rest[nrest++].len = uhi - hi;
	}
	memmove(&w->areas.v[first], &w->areas.v[last],
		(w->areas.n - last) * sizeof(w->areas.v[0]));
	w->areas.n -= last - first;
	/* What the unlink did not cover goes back, as it was. */
	for (i = 0; i < nrest && r == 0; i++) {
		r = kmap(b, w->addr + rest[i].off, rest[i].va, rest[i].len,
			 rest[i].prot);
		if (r == 0)
			r = areas_merge(&w->areas, &rest[i], 1);
	}
	if (r < 0)
		vfio_err(b, "%s: unlink of window 0x%" PRIx64 " offset 0x%" PRIx64 ": the rest of the area could not be mapped again; it is unlinked too",
			 b->name, w->addr, offset);
out:
	pthread_mutex_unlock(&b->lock);
	return r;
}

void win_destroy(struct dmasplit_bwin *w)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t bytes = 0;
	size_t i;

	pthread_mutex_lock(&b->lock);
	for (i = 0; i < w->areas.n; i++)
		bytes += w->areas.v[i].len;
	if (w->areas.n)
		kunmap(b, w->addr, w->size, w->areas.n, bytes);
	iova_put(b, w->addr, w->size);
	pthread_mutex_unlock(&b->lock);
	free(w->pending.v);
	free(w->areas.v);
	free(w);
}
