/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libdmasplit plugin ABI, for backend authors.  See dmasplit-backend(7).
 *
 * A backend is a shared object installed as $(backenddir)/backend-NAME.so
 * (pkg-config --variable=backenddir libdmasplit) that exports exactly one
 * symbol, DMASPLIT_BACKEND_ENTRY, returning a const ops table.  The ABI
 * major is part of the symbol name, so a plugin built for another major
 * fails at lookup, with a log line, instead of crashing.  The table starts
 * with its own size: the core accepts any table that covers the required
 * operations and treats a missing optional one as NULL.
 *
 * The core validates every argument (NULL, zero length, overflow, unknown
 * direction, attributes or flags, ranges outside a window) before calling
 * a backend, so operations only check what is specific to the backend.
 * Services come from the host table handed to probe and open; a backend
 * links against no private symbol of the core.
 */
#ifndef DMASPLIT_BACKEND_H
#define DMASPLIT_BACKEND_H

#include <dmasplit/dmasplit.h>
#include <syslog.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DMASPLIT_BACKEND_ABI_VERSION 1
#define DMASPLIT_BACKEND_ENTRY dmasplit_backend_v1
#define DMASPLIT_BACKEND_ENTRY_NAME "dmasplit_backend_v1"

#if defined(__GNUC__)
#define DMASPLIT_BACKEND_EXPORT __attribute__((visibility("default")))
#define DMASPLIT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DMASPLIT_BACKEND_EXPORT
#define DMASPLIT_PRINTF(f, a)
#endif

/* Defined by each backend; opaque to the core. */
struct dmasplit_bdev;	/* an open device */
struct dmasplit_bwin;	/* a window on it */

/* The core's IOVA range allocator (opaque). */
struct dmasplit_iovad;

/* What peer memory is; see dmasplit_peer_add(3). */
enum dmasplit_peer_kind {
	DMASPLIT_PEER_P2PMEM = 1,	/* from p2pmem/allocate */
	DMASPLIT_PEER_BAR = 2		/* a BAR mapped by its device's driver */
};

/* A registered CPU mapping of peer memory. */
struct dmasplit_peer {
	const void *cpu;	/* start of the mapping */
	size_t len;
	uint64_t phys;		/* CPU physical address of cpu */
	uint64_t bus;		/* PCI bus address of cpu */
	enum dmasplit_peer_kind kind;
	char provider[64];	/* the device's PCI name */
};

/*
 * Services of the core, one table per context.  Pointers stay valid until
 * the backend's last device on that context is closed.
 */
struct dmasplit_host {
	uint32_t size;
	uint32_t abi_version;

	/* One line, no trailing newline; filtered by the context priority. */
	void (*log)(const struct dmasplit_host *host, int priority,
		    const char *file, int line, const char *fn,
		    const char *format, ...) DMASPLIT_PRINTF(6, 7);

	/*
	 * sysfs, relative to the configured root ("bus/pci/devices/...");
	 * a path with a ".." component is refused with -EINVAL.
	 * read: the file's content without the trailing newline (-ENAMETOOLONG
	 * if it and its terminating NUL do not fit); readlink: the link target;
	 * open: an fd (O_CLOEXEC and O_NONBLOCK are added; anything but a
	 * regular file, and O_CREAT, O_EXCL, O_TRUNC or O_TMPFILE, are
	 * refused with -EINVAL).
	 */
	int (*sysfs_read)(const struct dmasplit_host *host, const char *path,
			  char *buf, size_t len);
	int (*sysfs_readlink)(const struct dmasplit_host *host, const char *path,
			      char *buf, size_t len);
	int (*sysfs_open)(const struct dmasplit_host *host, const char *path,
			  int flags, int *fd);

	/*
	 * Device-address allocator over a set of usable ranges, in units of
	 * granule (a power of two).  Address 0 is never handed out.  Allocation
	 * is lowest-fit below limit (an inclusive last address, such as the
	 * DMA mask) and costs O(log n) in free blocks; O(1) where no hole
	 * below the highest free block fits, and for a free just below it.
	 * Not thread-safe: the caller serialises per allocator.
	 */
	int (*iovad_new)(const struct dmasplit_host *host,
			 const struct dmasplit_range *ranges, unsigned int n,
			 uint64_t granule, struct dmasplit_iovad **iovad);
	void (*iovad_destroy)(struct dmasplit_iovad *iovad);
	int (*iovad_alloc)(struct dmasplit_iovad *iovad, uint64_t size,
			   uint64_t limit, uint64_t *addr);
	int (*iovad_reserve)(struct dmasplit_iovad *iovad, uint64_t addr,
			     uint64_t size);
	int (*iovad_free)(struct dmasplit_iovad *iovad, uint64_t addr,
			  uint64_t size);

	/*
	 * Page pinning: mlock with a per-page reference count shared by all
	 * devices of the context, so overlapping pins by different mappings
	 * unlock only when the last one goes.
	 */
	int (*pin)(const struct dmasplit_host *host, const void *addr,
		   size_t len);
	int (*unpin)(const struct dmasplit_host *host, const void *addr,
		     size_t len);
	/* Physical address from /proc/self/pagemap; -EPERM without
	 * CAP_SYS_ADMIN (the kernel hides frame numbers), -ENOENT if the page
	 * is not present. */
	int (*virt_to_phys)(const struct dmasplit_host *host, const void *addr,
			    uint64_t *phys);

	/*
	 * A number from a device spec, by the rule every spec option
	 * follows: decimal digits; with DMASPLIT_SPEC_SIZE also 0x and hex
	 * digits, then an optional K, M or G (2^10, 2^20, 2^30).  -EINVAL
	 * if malformed, -ERANGE if it does not fit in 64 bits.  Present when
	 * size covers it.
	 */
	int (*spec_number)(const char *s, uint32_t flags, uint64_t *out);
	/*
	 * Peer memory: CPU mappings of a PCI device's memory (p2pmem, a
	 * BAR) that other devices of the context may reach by peer-to-peer
	 * DMA, registered by the backend that made them or by the
	 * application (dmasplit_peer_add).  Check DMASPLIT_HOST_HAS(host,
	 * peer_find) before use.
	 *
	 * peer_add: -EEXIST if the range overlaps registered memory.
	 * peer_del: by the start of the mapping; -ENOENT if none starts there.
	 * peer_find: the first registered range that overlaps [addr, addr +
	 * len), or -ENOENT; costs one load while nothing is registered.
	 * Each: -EINVAL for a NULL host or peer.
	 */
	int (*peer_add)(const struct dmasplit_host *host,
			const struct dmasplit_peer *peer);
	int (*peer_del)(const struct dmasplit_host *host, const void *cpu);
	int (*peer_find)(const struct dmasplit_host *host, const void *addr,
			 size_t len, struct dmasplit_peer *peer);
	/*
	 * dmasplit_p2p_distance() for PCI names (DDDD:BB:DD.F), without the
	 * log line: the distance, or -EREMOTEIO with what blocks the pair in
	 * why (may be NULL, why_len 0), for the backend's own line; other
	 * errors are logged: -EINVAL for a NULL map or a name that is not a
	 * PCI name.
	 */
	int (*p2p_distance)(const struct dmasplit_host *host,
			    const char *provider, const char *client,
			    enum dmasplit_p2p_map *map, char *why,
			    size_t why_len);
	/*
	 * The PCI bus address of BAR bar of a device, from the BAR register
	 * in its configuration space (sysfs "resource" shows CPU addresses;
	 * host bridges may translate between the two).
	 */
	int (*pci_bar_bus)(const struct dmasplit_host *host, const char *name,
			   unsigned int bar, uint64_t *bus);
	/*
	 * The highest address iovad has handed out or reserved and not
	 * taken back, in *last; -ENOENT when it holds none.  Present when
	 * size covers it.
	 */
	int (*iovad_last_used)(struct dmasplit_iovad *iovad, uint64_t *last);
	/*
	 * iovad_alloc of addresses aligned to align (a power of two, at
	 * least the granule), such as coherent memory's: the lowest aligned
	 * fit; -ENOSPC where none lies below limit.  It walks the free
	 * blocks long enough, so it is for rare allocations.  Present when
	 * size covers it.
	 */
	int (*iovad_alloc_aligned)(struct dmasplit_iovad *iovad, uint64_t size,
				   uint64_t align, uint64_t limit,
				   uint64_t *addr);
	/*
	 * 1 when iovad has handed out or reserved, and not taken back, any
	 * address of [addr, addr + size); 0 when none (addresses outside
	 * its ranges are never handed out, so they count as free); -EINVAL
	 * for an empty or wrapping range.  O(log n) per range.  Present
	 * when size covers it.
	 */
	int (*iovad_in_use)(struct dmasplit_iovad *iovad, uint64_t addr,
			    uint64_t size);
	/*
	 * Free the memory iovad keeps for its next allocations (spare
	 * nodes), as a trim does when none are coming soon.  Present when
	 * size covers it.
	 */
	void (*iovad_trim)(struct dmasplit_iovad *iovad);
};

#define DMASPLIT_SPEC_SIZE 0x1u	/* spec_number: a size (hex, suffixes) */
/* The host table has the service: tables only grow at their end. */
#define DMASPLIT_HOST_HAS(host, field) \
	((host)->size >= offsetof(struct dmasplit_host, field) + \
			 sizeof((host)->field))

/* The description has the field: an older core's ends before the
 * fields added since. */
#define DMASPLIT_DESC_HAS(desc, field) \
	((desc)->size >= offsetof(struct dmasplit_desc, field) + \
			 sizeof((desc)->field))

#define dmasplit_host_log(host, prio, ...) \
	(host)->log((host), (prio), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define dmasplit_host_err(host, ...) dmasplit_host_log(host, LOG_ERR, __VA_ARGS__)
#define dmasplit_host_info(host, ...) dmasplit_host_log(host, LOG_INFO, __VA_ARGS__)
#define dmasplit_host_dbg(host, ...) dmasplit_host_log(host, LOG_DEBUG, __VA_ARGS__)

/* What a direction lets the device do, as in the kernel's DMA API: read
 * the memory (TO_DEVICE, BIDIRECTIONAL), write it (FROM_DEVICE,
 * BIDIRECTIONAL).  For page permissions and for copies back to the CPU. */
static inline int dmasplit_dir_device_reads(enum dmasplit_dir dir)
{
	return dir != DMASPLIT_FROM_DEVICE;
}

static inline int dmasplit_dir_device_writes(enum dmasplit_dir dir)
{
	return dir != DMASPLIT_TO_DEVICE;
}

/*
 * The loop of a vector map that maps each buffer on its own, as the core
 * does for a backend without map_vec: map each buffer into segs[i].dma in
 * order, segs[i].len from its length, then commit (if not NULL) what was
 * mapped; on the first failure undo each buffer mapped, newest first, and
 * return that failure.  A backend whose map_vec must leave more behind
 * (a record of the vector, marks on its segments) does it in its own
 * map and commit.  Inline, so that each caller's calls are direct.
 */
static inline int dmasplit_map_each(const struct iovec *ds_iov,
				    unsigned int ds_n,
				    struct dmasplit_seg *ds_segs,
				    int (*ds_map)(void *,
						  const struct iovec *,
						  uint64_t *),
				    int (*ds_commit)(void *,
						     const struct dmasplit_seg *,
						     unsigned int),
				    void (*ds_undo)(void *,
						    const struct dmasplit_seg *),
				    void *ds_arg)
{
	/* Prefixed names: a header's inline code must not shadow the
	 * includer's globals (-Wshadow). */
	unsigned int ds_i;
	int ds_r = 0;

	for (ds_i = 0; ds_i < ds_n; ds_i++) {
		ds_r = ds_map(ds_arg, &ds_iov[ds_i], &ds_segs[ds_i].dma);
		if (ds_r < 0)
			break;
		ds_segs[ds_i].len = ds_iov[ds_i].iov_len;
	}
	if (ds_r == 0 && ds_commit)
		ds_r = ds_commit(ds_arg, ds_segs, ds_n);
	if (ds_r < 0)
		while (ds_i--)
			ds_undo(ds_arg, &ds_segs[ds_i]);
	return ds_r;
}

struct dmasplit_backend_ops {
	uint32_t size;		/* sizeof(struct dmasplit_backend_ops) */
	uint32_t abi_version;	/* DMASPLIT_BACKEND_ABI_VERSION */
	const char *name;	/* [a-z0-9-], at most 31 characters */
	const char *uuid;	/* RFC 4122 string form, unique per backend */
	const char *version;
	const char *description;	/* one line */

	/* Required. */
	/* 0 and a score (higher wins), or -ENODEV if desc is not for us. */
	int (*probe)(const struct dmasplit_host *host,
		     const struct dmasplit_desc *desc, int *score);
	int (*open)(const struct dmasplit_host *host,
		    const struct dmasplit_desc *desc,
		    struct dmasplit_bdev **bdev);
	/* Release everything; the core has already undone what it tracked. */
	void (*close)(struct dmasplit_bdev *bdev);
	/* Fill flags, dma_mask_bits, granule and ranges; the core fills the
	 * rest.  Called once at open: the answers must not change. */
	int (*get_info)(struct dmasplit_bdev *bdev,
			struct dmasplit_dev_info *info);

	/*
	 * Optional: NULL makes the core answer -EOPNOTSUPP, except the syncs
	 * (NULL: nothing to do), get_stats (the counters read 0) and
	 * get_ranges (get_info's ranges).  Sets go together or not at all:
	 * iova_alloc with iova_link, iova_unlink and iova_destroy; map with
	 * unmap; map_vec with unmap_vec; alloc_coherent with free_coherent.
	 */
	int (*get_stats)(struct dmasplit_bdev *bdev,
			 struct dmasplit_dev_stats *stats);
	int (*get_fd)(struct dmasplit_bdev *bdev, int *fd);

	/* size is a multiple of the granule. */
	int (*iova_alloc)(struct dmasplit_bdev *bdev, uint64_t size,
			  uint32_t flags, struct dmasplit_bwin **win,
			  uint64_t *addr);
	/* offset + len lies inside the window. */
	int (*iova_link)(struct dmasplit_bwin *win, uint64_t offset,
			 void *vaddr, size_t len, enum dmasplit_dir dir,
			 uint32_t attrs);
	int (*iova_sync)(struct dmasplit_bwin *win, uint64_t offset,
			 uint64_t len);
	int (*iova_unlink)(struct dmasplit_bwin *win, uint64_t offset,
			   uint64_t len, enum dmasplit_dir dir, uint32_t attrs);
	/* Unlink what is still linked, then free the window. */
	void (*iova_destroy)(struct dmasplit_bwin *win);

	int (*map)(struct dmasplit_bdev *bdev, void *vaddr, size_t len,
		   enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma);
	int (*unmap)(struct dmasplit_bdev *bdev, uint64_t dma, size_t len,
		     enum dmasplit_dir dir, uint32_t attrs);
	/* NULL: the core maps each buffer with map, unmaps each with unmap. */
	int (*map_vec)(struct dmasplit_bdev *bdev, const struct iovec *iov,
		       unsigned int n, enum dmasplit_dir dir, uint32_t attrs,
		       struct dmasplit_seg *segs, unsigned int *nsegs);
	int (*unmap_vec)(struct dmasplit_bdev *bdev,
			 const struct dmasplit_seg *segs, unsigned int nsegs,
			 enum dmasplit_dir dir, uint32_t attrs);
	/* dma may be anywhere inside a mapping or a window. */
	int (*sync_for_cpu)(struct dmasplit_bdev *bdev, uint64_t dma,
			    size_t len, enum dmasplit_dir dir);
	int (*sync_for_device)(struct dmasplit_bdev *bdev, uint64_t dma,
			       size_t len, enum dmasplit_dir dir);

	int (*alloc_coherent)(struct dmasplit_bdev *bdev, size_t size,
			      uint32_t flags, void **cpu, uint64_t *dma);
	int (*free_coherent)(struct dmasplit_bdev *bdev, size_t size, void *cpu,
			     uint64_t dma);

	int (*dma_read)(struct dmasplit_bdev *bdev, uint64_t dma, void *buf,
			size_t len);
	int (*dma_write)(struct dmasplit_bdev *bdev, uint64_t dma,
			 const void *buf, size_t len);

	/* DMASPLIT_BACKEND_* capabilities; 0 in tables too short for it. */
	uint32_t flags;

	/* Optional: every usable range, where get_info reports only the
	 * first DMASPLIT_MAX_RANGES.  *n is the capacity on entry, the
	 * number of ranges on return; -ENOSPC with *n set to the number
	 * there are.  NULL: get_info's ranges are all there are. */
	int (*get_ranges)(struct dmasplit_bdev *bdev,
			  struct dmasplit_range *ranges, unsigned int *n);

	/*
	 * Optional, in place of iova_alloc and iova_destroy: windows whose
	 * memory the core allocates.  One object holds the core's state
	 * and iova_win_size bytes for the backend (aligned to 8 bytes, not
	 * cleared: iova_init sets what it reads later), so the backend
	 * allocates nothing and no address or size is kept twice:
	 * dmasplit_bwin_head() reads them.  A small window then costs one
	 * object of the core's slab, not two malloc chunks.  iova_init: as
	 * iova_alloc, in the memory at win.  iova_fini: as iova_destroy,
	 * but the memory stays the core's.  A core older than these fields
	 * uses iova_alloc and iova_destroy, so a backend may set both sets;
	 * with iova_init set, iova_win_size is 1 to DMASPLIT_BWIN_SIZE_MAX.
	 */
	uint32_t iova_win_size;
	int (*iova_init)(struct dmasplit_bdev *bdev, uint64_t size,
			 uint32_t flags, struct dmasplit_bwin *win,
			 uint64_t *addr);
	void (*iova_fini)(struct dmasplit_bwin *win);

	/*
	 * Optional: give back to the system the memory the device keeps
	 * for reuse and no window or mapping uses now (freed page tables,
	 * records), as dmasplit_dev_trim() asks.  May run while other
	 * threads use the device: it must take nothing a window or mapping
	 * still needs.  NULL: the backend keeps no such memory.
	 */
	void (*trim)(struct dmasplit_bdev *bdev);
};

/* The most a backend may ask for in iova_win_size. */
#define DMASPLIT_BWIN_SIZE_MAX 256u

/*
 * Where a window made by iova_init starts: its device address and size
 * (a multiple of the granule), which the core keeps just before the
 * backend's bytes.  Read-only to the backend; valid once iova_init has
 * returned, until iova_fini returns.
 */
struct dmasplit_bwin_header {
	uint64_t addr;
	uint64_t size;
};

static inline const struct dmasplit_bwin_header *
dmasplit_bwin_head(const struct dmasplit_bwin *win)
{
#ifdef __cplusplus
	/* Clean under -Wold-style-cast, for backends written in C++. */
	return static_cast<const struct dmasplit_bwin_header *>(
		       static_cast<const void *>(win)) - 1;
#else
	return (const struct dmasplit_bwin_header *)(const void *)win - 1;
#endif
}

/*
 * The backend honours desc->address_space: devices of one context given
 * the same name share one IOMMU address space.  Without it the core
 * refuses as= for the backend's devices (-EOPNOTSUPP).
 */
#define DMASPLIT_BACKEND_SHARES_AS 0x1u

/* The one symbol a backend exports. */
DMASPLIT_BACKEND_EXPORT const struct dmasplit_backend_ops *
DMASPLIT_BACKEND_ENTRY(void);

#ifdef __cplusplus
}
#endif

#endif /* DMASPLIT_BACKEND_H */
