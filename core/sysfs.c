// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sysfs, always under the context's root, so that tests can hand the whole
 * library (core and backends) a fake tree.  The PCI description reads only
 * standard attributes of /sys/bus/pci/devices/ADDR.
 */
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* A ".." component would lead out of the sysfs root; callers resolve
 * link targets themselves. */
static bool has_dotdot(const char *path)
{
	const char *p = path;

	while ((p = strstr(p, "..")) != NULL) {
		if ((p == path || p[-1] == '/') && (p[2] == '/' || !p[2]))
			return true;
		p += 2;
	}
	return false;
}

static _must_check_ int full_path(const struct dmasplit_host *host,
				  const char *path, char *buf, size_t len)
{
	const char *root = ctx_from_host(host)->sysfs_root;
	int n;

	if (!path || has_dotdot(path))
		return -EINVAL;
	while (*path == '/')
		path++;
	n = snprintf(buf, len, "%s/%s", root, path);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/*
 * Every sysfs attribute is a regular file.  Anything else in a tree the
 * library reads (a FIFO would block a read forever, a device node could
 * do anything) is refused with -EINVAL, and the open never waits for it:
 * O_NONBLOCK.  The caller logs, naming what it was reading.
 */
int sysfs_open_file(const char *full, int flags, int *fd)
{
	struct stat st;
	int f;

	f = open(full, flags | O_CLOEXEC | O_NONBLOCK);
	/* ENXIO comes only from what is not a regular file: a FIFO opened
	 * for writing with no reader, a socket, a device node without its
	 * device. */
	if (f < 0)
		return errno == ENXIO ? -EINVAL : -errno;
	if (fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(f);
		return -EINVAL;
	}
	*fd = f;
	return 0;
}

int sysfs_open(const struct dmasplit_host *host, const char *path, int flags,
	       int *fd)
{
	CANCEL_DEFERRED;
	char full[PATH_MAX];
	int r;

	/* Attributes are there or not: nothing is created or cut. */
	if (!fd || (flags & (O_CREAT | O_EXCL | O_TRUNC)) ||
	    (flags & O_TMPFILE) == O_TMPFILE)
		return -EINVAL;
	r = full_path(host, path, full, sizeof(full));
	if (r < 0)
		return r;
	return sysfs_open_file(full, flags, fd);
}

int sysfs_read(const struct dmasplit_host *host, const char *path, char *buf,
	       size_t len)
{
	CANCEL_DEFERRED;
	size_t got = 0;
	ssize_t n;
	int fd, r;

	if (!buf || !len)
		return -EINVAL;
	r = sysfs_open(host, path, O_RDONLY, &fd);
	if (r < 0)
		return r;
	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	/* A full buffer still fits when its last byte is the trailing
	 * newline, which the NUL replaces, and nothing follows it. */
	if (got == len && buf[got - 1] == '\n') {
		char more;

		do
			n = read(fd, &more, 1);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		if (n == 0) {
			close(fd);
			buf[got - 1] = '\0';
			return 0;
		}
	}
	close(fd);
	if (got == len)
		return -ENAMETOOLONG;
	if (got && buf[got - 1] == '\n')
		got--;
	buf[got] = '\0';
	return 0;
}

int sysfs_readlink(const struct dmasplit_host *host, const char *path,
		   char *buf, size_t len)
{
	CANCEL_DEFERRED;
	char full[PATH_MAX];
	ssize_t n;
	int r;

	if (!buf || !len)
		return -EINVAL;
	r = full_path(host, path, full, sizeof(full));
	if (r < 0)
		return r;
	n = readlink(full, buf, len);
	if (n < 0)
		return -errno;
	if ((size_t)n >= len)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ */

struct pci_reader {
	struct dmasplit_ctx *ctx;
	const struct dmasplit_host *host;
	char dir[96];		/* bus/pci/devices/ADDR */
};

static _must_check_ int attr(struct pci_reader *pr, const char *name, char *buf,
			     size_t len)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", pr->dir, name);
	return sysfs_read(pr->host, path, buf, len);
}

/* One line for a failed read, r returned as it is. */
static int unreadable(struct pci_reader *pr, const char *name, int r)
{
	log_err(pr->ctx, "cannot read %s/%s/%s: %s", pr->ctx->sysfs_root,
		pr->dir, name,
		r == -EINVAL ? "not a regular file" :
		r == -ENAMETOOLONG ? "content or path too long" :
				     strerror(-r));
	return r;
}

static int malformed(struct pci_reader *pr, const char *name,
		     const char *value)
{
	log_err(pr->ctx, "unexpected content '%s' in %s/%s/%s", value,
		pr->ctx->sysfs_root, pr->dir, name);
	return -EIO;
}

/* A number at most max: a PCI ID that does not fit its field is not one
 * to cut down to another device's. */
static _must_check_ int attr_u64(struct pci_reader *pr, const char *name,
				 int base, uint64_t max, bool required,
				 uint64_t *out)
{
	char buf[64], *end;
	uint64_t v;
	int r;

	r = attr(pr, name, buf, sizeof(buf));
	if (r == -ENOENT && !required)
		return 0;
	if (r < 0) {
		unreadable(pr, name, r);
		return r == -ENOENT ? -EIO : r;
	}
	/* strtoull would pass over blanks and take a sign: " -1" is no
	 * size. */
	if (base == 16 ? !isxdigit((unsigned char)buf[0])
		       : !isdigit((unsigned char)buf[0]))
		return malformed(pr, name, buf);
	errno = 0;
	v = strtoull(buf, &end, base);
	if (errno || end == buf || *end || v > max)
		return malformed(pr, name, buf);
	*out = v;
	return 0;
}

/* Basename of a link's target, "" when there is no link. */
static _must_check_ int link_name(struct pci_reader *pr, const char *name,
				  char *out, size_t len)
{
	char path[160], target[PATH_MAX];
	const char *base;
	int r;

	snprintf(path, sizeof(path), "%s/%s", pr->dir, name);
	r = sysfs_readlink(pr->host, path, target, sizeof(target));
	if (r == -ENOENT) {
		out[0] = '\0';
		return 0;
	}
	if (r < 0)
		return unreadable(pr, name, r);
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return malformed(pr, name, base);
	strcpy(out, base);
	return 0;
}

/* One field of a resource line: hexadecimal, unsigned, in 64 bits. */
static bool hex_field(const char **s, uint64_t *v)
{
	const char *p = *s + strspn(*s, " \t");
	char *end;

	if (!isxdigit((unsigned char)*p))
		return false;
	errno = 0;
	*v = strtoull(p, &end, 16);
	if (errno || end == p)
		return false;
	*s = end;
	return true;
}

static _must_check_ int read_resources(struct pci_reader *pr,
				       struct dmasplit_desc *desc)
{
	char buf[2048], *line, *save = NULL;
	unsigned int n = 0;
	int r;

	r = attr(pr, "resource", buf, sizeof(buf));
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return unreadable(pr, "resource", r);
	for (line = strtok_r(buf, "\n", &save);
	     line && n < DMASPLIT_PCI_NUM_RESOURCES;
	     line = strtok_r(NULL, "\n", &save), n++) {
		struct dmasplit_pci_resource *res = &desc->resource[n];
		const char *p = line;

		/* The kernel's "0x%016llx 0x%016llx 0x%016llx": three
		 * fields that fit, the end not below the start (all 0 for
		 * a BAR the device does not have), nothing after. */
		if (!hex_field(&p, &res->start) || !hex_field(&p, &res->end) ||
		    !hex_field(&p, &res->flags) ||
		    p[strspn(p, " \t")] != '\0' ||
		    (res->end < res->start && (res->start || res->end)))
			return malformed(pr, "resource", line);
	}
	desc->num_resources = n;
	return 0;
}

static _must_check_ int read_vfio_dev(struct pci_reader *pr,
				      struct dmasplit_desc *desc)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dir;
	int n;

	n = snprintf(path, sizeof(path), "%s/%s/vfio-dev", pr->ctx->sysfs_root,
		     pr->dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return unreadable(pr, "vfio-dev", -ENAMETOOLONG);
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? 0 : unreadable(pr, "vfio-dev", -errno);
	while ((d = readdir(dir))) {
		if (!strncmp(d->d_name, "vfio", 4) &&
		    strlen(d->d_name) < sizeof(desc->vfio_dev)) {
			strcpy(desc->vfio_dev, d->d_name);
			break;
		}
	}
	closedir(dir);
	return 0;
}

/*
 * The one reading of /sys/kernel/iommu_groups/N/type and name
 * (drivers/iommu/iommu.c, iommu_group_show_type).  The type decides: a
 * group name can be set by any driver, so "vfio-noiommu" counts only for a
 * group that does not translate anyway.  Types this code does not know and
 * types it could not read stay UNKNOWN: whoever reads the class must not
 * take such a group for untranslated.
 */
enum dmasplit_iommu_class iommu_classify(const struct dmasplit_desc *desc)
{
	const char *type = desc->iommu_group_type;
	enum dmasplit_iommu_class c;

	if (desc->bus != DMASPLIT_BUS_PCI)
		return DMASPLIT_IOMMU_UNKNOWN;
	if (desc->iommu_group < 0)
		return DMASPLIT_IOMMU_NONE;
	if (!strcmp(type, "DMA") || !strcmp(type, "DMA-FQ"))
		return DMASPLIT_IOMMU_TRANSLATED;
	if (!strcmp(type, "blocked"))
		return DMASPLIT_IOMMU_BLOCKED;
	if (!strcmp(type, "identity"))
		c = DMASPLIT_IOMMU_IDENTITY;
	else if (!strcmp(type, "unknown"))
		c = DMASPLIT_IOMMU_NO_DOMAIN;
	else
		return DMASPLIT_IOMMU_UNKNOWN;
	return strcmp(desc->iommu_group_name, "vfio-noiommu") ? c :
		DMASPLIT_IOMMU_VFIO_NOIOMMU;
}

int sysfs_describe_pci(struct dmasplit_ctx *ctx, struct dmasplit_desc *desc)
{
	struct pci_reader pr = { .ctx = ctx, .host = &ctx->host };
	char group[32], buf[64], path[PATH_MAX];
	uint64_t v;
	int r;

	snprintf(pr.dir, sizeof(pr.dir), "bus/pci/devices/%s", desc->name);
	r = full_path(&ctx->host, pr.dir, path, sizeof(path));
	if (r < 0)
		return unreadable(&pr, "", r);
	if (access(path, F_OK) < 0) {
		if (errno != ENOENT)
			return unreadable(&pr, "", -errno);
		log_err(ctx, "no PCI device %s under %s", desc->name,
			ctx->sysfs_root);
		return -ENODEV;
	}

	if ((r = attr_u64(&pr, "vendor", 16, UINT16_MAX, true, &v)) < 0)
		return r;
	desc->vendor = (uint16_t)v;
	if ((r = attr_u64(&pr, "device", 16, UINT16_MAX, true, &v)) < 0)
		return r;
	desc->device = (uint16_t)v;
	if ((r = attr_u64(&pr, "class", 16, 0xffffff, true, &v)) < 0)
		return r;
	desc->pci_class = (uint32_t)v;

	if ((r = link_name(&pr, "driver", desc->driver,
			   sizeof(desc->driver))) < 0)
		return r;
	if ((r = link_name(&pr, "iommu_group", group, sizeof(group))) < 0)
		return r;
	if (group[0]) {
		char *end;
		long g = strtol(group, &end, 10);

		if (*end || g < 0 || g > INT32_MAX)
			return malformed(&pr, "iommu_group", group);
		desc->iommu_group = (int)g;
		/* A group whose type cannot be read (a dangling link, a
		 * kernel without the attribute) stays a group with an empty
		 * type: whether its DMA is translated is unknown, and a
		 * backend must not take it for untranslated. */
		r = attr(&pr, "iommu_group/type", desc->iommu_group_type,
			 sizeof(desc->iommu_group_type));
		if (r == -ENOENT) {
			char gpath[PATH_MAX + 16];

			snprintf(gpath, sizeof(gpath), "%s/iommu_group", path);
			log_dbg(ctx, "%s: IOMMU group %d has no readable type (%s)",
				desc->name, desc->iommu_group,
				access(gpath, F_OK) == 0 ? "no type attribute" :
							   "dangling link");
		}
		else if (r < 0)
			return unreadable(&pr, "iommu_group/type", r);
		/* Only named groups have the attribute (iommu_group_set_name). */
		r = attr(&pr, "iommu_group/name", desc->iommu_group_name,
			 sizeof(desc->iommu_group_name));
		if (r < 0 && r != -ENOENT)
			return unreadable(&pr, "iommu_group/name", r);
	}
	desc->iommu_class = iommu_classify(desc);
	if ((r = read_vfio_dev(&pr, desc)) < 0)
		return r;

	v = 0;
	if ((r = attr_u64(&pr, "dma_mask_bits", 10, UINT64_MAX, false,
			  &v)) < 0)
		return r;
	if (v > 64) {
		log_err(ctx, "unexpected content '%" PRIu64 "' in %s/%s/dma_mask_bits: more than 64 bits",
			v, ctx->sysfs_root, pr.dir);
		return -EIO;
	}
	desc->dma_mask_bits = desc->spec_mask_bits ? desc->spec_mask_bits
						   : (unsigned int)v;

	r = attr(&pr, "numa_node", buf, sizeof(buf));
	if (r == 0) {
		char *end;
		long node = strtol(buf, &end, 10);

		if (*end || end == buf || node < -1 || node > INT32_MAX)
			return malformed(&pr, "numa_node", buf);
		desc->numa_node = (int)node;
	} else if (r != -ENOENT) {
		return unreadable(&pr, "numa_node", r);
	}

	r = attr(&pr, "p2pmem/size", buf, sizeof(buf));
	if (r == 0) {
		desc->has_p2pmem = 1;
		if ((r = attr_u64(&pr, "p2pmem/size", 10, UINT64_MAX, true,
				  &desc->p2pmem_size)) < 0 ||
		    (r = attr_u64(&pr, "p2pmem/available", 10, UINT64_MAX,
				  false, &desc->p2pmem_available)) < 0)
			return r;
		v = 0;
		if ((r = attr_u64(&pr, "p2pmem/published", 10, 1, false, &v)) < 0)
			return r;
		desc->p2pmem_published = v != 0;
	} else if (r != -ENOENT) {
		return unreadable(&pr, "p2pmem/size", r);
	}
	return read_resources(&pr, desc);
}
