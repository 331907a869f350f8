// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * direct: selection, open and close, introspection.  A device qualifies
 * when nothing translates its DMA: it is bound to a user-space I/O driver
 * that does not program an IOMMU (uio_pci_generic, igb_uio), or to
 * vfio-pci in no-IOMMU mode, and no IOMMU group of it translates.  Only
 * standard sysfs attributes decide: the driver link, the IOMMU group (as
 * the core classifies it from its type and name), and dma_mask_bits.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "direct.h"

#define DIRECT_UUID "2b0762d2-5ff7-45ae-9d8b-4b9fcbb708e9"
#define DIRECT_SCORE 100

/* The kernel's DMA mask of a PCI device whose driver has not set one
 * (pci_setup_device); uio drivers never do. */
#define DEFAULT_MASK_BITS 32

/*
 * Classes under which a device's DMA reaches physical memory unchanged: no
 * IOMMU, a passthrough domain, or no default domain at all (which VFIO's
 * no-IOMMU group has).  TRANSLATED and BLOCKED are not ours, and neither
 * is UNKNOWN: a group of unreadable or newer type may translate, and
 * physical addresses would then reach the wrong memory.
 */
static bool untranslated(enum dmasplit_iommu_class c)
{
	return c == DMASPLIT_IOMMU_NONE || c == DMASPLIT_IOMMU_IDENTITY ||
	       c == DMASPLIT_IOMMU_NO_DOMAIN || c == DMASPLIT_IOMMU_VFIO_NOIOMMU;
}

/* 0 if direct can drive the device, else -ENODEV and why in buf. */
static int qualify(const struct dmasplit_desc *d, char *why, size_t len)
{
	enum dmasplit_iommu_class c;

	if (d->bus != DMASPLIT_BUS_PCI) {
		snprintf(why, len, "not a PCI device");
		return -ENODEV;
	}
	if (!DMASPLIT_DESC_HAS(d, iommu_class)) {
		snprintf(why, len, "the library is older than this backend (no IOMMU class in the description)");
		return -ENODEV;
	}
	c = d->iommu_class;
	if (c == DMASPLIT_IOMMU_UNKNOWN && !d->iommu_group_type[0]) {
		snprintf(why, len, "in IOMMU group %d, whose type cannot be read (dangling link or no type attribute): its DMA may be translated",
			 d->iommu_group);
		return -ENODEV;
	}
	if (!strcmp(d->driver, "uio_pci_generic") ||
	    !strcmp(d->driver, "igb_uio")) {
		if (untranslated(c))
			return 0;
		snprintf(why, len, "bound to %s, but behind a translating IOMMU (group %d, type %s): its device addresses are not physical",
			 d->driver, d->iommu_group, d->iommu_group_type);
		return -ENODEV;
	}
	if (!strcmp(d->driver, "vfio-pci")) {
		/* Behind an IOMMU, even a passthrough one, VFIO attaches
		 * a domain of its own: the vfio backend's device. */
		if (c == DMASPLIT_IOMMU_VFIO_NOIOMMU)
			return 0;
		snprintf(why, len, "bound to vfio-pci with an IOMMU (group %d, type %s)",
			 d->iommu_group, d->iommu_group_type[0] ? d->iommu_group_type : "none");
		return -ENODEV;
	}
	if (!d->driver[0])
		snprintf(why, len, "bound to no driver (bind it to uio_pci_generic, or to vfio-pci in no-IOMMU mode)");
	else
		snprintf(why, len, "bound to %s, not to uio_pci_generic, igb_uio or vfio-pci in no-IOMMU mode",
			 d->driver);
	return -ENODEV;
}

static int direct_probe(const struct dmasplit_host *host,
			const struct dmasplit_desc *desc, int *score)
{
	char why[256];

	if (desc->bus != DMASPLIT_BUS_PCI)
		return -ENODEV;
	if (qualify(desc, why, sizeof(why)) < 0) {
		dmasplit_host_dbg(host, DIRECT_NAME ": %s: %s", desc->name, why);
		return -ENODEV;
	}
	*score = DIRECT_SCORE;
	return 0;
}

/*
 * Since Linux 4.0 pagemap shows frame numbers only to readers with
 * CAP_SYS_ADMIN; without them there is no device address to give.  Asked
 * once, at open, of memory that is certainly present: the device itself.
 */
static int check_privilege(struct dmasplit_bdev *b)
{
	uint64_t phys;
	int r;

	r = b->host->virt_to_phys(b->host, b, &phys);
	if (r == -EPERM)
		direct_err(b, "%s: device addresses are physical addresses, and reading them from /proc/self/pagemap needs CAP_SYS_ADMIN, which this process does not have",
			   b->name);
	else if (r < 0)
		direct_err(b, "%s: cannot read /proc/self/pagemap: %s", b->name,
			   strerror(-r));
	return r;
}

/*
 * mlock() keeps pages resident, but compaction may still move mlocked
 * pages unless vm.compact_unevictable_allowed is 0, and a moved page
 * leaves the device writing to the old frame.  Worth a line, not a
 * refusal: the setting is the administrator's.
 */
static void check_compaction(struct dmasplit_bdev *b)
{
	char c = '0';
	int fd;

	fd = open("/proc/sys/vm/compact_unevictable_allowed",
		  O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (read(fd, &c, 1) == 1 && c == '1')
		direct_info(b, "%s: vm.compact_unevictable_allowed is 1: compaction may move mapped pages; set it to 0 so that physical addresses stay valid while mapped",
			    b->name);
	close(fd);
}

/* Also for a device whose open failed part way. */
static void direct_close(struct dmasplit_bdev *b)
{
	table_release_all(b);
	direct_peers_free(b);
	free(b->table);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static int direct_open(const struct dmasplit_host *host,
		       const struct dmasplit_desc *desc,
		       struct dmasplit_bdev **out)
{
	struct dmasplit_bdev *b;
	char why[256];
	int r;

	/* Also when the backend was chosen by name, not by probing. */
	if (qualify(desc, why, sizeof(why)) < 0) {
		dmasplit_host_err(host, DIRECT_NAME ": %s: %s", desc->name, why);
		return -ENODEV;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->host = host;
	snprintf(b->name, sizeof(b->name), "%s", desc->name);
	pthread_mutex_init(&b->lock, NULL);
	b->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	b->huge_page_size = huge_page_size();
	b->mask_bits = desc->dma_mask_bits;
	if (!b->mask_bits) {
		b->mask_bits = DEFAULT_MASK_BITS;
		direct_dbg(b, "%s: no dma_mask_bits in sysfs and no mask= in the spec: assuming %u bits",
			   b->name, b->mask_bits);
	}
	b->limit = b->mask_bits >= 64 ? UINT64_MAX
				      : (1ull << b->mask_bits) - 1;
	/* Page 0 is never handed out: a mask inside it reaches nothing. */
	if (b->limit < b->page_size) {
		direct_err(b, "%s: a DMA mask of %u bits reaches no address above page 0",
			   b->name, b->mask_bits);
		r = -EINVAL;
		goto fail;
	}
	r = table_init(b);
	if (r < 0)
		goto fail;
	r = ranges_read(b, desc);
	if (r < 0)
		goto fail;
	r = check_privilege(b);
	if (r < 0)
		goto fail;
	if (DMASPLIT_HOST_HAS(host, p2p_distance)) {
		r = direct_peers_init(b);
		if (r < 0)
			goto fail;
	}
	check_compaction(b);
	direct_dbg(b, "%s: driver %s, mask %u bits, %u DMA ranges", b->name,
		   desc->driver, b->mask_bits, b->nranges);
	*out = b;
	return 0;
fail:
	direct_close(b);
	return r;
}

static int direct_get_info(struct dmasplit_bdev *b,
			   struct dmasplit_dev_info *info)
{
	unsigned int i;

	/* PCI DMA snoops the CPU caches on the platforms uio and no-IOMMU
	 * VFIO are used on; user space has no cache maintenance anyway. */
	info->flags = DMASPLIT_DEV_COHERENT;
	info->dma_mask_bits = b->mask_bits;
	info->granule = b->page_size;
	if (!b->nranges) {
		info->num_ranges = 1;
		info->ranges[0].start = b->page_size;
		info->ranges[0].last = b->limit;
		return 0;
	}
	info->num_ranges = 0;
	for (i = 0; i < b->nranges; i++) {
		const struct bus_range *br = &b->ranges[i];
		uint64_t start = br->bus < b->page_size ? b->page_size : br->bus;
		uint64_t last = br->bus + (br->size - 1);

		if (last > b->limit)
			last = b->limit;
		if (start <= last) {
			info->ranges[info->num_ranges].start = start;
			info->ranges[info->num_ranges++].last = last;
		}
	}
	return 0;
}

static int direct_get_stats(struct dmasplit_bdev *b,
			    struct dmasplit_dev_stats *s)
{
	pthread_mutex_lock(&b->lock);
	s->bytes_pinned = b->bytes_pinned;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

/*
 * No windows (iova_*), no device-side access (dma_read/_write), no device
 * file (the application opens /dev/uioN or /dev/vfio/noiommu-N itself:
 * the VFIO group can be opened only once), and no syncs: DMA is coherent
 * and nothing bounces.
 */
static const struct dmasplit_backend_ops direct_ops = {
	.size = sizeof(struct dmasplit_backend_ops),
	.abi_version = DMASPLIT_BACKEND_ABI_VERSION,
	.name = DIRECT_NAME,
	.uuid = DIRECT_UUID,
	.version = PACKAGE_VERSION,
	.description = "untranslated DMA at physical addresses: uio_pci_generic, igb_uio, vfio-pci without IOMMU",
	.probe = direct_probe,
	.open = direct_open,
	.close = direct_close,
	.get_info = direct_get_info,
	.get_stats = direct_get_stats,
	.map = direct_map,
	.unmap = direct_unmap,
	.map_vec = direct_map_vec,
	.unmap_vec = direct_unmap_vec,
	.alloc_coherent = direct_alloc_coherent,
	.free_coherent = direct_free_coherent,
};

DMASPLIT_BACKEND_EXPORT const struct dmasplit_backend_ops *
DMASPLIT_BACKEND_ENTRY(void)
{
	return &direct_ops;
}
