// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * vfio: selection, open and close, and the per-range path.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vfio.h"

#define VFIO_UUID "b3f1e0a4-6c2d-4d8e-9f57-0a1b2c3d4e5f"
#define VFIO_SCORE 200

/* ------------------------------------------------------------------ */
/* Selection                                                            */

static bool translating(const struct dmasplit_desc *desc)
{
	return !strcmp(desc->iommu_group_type, "DMA") ||
	       !strcmp(desc->iommu_group_type, "DMA-FQ");
}

/* The device cdev with iommufd, unless the spec or the kernel says no. */
static bool want_iommufd(const struct dmasplit_desc *desc, const char **why)
{
	char path[64];

	if (desc->spec_vfio == DMASPLIT_VFIO_TYPE1) {
		*why = "vfio=type1 in the spec";
		return false;
	}
	if (!desc->vfio_dev[0]) {
		*why = "no vfio-dev entry in sysfs (kernel without the VFIO device cdev)";
		return false;
	}
	/* sysfs shows vfio-dev even on kernels without the cdev: the
	 * device nodes tell. */
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", desc->vfio_dev);
	if (access(path, F_OK) < 0 || access("/dev/iommu", F_OK) < 0) {
		*why = "no /dev/iommu or device cdev node (kernel without iommufd)";
		return false;
	}
	*why = desc->spec_vfio == DMASPLIT_VFIO_IOMMUFD ? "vfio=iommufd in the spec"
							: "iommufd and the device cdev are there";
	return true;
}

static int vfio_probe(const struct dmasplit_host *host,
		      const struct dmasplit_desc *desc, int *score)
{
	const char *why;
	bool fd;

	if (desc->bus != DMASPLIT_BUS_PCI || strcmp(desc->driver, "vfio-pci"))
		return -ENODEV;
	if (desc->iommu_group < 0 || !translating(desc)) {
		dmasplit_host_dbg(host, VFIO_NAME ": %s: IOMMU group %d of type '%s' does not translate",
				  desc->name, desc->iommu_group,
				  desc->iommu_group_type);
		return -ENODEV;
	}
	fd = want_iommufd(desc, &why);
	dmasplit_host_dbg(host, VFIO_NAME ": %s: would use %s: %s", desc->name,
			  fd ? "iommufd" : "type1", why);
	*score = VFIO_SCORE;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Open and close                                                       */

static void vfio_close(struct dmasplit_bdev *b)
{
	if (b->iovad)
		b->host->iovad_destroy(b->iovad);
	if (b->device_fd >= 0)
		close(b->device_fd);
	if (b->k)
		b->k->close(b);
	pthread_mutex_destroy(&b->lock);
	free(b->ranges);
	free(b);
}

/* Reserved regions (MSI windows and the like) are never handed out,
 * whatever the kernel's usable ranges say. */
static void reserve_regions(struct dmasplit_bdev *b,
			    const struct dmasplit_desc *desc)
{
	char path[96], buf[2048], *line, *save = NULL;

	snprintf(path, sizeof(path), "kernel/iommu_groups/%d/reserved_regions",
		 desc->iommu_group);
	if (b->host->sysfs_read(b->host, path, buf, sizeof(buf)) < 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		uint64_t start, last;

		if (sscanf(line, "%" SCNx64 " %" SCNx64, &start, &last) == 2 &&
		    last >= start)
			b->host->iovad_reserve(b->iovad, start, last - start + 1);
	}
}

static int vfio_open(const struct dmasplit_host *host,
		     const struct dmasplit_desc *desc,
		     struct dmasplit_bdev **out)
{
	struct dmasplit_bdev *b = calloc(1, sizeof(*b));
	const char *why;
	int r;

	if (!b)
		return -ENOMEM;
	b->host = host;
	b->device_fd = b->container_fd = b->group_fd = b->iommufd = -1;
	pthread_mutex_init(&b->lock, NULL);
	snprintf(b->name, sizeof(b->name), "%s", desc->name);
	if (want_iommufd(desc, &why)) {
		r = iommufd_open(b, desc);
	} else if (desc->spec_vfio == DMASPLIT_VFIO_IOMMUFD) {
		vfio_err(b, "%s: vfio=iommufd asked, but %s", b->name, why);
		r = -EOPNOTSUPP;
	} else {
		r = type1_open(b, desc);
	}
	if (r < 0)
		goto fail;
	if (b->granule < (uint64_t)sysconf(_SC_PAGESIZE))
		b->granule = (uint64_t)sysconf(_SC_PAGESIZE);
	b->mask_bits = desc->dma_mask_bits ? desc->dma_mask_bits : 64;
	b->limit = b->mask_bits >= 64 ? UINT64_MAX
				      : (1ull << b->mask_bits) - 1;
	r = host->iovad_new(host, b->ranges, b->num_ranges, b->granule,
			    &b->iovad);
	if (r < 0) {
		vfio_err(b, "%s: the kernel reported no usable IOVA range", b->name);
		goto fail;
	}
	reserve_regions(b, desc);
	b->lazy = win_unlink_lazy(host, desc);
	vfio_dbg(b, "%s: %s, granule %" PRIu64 ", %u IOVA ranges, DMA mask %u bits, %s unlink%s",
		 b->name, b->k->name, b->granule, b->num_ranges, b->mask_bits,
		 b->lazy ? "lazy" : "strict",
		 b->map_limit ? ", container limit known" : "");
	*out = b;
	return 0;
fail:
	vfio_close(b);
	return r;
}

static int vfio_get_info(struct dmasplit_bdev *b, struct dmasplit_dev_info *info)
{
	unsigned int total;

	info->flags = DMASPLIT_DEV_WINDOWS | DMASPLIT_DEV_TRANSLATED |
		      DMASPLIT_DEV_COHERENT |
		      (b->lazy ? DMASPLIT_DEV_LAZY_UNLINK : 0);
	info->dma_mask_bits = b->mask_bits;
	info->granule = b->granule;
	info->num_ranges = ranges_below(b->ranges, b->num_ranges, b->granule,
					b->limit, info->ranges,
					DMASPLIT_MAX_RANGES, &total);
	/* Allocation uses them all; only the report is short. */
	if (total > info->num_ranges)
		vfio_dbg(b, "%s: %u usable IOVA ranges below the DMA mask; dev_info shows the first %u",
			 b->name, total, info->num_ranges);
	snprintf(info->interface, sizeof(info->interface), "%s", b->k->name);
	return 0;
}

static int vfio_get_stats(struct dmasplit_bdev *b, struct dmasplit_dev_stats *s)
{
	pthread_mutex_lock(&b->lock);
	s->kernel_calls = b->kernel_calls;
	s->bytes_pinned = b->bytes_mapped;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static int vfio_get_fd(struct dmasplit_bdev *b, int *fd)
{
	*fd = b->device_fd;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Per-range path                                                       */

/* Lock held. */
static int map_locked(struct dmasplit_bdev *b, uintptr_t va, size_t len,
		      unsigned int prot, uint64_t *dma)
{
	uint64_t g = b->granule, va0 = va & ~(g - 1);
	uint64_t size = ((va + len + g - 1) & ~(g - 1)) - va0, iova;
	int r;

	r = iova_get(b, size, &iova);
	if (r < 0)
		return r;
	r = kmap(b, iova, va0, size, prot);
	if (r < 0) {
		iova_put(b, iova, size);
		return r;
	}
	*dma = iova + (va - va0);
	return 0;
}

/* Lock held. */
static int unmap_locked(struct dmasplit_bdev *b, uint64_t dma, size_t len,
			uint64_t mappings)
{
	uint64_t g = b->granule, base = dma & ~(g - 1);
	uint64_t size = ((dma + len + g - 1) & ~(g - 1)) - base;
	int r;

	r = kunmap(b, base, size, mappings, size);
	if (r == 0)
		iova_put(b, base, size);
	return r;
}

static int vfio_map(struct dmasplit_bdev *b, void *vaddr, size_t len,
		    enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma)
{
	int r;

	r = vfio_peer_check(b, vaddr, len, attrs);
	if (r < 0)
		return r;
	pthread_mutex_lock(&b->lock);
	r = map_locked(b, (uintptr_t)vaddr, len, dir_prot(dir), dma);
	pthread_mutex_unlock(&b->lock);
	return r;
}

static int vfio_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		      enum dmasplit_dir dir, uint32_t attrs)
{
	int r;

	pthread_mutex_lock(&b->lock);
	r = unmap_locked(b, dma, len, 1);
	pthread_mutex_unlock(&b->lock);
	return r;
}

/*
 * One IOVA allocation for all buffers, one kernel mapping per run of
 * buffers contiguous in user memory; each run is one segment, so that
 * unmap_vec knows how many kernel mappings it removes.
 */
static int vfio_map_vec(struct dmasplit_bdev *b, const struct iovec *iov,
			unsigned int n, enum dmasplit_dir dir, uint32_t attrs,
			struct dmasplit_seg *segs, unsigned int *nsegs)
{
	uint64_t g = b->granule, size = 0, iova, at, run_va = 0, run_len = 0;
	unsigned int i, used = 0, prot = dir_prot(dir);
	int r;

	for (i = 0; i < n; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base;

		r = vfio_peer_check(b, iov[i].iov_base, iov[i].iov_len, attrs);
		if (r < 0)
			return r;
		size += ((va + iov[i].iov_len + g - 1) & ~(g - 1)) - (va & ~(g - 1));
	}
	pthread_mutex_lock(&b->lock);
	r = iova_get(b, size, &iova);
	if (r < 0)
		goto out;
	at = iova;
	for (i = 0; i <= n; i++) {
		uintptr_t va = i < n ? (uintptr_t)iov[i].iov_base : 0;
		size_t len = i < n ? iov[i].iov_len : 0;

		/* Extend the run while the buffers follow each other in
		 * memory (and so in the device's view, page for page). */
		if (i < n && used && run_len && va == run_va + run_len &&
		    !(va & (g - 1))) {
			segs[used - 1].len += len;
			run_len += len;
			continue;
		}
		if (run_len) {
			uint64_t va0 = run_va & ~(g - 1);
			uint64_t sz = ((run_va + run_len + g - 1) & ~(g - 1)) - va0;

			r = kmap(b, at, va0, sz, prot);
			if (r < 0)
				goto undo;
			at += sz;
		}
		if (i == n)
			break;
		if (used == *nsegs) {
			r = -ENOSPC;
			goto undo;
		}
		segs[used].dma = at + (va & (g - 1));
		segs[used++].len = len;
		run_va = va;
		run_len = len;
	}
	*nsegs = used;
	goto out;
undo:
	if (at > iova)
		kunmap(b, iova, at - iova, used - (r == -ENOSPC ? 0 : 1),
		       at - iova);
	iova_put(b, iova, size);
out:
	pthread_mutex_unlock(&b->lock);
	return r;
}

static int vfio_unmap_vec(struct dmasplit_bdev *b,
			  const struct dmasplit_seg *segs, unsigned int nsegs,
			  enum dmasplit_dir dir, uint32_t attrs)
{
	uint64_t g = b->granule, base = segs[0].dma & ~(g - 1), size;
	const struct dmasplit_seg *l = &segs[nsegs - 1];
	int r;

	size = ((l->dma + l->len + g - 1) & ~(g - 1)) - base;
	pthread_mutex_lock(&b->lock);
	r = kunmap(b, base, size, nsegs, size);
	if (r == 0)
		iova_put(b, base, size);
	pthread_mutex_unlock(&b->lock);
	return r;
}

static int vfio_alloc_coherent(struct dmasplit_bdev *b, size_t size,
			       uint32_t flags, void **cpu, uint64_t *dma)
{
	size_t len = (size + b->granule - 1) & ~(b->granule - 1);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int r;

	if (p == MAP_FAILED)
		return -ENOMEM;
	pthread_mutex_lock(&b->lock);
	r = map_locked(b, (uintptr_t)p, len, PROT_DEV_READ | PROT_DEV_WRITE,
		       dma);
	pthread_mutex_unlock(&b->lock);
	if (r < 0) {
		munmap(p, len);
		return r;
	}
	*cpu = p;
	return 0;
}

static int vfio_free_coherent(struct dmasplit_bdev *b, size_t size, void *cpu,
			      uint64_t dma)
{
	size_t len = (size + b->granule - 1) & ~(b->granule - 1);
	int r;

	pthread_mutex_lock(&b->lock);
	r = unmap_locked(b, dma, len, 1);
	pthread_mutex_unlock(&b->lock);
	if (r == 0)
		munmap(cpu, len);
	return r;
}

static const struct dmasplit_backend_ops vfio_ops = {
	.size = sizeof(struct dmasplit_backend_ops),
	.abi_version = DMASPLIT_BACKEND_ABI_VERSION,
	.name = VFIO_NAME,
	.uuid = VFIO_UUID,
	.version = PACKAGE_VERSION,
	.description = "PCI devices bound to vfio-pci behind an IOMMU (iommufd or type1)",
	.probe = vfio_probe,
	.open = vfio_open,
	.close = vfio_close,
	.get_info = vfio_get_info,
	.get_stats = vfio_get_stats,
	.get_fd = vfio_get_fd,
	.iova_alloc = win_alloc,
	.iova_link = win_link,
	.iova_sync = win_sync,
	.iova_unlink = win_unlink,
	.iova_destroy = win_destroy,
	.map = vfio_map,
	.unmap = vfio_unmap,
	.map_vec = vfio_map_vec,
	.unmap_vec = vfio_unmap_vec,
	.alloc_coherent = vfio_alloc_coherent,
	.free_coherent = vfio_free_coherent,
};

DMASPLIT_BACKEND_EXPORT const struct dmasplit_backend_ops *
DMASPLIT_BACKEND_ENTRY(void)
{
	return &vfio_ops;
}
