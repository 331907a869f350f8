// SPDX-License-Identifier: LGPL-2.1-or-later
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fakesys.h"
#include "testutil.h"

static const char *fake_root;

void fakesys_root(const char *root)
{
	fake_root = root;
}

void fakesys_path(char *path, const char *rel)
{
	int n;

	ck_assert_msg(fake_root, "fakesys_root() was not called");
	n = snprintf(path, PATH_MAX, "%s/%s", fake_root, rel);
	ck_assert_msg(n > 0 && n < PATH_MAX, "path too long: %s/%s",
		      fake_root, rel);
}

void fakesys_put(const char *rel, const char *content)
{
	char path[PATH_MAX];

	fakesys_path(path, rel);
	tu_write_file(path, content);
}

void fakesys_put_bytes(const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	fakesys_path(path, rel);
	tu_write_file(path, "");
	f = fopen(path, "w");
	ck_assert_msg(f, "cannot write %s", path);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

void fakesys_link(const char *target, const char *rel)
{
	char path[PATH_MAX];

	fakesys_path(path, rel);
	tu_symlink(target, path);
}

/* Paths into PATH_MAX bytes; fake trees are shallow, so only a broken test
 * fills one. */
static void path_of(char *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void path_of(char *buf, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
	ck_assert_msg(n > 0 && n < PATH_MAX, "path too long: %s", buf);
}

static void attr(const char *dir, const char *name, const char *content)
{
	char rel[PATH_MAX];

	if (!content)
		return;
	path_of(rel, "%s/%s", dir, name);
	fakesys_put(rel, content);
}

void fakesys_pci(const char *devdir, const struct fakesys_pci *pci)
{
	char rel[PATH_MAX], target[PATH_MAX], up[PATH_MAX] = "../";
	const char *addr = strrchr(devdir, '/') + 1, *p;

	/* Relative links, as the kernel makes them: from the device's
	 * directory back up to the root. */
	for (p = devdir; *p; p++)
		if (*p == '/')
			strcat(up, "../");
	attr(devdir, "vendor", pci->vendor);
	attr(devdir, "device", pci->device);
	attr(devdir, "class", pci->class);
	attr(devdir, "dma_mask_bits", pci->dma_mask_bits);
	attr(devdir, "numa_node", pci->numa_node);
	attr(devdir, "resource", pci->resource);
	attr(devdir, "vfio-dev/vfio0/dev", pci->vfio_dev);
	if (pci->driver) {
		path_of(rel, "bus/pci/drivers/%s/new_id", pci->driver);
		fakesys_put(rel, "");
		path_of(rel, "%s/driver", devdir);
		path_of(target, "%sbus/pci/drivers/%s", up, pci->driver);
		fakesys_link(target, rel);
	}
	if (pci->group) {
		path_of(rel, "kernel/iommu_groups/%s", pci->group);
		fakesys_path(target, rel);
		tu_mkdir_p(target);
		attr(rel, "type", pci->group_type);
		attr(rel, "name", pci->group_name);
		attr(rel, "reserved_regions", pci->reserved_regions);
		path_of(rel, "%s/iommu_group", devdir);
		path_of(target, "%skernel/iommu_groups/%s", up, pci->group);
		fakesys_link(target, rel);
	}
	path_of(rel, "bus/pci/devices/%s", addr);
	path_of(target, "../../../%s", devdir);
	fakesys_link(target, rel);
}
