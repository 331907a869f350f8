/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * swiotlb-sim: a simulated DMA device, either behind a software IOMMU (a
 * real multi-level page table from device address to host memory) or with
 * no IOMMU at all (device address = host address), and a bounce pool with
 * the kernel swiotlb's slot rules.  Its DMA engine (dev_dma_read/_write)
 * goes through exactly the translation a device would use, so a wrong
 * mapping shows as wrong bytes or a fault.  See dmasplit-backend(7) and
 * design section 4.2 for the contract.
 *
 * Locking: per device, no lock is shared between devices.
 *   - iova_lock guards the IOVA allocator;
 *   - the pool's lock guards its slots;
 *   - page-table entries are updated with atomic stores and tables are
 *     installed with compare-and-swap, so links and maps of disjoint
 *     ranges from several threads need no lock, and the DMA engine reads
 *     entries without one.
 */
#ifndef DMASPLIT_SIM_H
#define DMASPLIT_SIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmasplit/backend.h>

#define SIM_NAME "swiotlb-sim"

/* The software IOMMU translates 48-bit addresses with 4-level tables at
 * 4 KiB, as VT-d and Arm SMMUs commonly do; a wider DMA mask does not
 * widen the IOMMU. */
#define IOMMU_ADDR_BITS 48

#define sim_err(b, ...) dmasplit_host_err((b)->host, SIM_NAME ": " __VA_ARGS__)
#define sim_dbg(b, ...) dmasplit_host_dbg((b)->host, SIM_NAME ": " __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Page table (pagetable.c)                                             */

/*
 * A leaf entry holds the host address of a granule (granules are at
 * least 4 KiB, so the low 12 bits are free) and these bits.  A link is
 * written LINKED and becomes VALID at the IOTLB sync: until then the
 * device cannot use it.
 */
#define PTE_READ	(1ull << 0)	/* the device may read */
#define PTE_WRITE	(1ull << 1)	/* the device may write */
#define PTE_VALID	(1ull << 2)	/* visible to the device */
#define PTE_LINKED	(1ull << 3)	/* waiting for an IOTLB sync */
#define PTE_FLAGS	0xfffull

struct pagetable {
	unsigned int shift;	/* log2 of the granule */
	unsigned int bits;	/* index bits per level: a table fills a granule */
	unsigned int levels;
	uint64_t *root;

	/* Tables come from chunks of TABLES_PER_CHUNK, so that a table
	 * costs its granule and no allocator overhead beside it. */
	pthread_mutex_t lock;
	void **chunks;
	size_t nchunks, chunk_cap;
	uint8_t *next;		/* the next free table in the last chunk */
	size_t left;		/* tables left after next */
	uint64_t *spare;	/* tables that lost an install race */
};

#define TABLES_PER_CHUNK 16

int  pt_init(struct pagetable *pt, unsigned int shift, unsigned int va_bits);
void pt_fini(struct pagetable *pt);
/*
 * The leaf entry of iova, and in *run how many entries from it on lie in
 * the same leaf table, so that callers store runs without walking again.
 * With alloc, missing tables are created (NULL only on ENOMEM); without,
 * NULL means nothing is mapped in those *run entries.
 */
uint64_t *pt_leaf(struct pagetable *pt, uint64_t iova, bool alloc,
		  uint64_t *run);

static inline uint64_t pte_load(const uint64_t *pte)
{
	return __atomic_load_n(pte, __ATOMIC_ACQUIRE);
}

static inline void pte_store(uint64_t *pte, uint64_t v)
{
	__atomic_store_n(pte, v, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------------ */
/* Bounce pool (pool.c), the kernel's swiotlb slot rules                */

#define SLOT_SHIFT 11			/* IO_TLB_SHIFT: 2 KiB slots */
#define SLOT_SIZE (1u << SLOT_SHIFT)
#define SEG_SLOTS 128u			/* IO_TLB_SEGSIZE */
#define SEG_SIZE (SEG_SLOTS * SLOT_SIZE)

struct slot {
	uintptr_t orig;		/* host address this slot stands for */
	uint32_t free_run;	/* free slots from here to the segment end */
	uint32_t first;		/* first slot of its allocation */
	uint32_t nslots;	/* in the first slot: the allocation's length */
	uintptr_t lo, hi;	/* in the first slot: the bytes that are the
				 * caller's buffer; copies never leave them */
};

struct pool {
	pthread_mutex_t lock;
	uint8_t *base;		/* aligned to the largest granule */
	void *map;		/* the mmap()ed area holding base */
	size_t map_len;
	uint32_t nslots;
	uint32_t used;
	uint32_t index;		/* where the next search starts */
	struct slot *slots;
};

struct dmasplit_bdev;

int  pool_init(struct dmasplit_bdev *b, struct pool *pool, uint64_t size,
	       uint64_t limit);
void pool_fini(struct pool *pool);
/*
 * Bounce [orig, orig + len): slots aligned to align (a power of two, at
 * least a slot); the bounce address keeps orig's offset within keep (a
 * power of two: a granule for a translated device, which then gets whole
 * granules of the pool, or 1).  The buffer is copied in, always: stale pool contents must never
 * reach the device (the kernel's DMA_FROM_DEVICE information-leak fix).
 * [lo, hi) bounds what later copies may touch on the host side.
 */
int  pool_map(struct dmasplit_bdev *b, struct pool *pool, uintptr_t orig,
	      size_t len, uint64_t align, uint64_t keep, uintptr_t lo,
	      uintptr_t hi, uint8_t **tlb);
void pool_unmap(struct pool *pool, const uint8_t *tlb);
/* Copy [tlb, tlb + len) of the pool to (to_host) or from its buffer. */
void pool_bounce(struct dmasplit_bdev *b, struct pool *pool,
		 const uint8_t *tlb, size_t len, bool to_host);

/* addr is the first byte of a bounce allocation's first granule. */
static inline bool pool_is_head(const struct pool *pool, uintptr_t addr)
{
	uint32_t idx = (uint32_t)((addr - (uintptr_t)pool->base) >> SLOT_SHIFT);

	return pool->slots[idx].first == idx && pool->slots[idx].nslots;
}

static inline bool pool_contains(const struct pool *pool, uintptr_t addr)
{
	return pool->base && addr >= (uintptr_t)pool->base &&
	       addr - (uintptr_t)pool->base < (uint64_t)pool->nslots << SLOT_SHIFT;
}

/* ------------------------------------------------------------------ */
/* The device                                                           */

struct sim_opts {
	bool iommu;
	bool coherent;
	bool untrusted;
	bool force_bounce;
	unsigned int mask_bits;
	uint64_t granule;
	uint64_t pool_size;
};

struct dmasplit_bdev {
	const struct dmasplit_host *host;
	char name[64];
	struct sim_opts o;
	uint64_t limit;			/* the last address the device reaches */
	uint64_t iommu_last;		/* iommu=on: the last translated address */
	uint64_t gmask;			/* granule - 1 */

	struct dmasplit_iovad *iovad;	/* iommu=on */
	struct pagetable pt;		/* iommu=on */

	struct iova_cache *caches;	/* iommu=on: CPU_CACHES of them */

	/* Written on every call, so each on cache lines of its own: two
	 * threads on two devices must share nothing. */
	pthread_mutex_t iova_lock __attribute__((aligned(64)));
	struct pool pool __attribute__((aligned(64)));	/* iommu=off, untrusted */
	struct {
		uint64_t bytes_bounced;
		uint64_t faults;
	} stats __attribute__((aligned(64)));
};

/*
 * Per-CPU caches of freed small IOVA ranges, as the kernel's iova rcache:
 * threads mapping on one device take and return addresses without the
 * allocator's lock, and each CPU's addresses come in runs, so two CPUs
 * do not write page-table entries in one cache line.
 */
#define CPU_CACHES 16
#define CACHE_ORDERS 4		/* 1, 2, 4 and 8 granules */
#define CACHE_DEPTH 64
#define CACHE_REFILL 8

struct iova_cache {
	pthread_mutex_t lock;
	uint32_t n[CACHE_ORDERS];
	uint64_t addr[CACHE_ORDERS][CACHE_DEPTH];
	uint64_t invalidations;	/* this CPU's share of the statistic */
} __attribute__((aligned(64)));

uint64_t iommu_invalidations(const struct dmasplit_bdev *b);

struct dmasplit_bwin {
	struct dmasplit_bdev *b;
	uint64_t addr;
	uint64_t size;
};

static inline void stat_add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static inline uint64_t dir_perms(enum dmasplit_dir dir)
{
	return (dmasplit_dir_device_reads(dir) ? PTE_READ : 0) |
	       (dmasplit_dir_device_writes(dir) ? PTE_WRITE : 0);
}

/* iommu.c: the translated device */
int  iommu_init(struct dmasplit_bdev *b);
void iommu_fini(struct dmasplit_bdev *b);
int  iommu_iova_alloc(struct dmasplit_bdev *b, uint64_t size, uint32_t flags,
		      struct dmasplit_bwin **win, uint64_t *addr);
int  iommu_iova_link(struct dmasplit_bwin *w, uint64_t offset, void *vaddr,
		     size_t len, enum dmasplit_dir dir, uint32_t attrs);
int  iommu_iova_sync(struct dmasplit_bwin *w, uint64_t offset, uint64_t len);
int  iommu_iova_unlink(struct dmasplit_bwin *w, uint64_t offset, uint64_t len,
		       enum dmasplit_dir dir, uint32_t attrs);
void iommu_iova_destroy(struct dmasplit_bwin *w);
int  iommu_map(struct dmasplit_bdev *b, void *vaddr, size_t len,
	       enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma);
int  iommu_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		 enum dmasplit_dir dir, uint32_t attrs);
int  iommu_map_vec(struct dmasplit_bdev *b, const struct iovec *iov,
		   unsigned int n, enum dmasplit_dir dir, uint32_t attrs,
		   struct dmasplit_seg *segs, unsigned int *nsegs);
int  iommu_unmap_vec(struct dmasplit_bdev *b, const struct dmasplit_seg *segs,
		     unsigned int nsegs, enum dmasplit_dir dir, uint32_t attrs);
int  iommu_sync(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		bool to_host);
int  iommu_dma_rw(struct dmasplit_bdev *b, uint64_t dma, uint8_t *buf,
		  size_t len, bool write);

/* nommu.c: untranslated DMA, bouncing what the mask does not cover */
int  nommu_map(struct dmasplit_bdev *b, void *vaddr, size_t len,
	       enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma);
int  nommu_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		 enum dmasplit_dir dir, uint32_t attrs);
int  nommu_sync(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		bool to_host);
int  nommu_dma_rw(struct dmasplit_bdev *b, uint64_t dma, uint8_t *buf,
		  size_t len, bool write);
/* Anonymous memory placed at or below limit (the pool, coherent memory). */
void *low_mmap(size_t len, uint64_t limit);

/* sim.c */
void sim_fault(struct dmasplit_bdev *b, uint64_t dma, bool write,
	       const char *why);

/* peer.c: -EREMOTEIO (logged) if [vaddr, vaddr + len) holds peer
 * memory, which must not be bounced; else 0. */
int  sim_no_peer_bounce(struct dmasplit_bdev *b, const void *vaddr,
			size_t len, uint32_t attrs);

#endif
