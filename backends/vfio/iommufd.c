// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * iommufd with the VFIO device cdev (/dev/iommu, /dev/vfio/devices/vfioN):
 * the device is bound to an iommufd and attached to an IO address space
 * of its own, whose usable ranges the kernel reports after the attach.
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

static int iommufd_map(struct dmasplit_bdev *b, uint64_t iova, uintptr_t va,
		       uint64_t len, unsigned int prot)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA |
			 (prot & PROT_DEV_READ ? IOMMU_IOAS_MAP_READABLE : 0) |
			 (prot & PROT_DEV_WRITE ? IOMMU_IOAS_MAP_WRITEABLE : 0),
		.ioas_id = b->sp->ioas_id,
		.user_va = va,
		.length = len,
		.iova = iova,
	};

	return ioctl(b->sp->iommufd, IOMMU_IOAS_MAP, &map) < 0 ? -errno : 0;
}

static int iommufd_unmap(struct dmasplit_bdev *b, uint64_t iova, uint64_t len)
{
	struct iommu_ioas_unmap unmap = {
		.size = sizeof(unmap),
		.ioas_id = b->sp->ioas_id,
		.iova = iova,
		.length = len,
	};

	if (ioctl(b->sp->iommufd, IOMMU_IOAS_UNMAP, &unmap) < 0) {
		int r = -errno;

		vfio_err(b, "%s: IOMMU_IOAS_UNMAP iova 0x%" PRIx64 " length 0x%" PRIx64 ": %s",
			 b->name, iova, len, strerror(-r));
		return r;
	}
	return 0;
}

/* The space's last member is gone (its cdev closed first, which
 * detaches and unbinds it). */
static void iommufd_close(struct vspace *sp)
{
	if (sp->iommufd >= 0)
		close(sp->iommufd);
}

const struct kiface iommufd_iface = {
	.name = "iommufd",
	.map_call = "IOMMU_IOAS_MAP",
	.map = iommufd_map,
	.unmap = iommufd_unmap,
	.close = iommufd_close,
};

int iommufd_read_ranges(struct dmasplit_bdev *b)
{
	struct iommu_ioas_iova_ranges q = {
		.size = sizeof(q),
		.ioas_id = b->sp->ioas_id,
	};
	struct iommu_iova_range *ranges = NULL;
	struct dmasplit_range *kept;
	uint32_t i, room = 0;
	int r;

	/* The kernel says how many there are when they do not fit: ask
	 * again with that much room (more may appear in between). */
	for (;;) {
		q.num_iovas = room;
		q.allowed_iovas = (uintptr_t)ranges;
		if (ioctl(b->sp->iommufd, IOMMU_IOAS_IOVA_RANGES, &q) == 0 &&
		    q.num_iovas <= room)
			break;
		/* More than room did not fit, whatever the call said: read
		 * as fitting, they would be read past ranges' end. */
		r = q.num_iovas > room ? -EMSGSIZE : -errno;
		if (r != -EMSGSIZE || q.num_iovas <= room) {
			vfio_err(b, "%s: IOMMU_IOAS_IOVA_RANGES: %s", b->name,
				 strerror(-r));
			free(ranges);
			return r;
		}
		room = q.num_iovas;
		free(ranges);
		ranges = calloc(room, sizeof(*ranges));
		if (!ranges)
			return -ENOMEM;
	}
	/* The space's ranges change only once the new ones are whole: in
	 * a shared space the members keep using them. */
	kept = q.num_iovas ? calloc(q.num_iovas, sizeof(*kept)) : NULL;
	if (q.num_iovas && !kept) {
		free(ranges);
		return -ENOMEM;
	}
	for (i = 0; i < q.num_iovas; i++) {
		kept[i].start = ranges[i].start;
		kept[i].last = ranges[i].last;
	}
	free(ranges);
	free(b->sp->ranges);
	b->sp->ranges = kept;
	b->sp->num_ranges = q.num_iovas;
	/* A joining device keeps the space's granule, which the members
	 * read without the lock. */
	if (!b->sp->nmembers)
		b->sp->granule = q.out_iova_alignment;
	return 0;
}

int iommufd_open(struct dmasplit_bdev *b, const struct dmasplit_desc *desc)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct vspace *sp = b->sp;
	bool first = sp->iommufd < 0;
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", desc->vfio_dev);
	b->device_fd = open(path, O_RDWR | O_CLOEXEC);
	if (b->device_fd < 0) {
		r = -errno;
		vfio_err(b, "%s: open %s: %s", b->name, path, strerror(-r));
		return r;
	}
	if (first) {
		sp->k = &iommufd_iface;
		sp->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
		if (sp->iommufd < 0) {
			r = -errno;
			vfio_err(b, "%s: open /dev/iommu: %s", b->name,
				 strerror(-r));
			return r;
		}
	}
	bind.iommufd = sp->iommufd;
	if (ioctl(b->device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0) {
		r = -errno;
		vfio_err(b, "%s: VFIO_DEVICE_BIND_IOMMUFD: %s%s", b->name,
			 strerror(-r),
			 r == -EBUSY ? " (the device is in use, e.g. through its group)" :
			 r == -EINVAL ? " (is the device open already?)" : "");
		return r;
	}
	if (first) {
		if (ioctl(sp->iommufd, IOMMU_IOAS_ALLOC, &alloc) < 0) {
			r = -errno;
			vfio_err(b, "%s: IOMMU_IOAS_ALLOC: %s", b->name,
				 strerror(-r));
			return r;
		}
		sp->ioas_id = alloc.out_ioas_id;
	}
	attach.pt_id = sp->ioas_id;
	if (ioctl(b->device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) < 0) {
		r = -errno;
		if (!first && r == -EADDRINUSE) {
			/* The kernel refuses a device whose reserved regions
			 * cover a live mapping of the IOAS. */
			vfio_err(b, "%s: as=%s: the kernel refused to attach the device: its reserved regions (kernel/iommu_groups/%d/reserved_regions) overlap mappings of address space %s: refused, nothing changed",
				 b->name, sp->name, desc->iommu_group,
				 sp->name);
			return -ERANGE;
		}
		vfio_err(b, "%s: VFIO_DEVICE_ATTACH_IOMMUFD_PT: %s", b->name,
			 strerror(-r));
		return r;
	}
	/* Ranges are known only once a device (its IOMMU) is attached;
	 * after a join they are what all members allow. */
	return iommufd_read_ranges(b);
}
