/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * swiotlb-sim: a simulated DMA device, either behind a software IOMMU (a
 * real multi-level page table from device address to host memory) or with
 * no IOMMU at all (device address = host address), and a bounce pool with
 * the kernel swiotlb's slot rules.  Its DMA engine (dev_dma_read/_write)
 * goes through exactly the translation a device would use, so a wrong
 * mapping shows as wrong bytes or a fault.  See dmasplit-backend(7) and
 * dmasplit_dev_open(3), "Simulated devices", for the contract.
 *
 * Devices given the same as=NAME in one context share one address space
 * (struct sim_space): one page table, one IOVA allocator and its caches;
 * a device without as= has a space of its own.  Each device keeps its
 * bounce pool, its coherent memory and what it maps; the space keeps who
 * made each mapping (an owner number in its record).
 *
 * Locking: per space, no lock is shared between spaces.
 *   - space_lock (iommu.c) guards the registry of named spaces and their
 *     membership; it is taken at open and close only;
 *   - iova_lock guards the IOVA allocator and the space's limit;
 *   - the pool's lock guards its slots;
 *   - page-table entries are updated with atomic stores and tables are
 *     installed with compare-and-swap, so links and maps of disjoint
 *     ranges from several threads need no lock, and the DMA engine reads
 *     entries without one.
 */
#ifndef DMASPLIT_SIM_H
#define DMASPLIT_SIM_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmasplit/backend.h>

#define SIM_NAME "swiotlb-sim"

/* The software IOMMU translates 48-bit addresses with 4-level tables at
 * 4 KiB, as VT-d and Arm SMMUs commonly do; a wider DMA mask does not
 * widen the IOMMU. */
#define IOMMU_ADDR_BITS 48

#ifndef unlikely
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif
#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#endif

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
#define PTE_HEAD	(1ull << 4)	/* the first granule of a mapping, or
					 * of a window: a sync that reaches
					 * it from below crosses into it */
#define PTE_BOUNCED	(1ull << 5)	/* a window's granule in its device's
					 * bounce pool: in a shared space, only
					 * that device holds the slot */
#define PTE_PERMS	(PTE_READ | PTE_WRITE)
#define PTE_FLAGS	0xfffull

/* TABLES_PER_CHUNK tables of one mmap(); which of them are free. */
struct pt_chunk {
	uint8_t *base;
	uint32_t free;		/* a bit per table: free */
	uint32_t dropped;	/* a bit per table: freed since its
				 * memory last went back (pt_release) */
};

/*
 * Freed tables kept for reuse, resident and zeroed, per page table: up to
 * this many bytes of them (128 tables at 4 KiB, the leaf tables of a
 * 256 MiB window).  What a device holds once every window and mapping is
 * taken down is at most this, beyond the tables that also spanned
 * addresses still in use; a window that needs no more tables than this
 * is rebuilt without a page fault.
 */
#define PT_RESERVE_BYTES (512u << 10)

struct pagetable {
	unsigned int shift;	/* log2 of the granule */
	unsigned int bits;	/* index bits per level: a table fills a granule */
	unsigned int levels;
	uint64_t *root;

	/* Tables come from chunks of TABLES_PER_CHUNK, so that a table
	 * costs its granule and no allocator overhead beside it; chunks
	 * are kept in address order.  Free tables' memory goes back
	 * (table_flush()); a chunk goes whole, at a trim, once all of its
	 * tables are free and no walk can be in them.  Under lock. */
	pthread_mutex_t lock;
	struct pt_chunk *chunks;
	size_t nchunks, chunk_cap;
	size_t nfree;		/* free tables in the chunks */
	size_t ntables;		/* tables in use, the reserve's included */
	size_t ndropped;	/* freed since their memory last went back */
	/* Freed tables, zero but for the link in their first entry: at
	 * most reserve_max (PT_RESERVE_BYTES of them). */
	uint64_t *reserve;
	size_t nreserve, reserve_max;

	/*
	 * Walks that take no lock and may reach any table (the device's,
	 * pt_walk_begin()), counted by the parity of the epoch they began
	 * in: a table unhooked from its parent is reused or unmapped only
	 * after every walk that may have read its address has ended
	 * (quiesce() in pagetable.c), as the kernel frees page-table pages
	 * only after the IOTLB flush.  On a line of their own: every device access
	 * writes them.
	 */
	unsigned long walkers[2] __attribute__((aligned(64)));
	unsigned int epoch;
};

#define TABLES_PER_CHUNK 16

/* sim.c: zeroed anonymous pages aligned to align, a power of two. */
void *sim_mmap_aligned(size_t len, size_t align);
/* sim.c: how much to map so that len bytes aligned to align lie inside
 * (pages of the system's size), 0 when that does not fit in a size_t;
 * and those len bytes inside m, a mapping of that length, the rest of it
 * unmapped. */
size_t sim_align_len(size_t len, size_t align);
void *sim_align_trim(void *m, size_t len, size_t align);

/*
 * The alignment of coherent memory of size bytes, at both its addresses:
 * the smallest power-of-two number of pages that holds it, as the
 * kernel's dma_alloc_coherent promises.  0 when there is none.
 */
static inline uint64_t coh_align(size_t size)
{
	uint64_t len = size, a;

	if (len <= 4096)
		return 4096;
	if (len > 1ull << 62)
		return 0;
	a = 1ull << (64 - __builtin_clzll(len - 1));
	/* Also an alignment a size_t holds, on 32-bit hosts. */
	return a > SIZE_MAX / 2 + 1 ? 0 : a;
}

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

/*
 * Free every table whose whole span lies in the n granules from iova,
 * whose entries the caller has cleared: those addresses are the
 * caller's alone (a window or mapping being taken down), so no one else
 * can reach those tables; a table that also spans other addresses stays.
 * They go to the reserve, and beyond it their memory to the system.
 */
void pt_release_tables(struct pagetable *pt, uint64_t iova, uint64_t n);

/* Fewer granules than a leaf table spans cover no table: no call. */
static inline void pt_release(struct pagetable *pt, uint64_t iova, uint64_t n)
{
	if (n >> pt->bits)
		pt_release_tables(pt, iova, n);
}

/*
 * Whether any address of [first, last] (the table's own addresses) is
 * used: by a window or mapping, or one being made or taken down, so
 * that a table no one can reach is told from one someone may.
 */
struct pt_user {
	bool (*in_use)(void *arg, uint64_t first, uint64_t last);
	void *arg;
};

/*
 * Free every table whose addresses user says are unused, and the
 * reserve: their memory back to the system (dmasplit_dev_trim()).  The
 * caller keeps what user answers from changing meanwhile.
 */
void pt_trim(struct pagetable *pt, const struct pt_user *user);

/* Around a walk that takes no lock and may reach any table (a device
 * access): the tables it reads are neither reused nor unmapped until
 * pt_walk_end(). */
static inline unsigned int pt_walk_begin(struct pagetable *pt)
{
	unsigned int e = __atomic_load_n(&pt->epoch, __ATOMIC_ACQUIRE) & 1;

	__atomic_fetch_add(&pt->walkers[e], 1, __ATOMIC_RELAXED);
	/* Pairs with quiesce()'s: either it sees this walk, or this walk
	 * sees the entries it cleared before. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return e;
}

static inline void pt_walk_end(struct pagetable *pt, unsigned int e)
{
	__atomic_fetch_sub(&pt->walkers[e], 1, __ATOMIC_RELEASE);
}

/* fn for every leaf table, with the number of its first entry's granule
 * (its address >> shift); tables must not go meanwhile. */
void pt_for_each_leaf(struct pagetable *pt,
		      void (*fn)(uint64_t *leaf, uint64_t pfn, void *arg),
		      void *arg);

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
	uint32_t off;		/* in the first slot: where the mapping's
				 * address lies in it */
	uint8_t dir;		/* in the first slot: the mapping's direction */
	bool dying;		/* in the first slot: an unmap has claimed it */
	bool vec;		/* in the first slot: made by map_vec, so only
				 * unmap_vec takes it */
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

/* The pool's base is aligned to the largest granule, so that slot
 * alignment within the pool is address alignment. */
#define POOL_ALIGN (64u * 1024)

/* The memory a pool of size bytes takes, its alignment included. */
static inline uint64_t pool_map_len(uint64_t size)
{
	return size + POOL_ALIGN;
}

int  pool_init(struct dmasplit_bdev *b, struct pool *pool, uint64_t size,
	       uint64_t limit);
void pool_fini(struct pool *pool);
/*
 * Bounce [orig, orig + len): slots aligned to align (a power of two, at
 * least a slot); the bounce address keeps orig's offset within keep (a
 * power of two: a granule for a translated device, which then gets whole
 * granules of the pool, or 1).  The buffer is copied in, always, even
 * with DMASPLIT_ATTR_SKIP_CPU_SYNC: stale pool contents must never reach
 * the device (the kernel's DMA_FROM_DEVICE information-leak fix).  A
 * buffer that is not readable, or not writable where dir lets the
 * device write, is refused there: -EFAULT, logged, nothing kept.
 * [lo, hi) bounds what later copies may touch on the host side.  A
 * refusal is logged unless attrs has DMASPLIT_ATTR_NO_WARN.
 */
int  pool_map(struct dmasplit_bdev *b, struct pool *pool, uintptr_t orig,
	      size_t len, uint64_t align, uint64_t keep, uintptr_t lo,
	      uintptr_t hi, enum dmasplit_dir dir, uint32_t attrs,
	      uint8_t **tlb);
void pool_unmap(struct pool *pool, const uint8_t *tlb);
/*
 * Claim the mapping that pool_map() returned as tlb with exactly len and
 * dir for an unmap: 0, then only pool_unmap() (or pool_unclaim()) may
 * follow; -ENOENT when no live mapping starts at tlb, -EINVAL when one
 * does with another length or direction.  O(1): every slot knows its
 * allocation.
 */
int  pool_claim(struct pool *pool, uintptr_t tlb, size_t len,
		enum dmasplit_dir dir, bool vec);
void pool_set_vec(struct pool *pool, uintptr_t tlb);
void pool_unclaim(struct pool *pool, uintptr_t tlb);
/* Sync [addr, addr + len), which must lie inside one live mapping made
 * in dir (or BIDIRECTIONAL): copied to the host (to_host) or to the pool
 * as dir asks, 0; else -ENOENT or -EINVAL as for pool_claim(), with
 * the refusal's log line. */
int  pool_sync(struct dmasplit_bdev *b, struct pool *pool, uintptr_t addr,
	       size_t len, enum dmasplit_dir dir, bool to_host);
/* Whether [tlb, tlb + len), inside one live allocation, stands only for
 * bytes of its caller's buffer: a sync of a bounced window link is
 * checked to the byte by it.  Without the lock, as pool_sync(). */
bool pool_holds(const struct pool *pool, const uint8_t *tlb, size_t len);
/* Copy [tlb, tlb + len) of the pool to (to_host) or from its buffer. */
void pool_bounce(struct dmasplit_bdev *b, struct pool *pool,
		 const uint8_t *tlb, size_t len, bool to_host);

/* addr is the first byte of a bounce allocation's first granule. */
static inline bool pool_is_head(const struct pool *pool, uintptr_t addr)
{
	uint32_t idx = (uint32_t)((addr - (uintptr_t)pool->base) >> SLOT_SHIFT);

	return pool->slots[idx].first == idx && pool->slots[idx].nslots;
}

/* The bytes of the bounce allocation that starts at addr (pool_is_head()). */
static inline uint64_t pool_head_len(const struct pool *pool, uintptr_t addr)
{
	uint32_t idx = (uint32_t)((addr - (uintptr_t)pool->base) >> SLOT_SHIFT);

	return (uint64_t)pool->slots[idx].nslots << SLOT_SHIFT;
}

static inline bool pool_contains(const struct pool *pool, uintptr_t addr)
{
	return pool->base && addr >= (uintptr_t)pool->base &&
	       addr - (uintptr_t)pool->base < (uint64_t)pool->nslots << SLOT_SHIFT;
}

/* ------------------------------------------------------------------ */
/* Direct mappings and coherent memory (held.c)                         */

#define HELD_DIRECT	1u	/* a direct mapping of an untranslated device */
#define HELD_COHERENT	2u	/* coherent memory, either device */
#define HELD_VEC	3u	/* a map_vec's vector, at its first segment:
				 * len is the number of segments, cpu the
				 * vector's fingerprint */
#define HELD_KIND	3u
#define HELD_DIR_SHIFT	2
#define HELD_INVEC	0x10u	/* a direct mapping made by map_vec: only
				 * unmap_vec takes it */

struct held_entry {
	uint64_t dma;
	uint64_t len;		/* coherent memory: the size asked for */
	void *cpu;		/* coherent memory: the CPU address */
	uint32_t flags;		/* kind | dir << HELD_DIR_SHIFT; 0: free */
};

static inline enum dmasplit_dir held_dir(const struct held_entry *e)
{
	return (enum dmasplit_dir)((e->flags >> HELD_DIR_SHIFT) & 3);
}

struct held {
	pthread_mutex_t lock;
	struct held_entry *tab;
	size_t cap, n;
	unsigned int shift;	/* 64 - log2(cap) */
	/* Direct mappings and coherent memory: how many, for held_covers. */
	size_t ranges;
	/* The longest of them, and how many are that long; once the last
	 * of those goes, found again at the next held_covers(). */
	uint64_t longest;
	size_t nlongest;
	/* Their starts and lengths summed: while there is one, its own. */
	uint64_t dma_sum, len_sum;
};

void held_init(struct held *h);
/* release, if not NULL, is called for every entry still held. */
void held_fini(struct held *h, void (*release)(struct held_entry *e,
					       void *arg), void *arg);
int  held_add(struct held *h, const struct held_entry *e);
int  held_take(struct held *h, uint64_t dma, uint64_t len, uint32_t kind,
	       enum dmasplit_dir dir, const void *cpu, struct held_entry *e);
int  held_covers(struct held *h, uint64_t dma, uint64_t len);
int  held_take_coherent(struct dmasplit_bdev *b, size_t size, void *cpu,
			uint64_t dma, struct held_entry *e);

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
	uint64_t inval_ns;	/* the modelled cost of an IOTLB invalidation */
};

/* inval_ns= at most 1 ms: a typo must not stall every map for seconds. */
#define SIM_INVAL_NS_MAX 1000000u
#define SIM_INVAL_NS_MAX_STR "1000000"

/* Owner numbers in a record's 8 bits: members of one space at most. */
#define SPACE_MAX_MEMBERS 256

/*
 * What translates: the page table, the allocator of its addresses and
 * the records of per-range mappings.  Private to one device, or shared
 * by the devices of one context with one as=NAME.
 */
struct sim_space {
	const struct dmasplit_host *host;	/* the context: part of the key */
	char name[64];			/* as=NAME; "" when private */
	struct sim_space *next;		/* in the registry (iommu.c) */
	struct dmasplit_bdev *members;	/* through bdev->sp_next */
	unsigned int nmembers;
	uint8_t owners[SPACE_MAX_MEMBERS / 8];	/* owner numbers in use */
	uint64_t granule;
	uint64_t top;			/* the last address the table holds */
	/* The last address handed out: below every member's reach, so
	 * that each can use every mapping.  Under iova_lock. */
	uint64_t last;

	struct dmasplit_iovad *iovad;
	struct pagetable pt;
	/* What each per-range mapping is, two words at its first granule
	 * (see iommu-map.c), so that an unmap or sync is checked against it in
	 * O(1) and without a heap node per mapping. */
	struct pagetable recs;

	struct iova_cache *caches;	/* CPU_CACHES of them */
	struct iova_depot *depot;

	/* Written on every call: on cache lines of its own, so that two
	 * threads on two spaces share nothing. */
	pthread_mutex_t iova_lock __attribute__((aligned(64)));

	/* Keeps a trim (iommu_trim()) from freeing the record tables a
	 * leaving member walks (iommu_release_owned()); taken before
	 * iova_lock.  Neither is on a hot path. */
	pthread_mutex_t trim_lock;
};

struct dmasplit_bdev {
	const struct dmasplit_host *host;
	char name[64];
	struct sim_opts o;
	uint64_t limit;			/* the last address the device reaches */
	uint64_t iommu_last;		/* iommu=on: the last translated address */
	uint64_t gmask;			/* granule - 1 */
	unsigned int gshift;		/* log2 of the granule */
	/* The addresses one leaf table spans (tables fill a granule with
	 * 8-byte entries): log2, and the span - 1. */
	unsigned int lshift;
	uint64_t lmask;
	/* Trusted, with a 4 KiB granule: iommu_iova_link's fast path with
	 * its shifts known at compile time. */
	bool link_4k;

	struct sim_space *sp;		/* iommu=on */
	struct dmasplit_bdev *sp_next;	/* the space's next member */
	unsigned int owner;		/* in the records of its mappings */

	/* Written on every call, so each on cache lines of its own: two
	 * threads on two devices must share nothing. */
	struct pool pool __attribute__((aligned(64)));	/* iommu=off, untrusted */
	struct held held __attribute__((aligned(64)));
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

/* Destroyed windows a CPU's cache keeps the addresses of, with the leaf
 * table they used, for the next windows of their size. */
#define CACHE_WINDOWS 8

struct held_window {
	uint64_t addr;
	uint64_t leaf;		/* struct dmasplit_bwin's */
};

/*
 * The halves of their stacks that full CPU caches spill, kept whole for
 * any CPU's cache whose stack of that order is empty, as the kernel's
 * IOVA depot: threads with more addresses in flight than a cache holds
 * trade CACHE_DEPTH / 2 of them under one lock, rather than as many
 * allocator operations under iova_lock.  Beyond DEPOT_MAGS halves an
 * order's spills go to the allocator.
 */
#define DEPOT_MAGS 16

struct iova_depot {
	pthread_mutex_t lock;
	uint32_t n[CACHE_ORDERS];
	uint64_t mag[CACHE_ORDERS][DEPOT_MAGS][CACHE_DEPTH / 2];
};

struct iova_cache {
	pthread_mutex_t lock;
	uint32_t n[CACHE_ORDERS];
	uint64_t addr[CACHE_ORDERS][CACHE_DEPTH];
	/* Destroyed windows of cached orders, newest last, under lock as
	 * the addresses are: their addresses are this cache's as those in
	 * addr are, and their leaf table is still there, so that the next
	 * window of that size links without a walk. */
	struct held_window held[CACHE_WINDOWS];
	uint8_t held_order[CACHE_WINDOWS];
	uint32_t nheld;
	/* This CPU's share of the statistic: atomic adds, with no lock,
	 * so that a window's sync and unlink count without one; a reader
	 * sums the shares.  Only a thread on this CPU (or a window made
	 * on it) adds here, so the line is rarely shared. */
	uint64_t invalidations;
} __attribute__((aligned(64)));

/*
 * A window's state, in the object the core allocates for it (iova_init):
 * its address and size are the core's (win_addr(), win_size()).
 */
struct dmasplit_bwin {
	struct dmasplit_bdev *b;
	/*
	 * The leaf table a link, sync or unlink last used (a window is
	 * contiguous: the next one most often uses the same), or'ed with
	 * its number among the window's leaf tables, which is below
	 * WIN_NOLEAF (tables are aligned to at least 4 KiB); WIN_NOLEAF
	 * alone when that number does not fit.  One word, so that threads
	 * linking disjoint parts of the window each replace it whole; 0
	 * when none is known.  This hint outlives the window in its CPU's
	 * cache (held[]): the addresses and the table stay, and a window
	 * made from them again starts with it.
	 */
	uint64_t leaf;
	/* Something may be linked: 0 when nothing has been since the
	 * window was made or wholly unlinked, so that its destroy has
	 * nothing to clear. */
	unsigned int linked;
	/* The per-CPU cache the window was made from: its invalidations
	 * count there, and its addresses go back there. */
	unsigned int cpu;
};

static inline uint64_t win_addr(const struct dmasplit_bwin *w)
{
	return dmasplit_bwin_head(w)->addr;
}

static inline uint64_t win_size(const struct dmasplit_bwin *w)
{
	return dmasplit_bwin_head(w)->size;
}

#define WIN_NOLEAF 0xfffull

/* A fingerprint of a map_vec's segments in their order, kept instead of
 * the segments so that unmap_vec is checked against them in O(n) and
 * no memory per segment. */
static inline uint64_t vec_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static inline uint64_t vec_print(const struct dmasplit_seg *segs,
				 unsigned int n)
{
	uint64_t h = n;
	unsigned int i;

	for (i = 0; i < n; i++)
		h = vec_mix(vec_mix(h ^ segs[i].dma) ^ segs[i].len);
	return h;
}

/* A map_vec's call, for its per-buffer callbacks (dmasplit_map_each). */
struct sim_vec {
	struct dmasplit_bdev *b;
	enum dmasplit_dir dir;
	uint32_t attrs;
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

/* ------------------------------------------------------------------ */
/* The translated device (iommu*.c)                                     */

/* iommu.c: address spaces, their entries and the DMA engine */
/* The device joins its space: a new private one, or, with as=NAME, the
 * context's space of that name, made for the first member. */
int  iommu_init(struct dmasplit_bdev *b, const char *as);
/* Leaves it: what the device still maps there goes; the space goes with
 * its last member. */
void iommu_fini(struct dmasplit_bdev *b);
void iommu_trim(struct dmasplit_bdev *b);
int  iommu_dma_rw(struct dmasplit_bdev *b, uint64_t dma, uint8_t *buf,
		  size_t len, bool write);
/* Zero n entries from iova that this caller wrote itself; what they
 * point at is the caller's to release. */
void pt_zero(struct dmasplit_bdev *b, uint64_t iova, uint64_t n);
/* Entries for n granules from iova to consecutive host granules; a
 * failure (-ENOMEM, or -EEXIST over a live entry) leaves none of them. */
int  pt_set(struct dmasplit_bdev *b, uint64_t iova, uintptr_t host,
	    uint64_t n, uint64_t flags, uint64_t head);
/* The same for n entries from pte on, all in one leaf table: the stores
 * alone, for callers that found the table themselves. */
int  pte_set_run(uint64_t *pte, uintptr_t host, uint64_t n, uint64_t g,
		 uint64_t flags, uint64_t head);
/* The pool allocation a clear freed last, [start, end): its later
 * granules' slots may be another mapping's at once, and are skipped. */
struct pool_freed {
	uintptr_t start, end;
};
uint64_t pte_clear_run(struct dmasplit_bdev *b, uint64_t *pte, uint64_t n,
		       int copy_back, struct pool_freed *f);
/* Remove n entries from iova, bounced granules back to the pool; the
 * number there was. */
uint64_t pt_clear(struct dmasplit_bdev *b, uint64_t iova, uint64_t n,
		  int copy_back);

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

static inline uint64_t round_up(const struct dmasplit_bdev *b, uint64_t x)
{
	return (x + b->gmask) & ~b->gmask;
}

/* The memory coherent memory of size bytes takes: whole granules behind
 * the IOMMU, whole pages without one. */
static inline size_t coh_len(const struct dmasplit_bdev *b, size_t size)
{
	size_t m = b->o.iommu ? (size_t)b->gmask : 4095;

	return (size + m) & ~m;
}

/* sim.c: busy-wait ns nanoseconds on CLOCK_MONOTONIC */
void sim_spin(uint64_t ns);

/*
 * The IOTLB invalidation.  The device reads the entries themselves, so a
 * full barrier is all the hardware work there is; it is counted, because
 * on a real IOMMU this is the cost the two-step API batches.  inval_ns=
 * models that cost: the device waits as long as a hardware invalidation
 * would take.  Unset (0), it costs one predictable branch.
 */
static inline void invalidate(const struct dmasplit_bdev *b)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__builtin_expect(b->o.inval_ns != 0, 0))
		sim_spin(b->o.inval_ns);
}

/* iommu-iotlb.c: device addresses and the invalidation count */
/*
 * Allocate and free device addresses.  flushes is the number of IOTLB
 * invalidations the caller makes along with it; a map that fails after
 * its iova_get() puts back with -1.
 */
int  iova_get(struct dmasplit_bdev *b, uint64_t size, uint64_t *addr,
	      unsigned int flushes);
int  iova_put(struct dmasplit_bdev *b, uint64_t addr, uint64_t size,
	      int flushes);
/* iova_get() says -ENOSPC unlogged, so that the refusal's line honours
 * the call's DMASPLIT_ATTR_NO_WARN: this is that line (-ENOSPC). */
int  iova_none_left(struct dmasplit_bdev *b, uint32_t attrs, uint64_t size);
/* size bytes aligned to align, a power of two above the granule, for
 * coherent memory: from the allocator itself, whose free blocks hold no
 * alignment, never from the per-CPU caches.  -ENOSPC logged. */
int  iova_get_aligned(struct dmasplit_bdev *b, uint64_t size, uint64_t align,
		      uint64_t *addr);
/* A window's addresses (and the leaf table its predecessor there used),
 * taken from (and given back to) one per-CPU cache under one lock;
 * -ENOSPC, logged (a window's alloc has no attributes), when there are
 * none. */
int  win_get(struct dmasplit_bdev *b, struct dmasplit_bwin *w, uint64_t size,
	     uint64_t *addr);
void win_put(struct dmasplit_bwin *w, unsigned int flushes);
/* Every cached address back to the allocator.  Under iova_lock. */
void iova_drain_locked(struct sim_space *sp);
uint64_t iommu_invalidations(struct dmasplit_bdev *b);

static inline unsigned int my_cpu(void)
{
	int cpu = sched_getcpu();

	return (unsigned int)(cpu < 0 ? 0 : cpu) % CPU_CACHES;
}

static inline struct iova_cache *my_cache(const struct dmasplit_bdev *b)
{
	return &b->sp->caches[my_cpu()];
}

/* Count invalidations that come with no IOVA allocation or free: one
 * atomic add to a per-CPU share, no lock. */
static inline void add_invalidations(struct iova_cache *c, int n)
{
	__atomic_fetch_add(&c->invalidations, (uint64_t)(int64_t)n,
			   __ATOMIC_RELAXED);
}

/* A window's sync or unlink: to the share of the CPU it was made on,
 * which spares asking which CPU this is. */
static inline void count_invalidation(const struct dmasplit_bwin *w)
{
	add_invalidations(&w->b->sp->caches[w->cpu], 1);
}

/* iommu-window.c */
int  iommu_iova_link(struct dmasplit_bwin *w, uint64_t offset, void *vaddr,
		     size_t len, enum dmasplit_dir dir, uint32_t attrs);
int  iommu_iova_sync(struct dmasplit_bwin *w, uint64_t offset, uint64_t len);
int  iommu_iova_unlink(struct dmasplit_bwin *w, uint64_t offset, uint64_t len,
		       enum dmasplit_dir dir, uint32_t attrs);
void iommu_iova_fini(struct dmasplit_bwin *w);

/* iommu-map.c: per-range mappings, coherent memory, CPU syncs */
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
		enum dmasplit_dir dir, bool to_host);
int  iommu_alloc_coherent(struct dmasplit_bdev *b, size_t size, void **cpu,
			  uint64_t *dma);
int  iommu_free_coherent(struct dmasplit_bdev *b, size_t size, void *cpu,
			 uint64_t dma);
/* What a member leaving a shared space still maps there goes. */
void iommu_release_owned(struct dmasplit_bdev *b);

/* nommu.c: untranslated DMA, bouncing what the mask does not cover */
int  nommu_map(struct dmasplit_bdev *b, void *vaddr, size_t len,
	       enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma);
int  nommu_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		 enum dmasplit_dir dir, uint32_t attrs);
int  nommu_sync(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		enum dmasplit_dir dir, bool to_host);
int  nommu_map_vec(struct dmasplit_bdev *b, const struct iovec *iov,
		   unsigned int n, enum dmasplit_dir dir, uint32_t attrs,
		   struct dmasplit_seg *segs, unsigned int *nsegs);
int  nommu_unmap_vec(struct dmasplit_bdev *b, const struct dmasplit_seg *segs,
		     unsigned int nsegs, enum dmasplit_dir dir, uint32_t attrs);
int  nommu_alloc_coherent(struct dmasplit_bdev *b, size_t size, void **cpu,
			  uint64_t *dma);
int  nommu_free_coherent(struct dmasplit_bdev *b, size_t size, void *cpu,
			 uint64_t dma);
int  nommu_dma_rw(struct dmasplit_bdev *b, uint64_t dma, uint8_t *buf,
		  size_t len, bool write);
/* Anonymous memory placed at or below limit (the pool, coherent memory),
 * never below LOW_FLOOR, where mmap_min_addr and the program's own image
 * live.  NULL with errno ERANGE when there was memory, only none below
 * limit; else with mmap's errno. */
#define LOW_FLOOR (16ull << 20)
void *low_mmap(size_t len, uint64_t limit);

/* sim.c */
/* A refused call: its one log line, unless the caller asked for none. */
#define sim_refuse(b, attrs, err, ...)                                 \
	({                                                             \
		if (!((attrs) & DMASPLIT_ATTR_NO_WARN))                \
			sim_err(b, __VA_ARGS__);                       \
		(err);                                                 \
	})
void sim_fault(struct dmasplit_bdev *b, uint64_t dma, bool write,
	       const char *why);
/*
 * The device's side of an access: len bytes between buf and the host
 * memory of host[0..n), in order.  The number of bytes copied, fewer
 * where host memory ends (a buffer unmapped under a live mapping, a
 * mapping longer than its buffer): process_vm_readv/writev on this very
 * process report that as EFAULT where a copy would take the process
 * down.  Where they are missing or forbidden (ENOSYS, or EPERM from a
 * seccomp filter) the copy goes through a pipe, from then on, whose
 * write(2) and read(2) fault as safely; a plain copy only where no pipe
 * can be had.  For the
 * device, and for a bounce's copy in at map or link (pool_map()), where
 * the buffer is checked as a real backend's pinning checks it; the CPU's
 * later copies (sync, unmap) run in the caller's context, where a buffer
 * gone under a live mapping is the caller's bug, as in the kernel.
 */
size_t sim_host_rw(uint8_t *buf, const struct iovec *host, unsigned int n,
		   size_t len, bool write);
/* The device's access of len bytes from device address at, gathered in
 * host[0..n): 0, or -EFAULT and the fault where host memory ends. */
int  sim_device_copy(struct dmasplit_bdev *b, uint64_t at, uint8_t *buf,
		     const struct iovec *host, unsigned int n, size_t len,
		     bool write);

/* peer.c: -EREMOTEIO (logged) if [vaddr, vaddr + len) holds peer
 * memory, which must not be bounced; else 0. */
int  sim_no_peer_bounce(struct dmasplit_bdev *b, const void *vaddr,
			size_t len, uint32_t attrs);

#endif
