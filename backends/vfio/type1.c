// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The type1 container (/dev/vfio/vfio and the device's group): the
 * interface every VFIO kernel has.  Each VFIO_IOMMU_MAP_DMA is one entry
 * of the container, which holds at most dma_entry_limit (65535 by
 * default) of them; the limit comes from the DMA-available capability,
 * and kmap() refuses the call that would exceed it before the kernel
 * does.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "uapi.h"
#include "vfio.h"

static int type1_map(struct dmasplit_bdev *b, uint64_t iova, uintptr_t va,
		     uint64_t len, unsigned int prot)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = (prot & PROT_DEV_READ ? VFIO_DMA_MAP_FLAG_READ : 0) |
			 (prot & PROT_DEV_WRITE ? VFIO_DMA_MAP_FLAG_WRITE : 0),
		.vaddr = va,
		.iova = iova,
		.size = len,
	};

	return ioctl(b->sp->container_fd, VFIO_IOMMU_MAP_DMA, &map) < 0 ? -errno
									 : 0;
}

static int type1_unmap(struct dmasplit_bdev *b, uint64_t iova, uint64_t len)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = len,
	};

	if (ioctl(b->sp->container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0) {
		int r = -errno;

		vfio_err(b, "%s: VFIO_IOMMU_UNMAP_DMA iova 0x%" PRIx64 " size 0x%" PRIx64 ": %s",
			 b->name, iova, len, strerror(-r));
		return r;
	}
	/* The kernel answers success with nothing unmapped. */
	if (!unmap.size) {
		vfio_err(b, "%s: VFIO_IOMMU_UNMAP_DMA iova 0x%" PRIx64 " size 0x%" PRIx64 ": nothing mapped there",
			 b->name, iova, len);
		return -ENOENT;
	}
	return 0;
}

/* The space's last member is gone (its group fd closed first, which
 * takes the group out of the container). */
static void type1_close(struct vspace *sp)
{
	if (sp->container_fd >= 0)
		close(sp->container_fd);
}

const struct kiface type1_iface = {
	.name = "type1",
	.map_call = "VFIO_IOMMU_MAP_DMA",
	.map = type1_map,
	.unmap = type1_unmap,
	.close = type1_close,
};

int type1_parse_info(struct dmasplit_bdev *b, const void *buf, uint32_t argsz)
{
	const struct vfio_iommu_type1_info *info = buf;
	const struct vfio_info_cap_header *cap;
	struct dmasplit_range *ranges = NULL;
	uint32_t off, nr = 0, i;
	/* The default, for kernels without the capability. */
	uint32_t map_limit = 65535;
	uint64_t pgsizes;

	pgsizes = info->flags & VFIO_IOMMU_INFO_PGSIZES ? info->iova_pgsizes : 0;
	/* The kernel chains capabilities forward; anything else ends the
	 * walk rather than looping. */
	for (off = info->flags & VFIO_IOMMU_INFO_CAPS ? info->cap_offset : 0;
	     off >= sizeof(*info) && argsz >= sizeof(*cap) &&
	     off <= argsz - sizeof(*cap);
	     off = cap->next > off ? cap->next : 0) {
		cap = (const struct vfio_info_cap_header *)((const char *)buf + off);
		if (cap->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE &&
		    argsz - off >= sizeof(struct vfio_iommu_type1_info_cap_iova_range)) {
			const struct vfio_iommu_type1_info_cap_iova_range *c =
				(const void *)cap;
			uint64_t room = (argsz - off - sizeof(*c)) /
					sizeof(c->iova_ranges[0]);

			nr = c->nr_iovas < room ? c->nr_iovas : (uint32_t)room;
			free(ranges);
			ranges = nr ? calloc(nr, sizeof(*ranges)) : NULL;
			if (nr && !ranges)
				return -ENOMEM;
			for (i = 0; i < nr; i++) {
				ranges[i].start = c->iova_ranges[i].start;
				ranges[i].last = c->iova_ranges[i].end;
			}
		} else if (cap->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL &&
			   argsz - off >= sizeof(struct vfio_iommu_type1_info_dma_avail)) {
			map_limit =
				((const struct vfio_iommu_type1_info_dma_avail *)cap)->avail;
		}
	}
	if (!nr) {
		/* Kernels before 5.4 report no ranges: all but the x86
		 * interrupt window, which no IOMMU lets a device use. */
		nr = 2;
		ranges = calloc(nr, sizeof(*ranges));
		if (!ranges)
			return -ENOMEM;
		ranges[0].start = 0;
		ranges[0].last = 0xfedfffff;
		ranges[1].start = 0xfef00000;
		ranges[1].last = UINT64_MAX;
	}
	free(b->sp->ranges);
	b->sp->ranges = ranges;
	b->sp->num_ranges = nr;
	/* A joining device keeps the space's granule, which the members
	 * read without the lock, and its limit, which counted the
	 * container empty. */
	if (!b->sp->nmembers) {
		b->sp->granule = pgsizes ? pgsizes & -pgsizes : 4096;
		b->sp->map_limit = map_limit;
	}
	return 0;
}

/* VFIO_IOMMU_GET_INFO with room for all its capabilities. */
static int read_info(struct dmasplit_bdev *b)
{
	struct vfio_iommu_type1_info *info;
	uint32_t argsz = sizeof(*info);
	int r;

	for (;;) {
		info = calloc(1, argsz);
		if (!info)
			return -ENOMEM;
		info->argsz = argsz;
		if (ioctl(b->sp->container_fd, VFIO_IOMMU_GET_INFO, info) < 0) {
			r = -errno;
			vfio_err(b, "%s: VFIO_IOMMU_GET_INFO: %s", b->name,
				 strerror(-r));
			free(info);
			return r;
		}
		if (info->argsz <= argsz)
			break;
		argsz = info->argsz;	/* room for the capabilities */
		free(info);
	}
	r = type1_parse_info(b, info, argsz);
	free(info);
	return r;
}

int type1_open(struct dmasplit_bdev *b, const struct dmasplit_desc *desc)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vspace *sp = b->sp;
	bool first = sp->container_fd < 0;
	char path[64];
	int r;

	if (first) {
		sp->k = &type1_iface;
		sp->container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
		if (sp->container_fd < 0) {
			r = -errno;
			vfio_err(b, "%s: open /dev/vfio/vfio: %s", b->name,
				 strerror(-r));
			return r;
		}
		if (ioctl(sp->container_fd, VFIO_GET_API_VERSION) !=
		    VFIO_API_VERSION ||
		    ioctl(sp->container_fd, VFIO_CHECK_EXTENSION,
			  VFIO_TYPE1v2_IOMMU) <= 0) {
			vfio_err(b, "%s: the kernel's VFIO container has no type1v2 IOMMU",
				 b->name);
			return -EOPNOTSUPP;
		}
	}
	snprintf(path, sizeof(path), "/dev/vfio/%d", desc->iommu_group);
	b->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (b->group_fd < 0) {
		r = -errno;
		vfio_err(b, "%s: open %s: %s%s", b->name, path, strerror(-r),
			 r == -EBUSY ? " (another process or address space has the group open)" : "");
		return r;
	}
	if (ioctl(b->group_fd, VFIO_GROUP_GET_STATUS, &status) < 0) {
		r = -errno;
		vfio_err(b, "%s: VFIO_GROUP_GET_STATUS: %s", b->name,
			 strerror(-r));
		return r;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		vfio_err(b, "%s: IOMMU group %d is not viable: bind every device in it to vfio-pci",
			 b->name, desc->iommu_group);
		return -EBUSY;
	}
	if (ioctl(b->group_fd, VFIO_GROUP_SET_CONTAINER,
		  &sp->container_fd) < 0) {
		r = -errno;
		if (!first && r == -EINVAL) {
			/* The kernel refuses a group whose reserved regions
			 * cover a live mapping of the container. */
			vfio_err(b, "%s: as=%s: the kernel refused group %d into the container: its reserved regions (kernel/iommu_groups/%d/reserved_regions) overlap mappings of address space %s: refused, nothing changed",
				 b->name, sp->name, desc->iommu_group,
				 desc->iommu_group, sp->name);
			return -ERANGE;
		}
		vfio_err(b, "%s: attaching group %d to a type1 container: %s",
			 b->name, desc->iommu_group, strerror(-r));
		return r;
	}
	/* The container has its IOMMU model once, set by the first group. */
	if (first &&
	    ioctl(sp->container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
		r = -errno;
		vfio_err(b, "%s: VFIO_SET_IOMMU type1v2 for group %d: %s",
			 b->name, desc->iommu_group, strerror(-r));
		return r;
	}
	/* After a join the container reports what all its groups allow. */
	r = read_info(b);
	if (r < 0)
		return r;
	b->device_fd = ioctl(b->group_fd, VFIO_GROUP_GET_DEVICE_FD, b->name);
	if (b->device_fd < 0) {
		r = -errno;
		vfio_err(b, "%s: VFIO_GROUP_GET_DEVICE_FD: %s", b->name,
			 strerror(-r));
		return r;
	}
	return 0;
}
