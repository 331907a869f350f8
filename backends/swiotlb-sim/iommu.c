// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The translated device: windows and per-range mappings in a software
 * IOMMU.  A link writes page-table entries that the device cannot use
 * until the IOTLB sync (dma_iova_sync); a per-range map pays the whole
 * page-API price on every call: an IOVA allocation, the entries and an
 * invalidation.  Untrusted devices bounce whatever does not fill whole
 * granules, as the kernel's dma-iommu does for them, so they never reach
 * the bytes that share a granule with a buffer.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sim.h"

static uint64_t round_up(const struct dmasplit_bdev *b, uint64_t x)
{
	return (x + b->gmask) & ~b->gmask;
}

static void space_free(struct sim_space *sp)
{
	unsigned int i;

	if (sp->caches) {
		for (i = 0; i < CPU_CACHES; i++)
			pthread_mutex_destroy(&sp->caches[i].lock);
		free(sp->caches);
	}
	if (sp->iovad)
		sp->host->iovad_destroy(sp->iovad);
	if (sp->pt.root)
		pt_fini(&sp->pt);
	if (sp->recs.root)
		pt_fini(&sp->recs);
	pthread_mutex_destroy(&sp->iova_lock);
	free(sp);
}

/* A space translating bits of address, for b first. */
static int space_new(struct dmasplit_bdev *b, const char *name,
		     unsigned int bits, struct sim_space **out)
{
	struct dmasplit_range range;
	struct sim_space *sp;
	unsigned int i;
	int r;

	sp = aligned_alloc(64, (sizeof(*sp) + 63) & ~(size_t)63);
	if (!sp)
		return -ENOMEM;
	memset(sp, 0, sizeof(*sp));
	sp->host = b->host;
	snprintf(sp->name, sizeof(sp->name), "%s", name);
	sp->granule = b->o.granule;
	sp->top = bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
	sp->last = b->iommu_last;
	pthread_mutex_init(&sp->iova_lock, NULL);
	range.start = b->o.granule;
	range.last = sp->top;
	r = pt_init(&sp->pt, (unsigned int)__builtin_ctzll(b->o.granule), bits);
	if (r < 0)
		goto fail;
	/* Two words per granule, in tables of two granules (keyed by four
	 * times the address), so that the walk is no deeper than the page
	 * table's. */
	r = pt_init(&sp->recs, sp->pt.shift + 1, bits + 2);
	if (r < 0)
		goto fail;
	r = b->host->iovad_new(b->host, &range, 1, b->o.granule, &sp->iovad);
	if (r < 0)
		goto fail;
	sp->caches = aligned_alloc(64, CPU_CACHES * sizeof(*sp->caches));
	if (!sp->caches) {
		r = -ENOMEM;
		goto fail;
	}
	memset(sp->caches, 0, CPU_CACHES * sizeof(*sp->caches));
	for (i = 0; i < CPU_CACHES; i++)
		pthread_mutex_init(&sp->caches[i].lock, NULL);
	*out = sp;
	return 0;
fail:
	space_free(sp);
	return r;
}

/* The context's named spaces: the backend's state is per process, the
 * host table per context, so (host, name) is the key. */
static pthread_mutex_t space_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sim_space *spaces;

static void member_add(struct sim_space *sp, struct dmasplit_bdev *b)
{
	unsigned int i;

	for (i = 0; sp->owners[i / 8] & (1u << (i % 8)); i++)
		;
	sp->owners[i / 8] |= (uint8_t)(1u << (i % 8));
	b->owner = i;
	b->sp_next = sp->members;
	sp->members = b;
	sp->nmembers++;
	b->sp = sp;
}

static void drain_locked(struct sim_space *sp);

/*
 * b may join sp if it uses sp's granule and reaches everything mapped
 * there now; from then on nothing is handed out beyond its reach.
 * Under space_lock.
 */
static int space_join(struct dmasplit_bdev *b, struct sim_space *sp)
{
	uint64_t used;
	int r = 0;

	if (sp->granule != b->o.granule) {
		sim_err(b, "%s: as=%s: granule=%" PRIu64 ", but address space %s has granule=%" PRIu64 ": one page table has one granule",
			b->name, sp->name, b->o.granule, sp->name,
			sp->granule);
		return -EINVAL;
	}
	if (sp->nmembers == SPACE_MAX_MEMBERS) {
		sim_err(b, "%s: as=%s: address space %s has %u members already, the most it takes",
			b->name, sp->name, sp->name, sp->nmembers);
		return -ENOSPC;
	}
	pthread_mutex_lock(&sp->iova_lock);
	if (b->iommu_last < sp->last) {
		/* Cached addresses are free, not mapped: back first, so
		 * that only live windows and mappings count. */
		drain_locked(sp);
		if (sp->host->iovad_last_used(sp->iovad, &used) == 0 &&
		    used > b->iommu_last) {
			sim_err(b, "%s: as=%s: the device reaches 0x%" PRIx64 " (mask=%u), but address space %s has windows or mappings up to 0x%" PRIx64 ": refused, nothing changed",
				b->name, sp->name, b->iommu_last,
				b->o.mask_bits, sp->name, used);
			r = -ERANGE;
		} else {
			sp->last = b->iommu_last;
		}
	}
	pthread_mutex_unlock(&sp->iova_lock);
	return r;
}

int iommu_init(struct dmasplit_bdev *b, const char *as)
{
	unsigned int bits = b->o.mask_bits < IOMMU_ADDR_BITS ? b->o.mask_bits
							     : IOMMU_ADDR_BITS;
	struct sim_space *sp;
	int r;

	b->iommu_last = bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
	if (!as || !as[0]) {
		r = space_new(b, "", bits, &sp);
		if (r == 0)
			member_add(sp, b);
		return r;
	}
	if (b->host->size < offsetof(struct dmasplit_host, iovad_last_used) +
			    sizeof(b->host->iovad_last_used) ||
	    !b->host->iovad_last_used) {
		sim_err(b, "%s: as=%s: the library is too old to share address spaces",
			b->name, as);
		return -EOPNOTSUPP;
	}
	pthread_mutex_lock(&space_lock);
	for (sp = spaces; sp; sp = sp->next)
		if (sp->host == b->host && !strcmp(sp->name, as))
			break;
	if (sp) {
		r = space_join(b, sp);
	} else {
		/* The whole IOMMU width: a later member may reach further
		 * than the first. */
		r = space_new(b, as, IOMMU_ADDR_BITS, &sp);
		if (r == 0) {
			sp->next = spaces;
			spaces = sp;
		}
	}
	if (r == 0) {
		member_add(sp, b);
		sim_dbg(b, "%s: member %u of address space %s (%u members, addresses up to 0x%" PRIx64 ")",
			b->name, b->owner, sp->name, sp->nmembers, sp->last);
	}
	pthread_mutex_unlock(&space_lock);
	return r;
}

static void release_owned(struct dmasplit_bdev *b);

/* Also after a failed iommu_init(), which left no space. */
void iommu_fini(struct dmasplit_bdev *b)
{
	struct sim_space *sp = b->sp, **p;
	struct dmasplit_bdev **m;
	uint64_t last;

	if (!sp)
		return;
	b->sp = NULL;
	if (!sp->name[0]) {
		space_free(sp);
		return;
	}
	pthread_mutex_lock(&space_lock);
	b->sp = sp;
	release_owned(b);
	b->sp = NULL;
	for (m = &sp->members; *m != b; m = &(*m)->sp_next)
		;
	*m = b->sp_next;
	sp->owners[b->owner / 8] &= (uint8_t)~(1u << (b->owner % 8));
	if (--sp->nmembers == 0) {
		for (p = &spaces; *p != sp; p = &(*p)->next)
			;
		*p = sp->next;
		space_free(sp);
	} else {
		/* The others may reach further now. */
		last = sp->top;
		for (b = sp->members; b; b = b->sp_next)
			if (b->iommu_last < last)
				last = b->iommu_last;
		pthread_mutex_lock(&sp->iova_lock);
		sp->last = last;
		pthread_mutex_unlock(&sp->iova_lock);
	}
	pthread_mutex_unlock(&space_lock);
}

static struct iova_cache *my_cache(const struct dmasplit_bdev *b)
{
	int cpu = sched_getcpu();

	return &b->sp->caches[(unsigned int)(cpu < 0 ? 0 : cpu) % CPU_CACHES];
}

uint64_t iommu_invalidations(struct dmasplit_bdev *b)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; b->sp && i < CPU_CACHES; i++) {
		pthread_mutex_lock(&b->sp->caches[i].lock);
		sum += b->sp->caches[i].invalidations;
		pthread_mutex_unlock(&b->sp->caches[i].lock);
	}
	return sum;
}

/*
 * The IOTLB invalidation.  The device reads the entries themselves, so a
 * full barrier is all the hardware work there is; it is counted, because
 * on a real IOMMU this is the cost the two-step API batches.
 */
static void invalidate(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Count invalidations that come with no IOVA allocation or free from
 * the per-CPU cache, whose lock would have counted them. */
static void add_invalidations(struct dmasplit_bdev *b, int n)
{
	struct iova_cache *c = my_cache(b);

	pthread_mutex_lock(&c->lock);
	c->invalidations += (uint64_t)(int64_t)n;
	pthread_mutex_unlock(&c->lock);
}

static void count_invalidation(struct dmasplit_bdev *b)
{
	add_invalidations(b, 1);
}

/* The cache order of size, or -1 when size is not cached. */
static int cache_order(const struct dmasplit_bdev *b, uint64_t size)
{
	uint64_t pages = size >> b->sp->pt.shift;

	return pages && !(pages & (pages - 1)) && pages < (1u << CACHE_ORDERS)
		       ? __builtin_ctzll(pages) : -1;
}

static void global_free(struct dmasplit_bdev *b, const uint64_t *addr,
			unsigned int n, uint64_t size)
{
	unsigned int i;

	pthread_mutex_lock(&b->sp->iova_lock);
	for (i = 0; i < n; i++)
		b->host->iovad_free(b->sp->iovad, addr[i], size);
	pthread_mutex_unlock(&b->sp->iova_lock);
}

/* Give every cached address back, so that a large allocation can use
 * the space (the kernel flushes its rcaches before failing too).  Under
 * iova_lock, which is taken before a cache's lock, never after. */
static void drain_locked(struct sim_space *sp)
{
	unsigned int i, o, k;

	for (i = 0; i < CPU_CACHES; i++) {
		struct iova_cache *c = &sp->caches[i];

		pthread_mutex_lock(&c->lock);
		for (o = 0; o < CACHE_ORDERS; o++) {
			for (k = 0; k < c->n[o]; k++)
				sp->host->iovad_free(sp->iovad, c->addr[o][k],
						     sp->granule << o);
			c->n[o] = 0;
		}
		pthread_mutex_unlock(&c->lock);
	}
}

static void drain_caches(struct dmasplit_bdev *b)
{
	pthread_mutex_lock(&b->sp->iova_lock);
	drain_locked(b->sp);
	pthread_mutex_unlock(&b->sp->iova_lock);
}

static int global_alloc(struct dmasplit_bdev *b, uint64_t size, uint64_t *addr)
{
	int r;

	pthread_mutex_lock(&b->sp->iova_lock);
	r = b->host->iovad_alloc(b->sp->iovad, size, b->sp->last, addr);
	pthread_mutex_unlock(&b->sp->iova_lock);
	return r;
}

/*
 * Allocate and free device addresses.  flushes is the number of IOTLB
 * invalidations the caller makes along with it: counting them here, under
 * the per-CPU lock taken anyway, spares the hot path an atomic operation.
 * A map that fails after its iova_get() puts back with -1: the sum over
 * the per-CPU shares stays exact, modulo 2^64 like any counter.
 */
static int iova_get(struct dmasplit_bdev *b, uint64_t size, uint64_t *addr,
		    unsigned int flushes)
{
	int order = cache_order(b, size), r;
	struct iova_cache *c;
	uint64_t run;
	unsigned int i;

	if (order >= 0) {
		c = my_cache(b);
		pthread_mutex_lock(&c->lock);
		if (c->n[order]) {
			*addr = c->addr[order][--c->n[order]];
			c->invalidations += flushes;
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		pthread_mutex_unlock(&c->lock);
		/* A run for this CPU: its entries share cache lines with no
		 * other CPU's. */
		if (global_alloc(b, size * CACHE_REFILL, &run) == 0) {
			pthread_mutex_lock(&c->lock);
			for (i = CACHE_REFILL - 1; i > 0; i--) {
				if (c->n[order] == CACHE_DEPTH)
					break;
				c->addr[order][c->n[order]++] = run + i * size;
			}
			c->invalidations += flushes;
			pthread_mutex_unlock(&c->lock);
			if (i)	/* the cache filled up meanwhile */
				for (; i > 0; i--)
					global_free(b, &(uint64_t){ run + i * size },
						    1, size);
			*addr = run;
			return 0;
		}
	}
	r = global_alloc(b, size, addr);
	if (r == -ENOSPC) {
		drain_caches(b);
		r = global_alloc(b, size, addr);
	}
	if (r == -ENOSPC)
		sim_err(b, "%s: no %" PRIu64 " bytes of device address space left below the DMA mask",
			b->name, size);
	if (r == 0 && flushes)
		add_invalidations(b, flushes);
	return r;
}

static int iova_put(struct dmasplit_bdev *b, uint64_t addr, uint64_t size,
		    int flushes)
{
	int order = cache_order(b, size), r;
	uint64_t spill[CACHE_DEPTH / 2];
	struct iova_cache *c;
	unsigned int n = 0;

	if (order < 0) {
		pthread_mutex_lock(&b->sp->iova_lock);
		r = b->host->iovad_free(b->sp->iovad, addr, size);
		pthread_mutex_unlock(&b->sp->iova_lock);
		if (flushes)
			add_invalidations(b, flushes);
		return r;
	}
	c = my_cache(b);
	pthread_mutex_lock(&c->lock);
	if (c->n[order] == CACHE_DEPTH) {
		n = CACHE_DEPTH / 2;
		c->n[order] -= n;
		memcpy(spill, &c->addr[order][c->n[order]], sizeof(spill));
	}
	c->addr[order][c->n[order]++] = addr;
	c->invalidations += (uint64_t)(int64_t)flushes;
	pthread_mutex_unlock(&c->lock);
	if (n)
		global_free(b, spill, n, size);
	return 0;
}

/* Zero n entries from iova that this caller wrote itself; what they
 * point at is the caller's to release. */
static void pt_zero(struct dmasplit_bdev *b, uint64_t iova, uint64_t n)
{
	uint64_t run, i, *pte;

	while (n) {
		pte = pt_leaf(&b->sp->pt, iova, false, &run);
		if (run > n)
			run = n;
		for (i = 0; pte && i < run; i++)
			pte_store(&pte[i], 0);
		n -= run;
		iova += run * b->o.granule;
	}
}

/*
 * Entries for n granules from iova, pointing at consecutive host granules
 * from host; the first also gets head.  An entry already there is a link
 * over a link (-EEXIST): what this call wrote is taken back, so a failed
 * call leaves the table as it found it.
 */
static int pt_set(struct dmasplit_bdev *b, uint64_t iova, uintptr_t host,
		  uint64_t n, uint64_t flags, uint64_t head)
{
	uint64_t run, i = 0, g = b->o.granule, done = 0, a = iova;
	uint64_t *pte;
	int r = 0;

	while (done < n) {
		pte = pt_leaf(&b->sp->pt, a, true, &run);
		if (!pte) {
			r = -ENOMEM;
			break;
		}
		if (run > n - done)
			run = n - done;
		for (i = 0; i < run; i++) {
			if (pte_load(&pte[i])) {
				r = -EEXIST;
				break;
			}
			pte_store(&pte[i], (host + (done + i) * g) | flags |
					   (done + i ? 0 : head));
		}
		done += i;
		if (r)
			break;
		a += run * g;
	}
	if (r)
		pt_zero(b, iova, done);
	return r;
}

/* Visit the n entries from iova that exist. */
#define for_each_pte(b, iova, n, pte, body)                                  \
	do {                                                                 \
		uint64_t a_ = (iova), left_ = (n), run_, i_;                 \
		while (left_) {                                              \
			uint64_t *t_ = pt_leaf(&(b)->sp->pt, a_, false, &run_);  \
			if (run_ > left_)                                    \
				run_ = left_;                                \
			for (i_ = 0; t_ && i_ < run_; i_++) {                \
				uint64_t *pte = &t_[i_];                     \
				body                                         \
			}                                                    \
			left_ -= run_;                                       \
			a_ += run_ * (b)->o.granule;                         \
		}                                                            \
	} while (0)

/*
 * Remove n entries from iova; the number there was.  Bounced granules are copied back when
 * copy_back says so (or, with copy_back < 0, when the device could write)
 * and return to the pool with the first granule of their allocation.
 * Copies are for window links, whose bounces are single granules;
 * callers copy multi-granule bounces themselves before.
 */
static uint64_t pt_clear(struct dmasplit_bdev *b, uint64_t iova, uint64_t n,
			 int copy_back)
{
	uint64_t cleared = 0;

	for_each_pte(b, iova, n, pte, {
		uint64_t v = pte_load(pte);
		uintptr_t h = (uintptr_t)(v & ~PTE_FLAGS);

		if (!v)
			continue;
		pte_store(pte, 0);
		cleared++;
		if (pool_contains(&b->pool, h) && pool_is_head(&b->pool, h)) {
			if (copy_back > 0 || (copy_back < 0 && (v & PTE_WRITE)))
				pool_bounce(b, &b->pool, (uint8_t *)h,
					    b->o.granule, true);
			pool_unmap(&b->pool, (uint8_t *)h);
		}
	});
	return cleared;
}

/* ------------------------------------------------------------------ */
/* Windows                                                              */

int iommu_iova_alloc(struct dmasplit_bdev *b, uint64_t size, uint32_t flags,
		     struct dmasplit_bwin **out, uint64_t *addr)
{
	struct dmasplit_bwin *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	r = iova_get(b, size, &w->addr, 0);
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

/* A granule only partly covered by [lo, hi): its own pool granule, so
 * that an untrusted device cannot reach the bytes around the buffer. */
static int link_bounced(struct dmasplit_bdev *b, uint64_t iova, uintptr_t lo,
			uintptr_t hi, uint64_t flags)
{
	uint64_t run, *pte;
	uint8_t *tlb;
	int r;

	pte = pt_leaf(&b->sp->pt, iova, true, &run);
	if (!pte)
		return -ENOMEM;
	if (pte_load(pte))
		return -EEXIST;
	r = pool_map(b, &b->pool, lo, hi - lo, b->o.granule, b->o.granule, lo,
		     hi, DMASPLIT_BIDIRECTIONAL, &tlb);
	if (r < 0)
		return r;
	pte_store(pte, ((uintptr_t)tlb & ~b->gmask) | flags);
	return 0;
}

int iommu_iova_link(struct dmasplit_bwin *w, uint64_t offset, void *vaddr,
		    size_t len, enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t g = b->o.granule, flags = dir_perms(dir) | PTE_LINKED;
	uintptr_t va = (uintptr_t)vaddr, end = va + len;
	uintptr_t host = va & ~b->gmask;
	uint64_t iova = w->addr + (offset & ~b->gmask);
	uint64_t n = (round_up(b, end) - host) / g;
	/* A sync that runs into the window from below crosses into it. */
	uint64_t head = offset < g ? PTE_HEAD : 0;
	uint64_t bounced_head = 0, bounced_tail = 0;
	int r = 0;

	if ((offset ^ va) & b->gmask) {
		sim_err(b, "%s: link at window offset 0x%" PRIx64 " of %p: offset and address differ within the %" PRIu64 "-byte granule",
			b->name, offset, vaddr, g);
		return -EINVAL;
	}
	if (b->o.untrusted && ((va | end) & b->gmask)) {
		r = sim_no_peer_bounce(b, vaddr, len, attrs);
		if (r < 0)
			return r;
	}
	if (b->o.untrusted && (va & b->gmask)) {
		r = link_bounced(b, iova, va, end < host + g ? end : host + g,
				 flags | head);
		if (r < 0)
			goto fail;
		bounced_head = iova;
		iova += g;
		host += g;
		n--;
		head = 0;
	}
	if (b->o.untrusted && n && (end & b->gmask)) {
		r = link_bounced(b, iova + (n - 1) * g, end & ~b->gmask, end,
				 flags | (n == 1 ? head : 0));
		if (r < 0)
			goto undo;
		bounced_tail = iova + (n - 1) * g;
		n--;
	}
	r = pt_set(b, iova, host, n, flags, head);
	if (r == 0)
		return 0;
undo:
	/* Only what this call linked: its bounce granules go back to the
	 * pool with their entries. */
	if (bounced_tail)
		pt_clear(b, bounced_tail, 1, 0);
	if (bounced_head)
		pt_clear(b, bounced_head, 1, 0);
fail:
	if (r == -EEXIST)
		sim_err(b, "%s: link at window 0x%" PRIx64 " offset 0x%" PRIx64 " (%zu bytes): part of it is linked already",
			b->name, w->addr, offset, len);
	return r;
}

int iommu_iova_sync(struct dmasplit_bwin *w, uint64_t offset, uint64_t len)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t first = offset & ~b->gmask, found = 0;

	for_each_pte(b, w->addr + first,
		     (round_up(b, offset + len) - first) >> b->sp->pt.shift, pte, {
		uint64_t v = pte_load(pte);

		if (v & PTE_LINKED)
			pte_store(pte, (v & ~PTE_LINKED) | PTE_VALID);
		found |= v;
	});
	/* Parts of the range may be holes (a batch syncs its whole window
	 * at once); a range with nothing at all is a caller's mistake. */
	if (!found) {
		sim_err(b, "%s: sync of window 0x%" PRIx64 " offset 0x%" PRIx64 " (0x%" PRIx64 " bytes): nothing is linked there",
			b->name, w->addr, offset, len);
		return -ENOENT;
	}
	invalidate();
	count_invalidation(b);
	return 0;
}

int iommu_iova_unlink(struct dmasplit_bwin *w, uint64_t offset, uint64_t len,
		      enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_bdev *b = w->b;
	uint64_t first = offset & ~b->gmask;

	/* Nothing cleared is nothing changed: the refusal is free. */
	if (!pt_clear(b, w->addr + first,
		      (round_up(b, offset + len) - first) >> b->sp->pt.shift,
		      !(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC) &&
		      dmasplit_dir_device_writes(dir)))
		return sim_refuse(b, attrs, -ENOENT, "%s: unlink of window 0x%" PRIx64 " offset 0x%" PRIx64 " (0x%" PRIx64 " bytes): nothing is linked there",
				  b->name, w->addr, offset, len);
	invalidate();
	count_invalidation(b);
	return 0;
}

void iommu_iova_destroy(struct dmasplit_bwin *w)
{
	struct dmasplit_bdev *b = w->b;
	unsigned int flush;

	/* An invalidation only if something was still linked. */
	flush = pt_clear(b, w->addr, w->size >> b->sp->pt.shift, -1) != 0;
	if (flush)
		invalidate();
	iova_put(b, w->addr, w->size, flush);
	free(w);
}

/* ------------------------------------------------------------------ */
/* Per-range mappings                                                   */

/*
 * The record of a per-range mapping: two words at its first granule in
 * b->recs, written when the mapping is complete and cleared with one
 * compare-and-swap by the unmap that claims it, so that of two unmaps of
 * one mapping exactly one proceeds.
 *   w0: kind | direction << 3 | offset of the address in its granule << 8
 *       | owner << 24 | number of segments << 32; 0 when nothing starts
 *       there.  The owner is the member of the space that mapped it:
 *       only that device may unmap or sync it, and its close takes it.
 *   w1: the length (MAP, VSEG, COH); for VEC, a fingerprint of the
 *       segments, so that an unmap_vec is checked against the vector
 *       that map_vec returned in O(segments) and no space per segment.
 */
#define REC_MAP		1u	/* dmasplit_map */
#define REC_VEC		2u	/* dmasplit_map_vec: the vector, at its first
				 * segment */
#define REC_VSEG	3u	/* the other segments of an untrusted device's
				 * map_vec, each mapped on its own */
#define REC_COH		4u	/* coherent memory */
#define REC_KIND	7u

static const char *const rec_what[] = {
	[REC_MAP] = "dmasplit_map mapping",
	[REC_VEC] = "dmasplit_map_vec vector",
	[REC_VSEG] = "dmasplit_map_vec segment",
	[REC_COH] = "coherent allocation",
};

static uint64_t rec_w0(const struct dmasplit_bdev *b, unsigned int kind,
		       enum dmasplit_dir dir, uint64_t off, unsigned int nsegs)
{
	return kind | (uint64_t)dir << 3 | off << 8 | (uint64_t)b->owner << 24 |
	       (uint64_t)nsegs << 32;
}

static unsigned int rec_owner(uint64_t w0)
{
	return (unsigned int)((w0 >> 24) & 0xff);
}

static unsigned int rec_kind(uint64_t w0)
{
	return (unsigned int)(w0 & REC_KIND);
}

static enum dmasplit_dir rec_dir(uint64_t w0)
{
	return (enum dmasplit_dir)((w0 >> 3) & 3);
}

static uint64_t rec_off(uint64_t w0)
{
	return (w0 >> 8) & 0xffff;	/* granules are at most 64 KiB */
}

static unsigned int rec_nsegs(uint64_t w0)
{
	return (unsigned int)(w0 >> 32);
}

/* The two words at granule-aligned iova; NULL when none can exist. */
static uint64_t *rec_at(struct dmasplit_bdev *b, uint64_t iova, bool alloc)
{
	uint64_t run;

	if (iova > b->sp->top)
		return NULL;
	return pt_leaf(&b->sp->recs, iova << 2, alloc, &run);
}

static void rec_set(uint64_t *rec, uint64_t w0, uint64_t w1)
{
	__atomic_store_n(&rec[1], w1, __ATOMIC_RELAXED);
	__atomic_store_n(&rec[0], w0, __ATOMIC_RELEASE);
}

static uint64_t rec_load(const uint64_t *rec, uint64_t *w1)
{
	uint64_t w0;

	if (!rec) {
		*w1 = 0;
		return 0;
	}
	w0 = __atomic_load_n(&rec[0], __ATOMIC_ACQUIRE);
	*w1 = __atomic_load_n(&rec[1], __ATOMIC_RELAXED);
	return w0;
}

static bool rec_claim(uint64_t *rec, uint64_t w0)
{
	return __atomic_compare_exchange_n(&rec[0], &w0, 0, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/*
 * The mapping of kind that starts at dma with len and dir: 0 with its
 * record, or the refusal (logged): -ENOENT when no mapping starts in that
 * granule (never mapped, already unmapped, or the middle of one), -EINVAL
 * when one does but of another kind, address, length or direction.
 */
static int rec_find(struct dmasplit_bdev *b, const char *op, uint64_t dma,
		    uint64_t len, enum dmasplit_dir dir, unsigned int kind,
		    uint32_t attrs, uint64_t **recp, uint64_t *w0p)
{
	uint64_t *rec = rec_at(b, dma & ~b->gmask, false), w1;
	uint64_t w0 = rec_load(rec, &w1);
	uint64_t start = (dma & ~b->gmask) + rec_off(w0);

	if (!w0)
		return sim_refuse(b, attrs, -ENOENT, "%s: %s of 0x%" PRIx64 ": no mapping starts there (never mapped, already unmapped, or inside one)",
				  b->name, op, dma);
	if (rec_owner(w0) != b->owner)
		return sim_refuse(b, attrs, -EINVAL, "%s: %s of 0x%" PRIx64 ": another device of address space %s mapped it; only that one may %s it",
				  b->name, op, dma, b->sp->name, op);
	if (rec_kind(w0) != kind)
		return sim_refuse(b, attrs, -EINVAL, "%s: %s of 0x%" PRIx64 ": that is a %s",
				  b->name, op, dma, rec_what[rec_kind(w0)]);
	if (start != dma || w1 != len || rec_dir(w0) != dir)
		return sim_refuse(b, attrs, -EINVAL, "%s: %s of 0x%" PRIx64 "+0x%" PRIx64 " dir %d: the mapping there is 0x%" PRIx64 "+0x%" PRIx64 " dir %d",
				  b->name, op, dma, len, (int)dir, start, w1,
				  (int)rec_dir(w0));
	*recp = rec;
	*w0p = w0;
	return 0;
}

/*
 * [src, src + len) of host memory at a new device address, recorded as
 * kind.  The record's words are made before any entry, so that a failure
 * leaves nothing to undo but the entries this call wrote.
 */
static int map_host(struct dmasplit_bdev *b, uintptr_t src, size_t len,
		    enum dmasplit_dir dir, unsigned int kind, uint64_t *dma)
{
	uintptr_t first = src & ~b->gmask;
	uint64_t size = round_up(b, src + len) - first, iova, *rec;
	int r;

	r = iova_get(b, size, &iova, 1);
	if (r < 0)
		return r;
	rec = rec_at(b, iova, true);
	r = rec ? pt_set(b, iova, first, size >> b->sp->pt.shift,
			 dir_perms(dir) | PTE_VALID, PTE_HEAD)
		: -ENOMEM;
	if (r < 0) {
		/* Nor was there an invalidation: take back its count. */
		iova_put(b, iova, size, -1);
		if (r == -EEXIST) {
			/* A live entry at a free address: never lose it. */
			sim_err(b, "%s: map: device address 0x%" PRIx64 " is free but mapped",
				b->name, iova);
			r = -EIO;
		}
		return r;
	}
	invalidate();
	rec_set(rec, rec_w0(b, kind, dir, src & b->gmask, 1), len);
	*dma = iova + (src & b->gmask);
	return 0;
}

/*
 * Take down a mapping whose record this caller has claimed: copy back
 * what a bounce holds if asked, clear its entries, free its addresses.
 */
static void unmap_claimed(struct dmasplit_bdev *b, uint64_t dma, uint64_t len,
			  enum dmasplit_dir dir, uint32_t attrs)
{
	uint64_t base = dma & ~b->gmask, size = round_up(b, dma + len) - base;
	uint64_t run, v = 0, *pte;
	uintptr_t h;

	/* Only a device with a pool has bounces to copy back. */
	if (b->pool.base && !(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC) &&
	    dmasplit_dir_device_writes(dir)) {
		pte = pt_leaf(&b->sp->pt, base, false, &run);
		if (pte)
			v = pte_load(pte);
		h = (uintptr_t)(v & ~PTE_FLAGS);
		if (v && pool_contains(&b->pool, h))
			pool_bounce(b, &b->pool, (uint8_t *)h + (dma & b->gmask),
				    len, true);
	}
	/* Entries go before the addresses: once freed, the range may be
	 * handed out again at once. */
	pt_clear(b, base, size >> b->sp->pt.shift, 0);
	invalidate();
	if (iova_put(b, base, size, 1) < 0)
		sim_err(b, "%s: unmap of 0x%" PRIx64 ": the allocator refused its addresses back",
			b->name, dma);
}

static bool must_bounce(const struct dmasplit_bdev *b, uintptr_t va,
			size_t len)
{
	return b->o.untrusted && ((va | (va + len)) & b->gmask);
}

static int map_one(struct dmasplit_bdev *b, void *vaddr, size_t len,
		   enum dmasplit_dir dir, uint32_t attrs, unsigned int kind,
		   uint64_t *dma)
{
	uintptr_t va = (uintptr_t)vaddr;
	uint8_t *tlb = NULL;
	int r;

	if (must_bounce(b, va, len)) {
		r = sim_no_peer_bounce(b, vaddr, len, attrs);
		if (r < 0)
			return r;
		r = pool_map(b, &b->pool, va, len, b->o.granule, b->o.granule,
			     va, va + len, dir, &tlb);
		if (r < 0)
			return r;
		va = (uintptr_t)tlb;
	}
	r = map_host(b, va, len, dir, kind, dma);
	if (r < 0 && tlb)
		pool_unmap(&b->pool, tlb);
	return r;
}

int iommu_map(struct dmasplit_bdev *b, void *vaddr, size_t len,
	      enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma)
{
	return map_one(b, vaddr, len, dir, attrs, REC_MAP, dma);
}

int iommu_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		enum dmasplit_dir dir, uint32_t attrs)
{
	uint64_t *rec, w0;
	int r;

	r = rec_find(b, "unmap", dma, len, dir, REC_MAP, attrs, &rec, &w0);
	if (r < 0)
		return r;
	if (!rec_claim(rec, w0))
		return sim_refuse(b, attrs, -ENOENT, "%s: unmap of 0x%" PRIx64 ": unmapped meanwhile by another thread",
				  b->name, dma);
	unmap_claimed(b, dma, len, dir, attrs);
	return 0;
}

/* As the kernel's dma-iommu: buffers of untrusted devices go one by one,
 * each bounced if it must be; the first segment records the vector. */
static int map_vec_untrusted(struct dmasplit_bdev *b, const struct iovec *iov,
			     unsigned int n, enum dmasplit_dir dir,
			     uint32_t attrs, struct dmasplit_seg *segs,
			     unsigned int *nsegs)
{
	uint64_t *rec;
	unsigned int i;
	int r;

	if (*nsegs < n)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		r = map_one(b, iov[i].iov_base, iov[i].iov_len, dir, attrs,
			    REC_VSEG, &segs[i].dma);
		if (r < 0) {
			while (i--) {
				rec_set(rec_at(b, segs[i].dma & ~b->gmask,
					       false), 0, 0);
				unmap_claimed(b, segs[i].dma, segs[i].len, dir,
					      DMASPLIT_ATTR_SKIP_CPU_SYNC);
			}
			return r;
		}
		segs[i].len = iov[i].iov_len;
	}
	rec = rec_at(b, segs[0].dma & ~b->gmask, false);
	rec_set(rec, rec_w0(b, REC_VEC, dir, segs[0].dma & b->gmask, n),
		vec_print(segs, n));
	*nsegs = n;
	return 0;
}

int iommu_map_vec(struct dmasplit_bdev *b, const struct iovec *iov,
		  unsigned int n, enum dmasplit_dir dir, uint32_t attrs,
		  struct dmasplit_seg *segs, unsigned int *nsegs)
{
	uint64_t flags = dir_perms(dir) | PTE_VALID, size = 0, iova, at, *rec;
	unsigned int i, used = 0;
	int r;

	if (b->o.untrusted)
		return map_vec_untrusted(b, iov, n, dir, attrs, segs, nsegs);
	for (i = 0; i < n; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base;

		size += round_up(b, va + iov[i].iov_len) - (va & ~b->gmask);
	}
	r = iova_get(b, size, &iova, 1);
	if (r < 0)
		return r;
	rec = rec_at(b, iova, true);
	if (!rec) {
		r = -ENOMEM;
		goto put;
	}
	for (i = 0, at = iova; i < n; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base;
		uint64_t pages = (round_up(b, va + iov[i].iov_len) -
				  (va & ~b->gmask)) >> b->sp->pt.shift;
		uint64_t dma = at + (va & b->gmask);

		if (used && segs[used - 1].dma + segs[used - 1].len == dma) {
			segs[used - 1].len += iov[i].iov_len;
		} else if (used == *nsegs) {
			r = -ENOSPC;
			goto undo;
		} else {
			segs[used].dma = dma;
			segs[used++].len = iov[i].iov_len;
		}
		r = pt_set(b, at, va & ~b->gmask, pages, flags,
			   i ? 0 : PTE_HEAD);
		if (r < 0)
			goto undo;
		at += pages << b->sp->pt.shift;
	}
	invalidate();
	rec_set(rec, rec_w0(b, REC_VEC, dir, 0, used), vec_print(segs, used));
	*nsegs = used;
	return 0;
undo:
	pt_zero(b, iova, (at - iova) >> b->sp->pt.shift);
put:
	iova_put(b, iova, size, -1);
	return r;
}

/* The refusal of an unmap_vec: one line, nothing changed. */
#define vec_refuse(b, attrs, segs, nsegs, why, ...)                          \
	sim_refuse(b, attrs, -EINVAL, "%s: unmap_vec of %u segments from 0x%" PRIx64 ": " why "; nothing unmapped", \
		   (b)->name, nsegs, (segs)[0].dma, ##__VA_ARGS__)

/* The vector's first segment must carry the record of the map_vec that
 * returned exactly these segments, in this order. */
static int vec_head(struct dmasplit_bdev *b, const struct dmasplit_seg *segs,
		    unsigned int nsegs, enum dmasplit_dir dir, uint32_t attrs,
		    uint64_t **recp, uint64_t *w0p)
{
	uint64_t *rec = rec_at(b, segs[0].dma & ~b->gmask, false), w1;
	uint64_t w0 = rec_load(rec, &w1);

	if (w0 && rec_owner(w0) != b->owner)
		return vec_refuse(b, attrs, segs, nsegs,
				  "another device of address space %s mapped it",
				  b->sp->name);
	if (rec_kind(w0) != REC_VEC)
		return vec_refuse(b, attrs, segs, nsegs,
				  "its first segment does not start a dmasplit_map_vec vector%s",
				  w0 ? "" : " (never mapped, or unmapped already)");
	if (rec_nsegs(w0) != nsegs || rec_dir(w0) != dir)
		return vec_refuse(b, attrs, segs, nsegs,
				  "that vector has %u segments, direction %d",
				  rec_nsegs(w0), (int)rec_dir(w0));
	if (vec_print(segs, nsegs) != w1)
		return vec_refuse(b, attrs, segs, nsegs,
				  "not the segments map_vec returned, in its order");
	*recp = rec;
	*w0p = w0;
	return 0;
}

static int unmap_vec_untrusted(struct dmasplit_bdev *b,
			       const struct dmasplit_seg *segs,
			       unsigned int nsegs, enum dmasplit_dir dir,
			       uint32_t attrs)
{
	uint64_t *rec, w0;
	unsigned int i;
	int r;

	r = vec_head(b, segs, nsegs, dir, attrs, &rec, &w0);
	if (r < 0)
		return r;
	if (!rec_claim(rec, w0))
		return vec_refuse(b, attrs, segs, nsegs,
				  "unmapped meanwhile by another thread");
	/* Claim every segment before unmapping any, so that a refusal
	 * half way puts back what it took. */
	for (i = 1; i < nsegs; i++) {
		uint64_t *srec, sw0;

		r = rec_find(b, "unmap_vec", segs[i].dma, segs[i].len, dir,
			     REC_VSEG, attrs | DMASPLIT_ATTR_NO_WARN, &srec,
			     &sw0);
		if (r < 0 || !rec_claim(srec, sw0))
			break;
	}
	if (i < nsegs) {
		rec_set(rec, w0, __atomic_load_n(&rec[1], __ATOMIC_RELAXED));
		while (--i > 0)
			rec_set(rec_at(b, segs[i].dma & ~b->gmask, false),
				rec_w0(b, REC_VSEG, dir, segs[i].dma & b->gmask, 1),
				segs[i].len);
		return vec_refuse(b, attrs, segs, nsegs,
				  "segment %u is not live", i);
	}
	for (i = 0; i < nsegs; i++)
		unmap_claimed(b, segs[i].dma, segs[i].len, dir, attrs);
	return 0;
}

int iommu_unmap_vec(struct dmasplit_bdev *b, const struct dmasplit_seg *segs,
		    unsigned int nsegs, enum dmasplit_dir dir, uint32_t attrs)
{
	uint64_t base = segs[0].dma & ~b->gmask, end, *rec, w0;
	unsigned int i;
	int r;

	if (b->o.untrusted)
		return unmap_vec_untrusted(b, segs, nsegs, dir, attrs);
	/* map_vec lays its segments out in order, each from the granule
	 * after the previous one's end: any other vector is not one it
	 * returned, and its span must never be walked. */
	for (i = 1; i < nsegs; i++) {
		uint64_t prev = segs[i - 1].dma + segs[i - 1].len;

		if (segs[i].dma == prev ||
		    (segs[i].dma & ~b->gmask) != round_up(b, prev))
			return vec_refuse(b, attrs, segs, nsegs,
					  "segment %u is not where map_vec put it (out of order, repeated or foreign)",
					  i);
	}
	r = vec_head(b, segs, nsegs, dir, attrs, &rec, &w0);
	if (r < 0)
		return r;
	if (!rec_claim(rec, w0))
		return vec_refuse(b, attrs, segs, nsegs,
				  "unmapped meanwhile by another thread");
	end = round_up(b, segs[nsegs - 1].dma + segs[nsegs - 1].len);
	pt_clear(b, base, (end - base) >> b->sp->pt.shift, 0);
	invalidate();
	if (iova_put(b, base, end - base, 1) < 0)
		sim_err(b, "%s: unmap_vec of 0x%" PRIx64 ": the allocator refused its addresses back",
			b->name, base);
	return 0;
}

/*
 * A member leaves its space with per-range mappings still live (the
 * library's checker, when on, has unmapped them already): they go, as
 * they would with a page table of its own.  A vector's record does not
 * keep its end; its granules run up to the next mapping's first granule
 * or the first hole.
 */
static void release_leaf(uint64_t *leaf, uint64_t pfn, void *arg)
{
	struct dmasplit_bdev *b = arg;
	uint64_t j, n = 1ull << b->sp->recs.bits;

	for (j = 0; j < n; j += 2) {
		uint64_t *rec = &leaf[j], w1, w0 = rec_load(rec, &w1);
		uint64_t iova = ((pfn + j) >> 1) << b->sp->pt.shift, end, run;
		uint64_t *pte, v;

		if (!w0 || rec_owner(w0) != b->owner || !rec_claim(rec, w0))
			continue;
		if (rec_kind(w0) != REC_VEC) {
			unmap_claimed(b, iova + rec_off(w0), w1, rec_dir(w0),
				      DMASPLIT_ATTR_SKIP_CPU_SYNC);
			continue;
		}
		for (end = iova + b->o.granule; end && end <= b->sp->top;
		     end += b->o.granule) {
			pte = pt_leaf(&b->sp->pt, end, false, &run);
			v = pte ? pte_load(pte) : 0;
			if (!v || (v & PTE_HEAD))
				break;
		}
		pt_clear(b, iova, (end - iova) >> b->sp->pt.shift, 0);
		invalidate();
		iova_put(b, iova, end - iova, 1);
	}
}

static void release_owned(struct dmasplit_bdev *b)
{
	pt_for_each_leaf(&b->sp->recs, release_leaf, b);
}

/* Zeroed pages aligned to the granule, trimmed from a larger mapping. */
static void *granule_mmap(size_t len, uint64_t granule)
{
	size_t extra = granule > 4096 ? granule - 4096 : 0;
	uintptr_t p, a;
	void *m;

	m = mmap(NULL, len + extra, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	p = (uintptr_t)m;
	a = (p + granule - 1) & ~(uintptr_t)(granule - 1);
	if (a > p)
		munmap(m, a - p);
	if (p + len + extra > a + len)
		munmap((void *)(a + len), p + len + extra - (a + len));
	return (void *)a;
}

/*
 * Coherent memory: whole granules of their own pages, mapped both ways,
 * recorded so that only free_coherent takes it down and close releases
 * (unmaps) what is left.
 */
int iommu_alloc_coherent(struct dmasplit_bdev *b, size_t size, void **cpu,
			 uint64_t *dma)
{
	size_t len = (size + b->gmask) & ~b->gmask;
	struct held_entry e = { .len = len, .flags = HELD_COHERENT };
	uint64_t *rec, w0;
	void *p;
	int r;

	p = granule_mmap(len, b->o.granule);
	if (!p)
		return -ENOMEM;
	r = map_one(b, p, len, DMASPLIT_BIDIRECTIONAL, 0, REC_COH, dma);
	if (r < 0) {
		munmap(p, len);
		return r;
	}
	e.dma = *dma;
	e.cpu = p;
	r = held_add(&b->held, &e);
	if (r < 0) {
		rec_find(b, "free_coherent", *dma, len, DMASPLIT_BIDIRECTIONAL,
			 REC_COH, 0, &rec, &w0);
		rec_claim(rec, w0);
		unmap_claimed(b, *dma, len, DMASPLIT_BIDIRECTIONAL,
			      DMASPLIT_ATTR_SKIP_CPU_SYNC);
		munmap(p, len);
		sim_err(b, "%s: no memory to record %zu bytes of coherent memory",
			b->name, len);
		return r;
	}
	*cpu = p;
	return 0;
}

int iommu_free_coherent(struct dmasplit_bdev *b, size_t size, void *cpu,
			uint64_t dma)
{
	size_t len = (size + b->gmask) & ~b->gmask;
	struct held_entry e;
	uint64_t *rec, w0;
	int r;

	r = held_take_coherent(b, size, len, cpu, dma, &e);
	if (r < 0)
		return r;
	r = rec_find(b, "free_coherent", dma, len, DMASPLIT_BIDIRECTIONAL,
		     REC_COH, 0, &rec, &w0);
	if (r < 0 || !rec_claim(rec, w0)) {
		held_add(&b->held, &e);
		return r < 0 ? r : -ENOENT;
	}
	unmap_claimed(b, dma, len, DMASPLIT_BIDIRECTIONAL,
		      DMASPLIT_ATTR_SKIP_CPU_SYNC);
	munmap(cpu, len);
	return 0;
}

/* ------------------------------------------------------------------ */
/* CPU syncs and the DMA engine                                         */

/*
 * A sync must lie inside one mapping or one window's links: every
 * granule mapped or linked, none the first of another mapping, the
 * direction one the entries allow, and, from a mapping's first granule,
 * no byte outside its buffer.  Checked before any copy, so a refused
 * sync copies nothing, and it stops at the first granule that fails: a
 * huge range costs no more than what is mapped of it.
 */
static int sync_check(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		      enum dmasplit_dir dir)
{
	uint64_t first = dma & ~b->gmask, a, w0, w1, perms = dir_perms(dir);

	if (dma > b->iommu_last || len - 1 > b->iommu_last - dma)
		return sim_refuse(b, 0, -ENOENT, "%s: sync of 0x%" PRIx64 "+0x%zx: beyond the IOMMU's address width",
				  b->name, dma, len);
	w0 = rec_load(rec_at(b, first, false), &w1);
	if (w0 && rec_owner(w0) != b->owner)
		return sim_refuse(b, 0, -EINVAL, "%s: sync of 0x%" PRIx64 "+0x%zx: another device of address space %s mapped it; only that one may sync it",
				  b->name, dma, len, b->sp->name);
	if (w0 && rec_kind(w0) != REC_VEC &&
	    (dma < first + rec_off(w0) || len > w1 ||
	     dma - first - rec_off(w0) > w1 - len))
		return sim_refuse(b, 0, -EINVAL, "%s: sync of 0x%" PRIx64 "+0x%zx: not inside the %s at 0x%" PRIx64 "+0x%" PRIx64,
				  b->name, dma, len, rec_what[rec_kind(w0)],
				  first + rec_off(w0), w1);
	for (a = first; a - first < dma + len - first; ) {
		uint64_t run, i, *pte = pt_leaf(&b->sp->pt, a, false, &run);

		for (i = 0; i < run && a - first < dma + len - first;
		     i++, a += b->o.granule) {
			uint64_t v = pte ? pte_load(&pte[i]) : 0;

			if (!v)
				return sim_refuse(b, 0, -ENOENT, "%s: sync of 0x%" PRIx64 "+0x%zx: 0x%" PRIx64 " is neither mapped nor linked",
						  b->name, dma, len, a);
			if (a != first && (v & PTE_HEAD))
				return sim_refuse(b, 0, -EINVAL, "%s: sync of 0x%" PRIx64 "+0x%zx: runs into another mapping or window at 0x%" PRIx64,
						  b->name, dma, len, a);
			if ((v & PTE_PERMS) != perms &&
			    (v & PTE_PERMS) != PTE_PERMS)
				return sim_refuse(b, 0, -EINVAL, "%s: sync of 0x%" PRIx64 "+0x%zx direction %d: 0x%" PRIx64 " was mapped in another direction",
						  b->name, dma, len, (int)dir, a);
		}
	}
	return 0;
}

int iommu_sync(struct dmasplit_bdev *b, uint64_t dma, size_t len,
	       enum dmasplit_dir dir, bool to_host)
{
	int r = sync_check(b, dma, len, dir);

	if (r < 0 || !b->pool.base ||
	    !(to_host ? dmasplit_dir_device_writes(dir)
		      : dmasplit_dir_device_reads(dir)))
		return r;
	while (len) {
		uint64_t run, in = dma & b->gmask, chunk = b->o.granule - in;
		uint64_t *pte = pt_leaf(&b->sp->pt, dma, false, &run);
		uint64_t v = pte ? pte_load(pte) : 0;
		uintptr_t h = (uintptr_t)(v & ~PTE_FLAGS);

		if (chunk > len)
			chunk = len;
		/* Only bounced granules need copies: the rest is the
		 * buffer itself, and host memory is coherent. */
		if (v && pool_contains(&b->pool, h))
			pool_bounce(b, &b->pool, (uint8_t *)h + in, chunk,
				    to_host);
		dma += chunk;
		len -= chunk;
	}
	return 0;
}

int iommu_dma_rw(struct dmasplit_bdev *b, uint64_t dma, uint8_t *buf,
		 size_t len, bool write)
{
	uint64_t need = write ? PTE_WRITE : PTE_READ;

	while (len) {
		uint64_t run, in = dma & b->gmask, chunk = b->o.granule - in;
		uint64_t *pte, v = 0;
		uint8_t *host;

		if (dma > b->limit) {
			sim_fault(b, dma, write, "beyond the device's DMA mask");
			return -EFAULT;
		}
		if (dma > b->iommu_last) {
			sim_fault(b, dma, write, "beyond the IOMMU's address width");
			return -EFAULT;
		}
		pte = pt_leaf(&b->sp->pt, dma, false, &run);
		if (pte)
			v = pte_load(pte);
		if (!(v & PTE_VALID)) {
			sim_fault(b, dma, write,
				  v & PTE_LINKED ? "linked, but not synced (no dmasplit_iova_sync yet)"
						 : "not mapped");
			return -EFAULT;
		}
		if (!(v & need)) {
			sim_fault(b, dma, write,
				  write ? "PTE Write access is not set"
					: "PTE Read access is not set");
			return -EFAULT;
		}
		if (chunk > len)
			chunk = len;
		host = (uint8_t *)(uintptr_t)(v & ~PTE_FLAGS) + in;
		if (write)
			memcpy(host, buf, chunk);
		else
			memcpy(buf, host, chunk);
		dma += chunk;
		buf += chunk;
		len -= chunk;
	}
	return 0;
}
