/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfio: PCI devices bound to vfio-pci behind a translating IOMMU, through
 * either kernel interface: iommufd with the VFIO device cdev (preferred)
 * or the type1 container.  Windows are carved from the IOVA ranges the
 * kernel reports as usable; links are recorded and issued at sync.
 * Neither interface can unmap part of a mapping, and re-mapping what an
 * unlink did not cover would leave live addresses unmapped meanwhile, so
 * an unlink never splits a kernel mapping: in strict mode (the default)
 * each link is its own mapping, unmapped whole by the unlink that covers
 * it; in lazy mode (unlink=lazy) runs of links contiguous in both IOVA
 * and user address share one mapping, whose unlinked parts stay mapped
 * until all of it is unlinked (window.c).
 *
 * Locking: one mutex per address space (struct vspace) around everything
 * that touches the kernel or the bookkeeping; the kernel serialises map
 * calls on an address space anyway.
 */
#ifndef DMASPLIT_VFIO_H
#define DMASPLIT_VFIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmasplit/backend.h>

#define VFIO_NAME "vfio"

#define vfio_err(b, ...) dmasplit_host_err((b)->host, VFIO_NAME ": " __VA_ARGS__)
#define vfio_dbg(b, ...) dmasplit_host_dbg((b)->host, VFIO_NAME ": " __VA_ARGS__)

#define PROT_DEV_READ 1u	/* the device may read */
#define PROT_DEV_WRITE 2u	/* the device may write */

struct dmasplit_bdev;
struct vspace;

/* One kernel interface: how to map and unmap in the device's address
 * space.  Both return 0 or a negative errno; unmap logs its failure,
 * kmap() map's (naming map_call), so that DMASPLIT_ATTR_NO_WARN can
 * keep it quiet. */
struct kiface {
	const char *name;
	const char *map_call;
	int (*map)(struct dmasplit_bdev *b, uint64_t iova, uintptr_t va,
		   uint64_t len, unsigned int prot);
	/* Unmaps every kernel mapping wholly inside the range. */
	int (*unmap)(struct dmasplit_bdev *b, uint64_t iova, uint64_t len);
	void (*close)(struct vspace *sp);
};

extern const struct kiface type1_iface;
extern const struct kiface iommufd_iface;

/*
 * unlink=lazy keeps unlinked parts of a mapping mapped and pinned until
 * the rest goes: at most this many bytes of a device are mapped that way,
 * each member of a shared address space counting its own, so that one
 * member's use does not change another's calls; past it, iova_sync maps
 * each link on its own, as in strict mode.  The same size as the largest
 * window a type1 container maps in one call in the VM tests (65536
 * pages).
 */
#define LAZY_LIMIT (256ull << 20)

/*
 * An IOMMU address space: one type1 container or one iommufd IOAS, its
 * IOVA allocator and its kernel mappings.  A device opened without as=
 * has one of its own; devices of one context given the same as=NAME
 * share one, so that one kernel mapping serves them all at one address.
 * Everything here is under lock, which serialises all members.
 */
struct vspace {
	const struct dmasplit_host *host;
	char name[64];			/* as=NAME; empty: the device's own */
	struct vspace *next;		/* the named spaces */
	struct dmasplit_bdev *members;
	unsigned int nmembers;
	pthread_mutex_t lock;
	const struct kiface *k;
	/* type1 */
	int container_fd;
	uint32_t map_limit;		/* the container's mapping limit; 0: none */
	/* iommufd */
	int iommufd;
	uint32_t ioas_id;

	/* All the usable ranges the kernel reports for all members: an
	 * IOMMU may report more than dev_info has room for. */
	unsigned int num_ranges;
	struct dmasplit_range *ranges;
	uint64_t granule;
	uint64_t limit;			/* the smallest member DMA mask */
	struct dmasplit_iovad *iovad;

	uint64_t kernel_maps;		/* live kernel mappings */
	uint64_t kernel_calls;		/* map and unmap calls issued */
	uint64_t bytes_mapped;		/* pinned by the kernel for us */
	uint64_t stale_bytes;		/* unlinked, still mapped (lazy) */

	/* Destroyed windows kept, with their small records' room, for the
	 * next ones: a window per I/O then costs no malloc (window.c). */
	struct dmasplit_bwin *spare;
	unsigned int nspare;
};

struct dmasplit_bdev {
	const struct dmasplit_host *host;
	char name[64];			/* DDDD:BB:DD.F */
	struct vspace *sp;
	struct dmasplit_bdev *sp_next;	/* the space's other members */
	struct dmasplit_bdev *proc_next;	/* the process's devices */

	int device_fd;
	int group_fd;			/* type1 */
	uint64_t limit;			/* the device's DMA mask */
	unsigned int mask_bits;
	bool lazy;			/* unlink=lazy */
	uint64_t lazy_bytes;		/* in its lazy areas, <= LAZY_LIMIT;
					 * under sp->lock */
	/* In a named space, the device's per-range mappings, so that
	 * those it leaves at close go with it and not with the space. */
	struct owned *owned;
	size_t nowned, owned_cap;
	/* owned by the address each mapping starts at (vfio.c, own_slot_of) */
	uint32_t *own_slot;
	unsigned int own_bits;
	/* Coherent memory, so that a free is checked against what was
	 * allocated (another CPU address would be unmapped from under the
	 * application) and close releases what is left.  Under sp->lock. */
	struct coherent *coh;
	size_t ncoh, coh_cap;
};

struct coherent {
	uint64_t dma;
	void *cpu;
	size_t size;
};

/* What made a per-range mapping, and so what may undo it. */
enum own_kind {
	OWN_MAP,		/* dmasplit_map(): by dmasplit_unmap() */
	OWN_VEC,		/* map_vec: by unmap_vec, whole */
	OWN_COHERENT,		/* alloc_coherent: by free_coherent */
};

struct owned {
	uint64_t iova, size, maps;
	/* OWN_MAP: the mapping's bytes, which an unmap names exactly:
	 * from iova + head, len of them. */
	uint64_t len, head;
	enum own_kind kind;
};

/* A link as recorded, until its sync. */
struct span {
	uint64_t off;		/* within the window */
	uint64_t len;
	uintptr_t va;
	unsigned int prot;
};

struct spans {
	struct span *v;
	size_t n, cap;
	/* The window offsets they lie within (pending links; set by
	 * win_link and kept, never narrowed, until none is left). */
	uint64_t lo, hi;
};

/* A kernel mapping of the window (an area), or a linked part of a lazy
 * one: 16 bytes.  A strict area is one link, linked whole while it is
 * mapped; a lazy one may keep unlinked parts mapped. */
struct area {
	uint64_t off;		/* within the window */
	uint64_t len : 63;
	uint64_t lazy : 1;
};

struct areas {
	struct area *v;
	size_t n, cap;
};

struct dmasplit_bwin {
	union {
		struct dmasplit_bdev *b;
		struct dmasplit_bwin *next_spare;	/* in vspace.spare */
	};
	uint64_t addr, size;
	struct spans pending;	/* linked, not yet synced */
	struct areas areas;	/* mapped in the kernel, sorted by off */
	struct areas linked;	/* what is linked of the lazy areas, sorted */
};

/* peer.c: 0, or -EREMOTEIO (logged) for peer memory this device's
 * kernel interface cannot map */
int  vfio_peer_check(struct dmasplit_bdev *b, const void *vaddr, size_t len,
		     uint32_t attrs);

/* kcall.c */
int  kmap(struct dmasplit_bdev *b, uint64_t iova, uintptr_t va, uint64_t len,
	   unsigned int prot, uint32_t attrs);
int  kunmap(struct dmasplit_bdev *b, uint64_t iova, uint64_t len,
	    uint64_t mappings, uint64_t bytes);
/* -ENOSPC logged unless attrs has DMASPLIT_ATTR_NO_WARN. */
int  iova_get(struct dmasplit_bdev *b, uint64_t size, uint64_t *addr,
	      uint32_t attrs);
/* size bytes at an address aligned to align, a power of two above the
 * granule. */
int  iova_get_aligned(struct dmasplit_bdev *b, uint64_t size, uint64_t align,
		      uint64_t *addr);
/* For a map the kernel refused with r: where r is -ENOMEM, the pinning
 * limit the kernel counts the pages against (dmasplit_map(3), ENOMEM),
 * as text to append to the line, in buf; else "". */
const char *memlock_hint(int r, char *buf, size_t len);
void iova_put(struct dmasplit_bdev *b, uint64_t addr, uint64_t size);
/* The ranges below limit, address 0 left out, into out[max]: how many
 * were written; *total says how many there are. */
/* dmasplit_backend_ops.get_ranges: every usable range below the mask. */
int vfio_get_ranges(struct dmasplit_bdev *b, struct dmasplit_range *ranges,
		    unsigned int *n);
unsigned int ranges_below(const struct dmasplit_range *r, unsigned int n,
			  uint64_t granule, uint64_t limit,
			  struct dmasplit_range *out, unsigned int max,
			  unsigned int *total);

/* type1.c, iommufd.c: open the device into b->sp, setting the space up
 * (ranges and granule filled) when b is its first member, else joining
 * it; ranges are re-read after a join. */
int  type1_open(struct dmasplit_bdev *b, const struct dmasplit_desc *desc);
int  iommufd_open(struct dmasplit_bdev *b, const struct dmasplit_desc *desc);
/* The IOVA-range and DMA-available capabilities of a VFIO_IOMMU_GET_INFO
 * answer of argsz bytes. */
int  type1_parse_info(struct dmasplit_bdev *b, const void *info,
		      uint32_t argsz);
int  iommufd_read_ranges(struct dmasplit_bdev *b);

/* window.c */
int  vfio_sort_links(struct span *v, size_t n);
void win_spares_free(struct vspace *sp);
int  win_alloc(struct dmasplit_bdev *b, uint64_t size, uint32_t flags,
	       struct dmasplit_bwin **win, uint64_t *addr);
int  win_link(struct dmasplit_bwin *w, uint64_t offset, void *vaddr,
	      size_t len, enum dmasplit_dir dir, uint32_t attrs);
int  win_sync(struct dmasplit_bwin *w, uint64_t offset, uint64_t len);
int  win_unlink(struct dmasplit_bwin *w, uint64_t offset, uint64_t len,
		enum dmasplit_dir dir, uint32_t attrs);
void win_destroy(struct dmasplit_bwin *w);
bool win_unlink_lazy(const struct dmasplit_host *host,
		     const struct dmasplit_desc *desc);

static inline unsigned int dir_prot(enum dmasplit_dir dir)
{
	return (dmasplit_dir_device_reads(dir) ? PROT_DEV_READ : 0) |
	       (dmasplit_dir_device_writes(dir) ? PROT_DEV_WRITE : 0);
}

#endif
