/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfio: PCI devices bound to vfio-pci behind a translating IOMMU, through
 * either kernel interface: iommufd with the VFIO device cdev (preferred)
 * or the type1 container.  Windows are carved from the IOVA ranges the
 * kernel reports as usable; links are recorded and issued at sync, one
 * kernel map call per run of links contiguous in both IOVA and user
 * address.  Neither interface can unmap part of a mapping, so unlinking
 * part of a coalesced area unmaps it and maps the rest again.
 *
 * Locking: one mutex per device around everything that touches the
 * kernel or the bookkeeping; the kernel serialises map calls on an
 * address space anyway.
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

/* One kernel interface: how to map and unmap in the device's address
 * space.  Both return 0 or a negative errno and log the failing call. */
struct kiface {
	const char *name;
	int (*map)(struct dmasplit_bdev *b, uint64_t iova, uintptr_t va,
		   uint64_t len, unsigned int prot);
	/* Unmaps every kernel mapping wholly inside the range. */
	int (*unmap)(struct dmasplit_bdev *b, uint64_t iova, uint64_t len);
	void (*close)(struct dmasplit_bdev *b);
};

extern const struct kiface type1_iface;
extern const struct kiface iommufd_iface;

#define MAX_RANGES 16

struct dmasplit_bdev {
	const struct dmasplit_host *host;
	char name[64];			/* DDDD:BB:DD.F */
	const struct kiface *k;
	pthread_mutex_t lock;

	int device_fd;
	/* type1 */
	int container_fd, group_fd;
	uint32_t dma_avail;		/* the container's mapping limit */
	/* iommufd */
	int iommufd;
	uint32_t ioas_id;

	unsigned int num_ranges;
	struct dmasplit_range ranges[MAX_RANGES];
	uint64_t granule;
	uint64_t limit;			/* the device's DMA mask */
	unsigned int mask_bits;
	struct dmasplit_iovad *iovad;

	uint64_t kernel_maps;		/* live kernel mappings */
	uint64_t kernel_calls;		/* map and unmap calls issued */
	uint64_t bytes_mapped;		/* pinned by the kernel for us */
};

/* A link as recorded, or an area as mapped in the kernel. */
struct span {
	uint64_t off;		/* within the window */
	uint64_t len;
	uintptr_t va;
	unsigned int prot;
};

struct spans {
	struct span *v;
	size_t n, cap;
};

struct dmasplit_bwin {
	struct dmasplit_bdev *b;
	uint64_t addr, size;
	struct spans pending;	/* linked, not yet synced */
	struct spans areas;	/* mapped in the kernel, sorted by off */
};

/* peer.c: 0, or -EREMOTEIO (logged) for peer memory this device's
 * kernel interface cannot map */
int  vfio_peer_check(struct dmasplit_bdev *b, const void *vaddr, size_t len,
		     uint32_t attrs);

/* vfio.c */
int  kmap(struct dmasplit_bdev *b, uint64_t iova, uintptr_t va, uint64_t len,
	  unsigned int prot);
int  kunmap(struct dmasplit_bdev *b, uint64_t iova, uint64_t len,
	    uint64_t mappings, uint64_t bytes);
int  iova_get(struct dmasplit_bdev *b, uint64_t size, uint64_t *addr);
void iova_put(struct dmasplit_bdev *b, uint64_t addr, uint64_t size);

/* type1.c, iommufd.c: set the interface up; ranges and granule filled. */
int  type1_open(struct dmasplit_bdev *b, const struct dmasplit_desc *desc);
int  iommufd_open(struct dmasplit_bdev *b, const struct dmasplit_desc *desc);

/* window.c */
int  win_alloc(struct dmasplit_bdev *b, uint64_t size, uint32_t flags,
	       struct dmasplit_bwin **win, uint64_t *addr);
int  win_link(struct dmasplit_bwin *w, uint64_t offset, void *vaddr,
	      size_t len, enum dmasplit_dir dir, uint32_t attrs);
int  win_sync(struct dmasplit_bwin *w, uint64_t offset, uint64_t len);
int  win_unlink(struct dmasplit_bwin *w, uint64_t offset, uint64_t len,
		enum dmasplit_dir dir, uint32_t attrs);
void win_destroy(struct dmasplit_bwin *w);

static inline unsigned int dir_prot(enum dmasplit_dir dir)
{
	return (dmasplit_dir_device_reads(dir) ? PROT_DEV_READ : 0) |
	       (dmasplit_dir_device_writes(dir) ? PROT_DEV_WRITE : 0);
}

#endif
