/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libdmasplit - two-step DMA mapping for user-space device drivers.
 *
 * Reserve a device-address window once (dmasplit_iova_alloc), link memory
 * into it (dmasplit_iova_link), make the links visible with one sync
 * (dmasplit_iova_sync), and tear down with dmasplit_iova_unlink and
 * dmasplit_iova_destroy.  Devices that cannot pre-allocate addresses answer
 * -EOPNOTSUPP there; callers then use the per-range path (dmasplit_map and
 * friends), which every backend supports.  Semantics follow the Linux
 * kernel's dma_iova_* and dma_map_* APIs.
 *
 * Every function that can fail returns 0 or a negative errno and sets its
 * out-parameters only on success.  See libdmasplit(3).
 */
#ifndef DMASPLIT_DMASPLIT_H
#define DMASPLIT_DMASPLIT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DMASPLIT_VERSION_MAJOR 1
#define DMASPLIT_VERSION_MINOR 1

struct dmasplit_ctx;
struct dmasplit_dev;
struct dmasplit_iova;
struct dmasplit_backend;

/* Direction of a transfer, as the kernel's enum dma_data_direction. */
enum dmasplit_dir {
	DMASPLIT_BIDIRECTIONAL = 0,
	DMASPLIT_TO_DEVICE = 1,
	DMASPLIT_FROM_DEVICE = 2
};

/* Attributes of a link or mapping (the kernel's DMA_ATTR_*). */
enum dmasplit_attr {
	/* The caller syncs explicitly: unmap/unlink copy nothing back (a
	 * bounced map or link still copies the buffer in). */
	DMASPLIT_ATTR_SKIP_CPU_SYNC = 1u << 0,
	/* Expected failures: do not log them. */
	DMASPLIT_ATTR_NO_WARN = 1u << 1
};
#define DMASPLIT_ATTR_MASK \
	(DMASPLIT_ATTR_SKIP_CPU_SYNC | DMASPLIT_ATTR_NO_WARN)

/* Flags of dmasplit_iova_alloc(); none are defined yet, pass 0. */
#define DMASPLIT_IOVA_FLAGS_MASK 0u

/* ------------------------------------------------------------------ */
/* Context                                                             */

/* The version of the library in use ("1.1"), which may be newer than
 * the DMASPLIT_VERSION_* it was built against. */
const char *dmasplit_version(void);

int  dmasplit_ctx_new(struct dmasplit_ctx **ctx);
struct dmasplit_ctx *dmasplit_ctx_ref(struct dmasplit_ctx *ctx);
struct dmasplit_ctx *dmasplit_ctx_unref(struct dmasplit_ctx *ctx); /* NULL */

/* Log priorities are syslog's: LOG_ERR (3), LOG_INFO (6), LOG_DEBUG (7). */
typedef void (*dmasplit_log_fn)(void *data, int priority, const char *file,
				int line, const char *fn, const char *format,
				va_list args);
void dmasplit_ctx_set_log_fn(struct dmasplit_ctx *ctx, dmasplit_log_fn fn,
			     void *data);
int  dmasplit_ctx_get_log_priority(const struct dmasplit_ctx *ctx);
void dmasplit_ctx_set_log_priority(struct dmasplit_ctx *ctx, int priority);

void dmasplit_ctx_set_userdata(struct dmasplit_ctx *ctx, void *data);
void *dmasplit_ctx_get_userdata(const struct dmasplit_ctx *ctx);

/*
 * Equivalents of the environment variables (DMASPLIT_BACKEND_PATH,
 * DMASPLIT_BUILTIN_BACKENDS, DMASPLIT_BACKEND, DMASPLIT_CHECK,
 * DMASPLIT_SYSFS_ROOT).  The path and the built-in backends can be
 * changed only before the backends are loaded (-EBUSY after); a NULL
 * path restores the installed directory.
 */
int  dmasplit_ctx_set_backend_path(struct dmasplit_ctx *ctx, const char *path);
int  dmasplit_ctx_set_builtin_backends(struct dmasplit_ctx *ctx, int enable);
int  dmasplit_ctx_set_backend(struct dmasplit_ctx *ctx, const char *name_or_uuid);
void dmasplit_ctx_set_check(struct dmasplit_ctx *ctx, int enable);
int  dmasplit_ctx_get_check(const struct dmasplit_ctx *ctx);
/* Misuse the checker found on the context's devices so far. */
uint64_t dmasplit_ctx_get_check_findings(const struct dmasplit_ctx *ctx);
int  dmasplit_ctx_set_sysfs_root(struct dmasplit_ctx *ctx, const char *root);
const char *dmasplit_ctx_get_sysfs_root(const struct dmasplit_ctx *ctx);

/* ------------------------------------------------------------------ */
/* Backends                                                            */

/*
 * Load the backends now (otherwise done on first need).  Refused plugins
 * are logged and skipped; finding none is not an error.
 */
int  dmasplit_ctx_load_backends(struct dmasplit_ctx *ctx);
/* Iterate: NULL starts, NULL ends.  Owned by the context. */
struct dmasplit_backend *dmasplit_backend_next(struct dmasplit_ctx *ctx,
					       const struct dmasplit_backend *prev);
int  dmasplit_backend_find(struct dmasplit_ctx *ctx, const char *name_or_uuid,
			   struct dmasplit_backend **backend);
const char *dmasplit_backend_get_name(const struct dmasplit_backend *backend);
const char *dmasplit_backend_get_uuid(const struct dmasplit_backend *backend);
const char *dmasplit_backend_get_version(const struct dmasplit_backend *backend);
const char *dmasplit_backend_get_path(const struct dmasplit_backend *backend);
const char *dmasplit_backend_get_description(const struct dmasplit_backend *backend);

/* ------------------------------------------------------------------ */
/* Device description: what the core learns from a spec and sysfs     */

enum dmasplit_bus {
	DMASPLIT_BUS_SIM = 1,	/* sim:NAME[,key=value...] */
	DMASPLIT_BUS_PCI = 2	/* [pci:][DDDD:]BB:DD.F[,mask=BITS][,vfio=...] */
};

enum dmasplit_vfio_iface {
	DMASPLIT_VFIO_AUTO = 0,
	DMASPLIT_VFIO_IOMMUFD = 1,
	DMASPLIT_VFIO_TYPE1 = 2
};

/* unlink= of a PCI spec: what a translating backend may keep mapped. */
enum dmasplit_unlink_mode {
	DMASPLIT_UNLINK_AUTO = 0,	/* the backend's default (vfio: the group's) */
	DMASPLIT_UNLINK_STRICT = 1,	/* unreachable when unlink returns */
	DMASPLIT_UNLINK_LAZY = 2	/* may stay reachable a while */
};

/*
 * What a PCI device's IOMMU group does to its DMA, classified once by the
 * core from the group's sysfs type and name.  UNKNOWN is 0, so that a
 * description whose field was never filled (a caller's or a core's from
 * before the field, zero-extended) is never taken for untranslated DMA.
 */
enum dmasplit_iommu_class {
	/* Not filled in, not a PCI device, or a group whose type cannot be
	 * read or is not one of those below: the DMA may be translated. */
	DMASPLIT_IOMMU_UNKNOWN = 0,
	DMASPLIT_IOMMU_NONE = 1,	/* in no group: no IOMMU */
	DMASPLIT_IOMMU_TRANSLATED = 2,	/* type DMA or DMA-FQ */
	DMASPLIT_IOMMU_IDENTITY = 3,	/* type identity: passthrough */
	DMASPLIT_IOMMU_BLOCKED = 4,	/* type blocked: no DMA */
	/* Type "unknown": a group without a default domain, for which the
	 * kernel's own drivers would use physical addresses. */
	DMASPLIT_IOMMU_NO_DOMAIN = 5,
	/* VFIO's group for a device without an IOMMU (no-IOMMU mode). */
	DMASPLIT_IOMMU_VFIO_NOIOMMU = 6
};

#define DMASPLIT_PCI_NUM_RESOURCES 7	/* BARs 0-5 and the expansion ROM */

struct dmasplit_pci_resource {
	uint64_t start;
	uint64_t end;
	uint64_t flags;	/* IORESOURCE_* as in sysfs "resource" */
};

/*
 * Versioned: set .size = sizeof(struct dmasplit_desc) before the call.
 * Strings are NUL-terminated, empty when absent.
 */
struct dmasplit_desc {
	size_t size;
	enum dmasplit_bus bus;
	char name[64];		/* sim NAME, or canonical DDDD:BB:DD.F */
	char options[256];	/* options after the name, without comma */
	/* From PCI spec options: 0 / AUTO when not given. */
	unsigned int spec_mask_bits;
	enum dmasplit_vfio_iface spec_vfio;
	/* From sysfs (PCI only). */
	uint16_t vendor;
	uint16_t device;
	uint32_t pci_class;
	char driver[64];
	int iommu_group;		/* -1: none */
	char iommu_group_type[32];	/* DMA, DMA-FQ, identity, blocked... */
	char vfio_dev[32];		/* vfio-dev/vfioN entry name */
	unsigned int dma_mask_bits;	/* mask=BITS if given, else sysfs */
	int numa_node;			/* -1: unknown */
	int has_p2pmem;
	uint64_t p2pmem_size;
	uint64_t p2pmem_available;
	int p2pmem_published;
	unsigned int num_resources;
	struct dmasplit_pci_resource resource[DMASPLIT_PCI_NUM_RESOURCES];
	/* The IOMMU group's name, "" when it has none: VFIO names the
	 * group it makes in no-IOMMU mode "vfio-noiommu". */
	char iommu_group_name[64];
	/* unlink= from the PCI spec; AUTO when not given. */
	enum dmasplit_unlink_mode spec_unlink;
	/* as=NAME, for every bus: the IOMMU address space the device
	 * shares with the other devices of its context given the same
	 * name; "" for one of its own.  See dmasplit_dev_open(3). */
	char address_space[64];
	/* From iommu_group, type and name above; UNKNOWN for other buses.
	 * The probes of the PCI backends decide by it. */
	enum dmasplit_iommu_class iommu_class;
};

int  dmasplit_describe(struct dmasplit_ctx *ctx, const char *spec,
		       struct dmasplit_desc *desc);
/* 0 and the backend's score, or the negative errno its probe gave. */
int  dmasplit_backend_probe(struct dmasplit_backend *backend,
			    const struct dmasplit_desc *desc, int *score);
/* The backend dmasplit_dev_open() would choose for desc. */
int  dmasplit_select(struct dmasplit_ctx *ctx, const struct dmasplit_desc *desc,
		     struct dmasplit_backend **backend);

/* ------------------------------------------------------------------ */
/* Devices                                                             */

int  dmasplit_dev_open(struct dmasplit_ctx *ctx, const char *spec,
		       struct dmasplit_dev **dev);
/* Bypass selection: open spec with the named backend (name or UUID). */
int  dmasplit_dev_open_backend(struct dmasplit_ctx *ctx, const char *spec,
			       const char *name_or_uuid,
			       struct dmasplit_dev **dev);
void dmasplit_dev_close(struct dmasplit_dev *dev);
const char *dmasplit_dev_backend_name(const struct dmasplit_dev *dev);
/* the backend's device file descriptor (VFIO: BAR mmap, config space,
 * interrupts stay the application's); -EOPNOTSUPP where there is none */
int  dmasplit_dev_get_fd(struct dmasplit_dev *dev, int *fd);
/* memory the device keeps for reuse (page tables, records) back to the
 * system, once windows and mappings are gone; safe beside other calls */
int  dmasplit_dev_trim(struct dmasplit_dev *dev);

struct dmasplit_range {
	uint64_t start;
	uint64_t last;	/* inclusive */
};

#define DMASPLIT_MAX_RANGES 8

enum dmasplit_dev_flag {
	DMASPLIT_DEV_WINDOWS = 1u << 0,		/* dmasplit_iova_alloc works */
	DMASPLIT_DEV_TRANSLATED = 1u << 1,	/* behind an IOMMU */
	DMASPLIT_DEV_COHERENT = 1u << 2,	/* no cache maintenance needed */
	DMASPLIT_DEV_BOUNCE = 1u << 3,		/* may bounce through a pool */
	DMASPLIT_DEV_UNTRUSTED = 1u << 4,	/* sub-granule buffers bounce */
	DMASPLIT_DEV_DMA_RW = 1u << 5,		/* dmasplit_dev_dma_read works */
	DMASPLIT_DEV_HAS_FD = 1u << 6,		/* dmasplit_dev_get_fd works */
	/* Unlinked addresses may stay reachable by the device until their
	 * window is destroyed (unlink=lazy); without it, an unlinked
	 * address is unreachable when dmasplit_iova_unlink returns. */
	DMASPLIT_DEV_LAZY_UNLINK = 1u << 7,
	/* The device has more usable ranges than dmasplit_dev_info holds:
	 * dmasplit_dev_get_ranges() gives them all. */
	DMASPLIT_DEV_MORE_RANGES = 1u << 8
};
/* Every flag above: a backend's others do not reach the application. */
#define DMASPLIT_DEV_FLAGS_MASK 0x1ffu

/* Versioned: set .size = sizeof(struct dmasplit_dev_info) before the call. */
struct dmasplit_dev_info {
	size_t size;
	const char *backend;		/* valid while the device is open */
	char backend_uuid[37];
	uint32_t flags;			/* enum dmasplit_dev_flag */
	unsigned int dma_mask_bits;
	uint64_t granule;		/* bytes; link/window unit */
	unsigned int num_ranges;	/* usable device-address ranges */
	struct dmasplit_range ranges[DMASPLIT_MAX_RANGES];
	/* The kernel interface the backend drives the device through
	 * ("iommufd", "type1"), or "" where there is none. */
	char interface[16];
	/* The shared IOMMU address space the device is in (its spec's
	 * as=NAME), or "" when it has one of its own. */
	char address_space[64];
};

int  dmasplit_dev_get_info(struct dmasplit_dev *dev,
			   struct dmasplit_dev_info *info);
/*
 * Every usable device-address range, where dmasplit_dev_info holds the
 * first DMASPLIT_MAX_RANGES only: *n is the capacity of ranges on entry
 * and the number of ranges on return; -ENOSPC, with *n set to the number
 * there are, when they do not fit.
 */
int  dmasplit_dev_get_ranges(struct dmasplit_dev *dev,
			     struct dmasplit_range *ranges, unsigned int *n);

/* Versioned: set .size = sizeof(struct dmasplit_dev_stats) before the call. */
struct dmasplit_dev_stats {
	size_t size;
	uint64_t windows_allocated;
	uint64_t links;
	uint64_t syncs;
	uint64_t unlinks;
	uint64_t maps;
	uint64_t unmaps;
	uint64_t windows_live;
	uint64_t mappings_live;
	/* Kept by the backend; 0 where it has no such thing. */
	uint64_t kernel_calls;
	uint64_t bytes_bounced;
	uint64_t bytes_pinned;
	uint64_t device_faults;
};

int  dmasplit_dev_get_stats(struct dmasplit_dev *dev,
			    struct dmasplit_dev_stats *stats);

/* ------------------------------------------------------------------ */
/* Two-step path                                                       */

int  dmasplit_iova_alloc(struct dmasplit_dev *dev, size_t size,
			 uint32_t flags, struct dmasplit_iova **iova);
uint64_t dmasplit_iova_addr(const struct dmasplit_iova *iova);
size_t dmasplit_iova_size(const struct dmasplit_iova *iova);
int  dmasplit_iova_link(struct dmasplit_iova *iova, size_t offset,
			void *vaddr, size_t len, enum dmasplit_dir dir,
			uint32_t attrs);
int  dmasplit_iova_sync(struct dmasplit_iova *iova, size_t offset,
			size_t len);
int  dmasplit_iova_unlink(struct dmasplit_iova *iova, size_t offset,
			  size_t len, enum dmasplit_dir dir, uint32_t attrs);
void dmasplit_iova_destroy(struct dmasplit_iova *iova);

/* ------------------------------------------------------------------ */
/* Per-range path                                                      */

int  dmasplit_map(struct dmasplit_dev *dev, void *vaddr, size_t len,
		  enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma);
int  dmasplit_unmap(struct dmasplit_dev *dev, uint64_t dma, size_t len,
		    enum dmasplit_dir dir, uint32_t attrs);
int  dmasplit_sync_for_cpu(struct dmasplit_dev *dev, uint64_t dma,
			   size_t len, enum dmasplit_dir dir);
int  dmasplit_sync_for_device(struct dmasplit_dev *dev, uint64_t dma,
			      size_t len, enum dmasplit_dir dir);

struct dmasplit_seg {
	uint64_t dma;
	uint64_t len;
};

/*
 * Map n buffers; a backend may merge them into fewer device segments
 * (behind an IOMMU).  *nsegs is the capacity of segs on entry and the number used on
 * return: n suffices, except without an IOMMU (direct), where memory that
 * is not physically contiguous takes up to one segment per page.  Undo
 * with dmasplit_unmap_vec() on those segments.
 */
int  dmasplit_map_vec(struct dmasplit_dev *dev, const struct iovec *iov,
		      unsigned int n, enum dmasplit_dir dir, uint32_t attrs,
		      struct dmasplit_seg *segs, unsigned int *nsegs);
int  dmasplit_unmap_vec(struct dmasplit_dev *dev,
			const struct dmasplit_seg *segs, unsigned int nsegs,
			enum dmasplit_dir dir, uint32_t attrs);

/* Flags of dmasplit_alloc_coherent(); none are defined yet, pass 0. */
#define DMASPLIT_COHERENT_FLAGS_MASK 0u

/* Memory that device and CPU share without syncs. */
int  dmasplit_alloc_coherent(struct dmasplit_dev *dev, size_t size,
			     uint32_t flags, void **cpu, uint64_t *dma);
int  dmasplit_free_coherent(struct dmasplit_dev *dev, size_t size, void *cpu,
			    uint64_t dma);

/* ------------------------------------------------------------------ */
/* Mapping batch: a window where the device has one, else per range    */

struct dmasplit_batch;

/*
 * Buffers mapped together for one direction.  dmasplit_batch_map() links
 * them into one window, synced once, where the device has windows, and
 * maps them with dmasplit_map_vec() where it answers -EOPNOTSUPP; the
 * caller gets device segments either way and undoes either with one call.
 * Built only on the calls above.  Calls on one batch are serialised by
 * the caller.  It holds its device: one still live at dmasplit_dev_close()
 * keeps working and is logged as a leak.  See dmasplit_batch_new(3).
 */
int  dmasplit_batch_new(struct dmasplit_dev *dev, enum dmasplit_dir dir,
			uint32_t attrs, struct dmasplit_batch **batch);
int  dmasplit_batch_add(struct dmasplit_batch *batch, void *vaddr,
			size_t len);
/* The segments belong to the batch, valid until it is unmapped. */
int  dmasplit_batch_map(struct dmasplit_batch *batch,
			const struct dmasplit_seg **segs, unsigned int *nsegs);
int  dmasplit_batch_sync_for_cpu(struct dmasplit_batch *batch);
int  dmasplit_batch_sync_for_device(struct dmasplit_batch *batch);
/* 1 if mapped through a window, 0 if per range or not mapped. */
int  dmasplit_batch_uses_window(const struct dmasplit_batch *batch);
/* Unmapped again, buffers kept: it can be mapped again, or grow. */
int  dmasplit_batch_unmap(struct dmasplit_batch *batch);
/* Unmaps if mapped, then frees. */
void dmasplit_batch_free(struct dmasplit_batch *batch);

/* ------------------------------------------------------------------ */
/* Registered regions: mapped once, any buffer inside mapped for free   */

struct dmasplit_region;

/* Flags of dmasplit_region_new(); none are defined yet, pass 0. */
#define DMASPLIT_REGION_FLAGS_MASK 0u

/*
 * Map [vaddr, vaddr + len) for the device once (whole granules; a window
 * where the device has windows, one mapping where it has not).  Until
 * dmasplit_region_free(), dmasplit_map() and dmasplit_map_vec() of any
 * buffer inside it, for its direction (any, if BIDIRECTIONAL), return its
 * device address with no backend call, and their unmaps and syncs only
 * count: the memory stays reachable by the device as long as the region
 * lives.  -EOPNOTSUPP where a mapping would need a copy or a cache flush
 * (not coherent, or bouncing without windows); -EEXIST over another
 * region.  See dmasplit_region_new(3).
 */
int  dmasplit_region_new(struct dmasplit_dev *dev, void *vaddr, size_t len,
			 enum dmasplit_dir dir, uint32_t flags,
			 struct dmasplit_region **region);
/* -EBUSY while mappings made through the region are live. */
int  dmasplit_region_free(struct dmasplit_region *region);
uint64_t dmasplit_region_addr(const struct dmasplit_region *region);

/* device-side access; simulated devices only, else -EOPNOTSUPP;
 * an address the device cannot reach gives -EFAULT */
int  dmasplit_dev_dma_read(struct dmasplit_dev *dev, uint64_t dma,
			   void *buf, size_t len);
int  dmasplit_dev_dma_write(struct dmasplit_dev *dev, uint64_t dma,
			    const void *buf, size_t len);

/* ------------------------------------------------------------------ */
/* PCI peer-to-peer                                                    */

/* How a client device reaches a provider's memory (the kernel's
 * enum pci_p2pdma_map_type). */
enum dmasplit_p2p_map {
	DMASPLIT_P2P_NOT_SUPPORTED = 0,
	DMASPLIT_P2P_BUS_ADDR = 1,		/* below a common switch */
	DMASPLIT_P2P_THRU_HOST_BRIDGE = 2	/* at the CPU physical address */
};

/*
 * How client reaches provider's memory, from sysfs alone (the context's
 * sysfs root is honoured), as the kernel's calc_map_type_and_dist()
 * decides: the distance >= 0 with *map set; -EREMOTEIO with *map =
 * NOT_SUPPORTED and one log line naming what blocks it; -ENODEV for an
 * absent device; -EINVAL for a spec that is not PCI.  See
 * dmasplit_p2p_distance(3).
 */
int  dmasplit_p2p_distance(struct dmasplit_ctx *ctx, const char *provider,
			   const char *client, enum dmasplit_p2p_map *map);

/*
 * Register [cpu, cpu + len), a CPU mapping of BAR bar of the PCI device
 * provider from offset on (as an application makes one through the
 * device's VFIO file), as peer memory: devices of ctx then map it with
 * the calls they map RAM with, at the address peer-to-peer DMA needs.
 * Peer memory that a backend hands out (dmasplit_alloc_coherent on a
 * p2pdma provider) is registered already.  Remove it before unmapping.
 * See dmasplit_peer_add(3).
 */
int  dmasplit_peer_add(struct dmasplit_ctx *ctx, const char *provider,
		       unsigned int bar, uint64_t offset, void *cpu,
		       size_t len);
int  dmasplit_peer_remove(struct dmasplit_ctx *ctx, void *cpu);

#ifdef __cplusplus
}
#endif

#endif /* DMASPLIT_DMASPLIT_H */
