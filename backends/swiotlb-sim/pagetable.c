// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The software IOMMU's page table: a radix tree whose tables each fill one
 * granule (512 entries of 8 bytes at 4 KiB, as x86 and Arm do), as deep as
 * the DMA mask needs.  Per linked granule the cost is one 8-byte entry; a
 * walk is paid once per leaf table, not once per granule.
 *
 * Tables go when the window or mapping that spans all of their addresses
 * is taken down (pt_release): then no one else can reach them, so no
 * count per table, which every link and unlink would pay for, is needed.
 * A table that also spans other addresses stays until a trim finds
 * none of them in use (pt_trim(), dmasplit_dev_trim()) or the device
 * closes; the IOVA allocator hands out the lowest free addresses, so
 * those are few.  Tables come in chunks, so that a table costs exactly
 * its granule: the metadata of a linked granule is its 8-byte entry plus
 * 1/512 of the tables above it.
 *
 * Freed tables first fill a reserve of PT_RESERVE_BYTES, kept resident
 * and zeroed for the next tables: a window of that many tables' span made
 * and destroyed over and over rebuilds its tables without a page fault.
 * Beyond the reserve their memory goes back to the system, so what a
 * device holds once everything is taken down is the reserve and the
 * shared tables, until a trim gives those back too.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sim.h"

/* The chunk holding table t, or the place for a new chunk at t. */
static size_t chunk_find(const struct pagetable *pt, const void *t)
{
	size_t lo = 0, hi = pt->nchunks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((const uint8_t *)t < pt->chunks[mid].base)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo ? lo - 1 : 0;
}

static size_t chunk_len(const struct pagetable *pt)
{
	return ((size_t)1 << pt->shift) * TABLES_PER_CHUNK;
}

/* The chunk list's first size, and the least a trim shrinks it to. */
#define CHUNK_LIST_MIN 16

#define CHUNK_ALL ((uint32_t)((1ull << TABLES_PER_CHUNK) - 1))

/* A new chunk, all free, in its place.  Under lock. */
static int chunk_add(struct pagetable *pt)
{
	size_t at;
	void *chunk;

	if (pt->nchunks == pt->chunk_cap) {
		size_t cap = pt->chunk_cap ? pt->chunk_cap * 2 : CHUNK_LIST_MIN;
		struct pt_chunk *c = realloc(pt->chunks, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		pt->chunks = c;
		pt->chunk_cap = cap;
	}
	/* Aligned to a table's size, from the kernel's zero pages: only
	 * the tables a walk reaches are ever touched, so a device that maps
	 * little costs little, and nothing has to be cleared. */
	chunk = sim_mmap_aligned(chunk_len(pt), (size_t)1 << pt->shift);
	if (!chunk)
		return -ENOMEM;
	at = chunk_find(pt, chunk);
	if (pt->nchunks && pt->chunks[at].base < (uint8_t *)chunk)
		at++;
	memmove(&pt->chunks[at + 1], &pt->chunks[at],
		(pt->nchunks - at) * sizeof(*pt->chunks));
	pt->chunks[at] = (struct pt_chunk){ .base = chunk, .free = CHUNK_ALL };
	pt->nchunks++;
	pt->nfree += TABLES_PER_CHUNK;
	return 0;
}

/* The reserve's next table, zeroed.  Under lock, with the reserve not
 * empty. */
static uint64_t *reserve_pop(struct pagetable *pt)
{
	uint64_t *t = pt->reserve;

	pt->reserve = (uint64_t *)(uintptr_t)t[0];
	t[0] = 0;
	pt->nreserve--;
	return t;
}

/* A zeroed table; NULL on ENOMEM.  Free tables are zero: never touched,
 * or given back (their pages read as zeros again). */
static uint64_t *table_alloc(struct pagetable *pt)
{
	uint64_t *t = NULL;
	unsigned int i;
	size_t c;

	pthread_mutex_lock(&pt->lock);
	if (pt->reserve) {
		t = reserve_pop(pt);
		goto out;
	}
	if (!pt->nfree && chunk_add(pt) < 0)
		goto out;
	/* The highest chunk with a free table: new chunks usually lie
	 * there, and tables fill a chunk before the next. */
	for (c = pt->nchunks; c-- > 0;)
		if (pt->chunks[c].free)
			break;
	i = (unsigned int)__builtin_ctz(pt->chunks[c].free);
	pt->chunks[c].free &= ~(1u << i);
	pt->chunks[c].dropped &= ~(1u << i);
	pt->nfree--;
	pt->ntables++;
	t = (uint64_t *)(pt->chunks[c].base + ((size_t)i << pt->shift));
out:
	pthread_mutex_unlock(&pt->lock);
	return t;
}

/* Table t is free again; its memory goes back at the next table_flush().
 * Under lock. */
static void table_drop(struct pagetable *pt, uint64_t *t)
{
	struct pt_chunk *c;
	unsigned int i;

	if (pt->nreserve < pt->reserve_max) {
		/* Zero but for the link: kept, resident, for the next. */
		t[0] = (uintptr_t)pt->reserve;
		pt->reserve = t;
		pt->nreserve++;
		return;
	}
	c = &pt->chunks[chunk_find(pt, t)];
	i = (unsigned int)(((uint8_t *)t - c->base) >> pt->shift);
	c->free |= 1u << i;
	c->dropped |= 1u << i;
	pt->nfree++;
	pt->ntables--;
	pt->ndropped++;
}

/*
 * Every walk without the lock (pt_walk_begin()) that may have read the
 * address of a table unhooked before this call has ended: the tables may
 * be reused or unmapped.  Under lock, which orders the callers' epochs.
 */
static void quiesce(struct pagetable *pt)
{
	unsigned int e = pt->epoch;

	__atomic_store_n(&pt->epoch, e + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	while (__atomic_load_n(&pt->walkers[e & 1], __ATOMIC_ACQUIRE))
		sched_yield();
}

/*
 * The memory of the tables dropped since the last call back to the
 * system: their pages discarded, a run of adjacent tables at a time, so
 * that they read as zeros after, and their chunk left in place, cheaper
 * to use again than a new one: chunks go only whole, at a trim
 * (chunks_trim()).  Under lock.
 */
static void table_flush(struct pagetable *pt)
{
	unsigned int i, j;
	size_t c;

	if (!pt->ndropped)
		return;
	pt->ndropped = 0;
	for (c = 0; c < pt->nchunks; c++) {
		struct pt_chunk *k = &pt->chunks[c];

		for (i = 0; k->dropped >> i; i = j) {
			if (!(k->dropped & (1u << i))) {
				j = i + 1;
				continue;
			}
			for (j = i; j < TABLES_PER_CHUNK &&
				    (k->dropped & (1u << j)); j++)
				;
			madvise(k->base + ((size_t)i << pt->shift),
				(size_t)(j - i) << pt->shift, MADV_DONTNEED);
		}
		k->dropped = 0;
	}
}

/* A table that was never installed, still zero, for the next caller:
 * to the reserve, or free in its chunk (its pages were never written
 * but for what a walk read, so nothing goes back). */
static void table_free(struct pagetable *pt, uint64_t *t)
{
	struct pt_chunk *c;

	pthread_mutex_lock(&pt->lock);
	if (pt->nreserve < pt->reserve_max) {
		t[0] = (uintptr_t)pt->reserve;
		pt->reserve = t;
		pt->nreserve++;
	} else {
		c = &pt->chunks[chunk_find(pt, t)];
		c->free |= 1u << (((uint8_t *)t - c->base) >> pt->shift);
		pt->nfree++;
		pt->ntables--;
	}
	pthread_mutex_unlock(&pt->lock);
}

int pt_init(struct pagetable *pt, unsigned int shift, unsigned int va_bits)
{
	memset(pt, 0, sizeof(*pt));
	pt->shift = shift;
	pt->bits = shift - 3;
	pt->levels = va_bits <= shift ? 1 :
		     (va_bits - shift + pt->bits - 1) / pt->bits;
	pt->reserve_max = PT_RESERVE_BYTES >> shift;
	pthread_mutex_init(&pt->lock, NULL);
	pt->root = table_alloc(pt);
	if (!pt->root) {
		pt_fini(pt);
		return -ENOMEM;
	}
	return 0;
}

void pt_fini(struct pagetable *pt)
{
	size_t i;

	for (i = 0; i < pt->nchunks; i++)
		munmap(pt->chunks[i].base, chunk_len(pt));
	free(pt->chunks);
	pthread_mutex_destroy(&pt->lock);
	memset(pt, 0, sizeof(*pt));
}

/* The child table behind *slot, which was empty when looked at: created
 * here.  Two threads may race to create it: the loser keeps its copy
 * for later. */
static uint64_t *child_new(struct pagetable *pt, uint64_t *slot)
{
	uint64_t cur = 0, fresh;
	uint64_t *table;

	table = table_alloc(pt);
	if (!table)
		return NULL;
	fresh = (uintptr_t)table;
	if (__atomic_compare_exchange_n(slot, &cur, fresh, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return table;
	table_free(pt, table);
	return (uint64_t *)(uintptr_t)cur;
}

/* Every map and unmap walks here several times: one load and one test
 * a level, the slow path out of line. */
uint64_t *pt_leaf(struct pagetable *pt, uint64_t iova, bool alloc,
		  uint64_t *run)
{
	uint64_t mask = (1ull << pt->bits) - 1, pfn = iova >> pt->shift;
	uint64_t *table = pt->root, *slot, cur;
	unsigned int sh;

	/* Also when nothing is there: callers skip the whole leaf span. */
	*run = (mask + 1) - (pfn & mask);
	if (pt->levels * pt->bits < 64 && (pfn >> (pt->levels * pt->bits)))
		return NULL;	/* beyond the IOMMU's address width */
	for (sh = pt->bits * (pt->levels - 1); sh; sh -= pt->bits) {
		slot = &table[(pfn >> sh) & mask];
		cur = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
		if (__builtin_expect(cur != 0, 1))
			table = (uint64_t *)(uintptr_t)cur;
		else if (!alloc || !(table = child_new(pt, slot)))
			return NULL;
	}
	return &table[pfn & mask];
}

/* Every table below table (at level) goes; their entries are clear. */
static void drop_tree(struct pagetable *pt, uint64_t *table,
		      unsigned int level)
{
	uint64_t i, n = 1ull << pt->bits;

	if (level + 1 < pt->levels)
		for (i = 0; i < n; i++) {
			uint64_t cur = __atomic_load_n(&table[i],
						       __ATOMIC_ACQUIRE);

			if (cur) {
				/* A table kept in the reserve must be zero. */
				__atomic_store_n(&table[i], 0,
						 __ATOMIC_RELAXED);
				drop_tree(pt, (uint64_t *)(uintptr_t)cur,
					  level + 1);
			}
		}
	table_drop(pt, table);
}

/*
 * In table (at level, its first entry at granule pfn), the children
 * spanning only granules in [lo, hi] go; the others are looked into.
 */
static void release(struct pagetable *pt, uint64_t *table, unsigned int level,
		    uint64_t pfn, uint64_t lo, uint64_t hi)
{
	unsigned int sh = pt->bits * (pt->levels - 1 - level);
	uint64_t span = 1ull << sh, i, first, last;

	if (level + 1 == pt->levels)
		return;		/* leaf entries: the caller's */
	first = lo > pfn ? (lo - pfn) >> sh : 0;
	last = (hi - pfn) >> sh;
	if (last >= (1ull << pt->bits))
		last = (1ull << pt->bits) - 1;
	for (i = first; i <= last; i++) {
		uint64_t start = pfn + (i << sh);
		uint64_t cur = __atomic_load_n(&table[i], __ATOMIC_ACQUIRE);
		uint64_t *child = (uint64_t *)(uintptr_t)cur;

		if (!cur)
			continue;
		if (start >= lo && start + (span - 1) <= hi) {
			__atomic_store_n(&table[i], 0, __ATOMIC_RELEASE);
			drop_tree(pt, child, level + 1);
		} else {
			release(pt, child, level + 1, start, lo, hi);
		}
	}
}

void pt_release_tables(struct pagetable *pt, uint64_t iova, uint64_t n)
{
	uint64_t lo = iova >> pt->shift;
	size_t used;

	if (!pt->root)
		return;
	pthread_mutex_lock(&pt->lock);
	/* Each table dropped leaves the tables in use one fewer, whether
	 * it goes to the reserve or back to its chunk. */
	used = pt->ntables - pt->nreserve;
	release(pt, pt->root, 0, 0, lo, lo + n - 1);
	/* Before the lock goes, and with it the reserve to table_alloc(). */
	if (pt->ntables - pt->nreserve != used)
		quiesce(pt);
	table_flush(pt);
	pthread_mutex_unlock(&pt->lock);
}

/*
 * In table (at level, its first entry at granule pfn), every child whose
 * addresses in_use calls unused goes; the others are looked into.  A
 * span that does not fit in 64 bits of address counts as used.
 */
static void trim(struct pagetable *pt, uint64_t *table, unsigned int level,
		 uint64_t pfn, const struct pt_user *user)
{
	unsigned int sh = pt->bits * (pt->levels - 1 - level);
	uint64_t i, n = 1ull << pt->bits;

	if (level + 1 == pt->levels || sh + pt->shift >= 64)
		return;
	for (i = 0; i < n; i++) {
		uint64_t start = pfn + (i << sh);
		uint64_t cur = __atomic_load_n(&table[i], __ATOMIC_ACQUIRE);
		uint64_t first = start << pt->shift;

		if (!cur)
			continue;
		if (start >> (64 - pt->shift) ||
		    user->in_use(user->arg, first,
				 first + ((1ull << (sh + pt->shift)) - 1))) {
			trim(pt, (uint64_t *)(uintptr_t)cur, level + 1, start,
			     user);
			continue;
		}
		__atomic_store_n(&table[i], 0, __ATOMIC_RELEASE);
		drop_tree(pt, (uint64_t *)(uintptr_t)cur, level + 1);
	}
}

/* Chunks whose tables are all free go, once no walk can be in them
 * (quiesce()); the list shrinks back towards its first size.  Under
 * lock. */
static void chunks_trim(struct pagetable *pt)
{
	size_t c, kept = 0, cap = CHUNK_LIST_MIN;

	for (c = 0; c < pt->nchunks; c++) {
		struct pt_chunk *k = &pt->chunks[c];

		if (k->free == CHUNK_ALL) {
			munmap(k->base, chunk_len(pt));
			pt->nfree -= TABLES_PER_CHUNK;
			continue;
		}
		pt->chunks[kept++] = *k;
	}
	pt->nchunks = kept;
	while (cap < kept)
		cap *= 2;
	if (cap < pt->chunk_cap) {
		struct pt_chunk *smaller = realloc(pt->chunks,
						   cap * sizeof(*smaller));

		if (smaller) {
			pt->chunks = smaller;
			pt->chunk_cap = cap;
		}
	}
}

void pt_trim(struct pagetable *pt, const struct pt_user *user)
{
	size_t keep;

	if (!pt->root)
		return;
	pthread_mutex_lock(&pt->lock);
	/* What goes now goes back to the system, the reserve included. */
	keep = pt->reserve_max;
	pt->reserve_max = 0;
	trim(pt, pt->root, 0, 0, user);
	while (pt->reserve)
		table_drop(pt, reserve_pop(pt));
	pt->reserve_max = keep;
	quiesce(pt);
	chunks_trim(pt);
	table_flush(pt);
	pthread_mutex_unlock(&pt->lock);
}

static void walk(struct pagetable *pt, uint64_t *table, unsigned int level,
		 uint64_t pfn, void (*fn)(uint64_t *leaf, uint64_t pfn,
					  void *arg), void *arg)
{
	uint64_t i, n = 1ull << pt->bits;

	if (level + 1 == pt->levels) {
		fn(table, pfn, arg);
		return;
	}
	for (i = 0; i < n; i++) {
		uint64_t cur = __atomic_load_n(&table[i], __ATOMIC_ACQUIRE);

		if (cur)
			walk(pt, (uint64_t *)(uintptr_t)cur, level + 1,
			     (pfn + i) << pt->bits, fn, arg);
	}
}

void pt_for_each_leaf(struct pagetable *pt,
		      void (*fn)(uint64_t *leaf, uint64_t pfn, void *arg),
		      void *arg)
{
	if (pt->root)
		walk(pt, pt->root, 0, 0, fn, arg);
}
