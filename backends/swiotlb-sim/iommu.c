// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The translated device's address space and its page-table entries:
 * spaces (one per device, or one per as=NAME shared by its members), the
 * entries windows and per-range mappings write, and the DMA engine that
 * reads them.  Windows (iommu-window.c), per-range mappings
 * (iommu-map.c) and IOVA allocation with its IOTLB accounting
 * (iommu-iotlb.c) have files of their own; what they share is declared
 * in sim.h.
 *
 * A link writes entries that the device cannot use until the IOTLB sync
 * (dma_iova_sync); a per-range map pays the whole page-API price on every
 * call: an IOVA allocation, the entries and an invalidation.  Untrusted
 * devices bounce whatever does not fill whole granules, as the kernel's
 * dma-iommu does for them, so they never reach the bytes that share a
 * granule with a buffer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "sim.h"

static void space_free(struct sim_space *sp)
{
	unsigned int i;

	if (sp->caches) {
		/* Cached addresses go with the allocator. */
		for (i = 0; i < CPU_CACHES; i++)
			pthread_mutex_destroy(&sp->caches[i].lock);
		free(sp->caches);
	}
	if (sp->depot) {
		pthread_mutex_destroy(&sp->depot->lock);
		free(sp->depot);
	}
	if (sp->iovad)
		sp->host->iovad_destroy(sp->iovad);
	if (sp->pt.root)
		pt_fini(&sp->pt);
	if (sp->recs.root)
		pt_fini(&sp->recs);
	pthread_mutex_destroy(&sp->iova_lock);
	pthread_mutex_destroy(&sp->trim_lock);
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
	pthread_mutex_init(&sp->trim_lock, NULL);
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
	sp->depot = aligned_alloc(64, (sizeof(*sp->depot) + 63) & ~(size_t)63);
	if (!sp->depot) {
		r = -ENOMEM;
		goto fail;
	}
	memset(sp->depot, 0, sizeof(*sp->depot));
	pthread_mutex_init(&sp->depot->lock, NULL);
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

/* The registry is the process's, not a context's: a child of fork(2)
 * makes contexts of its own and opens devices in them, and may not use
 * the parent's (libdmasplit(3)).  So the child forgets the parent's
 * spaces and gets the lock anew, which a thread it does not have may
 * have held.  Not taken around the fork: lines are logged under it, and
 * a log function that forks would wait for itself. */
static void space_registry_forget(void)
{
	pthread_mutex_init(&space_lock, NULL);
	spaces = NULL;
}

__attribute__((constructor)) static void space_registry_atfork(void)
{
	pthread_atfork(NULL, NULL, space_registry_forget);
}

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
		iova_drain_locked(sp);
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

/* For pt_trim(): the allocator knows every address a window or mapping
 * holds, cached ones included; with iova_lock held it cannot change.  A
 * core without iovad_in_use has its highest address in use at least. */
static bool space_in_use(void *arg, uint64_t first, uint64_t last)
{
	struct sim_space *sp = arg;
	uint64_t used;

	if (DMASPLIT_HOST_HAS(sp->host, iovad_in_use) && sp->host->iovad_in_use)
		return sp->host->iovad_in_use(sp->iovad, first,
					      last - first + 1) != 0;
	if (DMASPLIT_HOST_HAS(sp->host, iovad_last_used) &&
	    sp->host->iovad_last_used)
		return sp->host->iovad_last_used(sp->iovad, &used) == 0 &&
		       used >= first;
	return true;
}

/* Records are keyed by four times the address (space_new()). */
static bool recs_in_use(void *arg, uint64_t first, uint64_t last)
{
	return space_in_use(arg, first >> 2, last >> 2);
}

/*
 * dmasplit_dev_trim(): tables no window or mapping of the space can
 * reach go, with both reserves and the allocator's spare nodes.  Cached
 * addresses go back first, so that only what is held counts; with
 * iova_lock held no address is handed out or taken back meanwhile, so a
 * table found unused stays so (iova_lock is taken before the tables'
 * locks, never after).
 */
void iommu_trim(struct dmasplit_bdev *b)
{
	struct sim_space *sp = b->sp;

	pthread_mutex_lock(&sp->trim_lock);
	pthread_mutex_lock(&sp->iova_lock);
	iova_drain_locked(sp);
	pt_trim(&sp->pt, &(struct pt_user){ space_in_use, sp });
	pt_trim(&sp->recs, &(struct pt_user){ recs_in_use, sp });
	if (DMASPLIT_HOST_HAS(sp->host, iovad_trim) && sp->host->iovad_trim)
		sp->host->iovad_trim(sp->iovad);
	pthread_mutex_unlock(&sp->iova_lock);
	pthread_mutex_unlock(&sp->trim_lock);
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
	/* Still a member, so the space stays: its mappings go without the
	 * registry's lock, which opens in other contexts wait for. */
	b->sp = sp;
	iommu_release_owned(b);
	b->sp = NULL;
	pthread_mutex_lock(&space_lock);
	for (m = &sp->members; *m != b; m = &(*m)->sp_next)
		;
	*m = b->sp_next;
	sp->owners[b->owner / 8] &= (uint8_t)~(1u << (b->owner % 8));
	if (--sp->nmembers == 0) {
		/* Not listed in a child of fork(), which forgot the
		 * parent's spaces. */
		for (p = &spaces; *p && *p != sp; p = &(*p)->next)
			;
		if (*p)
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

/* ------------------------------------------------------------------ */
/* Page-table entries                                                   */

/* Zero n entries from iova that this caller wrote itself; what they
 * point at is the caller's to release. */
void pt_zero(struct dmasplit_bdev *b, uint64_t iova, uint64_t n)
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
 * n entries from pte on, in one leaf table, pointing at consecutive host
 * granules from host; the first also gets head.  0, or -EEXIST over a
 * live entry with what this call stored zeroed again.
 */
int pte_set_run(uint64_t *pte, uintptr_t host, uint64_t n, uint64_t g,
		uint64_t flags, uint64_t head)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		if (pte_load(&pte[i])) {
			while (i--)
				pte_store(&pte[i], 0);
			return -EEXIST;
		}
		pte_store(&pte[i], (host + i * g) | flags | (i ? 0 : head));
	}
	return 0;
}

/*
 * Entries for n granules from iova, pointing at consecutive host granules
 * from host; the first also gets head.  An entry already there is a link
 * over a link (-EEXIST): what this call wrote is taken back, so a failed
 * call leaves the table as it found it.
 */
int pt_set(struct dmasplit_bdev *b, uint64_t iova, uintptr_t host,
	   uint64_t n, uint64_t flags, uint64_t head)
{
	uint64_t run, g = b->o.granule, done = 0, a = iova;
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
		r = pte_set_run(pte, host + done * g, run, g, flags,
				done ? 0 : head);
		if (r)
			break;
		done += run;
		a += run * g;
	}
	if (r)
		pt_zero(b, iova, done);
	return r;
}

/*
 * Remove n entries from pte on, in one leaf table; the number there was.
 * Bounced granules are copied back when copy_back says so (or, with
 * copy_back < 0, when the device could write) and return to the pool
 * with the first granule of their allocation.  Copies are for window
 * links, whose bounces are single granules; callers copy multi-granule
 * bounces themselves before.
 */
uint64_t pte_clear_run(struct dmasplit_bdev *b, uint64_t *pte, uint64_t n,
		       int copy_back, struct pool_freed *f)
{
	uint64_t cleared = 0, i;

	for (i = 0; i < n; i++) {
		uint64_t v = pte_load(&pte[i]);
		uintptr_t h = (uintptr_t)(v & ~PTE_FLAGS);

		if (!v)
			continue;
		pte_store(&pte[i], 0);
		cleared++;
		/* Not a later granule of the allocation freed here: its
		 * slots may be another mapping's already, not to be read. */
		if (pool_contains(&b->pool, h) &&
		    (h < f->start || h >= f->end) &&
		    pool_is_head(&b->pool, h)) {
			if (copy_back > 0 || (copy_back < 0 && (v & PTE_WRITE)))
				pool_bounce(b, &b->pool, (uint8_t *)h,
					    b->o.granule, true);
			f->start = h;
			f->end = h + pool_head_len(&b->pool, h);
			pool_unmap(&b->pool, (uint8_t *)h);
		}
	}
	return cleared;
}

/* Remove n entries from iova, as pte_clear_run(); the number there was. */
uint64_t pt_clear(struct dmasplit_bdev *b, uint64_t iova, uint64_t n,
		  int copy_back)
{
	uint64_t cleared = 0, run, *pte;
	struct pool_freed freed = { 0, 0 };

	while (n) {
		pte = pt_leaf(&b->sp->pt, iova, false, &run);
		if (run > n)
			run = n;
		if (pte)
			cleared += pte_clear_run(b, pte, run, copy_back,
						 &freed);
		n -= run;
		iova += run << b->gshift;
	}
	return cleared;
}

/* ------------------------------------------------------------------ */
/* The DMA engine                                                       */

/* Granules of host memory one call copies: the device's access pays a
 * system call per this many, not per granule. */
#define RW_BATCH 64

int iommu_dma_rw(struct dmasplit_bdev *b, uint64_t dma, uint8_t *buf,
		 size_t len, bool write)
{
	uint64_t need = write ? PTE_WRITE : PTE_READ, at = dma;
	struct iovec host[RW_BATCH];
	const char *why = NULL;
	size_t gathered = 0;
	unsigned int n = 0, walk;
	int r;

	/* The device's walk takes no lock, and may race the teardown of
	 * what it reaches: the tables it reads stay until it ends. */
	walk = pt_walk_begin(&b->sp->pt);
	while (len) {
		uint64_t run, in = dma & b->gmask, chunk = b->o.granule - in;
		uint64_t *pte, v = 0;

		if (dma > b->limit) {
			why = "beyond the device's DMA mask";
			break;
		}
		if (dma > b->iommu_last) {
			why = "beyond the IOMMU's address width";
			break;
		}
		pte = pt_leaf(&b->sp->pt, dma, false, &run);
		if (pte)
			v = pte_load(pte);
		if (!(v & PTE_VALID)) {
			why = v & PTE_LINKED ? "linked, but not synced (no dmasplit_iova_sync yet)"
					     : "not mapped";
			break;
		}
		if (!(v & need)) {
			why = write ? "PTE Write access is not set"
				    : "PTE Read access is not set";
			break;
		}
		if (chunk > len)
			chunk = len;
		host[n].iov_base = (uint8_t *)(uintptr_t)(v & ~PTE_FLAGS) + in;
		host[n++].iov_len = chunk;
		gathered += chunk;
		dma += chunk;
		len -= chunk;
		if (n == RW_BATCH) {
			/* Copies may log: out of the walk, so that a log
			 * function may take a window down. */
			pt_walk_end(&b->sp->pt, walk);
			r = sim_device_copy(b, at, buf, host, n, gathered, write);
			if (r < 0)
				return r;
			buf += gathered;
			at = dma;
			gathered = 0;
			n = 0;
			walk = pt_walk_begin(&b->sp->pt);
		}
	}
	pt_walk_end(&b->sp->pt, walk);
	/* A device that faults has done what came before. */
	r = n ? sim_device_copy(b, at, buf, host, n, gathered, write) : 0;
	if (r < 0 || !why)
		return r;
	sim_fault(b, dma, write, why);
	return -EFAULT;
}
