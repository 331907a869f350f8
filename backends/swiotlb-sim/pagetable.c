// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The software IOMMU's page table: a radix tree whose tables each fill one
 * granule (512 entries of 8 bytes at 4 KiB, as x86 and Arm do), as deep as
 * the DMA mask needs.  Per linked granule the cost is one 8-byte entry; a
 * walk is paid once per leaf table, not once per granule.
 *
 * Tables are never freed before the device closes: the IOVA allocator
 * hands out the lowest free addresses, so the tree stays as small as the
 * peak of live mappings, and freeing would need a count per table that
 * every link and unlink would pay for.  They come in chunks, so that a
 * table costs exactly its granule: the metadata of a linked granule is
 * its 8-byte entry plus 1/512 of the tables above it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sim.h"

/*
 * A chunk of tables aligned to a table's size, from the kernel's zero
 * pages: only the tables a walk reaches are ever touched, so a device
 * that maps little costs little, and nothing has to be cleared.
 */
static void *chunk_map(size_t table, size_t len)
{
	size_t over = table > (size_t)4096 ? table : 0;
	uintptr_t p, start;
	void *m;

	m = mmap(NULL, len + over, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	p = (uintptr_t)m;
	start = (p + table - 1) & ~(uintptr_t)(table - 1);
	if (start > p)
		munmap(m, start - p);
	if (p + over > start)
		munmap((void *)(start + len), p + over - start);
	return (void *)start;
}

/* A zeroed table; NULL on ENOMEM. */
static uint64_t *table_alloc(struct pagetable *pt)
{
	size_t size = (size_t)1 << pt->shift;
	uint64_t *t = NULL;

	pthread_mutex_lock(&pt->lock);
	if (pt->spare) {
		t = pt->spare;
		pt->spare = (uint64_t *)(uintptr_t)t[0];
		t[0] = 0;
		goto out;
	}
	if (!pt->left) {
		void *chunk;

		if (pt->nchunks == pt->chunk_cap) {
			size_t cap = pt->chunk_cap ? pt->chunk_cap * 2 : 16;
			void **c = realloc(pt->chunks, cap * sizeof(*c));

			if (!c)
				goto out;
			pt->chunks = c;
			pt->chunk_cap = cap;
		}
		chunk = chunk_map(size, size * TABLES_PER_CHUNK);
		if (!chunk)
			goto out;
		pt->chunks[pt->nchunks++] = chunk;
		pt->next = chunk;
		pt->left = TABLES_PER_CHUNK;
	}
	t = (uint64_t *)pt->next;
	pt->next += size;
	pt->left--;
out:
	pthread_mutex_unlock(&pt->lock);
	return t;
}

/* A table that was never installed, cleared, for the next caller. */
static void table_free(struct pagetable *pt, uint64_t *t)
{
	pthread_mutex_lock(&pt->lock);
	t[0] = (uintptr_t)pt->spare;
	pt->spare = t;
	pthread_mutex_unlock(&pt->lock);
}

int pt_init(struct pagetable *pt, unsigned int shift, unsigned int va_bits)
{
	memset(pt, 0, sizeof(*pt));
	pt->shift = shift;
	pt->bits = shift - 3;
	pt->levels = va_bits <= shift ? 1 :
		     (va_bits - shift + pt->bits - 1) / pt->bits;
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
		munmap(pt->chunks[i], ((size_t)1 << pt->shift) * TABLES_PER_CHUNK);
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
