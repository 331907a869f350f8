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
 * at most LAZY_LIMIT bytes of the device (not of its address space,
 * whose other members count their own); beyond it, sync maps link by
 * link as strict mode does, and those links unlink whole as there.
 *
 * Either way an unlink issues at most one kernel call and never a map:
 * the areas it empties are contiguous, since only the first and the last
 * area it touches can keep linked parts.  Everything an unlink or a sync
 * needs is allocated before the kernel call, so a failed call changes
 * nothing.  Bookkeeping is a 16-byte record per area -- a strict area is
 * one link, and knowing where each begins and ends is what refuses an
 * unlink of part of one -- and one per linked part of a lazy area;
 * links wait for their sync in records of their own, freed by it.  A
 * sync costs time linear in the number of links, in any order
 * (vfio_sort_links).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vfio.h"

/*
 * Room for n + extra elements of size in *v, which holds n of cap.  Rooms
 * start at VEC_MIN elements and at most that much of each is kept once
 * empty: a window of a few links keeps its records' room through its
 * syncs and, as a spare, for the next window.
 */
#define VEC_MIN 4

static int vec_reserve(void **v, size_t *cap, size_t n, size_t extra,
		       size_t size)
{
	size_t c = *cap ? *cap : VEC_MIN;
	void *nv;

	if (n + extra <= *cap)
		return 0;
	while (c < n + extra)
		c *= 2;
	nv = realloc(*v, c * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}

static int spans_reserve(struct spans *s, size_t extra)
{
	return vec_reserve((void **)&s->v, &s->cap, s->n, extra, sizeof(*s->v));
}

static int areas_reserve(struct areas *s, size_t extra)
{
	return vec_reserve((void **)&s->v, &s->cap, s->n, extra, sizeof(*s->v));
}

static int spans_push(struct spans *s, const struct span *x)
{
	int r = spans_reserve(s, 1);

	if (r == 0)
		s->v[s->n++] = *x;
	return r;
}

/* Below this many, insertion sort: a radix pass costs its 256 counts. */
#define SORT_SMALL 32

/*
 * Put v[n] in offset order, in time linear in n.  Links come in ascending
 * order as a rule, and descending now and then (a ring filled from its
 * end): both cost one pass.  Any other order a least-significant-digit
 * radix sort on the offsets, a byte a pass, from the lowest bit any
 * offset has set to the highest: two passes for a window of up to 65536
 * pages, three up to 2^24.  Offsets may repeat where links overlap,
 * which the caller then refuses (todo_clear); LSD radix is stable.
 */
int vfio_sort_links(struct span *v, size_t n)
{
	size_t i, up = 1, down = 1, count[256];
	uint64_t any = 0, high = 0;
	struct span *tmp, *from, *to;
	unsigned int shift, last;

	for (i = 1; i < n; i++) {
		up += v[i].off >= v[i - 1].off;
		down += v[i].off <= v[i - 1].off;
	}
	if (up == n || n < 2)
		return 0;
	if (down == n) {
		for (i = 0; i < n / 2; i++) {
			struct span t = v[i];

			v[i] = v[n - 1 - i];
			v[n - 1 - i] = t;
		}
		return 0;
	}
	if (n < SORT_SMALL) {
		for (i = 1; i < n; i++) {
			struct span t = v[i];
			size_t j = i;

			for (; j && v[j - 1].off > t.off; j--)
				v[j] = v[j - 1];
			v[j] = t;
		}
		return 0;
	}
	for (i = 0; i < n; i++) {
		any |= v[i].off;
		high = v[i].off > high ? v[i].off : high;
	}
	tmp = malloc(n * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	from = v;
	to = tmp;
	last = 63 - (unsigned int)__builtin_clzll(high);	/* high > 0 */
	for (shift = any ? (unsigned int)__builtin_ctzll(any) : 0;
	     shift <= last; shift += 8) {
		struct span *swap;
		size_t sum = 0;

		memset(count, 0, sizeof(count));
		for (i = 0; i < n; i++)
			count[(from[i].off >> shift) & 0xff]++;
		for (i = 0; i < 256; i++) {
			size_t c = count[i];

			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			to[count[(from[i].off >> shift) & 0xff]++] = from[i];
		swap = from;
		from = to;
		to = swap;
	}
	if (from != v)
		memcpy(v, from, n * sizeof(*v));
	free(tmp);
	return 0;
}

static uint64_t end_of(const struct span *s)
{
	return s->off + s->len;
}

static uint64_t area_end(const struct area *a)
{
	return a->off + a->len;
}

/* Add the n sorted areas of add (only the lazy ones if lazy) to sorted
 * s, whose room is reserved already. */
static void areas_merge(struct areas *s, const struct area *add, size_t n,
			size_t nadd, bool lazy)
{
	size_t i = s->n, j = n, k = s->n + nadd;

	s->n += nadd;
	while (j) {
		if (lazy && !add[j - 1].lazy)
			j--;
		else if (i && s->v[i - 1].off > add[j - 1].off)
			s->v[--k] = s->v[--i];
		else
			s->v[--k] = add[--j];
	}
}

/* The first area of sorted, disjoint s that ends after lo. */
static size_t first_after(const struct areas *s, uint64_t lo)
{
	size_t a = 0, z = s->n;

	while (a < z) {
		size_t m = a + (z - a) / 2;

		if (area_end(&s->v[m]) <= lo)
			a = m + 1;
		else
			z = m;
	}
	return a;
}

/* Whether sorted, disjoint s meets [lo, hi). */
static bool areas_meet(const struct areas *s, uint64_t lo, uint64_t hi)
{
	size_t a = first_after(s, lo);

	return lo < hi && a < s->n && s->v[a].off < hi;
}

/* Bytes of sorted, disjoint s in [lo, hi). */
static uint64_t bytes_in(const struct areas *s, uint64_t lo, uint64_t hi)
{
	uint64_t bytes = 0;
	size_t i;

	for (i = first_after(s, lo); i < s->n && s->v[i].off < hi; i++) {
		const struct area *x = &s->v[i];
		uint64_t from = x->off > lo ? x->off : lo;
		uint64_t to = area_end(x) < hi ? area_end(x) : hi;

		bytes += to - from;
	}
	return bytes;
}

/* Lock held.  Whether a synced link meets [lo, hi): a strict area does,
 * a lazy one where its linked parts do.  An area with nothing linked is
 * unmapped, so if no linked part meets the range only the first and the
 * last area there can be lazy ones to pass. */
static bool linked_over(const struct dmasplit_bwin *w, uint64_t lo,
			uint64_t hi)
{
	size_t i;

	if (areas_meet(&w->linked, lo, hi))
		return true;
	for (i = first_after(&w->areas, lo);
	     i < w->areas.n && w->areas.v[i].off < hi; i++)
		if (!w->areas.v[i].lazy)
			return true;
	return false;
}

/*
 * Whether a link not yet synced meets [lo, hi), where that costs O(1):
 * the range lies beyond the span of the pending links (links made in
 * order, up or down), or few are pending.  Otherwise the answer is no,
 * and the sync finds the overlap before it maps anything (todo_clear).
 */
#define PENDING_SCAN_MAX 16

static bool pending_meets(const struct spans *p, uint64_t lo, uint64_t hi)
{
	size_t i;

	if (!p->n || hi <= p->lo || lo >= p->hi || p->n > PENDING_SCAN_MAX)
		return false;
	for (i = 0; i < p->n; i++)
		if (p->v[i].off < hi && end_of(&p->v[i]) > lo)
			return true;
	return false;
}

/* Lock held.  Whether area a keeps linked parts outside [lo, hi). */
static bool keeps_linked(const struct dmasplit_bwin *w, const struct area *a,
			 uint64_t lo, uint64_t hi)
{
	if (!a->lazy)
		return a->off < lo || area_end(a) > hi;
	return areas_meet(&w->linked, a->off, lo < area_end(a) ? lo : area_end(a)) ||
	       areas_meet(&w->linked, hi > a->off ? hi : a->off, area_end(a));
}

/* Lock held.  Bytes linked of lazy area a within [lo, hi). */
static uint64_t linked_within(const struct dmasplit_bwin *w,
			      const struct area *a, uint64_t lo, uint64_t hi)
{
	return bytes_in(&w->linked, a->off > lo ? a->off : lo,
			area_end(a) < hi ? area_end(a) : hi);
}

/* Keep the parts of sorted, disjoint s outside [lo, hi): the ones across
 * it give way to at most two pieces, so one free slot is enough. */
static void sorted_cut(struct areas *s, uint64_t lo, uint64_t hi)
{
	size_t i0 = first_after(s, lo), i1 = i0, k = 0;
	struct area piece[2];

	while (i1 < s->n && s->v[i1].off < hi)
		i1++;
	if (i0 == i1)
		return;
	if (s->v[i0].off < lo) {
		piece[k] = s->v[i0];
		piece[k++].len = lo - s->v[i0].off;
	}
	if (area_end(&s->v[i1 - 1]) > hi) {
		piece[k] = s->v[i1 - 1];
		piece[k].len = area_end(&s->v[i1 - 1]) - hi;
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

/* Spares are kept under the space's lock; their rooms are empty. */
#define WIN_SPARE_MAX 8

/* An empty room larger than VEC_MIN goes: what a window keeps after
 * its records are gone stays small. */
static void vec_trim(void **v, size_t *cap)
{
	if (*cap > VEC_MIN) {
		free(*v);
		*v = NULL;
		*cap = 0;
	}
}

static void win_free(struct dmasplit_bwin *w)
{
	free(w->pending.v);
	free(w->areas.v);
	free(w->linked.v);
	free(w);
}

void win_spares_free(struct vspace *sp)
{
	struct dmasplit_bwin *w;

	while ((w = sp->spare)) {
		sp->spare = w->next_spare;
		win_free(w);
	}
	sp->nspare = 0;
}

int win_alloc(struct dmasplit_bdev *b, uint64_t size, uint32_t flags,
	      struct dmasplit_bwin **out, uint64_t *addr)
{
	struct vspace *sp = b->sp;
	struct dmasplit_bwin *w;
	uint64_t a;
	int r;

	pthread_mutex_lock(&sp->lock);
	r = iova_get(b, size, &a, 0);
	w = r == 0 ? sp->spare : NULL;
	if (w) {
		sp->spare = w->next_spare;
		sp->nspare--;
	}
	pthread_mutex_unlock(&sp->lock);
	if (r < 0)
		return r;
	/* No spare: allocated outside the lock, the addresses given back
	 * under it again should that fail. */
	if (!w && !(w = calloc(1, sizeof(*w)))) {
		pthread_mutex_lock(&sp->lock);
		iova_put(b, a, size);
		pthread_mutex_unlock(&sp->lock);
		return -ENOMEM;
	}
	w->b = b;
	w->addr = a;
	w->size = size;
	*out = w;
	*addr = a;
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
		if (!(attrs & DMASPLIT_ATTR_NO_WARN))
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
	/* The window's records alone, which only calls on this window
	 * touch, and those the caller serialises: no lock.  The kernel
	 * would refuse the map at sync (EEXIST). */
	if (linked_over(w, s.off, end_of(&s)) ||
	    pending_meets(&w->pending, s.off, end_of(&s))) {
		if (!(attrs & DMASPLIT_ATTR_NO_WARN))
			vfio_err(b, "%s: link at window offset 0x%" PRIx64 ": a granule of it is linked already",
				 b->name, offset);
		return -EEXIST;
	}
	if (areas_meet(&w->areas, s.off, end_of(&s))) {
		if (!(attrs & DMASPLIT_ATTR_NO_WARN))
			vfio_err(b, "%s: link at window offset 0x%" PRIx64 ": still mapped, by an area that keeps unlinked parts mapped until all of it is unlinked (unlink=lazy)",
				 b->name, offset);
		return -EBUSY;
	}
	r = spans_push(&w->pending, &s);
	if (r < 0)
		return r;
	if (w->pending.n == 1 || s.off < w->pending.lo)
		w->pending.lo = s.off;
	if (w->pending.n == 1 || end_of(&s) > w->pending.hi)
		w->pending.hi = end_of(&s);
	return 0;
}

/*
 * Lock held.  0, or -EEXIST (logged) where a link of sorted todo meets
 * another of them or something mapped, which the kernel would refuse:
 * before any is mapped.  win_link() catches most such links;
 * pending_meets() says which it lets through.  The line names both
 * ranges: unlinking the one covering both clears the way (in strict
 * mode an unlink must cover a synced link whole).
 */
static int todo_clear(const struct dmasplit_bwin *w, const struct span *todo,
		      size_t n)
{
	const struct dmasplit_bdev *b = w->b;
	uint64_t off = 0, len = 0;
	const char *what = NULL;
	size_t i, a = n ? first_after(&w->areas, todo[0].off) : 0;

	for (i = 0; i < n && !what; i++) {
		/* Both sorted: a search only where areas lie between two
		 * links, so that a sync stays linear in its links. */
		if (a < w->areas.n && area_end(&w->areas.v[a]) <= todo[i].off)
			a = first_after(&w->areas, todo[i].off);
		if (i && todo[i].off < end_of(&todo[i - 1])) {
			off = todo[i - 1].off;
			len = todo[i - 1].len;
			what = "meets the link at";
		} else if (a < w->areas.n &&
			   w->areas.v[a].off < end_of(&todo[i])) {
			off = w->areas.v[a].off;
			len = w->areas.v[a].len;
			what = "meets what is mapped at";
		}
	}
	if (!what)
		return 0;
	vfio_err(b, "%s: sync: the link at window offset 0x%" PRIx64 "+0x%" PRIx64 " %s 0x%" PRIx64 "+0x%" PRIx64 ": nothing mapped; unlink the range that covers both",
		 b->name, todo[i - 1].off, todo[i - 1].len, what, off, len);
	return -EEXIST;
}

/* Lock held.  The links todo[i..) that one map call covers: in lazy mode
 * the run contiguous in window and memory with one protection, while the
 * lazy areas, lazy_bytes so far, stay within LAZY_LIMIT; else one link. */
static size_t run_end(const struct dmasplit_bwin *w, const struct span *todo,
		      size_t i, size_t n, uint64_t lazy_bytes, uint64_t *len,
		      bool *lazy)
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
	if (lazy_bytes + *len <= LAZY_LIMIT) {
		*lazy = true;
		return j;
	}
	*len = todo[i].len;
	return i + 1;
}

/* A sync of this many links or fewer takes its scratch from the stack. */
#define SYNC_ROOM 8

/*
 * The kernel mappings a failed sync made, in added, taken back.  The
 * areas that stay (an unmap the kernel refused, logged) are left in
 * added, with *nlazy the lazy ones among them; their links are mapped.
 */
static void sync_undo(struct dmasplit_bwin *w, struct areas *added,
		      size_t *nlazy)
{
	struct dmasplit_bdev *b = w->b;
	size_t k, kept = 0;
	int r;

	*nlazy = 0;
	for (k = 0; k < added->n; k++) {
		const struct area *a = &added->v[k];

		r = kunmap(b, w->addr + a->off, a->len, 1, a->len);
		if (r == 0) {
			if (a->lazy)
				b->lazy_bytes -= a->len;
			continue;
		}
		vfio_err(b, "%s: sync: window 0x%" PRIx64 " offset 0x%" PRIx64 "+0x%" PRIx64 " stays mapped: its unmap after the failure was refused: %s",
			 b->name, w->addr, a->off, (uint64_t)a->len,
			 strerror(-r));
		*nlazy += a->lazy;
		added->v[kept++] = *a;
	}
	added->n = kept;
}

/* Whether link s lies in one of areas, which are few: a look at each. */
static bool span_mapped(const struct areas *areas, const struct span *s)
{
	size_t k;

	for (k = 0; k < areas->n; k++)
		if (s->off >= areas->v[k].off &&
		    end_of(s) <= areas->v[k].off + areas->v[k].len)
			return true;
	return false;
}

int win_sync(struct dmasplit_bwin *w, uint64_t offset, uint64_t len)
{
	struct dmasplit_bdev *b = w->b;
	struct span todo_room[SYNC_ROOM];
	struct area added_room[SYNC_ROOM];
	struct spans todo = { .v = todo_room, .cap = SYNC_ROOM };
	struct areas added = { .v = added_room, .cap = SYNC_ROOM };
	size_t i, j, n = 0, keep = 0, nlazy = 0, nareas = 0;
	uint64_t lazy_bytes, run;
	bool lazy;
	int r = 0;

	pthread_mutex_lock(&b->sp->lock);
	/* The window of one link, in strict mode: its area is that link,
	 * as the general way below would make it, without its passes. */
	if (!b->lazy && w->pending.n == 1) {
		const struct span *s = &w->pending.v[0];
		struct area a = { .off = s->off, .len = s->len };

		if (s->off >= offset + len || end_of(s) <= offset)
			goto out;
		r = todo_clear(w, s, 1);
		if (r < 0)
			goto out;
		if (areas_reserve(&w->areas, 1) < 0) {
			r = -ENOMEM;
			goto out;
		}
		r = kmap(b, w->addr + s->off, s->va, s->len, s->prot, 0);
		if (r == 0) {
			areas_merge(&w->areas, &a, 1, 1, false);
			w->pending.n = 0;
			vec_trim((void **)&w->pending.v, &w->pending.cap);
		}
		goto out;
	}
	for (i = 0; i < w->pending.n; i++) {
		const struct span *s = &w->pending.v[i];

		if (s->off < offset + len && end_of(s) > offset)
			n++;
	}
	if (!n)
		goto out;
	if (n > SYNC_ROOM)
		todo = (struct spans){ 0 };	/* a room of its own */
	if (spans_reserve(&todo, n) < 0) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < w->pending.n; i++) {
		struct span *s = &w->pending.v[i];

		if (s->off < offset + len && end_of(s) > offset)
			todo.v[todo.n++] = *s;
	}
	if (vfio_sort_links(todo.v, todo.n) < 0) {
		r = -ENOMEM;
		goto out;
	}
	r = todo_clear(w, todo.v, todo.n);
	if (r < 0)
		goto out;
	/* The areas this sync maps, counted as the loop below makes them,
	 * so that there is room for every outcome before any kernel call. */
	lazy_bytes = b->lazy_bytes;
	for (i = 0; i < todo.n; i = j, nareas++) {
		j = run_end(w, todo.v, i, todo.n, lazy_bytes, &run, &lazy);
		if (lazy) {
			lazy_bytes += run;
			nlazy++;
		}
	}
	if (nareas > SYNC_ROOM)
		added = (struct areas){ 0 };
	if (areas_reserve(&added, nareas) < 0 ||
	    areas_reserve(&w->areas, nareas) < 0 ||
	    areas_reserve(&w->linked, nlazy) < 0) {
		r = -ENOMEM;
		goto out;
	}
	/* The links the range touches go; the others wait for their sync. */
	for (i = 0; i < w->pending.n; i++) {
		struct span *s = &w->pending.v[i];

		if (!(s->off < offset + len && end_of(s) > offset))
			w->pending.v[keep++] = *s;
	}
	w->pending.n = keep;
	nlazy = 0;
	for (i = 0; i < todo.n; i = j) {
		const struct span *s = &todo.v[i];

		j = run_end(w, todo.v, i, todo.n, b->lazy_bytes, &run, &lazy);
		r = kmap(b, w->addr + s->off, s->va, run, s->prot, 0);
		if (r < 0)
			break;
		if (lazy) {
			b->lazy_bytes += run;
			nlazy++;
		}
		added.v[added.n].off = s->off;
		added.v[added.n].len = run;
		added.v[added.n++].lazy = lazy;
	}
	/* A sync that fails maps nothing (dmasplit_iova_alloc(3)): what it
	 * mapped goes again, and its links wait for another try, linked. */
	if (r < 0) {
		sync_undo(w, &added, &nlazy);
		i = 0;
	}
	/* What got mapped is linked (a lazy area whole, at first); the rest
	 * stays pending, for another try, in the room it had. */
	areas_merge(&w->areas, added.v, added.n, added.n, false);
	areas_merge(&w->linked, added.v, added.n, nlazy, true);
	for (; i < todo.n; i++)
		if (!added.n || !span_mapped(&added, &todo.v[i]))
			w->pending.v[w->pending.n++] = todo.v[i];
	/* Everything linked is synced: the room goes with the records,
	 * but for a little. */
	if (!w->pending.n)
		vec_trim((void **)&w->pending.v, &w->pending.cap);
out:
	pthread_mutex_unlock(&b->sp->lock);
	if (todo.v != todo_room)
		free(todo.v);
	if (added.v != added_room)
		free(added.v);
	return r;
}

int win_unlink(struct dmasplit_bwin *w, uint64_t offset, uint64_t len,
	       enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t g = b->sp->granule, lo = offset & ~(g - 1);
	uint64_t hi = (offset + len + g - 1) & ~(g - 1);
	uint64_t kept = 0, bytes = 0, lazy = 0, live = 0;
	size_t first, last, d0, d1, i, pending = 0, splits = 0;
	int r = 0;

	pthread_mutex_lock(&b->sp->lock);
	/* The unlink of a window's one synced strict area, whole: what the
	 * general way below comes to, without its passes. */
	if (!b->lazy && !w->pending.n && w->areas.n == 1 &&
	    w->areas.v[0].off == lo && area_end(&w->areas.v[0]) == hi) {
		r = kunmap(b, w->addr + lo, hi - lo, 1, hi - lo);
		if (r == 0)
			w->areas.n = 0;
		goto out;
	}
	for (i = 0; i < w->pending.n; i++) {
		const struct span *x = &w->pending.v[i];

		pending += x->off < hi && end_of(x) > lo;
		splits += x->off < lo && end_of(x) > hi;
	}
	if (!pending && !linked_over(w, lo, hi)) {
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
		const struct area *a = &w->areas.v[first], *z = &w->areas.v[last - 1];

		if ((!a->lazy && a->off < lo) || (!z->lazy && area_end(z) > hi)) {
			if (!(attrs & DMASPLIT_ATTR_NO_WARN))
				vfio_err(b, "%s: unlink of window 0x%" PRIx64 " offset 0x%" PRIx64 " length 0x%" PRIx64 ": part of a link, which %s is unlinked whole (the kernel cannot unmap part of a mapping); unlink whole links%s",
					 b->name, w->addr, offset, len,
					 b->lazy ? "mapped past the device's limit of lazy mappings"
						 : "in strict mode",
					 b->lazy ? "" : ", or open with unlink=lazy");
			r = -EINVAL;
			goto out;
		}
		/* Only the first and the last area can keep linked parts,
		 * which keep them mapped; the others lie inside the range. */
		if (keeps_linked(w, a, lo, hi)) {
			kept += linked_within(w, a, lo, hi);
			d0++;
		}
		if (d1 > d0 && keeps_linked(w, z, lo, hi)) {
			kept += linked_within(w, z, lo, hi);
			d1--;
		}
	}
	/* Room for the pieces that stay, before the kernel is asked. */
	if (spans_reserve(&w->pending, splits) < 0 ||
	    areas_reserve(&w->linked, 1) < 0) {
		r = -ENOMEM;
		goto out;
	}
	if (d0 < d1) {
		for (i = d0; i < d1; i++) {
			bytes += w->areas.v[i].len;
			lazy += w->areas.v[i].lazy ? w->areas.v[i].len : 0;
		}
		r = kunmap(b, w->addr + w->areas.v[d0].off,
			   area_end(&w->areas.v[d1 - 1]) - w->areas.v[d0].off,
			   d1 - d0, bytes);
		if (r < 0)
			goto out;
		/* The linked parts of the lazy areas that go. */
		live = bytes_in(&w->linked, w->areas.v[d0].off,
				area_end(&w->areas.v[d1 - 1]));
	}
	/* Committed: nothing below fails.  The lazy areas that go take
	 * their unlinked parts off the device; those that stay keep what
	 * this unlink leaves mapped. */
	b->sp->stale_bytes -= lazy - live;
	b->lazy_bytes -= lazy;
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
	uint64_t bytes = 0, live = 0, lazy = 0;
	size_t i;
	int r = 0;

	pthread_mutex_lock(&b->sp->lock);
	for (i = 0; i < w->areas.n; i++) {
		const struct area *a = &w->areas.v[i];

		bytes += a->len;
		lazy += a->lazy ? a->len : 0;
	}
	for (i = 0; i < w->linked.n; i++)
		live += w->linked.v[i].len;
	if (w->areas.n)
		r = kunmap(b, w->addr, w->size, w->areas.n, bytes);
	if (r == 0) {
		b->sp->stale_bytes -= lazy - live;
		b->lazy_bytes -= lazy;
		iova_put(b, w->addr, w->size);
	} else {
		/* Handing the addresses out again would map over what the
		 * kernel still holds. */
		vfio_err(b, "%s: window 0x%" PRIx64 " stays mapped; its %" PRIu64 " bytes of device addresses are not reused",
			 b->name, w->addr, w->size);
	}
	w->pending.n = w->areas.n = w->linked.n = 0;
	vec_trim((void **)&w->pending.v, &w->pending.cap);
	vec_trim((void **)&w->areas.v, &w->areas.cap);
	vec_trim((void **)&w->linked.v, &w->linked.cap);
	if (b->sp->nspare < WIN_SPARE_MAX) {
		w->next_spare = b->sp->spare;
		b->sp->spare = w;
		b->sp->nspare++;
		w = NULL;
	}
	pthread_mutex_unlock(&b->sp->lock);
	if (w)
		win_free(w);
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
