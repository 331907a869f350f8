/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fake sysfs trees for the tests: files, links and PCI functions under a
 * directory the test owns, which dmasplit_ctx_set_sysfs_root() (or
 * DMASPLIT_SYSFS_ROOT) then shows the library instead of /sys.
 */
#ifndef DMASPLIT_FAKESYS_H
#define DMASPLIT_FAKESYS_H

#include <stddef.h>

/* The tree the calls below write into, until the next call.  The caller
 * creates and removes the directory, and keeps the string alive. */
void fakesys_root(const char *root);

/* root/rel in path (PATH_MAX bytes). */
void fakesys_path(char *path, const char *rel);
/* Parents are made as needed. */
void fakesys_put(const char *rel, const char *content);
void fakesys_put_bytes(const char *rel, const void *data, size_t len);
void fakesys_link(const char *target, const char *rel);

/* The attributes of fakesys_pci(); NULL leaves one out. */
struct fakesys_pci {
	const char *vendor;
	const char *device;
	const char *class;
	const char *dma_mask_bits;
	const char *numa_node;
	const char *resource;
	const char *driver;		/* NULL: no driver bound */
	const char *group;		/* IOMMU group number; NULL: none */
	const char *group_type;
	const char *group_name;
	const char *reserved_regions;
	const char *vfio_dev;		/* vfio-dev/vfio0/dev */
};

/*
 * A PCI function at devdir ("devices/.../ADDRESS"), linked as the kernel
 * links it: from bus/pci/devices/, and to its driver under
 * bus/pci/drivers/ and its group under kernel/iommu_groups/.
 */
void fakesys_pci(const char *devdir, const struct fakesys_pci *pci);

#endif
