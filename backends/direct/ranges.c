// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * direct: the platform's DMA ranges.  On device-tree platforms a PCI host
 * bridge may put memory at other bus addresses than its physical ones
 * (the "dma-ranges" property, such as the Raspberry Pi 4's 0xc0000000
 * offset); the kernel applies them in dma-direct (of_dma_get_range), and
 * so must we.  ACPI platforms show no such offset to user space: without
 * a device-tree node, bus address = physical address.
 *
 * The search follows of_dma_configure(): from the device up through its
 * parents in /sys/devices to the first one with an of_node, then up the
 * device tree to the first node with a dma-ranges property.  An empty one
 * means no translation.  Property files are raw big-endian cells.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "direct.h"

#define DT_ROOT "firmware/devicetree/base"
/* More cells than any sane dma-ranges has: the ranges we keep, each of
 * at most 3 + 2 + 2 cells. */
#define PROP_MAX (MAX_BUS_RANGES * 7 * 4)

/* dir/rel with "." and ".." resolved by name, as sysfs links are written:
 * relative, through real directories only. */
static int resolve(const char *dir, const char *rel, char *out, size_t len)
{
	char buf[PATH_MAX], *part, *save = NULL;
	size_t n = 0;
	int w;

	w = snprintf(buf, sizeof(buf), "%s/%s", dir, rel);
	if (w < 0 || (size_t)w >= sizeof(buf))
		return -ENAMETOOLONG;
	out[0] = '\0';
	for (part = strtok_r(buf, "/", &save); part;
	     part = strtok_r(NULL, "/", &save)) {
		if (!strcmp(part, "."))
			continue;
		if (!strcmp(part, "..")) {
			char *slash = strrchr(out, '/');

			n = slash ? (size_t)(slash - out) : 0;
			out[n] = '\0';
			continue;
		}
		w = snprintf(out + n, len - n, "%s%s", n ? "/" : "", part);
		if (w < 0 || (size_t)w >= len - n)
			return -ENAMETOOLONG;
		n += (size_t)w;
	}
	return 0;
}

static void parent_of(char *path)
{
	char *slash = strrchr(path, '/');

	if (slash)
		*slash = '\0';
	else
		path[0] = '\0';
}

/* A property's bytes; -ENOENT when the node has none. */
static int read_prop(struct dmasplit_bdev *b, const char *node,
		     const char *name, uint8_t *buf, size_t len, size_t *got)
{
	char path[PATH_MAX];
	ssize_t n;
	size_t have = 0;
	int fd, r;

	if (snprintf(path, sizeof(path), "%s/%s", node, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	r = b->host->sysfs_open(b->host, path, O_RDONLY, &fd);
	if (r < 0)
		return r;
	while (have < len && (n = read(fd, buf + have, len - have)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		have += (size_t)n;
	}
	/* One byte more than fits: the property is too long for us. */
	if (have == len) {
		do
			n = read(fd, &(uint8_t){ 0 }, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1)
			r = -E2BIG;
	}
	close(fd);
	*got = have;
	return r;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* #address-cells or #size-cells of node, with the device tree default. */
static int cells(struct dmasplit_bdev *b, const char *node, const char *name,
		 unsigned int dflt, unsigned int *out)
{
	uint8_t buf[4];
	size_t got = 0;
	int r;

	r = read_prop(b, node, name, buf, sizeof(buf), &got);
	if (r == -ENOENT) {
		*out = dflt;
		return 0;
	}
	if (r < 0 || got != 4) {
		direct_err(b, "%s: malformed %s in device-tree node %s", b->name,
			   name, node);
		return -EIO;
	}
	*out = be32(buf);
	return 0;
}

/* The low 64 bits of an address or size of n cells (PCI addresses have
 * a cell of flags first). */
static uint64_t number(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = n > 2 ? n - 2 : 0; i < n; i++)
		v = v << 32 | be32(p + 4 * i);
	return v;
}

static int parse(struct dmasplit_bdev *b, const char *node, const uint8_t *prop,
		 size_t len)
{
	unsigned int ac, pac, sc, entry, i, n;
	char parent[PATH_MAX];
	int r;

	snprintf(parent, sizeof(parent), "%s", node);
	parent_of(parent);
	if ((r = cells(b, node, "#address-cells", 2, &ac)) < 0 ||
	    (r = cells(b, parent, "#address-cells", 2, &pac)) < 0 ||
	    (r = cells(b, node, "#size-cells", 1, &sc)) < 0)
		return r;
	entry = 4 * (ac + pac + sc);
	if (ac < 1 || ac > 3 || pac < 1 || pac > 2 || sc < 1 || sc > 2 ||
	    len % entry || len / entry > MAX_BUS_RANGES) {
		direct_err(b, "%s: cannot use dma-ranges of device-tree node %s (%zu bytes, %u+%u+%u cells an entry, at most %d entries)",
			   b->name, node, len, ac, pac, sc, MAX_BUS_RANGES);
		return -EIO;
	}
	for (i = 0, n = 0; i < len / entry; i++) {
		const uint8_t *e = prop + (size_t)i * entry;
		struct bus_range *br = &b->ranges[n];

		br->bus = number(e, ac);
		br->cpu = number(e + 4 * ac, pac);
		br->size = number(e + 4 * (ac + pac), sc);
		if (!br->size) {
			direct_err(b, "%s: empty range in dma-ranges of device-tree node %s",
				   b->name, node);
			return -EIO;
		}
		/* Wrapped device addresses would reach the wrong memory:
		 * the entry is left out, so its memory is refused. */
		if (br->bus + (br->size - 1) < br->bus ||
		    br->cpu + (br->size - 1) < br->cpu) {
			direct_err(b, "%s: dma-ranges entry %u of device-tree node %s (bus 0x%" PRIx64 ", memory 0x%" PRIx64 ", 0x%" PRIx64 " bytes) wraps past 2^64: ignored",
				   b->name, i, node, br->bus, br->cpu,
				   br->size);
			continue;
		}
		direct_dbg(b, "%s: DMA range: memory 0x%" PRIx64 "+0x%" PRIx64 " at bus 0x%" PRIx64 " (%s)",
			   b->name, br->cpu, br->size, br->bus, node);
		n++;
	}
	/* No entry left is not "no dma-ranges" (which means no offset). */
	if (!n) {
		direct_err(b, "%s: no usable entry in dma-ranges of device-tree node %s",
			   b->name, node);
		return -EIO;
	}
	b->nranges = n;
	return 0;
}

/* The device's directory under devices/, from its bus/pci/devices link. */
static int device_dir(struct dmasplit_bdev *b, const char *name, char *out,
		      size_t len)
{
	char link[160], target[PATH_MAX];
	int r;

	snprintf(link, sizeof(link), "bus/pci/devices/%s", name);
	r = b->host->sysfs_readlink(b->host, link, target, sizeof(target));
	if (r == -EINVAL) {	/* a directory, not a link: no parents */
		snprintf(out, len, "%s", link);
		return 0;
	}
	if (r < 0)
		return r;
	return resolve("bus/pci/devices", target, out, len);
}

int ranges_read(struct dmasplit_bdev *b, const struct dmasplit_desc *desc)
{
	char dir[PATH_MAX], node[PATH_MAX], target[PATH_MAX], path[PATH_MAX];
	uint8_t prop[PROP_MAX];
	size_t got = 0;
	int r;

	b->nranges = 0;
	r = device_dir(b, desc->name, dir, sizeof(dir));
	if (r < 0) {
		direct_err(b, "%s: cannot find the device in sysfs: %s", b->name,
			   strerror(-r));
		return r;
	}
	for (node[0] = '\0'; dir[0] && strcmp(dir, "devices"); parent_of(dir)) {
		if (snprintf(path, sizeof(path), "%s/of_node", dir) >= (int)sizeof(path))
			return -ENAMETOOLONG;
		r = b->host->sysfs_readlink(b->host, path, target,
					    sizeof(target));
		if (r == 0) {
			r = resolve(dir, target, node, sizeof(node));
			if (r < 0)
				return r;
			break;
		}
	}
	if (!node[0])
		return 0;	/* no device tree: ACPI, or none at all */
	for (; !strncmp(node, DT_ROOT, strlen(DT_ROOT)); parent_of(node)) {
		r = read_prop(b, node, "dma-ranges", prop, sizeof(prop), &got);
		if (r == -ENOENT)
			continue;
		if (r == -E2BIG) {
			direct_err(b, "%s: dma-ranges of device-tree node %s has more than %d ranges",
				   b->name, node, MAX_BUS_RANGES);
			return -EIO;
		}
		if (r < 0) {
			direct_err(b, "%s: cannot read dma-ranges of device-tree node %s: %s",
				   b->name, node, strerror(-r));
			return r;
		}
		return got ? parse(b, node, prop, got) : 0;
	}
	return 0;
}
