/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * direct: untranslated DMA for real PCI devices without an IOMMU (bound
 * to uio_pci_generic or igb_uio, or to vfio-pci in no-IOMMU mode), as the
 * kernel's dma-direct does it: the device address of a buffer is its
 * physical address (from /proc/self/pagemap), moved by the platform's DMA
 * ranges where the device tree declares any.  Nothing translates, so there
 * is no address space to reserve (no windows), every mapping must be
 * physically contiguous, and the DMA mask is a hard limit.  The memory
 * stays mlocked while it is mapped, so that it is neither swapped out nor
 * moved by reclaim.  See dmasplit_dev_open(3).
 *
 * Locking: one mutex per device guards its table of live mappings; the
 * host's pin table and pagemap reads have their own.
 */
#ifndef DMASPLIT_DIRECT_H
#define DMASPLIT_DIRECT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmasplit/backend.h>

#define DIRECT_NAME "direct"

#define direct_err(b, ...) \
	dmasplit_host_err((b)->host, DIRECT_NAME ": " __VA_ARGS__)
#define direct_info(b, ...) \
	dmasplit_host_info((b)->host, DIRECT_NAME ": " __VA_ARGS__)
#define direct_dbg(b, ...) \
	dmasplit_host_dbg((b)->host, DIRECT_NAME ": " __VA_ARGS__)

/*
 * One translation of the platform's DMA ranges: CPU physical addresses
 * [cpu, cpu + size) appear to devices at [bus, bus + size).  Without any,
 * bus address = physical address.
 */
struct bus_range {
	uint64_t cpu;
	uint64_t bus;
	uint64_t size;
};

#define MAX_BUS_RANGES DMASPLIT_MAX_RANGES

/* Part of a mapping that was pinned as a whole: unpinned as a whole. */
struct piece {
	uintptr_t va;
	size_t len;
};

/*
 * One live mapping: a dmasplit_map, one segment of a dmasplit_map_vec, or
 * a coherent allocation.  One heap node per mapping, never per page;
 * found by its device address in the device's hash table.
 */
struct dmap {
	struct dmap *next;	/* hash chain */
	uint64_t dma;
	uint64_t len;
	void *cpu;		/* coherent memory: the mapping; else NULL */
	size_t map_len;		/* coherent memory: its mmap length */
	unsigned int npieces;
	struct piece pieces[];
};

struct dmasplit_bdev {
	const struct dmasplit_host *host;
	char name[64];
	uint64_t page_size;
	uint64_t huge_page_size;	/* 0: unknown */
	unsigned int mask_bits;
	uint64_t limit;			/* the last bus address it reaches */
	unsigned int nranges;
	struct bus_range ranges[MAX_BUS_RANGES];

	pthread_mutex_t lock;		/* table, used, bytes_pinned */
	struct dmap **table;
	size_t cap;			/* a power of two, or 0 */
	size_t used;
	uint64_t bytes_pinned;

	struct direct_peers *peers;	/* NULL: a core without peer memory */
};

/* ranges.c: the platform's DMA ranges from the device tree */
int  ranges_read(struct dmasplit_bdev *b, const struct dmasplit_desc *desc);

/* map.c: the per-range path */
int  direct_map(struct dmasplit_bdev *b, void *vaddr, size_t len,
		enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma);
int  direct_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		  enum dmasplit_dir dir, uint32_t attrs);
int  direct_map_vec(struct dmasplit_bdev *b, const struct iovec *iov,
		    unsigned int n, enum dmasplit_dir dir, uint32_t attrs,
		    struct dmasplit_seg *segs, unsigned int *nsegs);
int  direct_unmap_vec(struct dmasplit_bdev *b,
		      const struct dmasplit_seg *segs, unsigned int nsegs,
		      enum dmasplit_dir dir, uint32_t attrs);
/*
 * The bus address of each physically contiguous run of [va, va + len),
 * pages of step bytes known to be contiguous inside; fn is called once
 * per run, in order, and stops the walk with a negative value.
 */
int  direct_walk(struct dmasplit_bdev *b, uintptr_t va, size_t len,
		 uint64_t step, uint32_t attrs,
		 int (*fn)(void *arg, uintptr_t va, size_t len, uint64_t bus),
		 void *arg);
/* [bus, bus + len) is reachable: below the mask and not address 0. */
int  direct_reachable(struct dmasplit_bdev *b, uint64_t bus, uint64_t len,
		      const void *vaddr, uint32_t attrs);
/* The device's first table of mappings, made at open. */
int  table_init(struct dmasplit_bdev *b);
/* All n, never refused. */
void table_insert(struct dmasplit_bdev *b, struct dmap *const *ms,
		  unsigned int n);
/* Remove and return the mapping at dma that matches (cpu: coherent). */
struct dmap *table_take(struct dmasplit_bdev *b, uint64_t dma, uint64_t len,
			const void *cpu, bool coherent);
/* Whether a mapping (or, with coherent, an allocation) starts at dma. */
bool table_has(struct dmasplit_bdev *b, uint64_t dma, bool coherent);
/* Unpin a mapping's memory and free it (coherent memory included). */
void dmap_release(struct dmasplit_bdev *b, struct dmap *m);
void table_release_all(struct dmasplit_bdev *b);

/* peer.c: peer memory of other PCI devices */
int  direct_peers_init(struct dmasplit_bdev *b);
void direct_peers_free(struct dmasplit_bdev *b);
/* 1 and the address to use for va (the bus address when is_bus, else
 * the CPU physical one) if va is peer memory; 0 if it is not; a negative
 * errno, logged unless attrs has DMASPLIT_ATTR_NO_WARN, if this device
 * cannot reach it (-EREMOTEIO). */
int  direct_peer(struct dmasplit_bdev *b, uintptr_t va, uint32_t attrs,
		 uint64_t *addr, bool *is_bus);
/* The host's pin and unpin for the RAM of a range, not its peer memory;
 * a failed pin leaves nothing pinned and says why, unless attrs has
 * DMASPLIT_ATTR_NO_WARN. */
int  direct_pin(struct dmasplit_bdev *b, const void *addr, size_t len,
		enum dmasplit_dir dir, uint32_t attrs);
/* The line for a failed host pin of [addr, addr + len): its error. */
int  direct_pin_refused(struct dmasplit_bdev *b, uint32_t attrs,
			const void *addr, size_t len, int r);
int  direct_unpin(struct dmasplit_bdev *b, const void *addr, size_t len);

/* coherent.c */
int  direct_alloc_coherent(struct dmasplit_bdev *b, size_t size,
			   uint32_t flags, void **cpu, uint64_t *dma);
int  direct_free_coherent(struct dmasplit_bdev *b, size_t size, void *cpu,
			  uint64_t dma);
uint64_t huge_page_size(void);

static inline uint64_t page_span(const struct dmasplit_bdev *b, uintptr_t va,
				 size_t len)
{
	uint64_t m = b->page_size - 1;

	return ((va + len + m) & ~m) - (va & ~m);
}

#endif
