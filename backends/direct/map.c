// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * direct: the per-range path.  A buffer is pinned (mlocked, counted per
 * page by the host, so overlapping buffers unlock only with the last
 * one), then translated page by page; a device without an IOMMU needs
 * each segment physically contiguous, so dmasplit_map refuses a buffer
 * that is not (-EXDEV) and dmasplit_map_vec splits it where it breaks and
 * merges where buffers meet.  Live mappings are kept in a hash table by
 * device address, which is all an unmap has to go on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "direct.h"

/* ------------------------------------------------------------------ */
/* Translation                                                          */

static int to_bus(struct dmasplit_bdev *b, uint64_t phys, uint64_t *bus)
{
	unsigned int i;

	if (!b->nranges) {
		*bus = phys;
		return 0;
	}
	for (i = 0; i < b->nranges; i++) {
		const struct bus_range *r = &b->ranges[i];

		if (phys >= r->cpu && phys - r->cpu < r->size) {
			*bus = r->bus + (phys - r->cpu);
			return 0;
		}
	}
	return -ERANGE;
}

static int translate(struct dmasplit_bdev *b, uintptr_t va, uint32_t attrs,
		     uint64_t *bus)
{
	bool quiet = attrs & DMASPLIT_ATTR_NO_WARN, is_bus;
	uint64_t phys;
	int r;

	/* Peer memory first: pagemap knows nothing of bus addresses. */
	r = direct_peer(b, va, attrs, &phys, &is_bus);
	if (r < 0)
		return r;
	if (r > 0 && is_bus) {
		*bus = phys;
		return 0;
	}
	if (r == 0)
		r = b->host->virt_to_phys(b->host, (const void *)va, &phys);
	if (r == -ENOENT) {
		if (!quiet)
			direct_err(b, "%s: no page at %p although it is locked (is it mapped without access rights?)",
				   b->name, (void *)va);
		return -EFAULT;
	}
	if (r == -EPERM) {
		if (!quiet)
			direct_err(b, "%s: reading the physical address of %p needs CAP_SYS_ADMIN",
				   b->name, (void *)va);
		return r;
	}
	if (r < 0) {
		if (!quiet)
			direct_err(b, "%s: cannot read the physical address of %p: %s",
				   b->name, (void *)va, strerror(-r));
		return r;
	}
	r = to_bus(b, phys, bus);
	if (r < 0 && !quiet)
		direct_err(b, "%s: physical address 0x%" PRIx64 " of %p lies outside the platform's DMA ranges: the device cannot reach it",
			   b->name, phys, (void *)va);
	return r;
}

int direct_walk(struct dmasplit_bdev *b, uintptr_t va, size_t len,
		uint64_t step, uint32_t attrs,
		int (*fn)(void *arg, uintptr_t va, size_t len, uint64_t bus),
		void *arg)
{
	uintptr_t run_va = va, end = va + len, next;
	uint64_t run_bus, bus;
	int r;

	r = translate(b, va, attrs, &run_bus);
	if (r < 0)
		return r;
	for (next = (va & ~(uintptr_t)(step - 1)) + step; next < end;
	     next += step) {
		r = translate(b, next, attrs, &bus);
		if (r < 0)
			return r;
		if (bus != run_bus + (next - run_va)) {
			r = fn(arg, run_va, next - run_va, run_bus);
			if (r < 0)
				return r;
			run_va = next;
			run_bus = bus;
		}
	}
	return fn(arg, run_va, end - run_va, run_bus);
}

int direct_reachable(struct dmasplit_bdev *b, uint64_t bus, uint64_t len,
		     const void *vaddr, uint32_t attrs)
{
	uint64_t last = bus + (len - 1);

	if (last < bus || last > b->limit) {
		if (!(attrs & DMASPLIT_ATTR_NO_WARN))
			direct_err(b, "%s: %p is at 0x%" PRIx64 "-0x%" PRIx64 ", beyond the device's %u-bit DMA mask 0x%" PRIx64,
				   b->name, vaddr, bus, last, b->mask_bits,
				   b->limit);
		return -ERANGE;
	}
	/* Device address 0 is never handed out (dmasplit_iova_alloc(3)): many
	 * devices read it as "no address".  Linux keeps page 0 from user
	 * memory, so only a platform DMA offset could produce it. */
	if (bus == 0) {
		if (!(attrs & DMASPLIT_ATTR_NO_WARN))
			direct_err(b, "%s: %p is at device address 0, which a device reads as no address",
				   b->name, vaddr);
		return -ERANGE;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The table of live mappings                                           */

static size_t slot_of(const struct dmasplit_bdev *b, uint64_t dma)
{
	return (size_t)((dma * 0x9e3779b97f4a7c15ull) >> 32) & (b->cap - 1);
}

static int grow(struct dmasplit_bdev *b)
{
	size_t cap = b->cap ? b->cap * 2 : 256, i;
	struct dmap **table = calloc(cap, sizeof(*table)), **old = b->table;
	size_t old_cap = b->cap;

	if (!table)
		return -ENOMEM;
	b->table = table;
	b->cap = cap;
	for (i = 0; i < old_cap; i++) {
		struct dmap *m = old[i], *next;

		for (; m; m = next) {
			size_t s = slot_of(b, m->dma);

			next = m->next;
			m->next = table[s];
			table[s] = m;
		}
	}
	free(old);
	return 0;
}

static uint64_t pinned_bytes(const struct dmasplit_bdev *b,
			     const struct dmap *m)
{
	uint64_t n = 0;
	unsigned int i;

	for (i = 0; i < m->npieces; i++)
		n += page_span(b, m->pieces[i].va, m->pieces[i].len);
	return n;
}

/* Lock held.  The chains take any number: only the load grows. */
static void table_link(struct dmasplit_bdev *b, struct dmap *const *ms,
		       unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		size_t s = slot_of(b, ms[i]->dma);

		ms[i]->next = b->table[s];
		b->table[s] = ms[i];
		b->bytes_pinned += pinned_bytes(b, ms[i]);
	}
	b->used += n;
}

int table_init(struct dmasplit_bdev *b)
{
	return grow(b);
}

/* A table that cannot grow takes longer chains: past table_init(), a
 * mapping is never refused here, after its pages were locked. */
void table_insert(struct dmasplit_bdev *b, struct dmap *const *ms,
		  unsigned int n)
{
	pthread_mutex_lock(&b->lock);
	while (b->used + n > b->cap && grow(b) == 0)
		;
	table_link(b, ms, n);
	pthread_mutex_unlock(&b->lock);
}

/* Mappings just taken go back: never refused, whatever others mapped
 * meanwhile (a chain grows longer instead). */
static void table_put_back(struct dmasplit_bdev *b, struct dmap *const *ms,
			   unsigned int n)
{
	pthread_mutex_lock(&b->lock);
	table_link(b, ms, n);
	pthread_mutex_unlock(&b->lock);
}

struct dmap *table_take(struct dmasplit_bdev *b, uint64_t dma, uint64_t len,
			const void *cpu, bool coherent)
{
	struct dmap **p, *m = NULL;

	pthread_mutex_lock(&b->lock);
	if (b->cap) {
		for (p = &b->table[slot_of(b, dma)]; *p; p = &(*p)->next) {
			if ((*p)->dma == dma && (*p)->len == len &&
			    ((*p)->cpu != NULL) == coherent &&
			    (!coherent || (*p)->cpu == cpu)) {
				m = *p;
				*p = m->next;
				b->used--;
				b->bytes_pinned -= pinned_bytes(b, m);
				break;
			}
		}
	}
	pthread_mutex_unlock(&b->lock);
	return m;
}

bool table_has(struct dmasplit_bdev *b, uint64_t dma, bool coherent)
{
	struct dmap *m = NULL;

	pthread_mutex_lock(&b->lock);
	if (b->cap)
		for (m = b->table[slot_of(b, dma)]; m; m = m->next)
			if (m->dma == dma && (m->cpu != NULL) == coherent)
				break;
	pthread_mutex_unlock(&b->lock);
	return m != NULL;
}

void dmap_release(struct dmasplit_bdev *b, struct dmap *m)
{
	unsigned int i;

	for (i = 0; i < m->npieces; i++)
		direct_unpin(b, (const void *)m->pieces[i].va,
			     m->pieces[i].len);
	if (m->cpu)
		munmap(m->cpu, m->map_len);
	free(m);
}

/* Device close: without the checker nobody else knows what is live. */
void table_release_all(struct dmasplit_bdev *b)
{
	size_t i, n = 0;

	for (i = 0; i < b->cap; i++) {
		struct dmap *m = b->table[i], *next;

		for (; m; m = next, n++) {
			next = m->next;
			dmap_release(b, m);
		}
		b->table[i] = NULL;
	}
	if (n)
		direct_dbg(b, "%s: released %zu mappings at close", b->name, n);
	b->used = 0;
	b->bytes_pinned = 0;
}

static struct dmap *dmap_new(unsigned int npieces)
{
	return calloc(1, sizeof(struct dmap) + npieces * sizeof(struct piece));
}

/* ------------------------------------------------------------------ */
/* Single ranges                                                        */

struct one_run {
	struct dmasplit_bdev *b;
	uintptr_t va;
	size_t len;
	uint32_t attrs;
	uint64_t bus;
	bool found;
};

static int first_run(void *arg, uintptr_t va, size_t len, uint64_t bus)
{
	struct one_run *o = arg;

	if (!o->found) {
		o->found = true;
		o->bus = bus;
		return 0;
	}
	if (!(o->attrs & DMASPLIT_ATTR_NO_WARN))
		direct_err(o->b, "%s: dmasplit_map of %zu bytes at %p: not physically contiguous (offset 0x%zx is at 0x%" PRIx64 ", not 0x%" PRIx64 "); map it with dmasplit_map_vec, or use dmasplit_alloc_coherent memory",
			   o->b->name, o->len, (void *)o->va, (size_t)(va - o->va),
			   bus, o->bus + (va - o->va));
	return -EXDEV;
}

int direct_map(struct dmasplit_bdev *b, void *vaddr, size_t len,
	       enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma)
{
	struct one_run o = { .b = b, .va = (uintptr_t)vaddr, .len = len,
			     .attrs = attrs };
	struct dmap *m;
	int r;

	/* The record first: out of memory, the call changes nothing
	 * (libdmasplit(3)), where after the pin the memory is marked. */
	m = dmap_new(1);
	if (!m)
		return -ENOMEM;
	/* Locked first: mlock faults the pages in (writably, breaking
	 * copy-on-write), so the frames read next are the ones that stay. */
	r = direct_pin(b, vaddr, len, dir, attrs);
	if (r < 0) {
		free(m);
		return r;
	}
	r = direct_walk(b, (uintptr_t)vaddr, len, b->page_size, attrs,
			first_run, &o);
	if (r == 0)
		r = direct_reachable(b, o.bus, len, vaddr, attrs);
	if (r < 0) {
		direct_unpin(b, vaddr, len);
		free(m);
		return r;
	}
	m->dma = o.bus;
	m->len = len;
	m->npieces = 1;
	m->pieces[0].va = (uintptr_t)vaddr;
	m->pieces[0].len = len;
	table_insert(b, &m, 1);
	*dma = o.bus;
	return 0;
}

int direct_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		 enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmap *m = table_take(b, dma, len, NULL, false);

	if (!m) {
		if (!(attrs & DMASPLIT_ATTR_NO_WARN))
			direct_err(b, "%s: unmap of 0x%" PRIx64 "+0x%zx: no mapping starts there with that length",
				   b->name, dma, len);
		return -ENOENT;
	}
	dmap_release(b, m);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Vectors                                                              */

/* A physically contiguous run of one buffer, and its segment. */
struct vec_piece {
	uintptr_t va;
	size_t len;
	unsigned int seg;
};

struct vec {
	struct dmasplit_bdev *b;
	uint32_t attrs;
	struct dmasplit_seg *segs;
	unsigned int cap;		/* room in segs */
	unsigned int used;		/* segments needed so far */
	uint64_t last_end;		/* bus address after the last segment */
	struct vec_piece *pieces;
	size_t npieces;
};

static int add_run(void *arg, uintptr_t va, size_t len, uint64_t bus)
{
	struct vec *v = arg;
	int r;

	r = direct_reachable(v->b, bus, len, (const void *)va, v->attrs);
	if (r < 0)
		return r;
	/* Runs that meet in bus addresses, within a buffer or across two,
	 * are one segment to the device. */
	if (!v->used || bus != v->last_end) {
		if (v->used < v->cap) {
			v->segs[v->used].dma = bus;
			v->segs[v->used].len = 0;
		}
		v->used++;
	}
	if (v->used <= v->cap)
		v->segs[v->used - 1].len += len;
	v->last_end = bus + len;
	v->pieces[v->npieces].va = va;
	v->pieces[v->npieces].len = len;
	v->pieces[v->npieces++].seg = v->used - 1;
	return 0;
}

/* Records for segments [0, used) from the pieces; all or nothing. */
static int record_segs(struct vec *v)
{
	struct dmap **ms;
	size_t p = 0, first;
	unsigned int s, k;
	int r = 0;

	ms = calloc(v->used, sizeof(*ms));
	if (!ms)
		return -ENOMEM;
	for (s = 0; s < v->used; s++) {
		for (first = p; p < v->npieces && v->pieces[p].seg == s; p++)
			;
		ms[s] = dmap_new((unsigned int)(p - first));
		if (!ms[s]) {
			r = -ENOMEM;
			break;
		}
		ms[s]->dma = v->segs[s].dma;
		ms[s]->len = v->segs[s].len;
		ms[s]->npieces = (unsigned int)(p - first);
		for (k = 0; k < ms[s]->npieces; k++) {
			ms[s]->pieces[k].va = v->pieces[first + k].va;
			ms[s]->pieces[k].len = v->pieces[first + k].len;
		}
	}
	if (r == 0)
		table_insert(v->b, ms, v->used);
	else
		for (s = 0; s < v->used; s++)
			free(ms[s]);
	free(ms);
	return r;
}

int direct_map_vec(struct dmasplit_bdev *b, const struct iovec *iov,
		   unsigned int n, enum dmasplit_dir dir, uint32_t attrs,
		   struct dmasplit_seg *segs, unsigned int *nsegs)
{
	struct vec v = { .b = b, .attrs = attrs, .segs = segs, .cap = *nsegs };
	uint64_t pages = 0;
	unsigned int i, pinned;
	int r = 0;

	for (i = 0; i < n; i++)
		pages += page_span(b, (uintptr_t)iov[i].iov_base,
				   iov[i].iov_len) / b->page_size;
	if (pages > SIZE_MAX / sizeof(*v.pieces))
		return -ENOMEM;
	v.pieces = malloc((size_t)pages * sizeof(*v.pieces));
	if (!v.pieces)
		return -ENOMEM;
	for (pinned = 0; pinned < n; pinned++) {
		r = direct_pin(b, iov[pinned].iov_base, iov[pinned].iov_len,
			       dir, attrs);
		if (r < 0)
			goto out;
	}
	for (i = 0; i < n; i++) {
		r = direct_walk(b, (uintptr_t)iov[i].iov_base, iov[i].iov_len,
				b->page_size, attrs, add_run, &v);
		if (r < 0)
			goto out;
	}
	if (v.used > v.cap) {
		/* Unlike behind an IOMMU, n segments need not suffice: each
		 * physical discontinuity inside a buffer costs one more. */
		if (!(attrs & DMASPLIT_ATTR_NO_WARN))
			direct_err(b, "%s: dmasplit_map_vec: %u buffers are %u physically contiguous segments, room for %u",
				   b->name, n, v.used, v.cap);
		r = -ENOSPC;
		goto out;
	}
	r = record_segs(&v);
	if (r == 0)
		*nsegs = v.used;
out:
	if (r < 0)
		while (pinned--)
			direct_unpin(b, iov[pinned].iov_base,
				     iov[pinned].iov_len);
	free(v.pieces);
	return r;
}

/* All segments or none (dmasplit_map(3)): each is taken first, and all
 * taken go back if one is not live. */
int direct_unmap_vec(struct dmasplit_bdev *b,
		     const struct dmasplit_seg *segs, unsigned int nsegs,
		     enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmap *one[8], **taken = one;
	unsigned int i, n;
	int r = 0;

	(void)dir;
	if (nsegs > 8 && !(taken = calloc(nsegs, sizeof(*taken))))
		return -ENOMEM;
	for (n = 0; n < nsegs; n++) {
		taken[n] = table_take(b, segs[n].dma, segs[n].len, NULL, false);
		if (!taken[n])
			break;
	}
	if (n < nsegs) {
		if (n)
			table_put_back(b, taken, n);
		if (!(attrs & DMASPLIT_ATTR_NO_WARN))
			direct_err(b, "%s: unmap_vec of %u segments from 0x%" PRIx64 ": segment %u (0x%" PRIx64 "+0x%" PRIx64 ") is not live; nothing unmapped",
				   b->name, nsegs, segs[0].dma, n, segs[n].dma,
				   segs[n].len);
		r = -ENOENT;
	} else {
		for (i = 0; i < nsegs; i++)
			dmap_release(b, taken[i]);
	}
	if (taken != one)
		free(taken);
	return r;
}
