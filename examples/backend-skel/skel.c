// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * backend-skel: a complete minimal libdmasplit backend, built outside the
 * library's tree against its installed headers alone.  Copy it to start
 * a backend of your own; dmasplit-backend(7) describes every operation.
 *
 * The device it drives shares the process's virtual addresses, as a PCIe
 * device bound with shared virtual addressing (PASID) does: a buffer's
 * device address is its virtual address, so a map only records what the
 * device may touch.  Device-side accesses (dmasplit_dev_dma_read and
 * _write) are allowed inside live mappings, in the mapped direction, and
 * fail with -EFAULT elsewhere, as an IOMMU fault would.
 *
 * It accepts simulated devices (sim:NAME) with the lowest score, so the
 * library's own swiotlb-sim wins unless this backend is asked for by
 * name: DMASPLIT_BACKEND=skel, or dmasplit_dev_open_backend().
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dmasplit/backend.h>

#define SKEL_NAME "skel"
#define SKEL_UUID "3e8f1a52-6c07-4b9d-a1e4-7d2c5b90f613"
/* Process virtual addresses on x86-64 and arm64 with 4-level tables. */
#define SKEL_VA_BITS 47

struct mapping {
	uint64_t dma;
	uint64_t len;
	enum dmasplit_dir dir;
};

struct dmasplit_bdev {
	const struct dmasplit_host *host;
	pthread_mutex_t lock;
	struct mapping *maps;	/* live mappings, unordered */
	size_t n, cap;
};

static int skel_probe(const struct dmasplit_host *host,
		      const struct dmasplit_desc *desc, int *score)
{
	(void)host;
	if (desc->bus != DMASPLIT_BUS_SIM)
		return -ENODEV;
	*score = 1;
	return 0;
}

static int skel_open(const struct dmasplit_host *host,
		     const struct dmasplit_desc *desc,
		     struct dmasplit_bdev **out)
{
	struct dmasplit_bdev *b;

	/* Open is also called unprobed, when the backend is forced or
	 * named: it checks the device and its options itself. */
	if (desc->bus != DMASPLIT_BUS_SIM) {
		dmasplit_host_err(host, "%s: %s drives simulated devices (sim:NAME) only",
				  desc->name, SKEL_NAME);
		return -ENODEV;
	}
	if (desc->options[0]) {
		dmasplit_host_err(host, "%s: %s: unknown options '%s' (it takes none)",
				  desc->name, SKEL_NAME, desc->options);
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->host = host;
	pthread_mutex_init(&b->lock, NULL);
	dmasplit_host_dbg(host, "%s: opened by %s", desc->name, SKEL_NAME);
	*out = b;
	return 0;
}

/* The core has unmapped what the application left mapped. */
static void skel_close(struct dmasplit_bdev *b)
{
	pthread_mutex_destroy(&b->lock);
	free(b->maps);
	free(b);
}

static int skel_get_info(struct dmasplit_bdev *b,
			 struct dmasplit_dev_info *info)
{
	long page = sysconf(_SC_PAGESIZE);

	(void)b;
	info->flags = DMASPLIT_DEV_COHERENT | DMASPLIT_DEV_DMA_RW;
	info->dma_mask_bits = 64;
	info->granule = page > 0 ? (uint64_t)page : 4096;
	info->num_ranges = 1;
	info->ranges[0].start = info->granule;
	info->ranges[0].last = (1ull << SKEL_VA_BITS) - 1;
	return 0;
}

static int skel_map(struct dmasplit_bdev *b, void *vaddr, size_t len,
		    enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma)
{
	struct mapping *m;
	int r = 0;

	(void)attrs;
	pthread_mutex_lock(&b->lock);
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;

		m = realloc(b->maps, cap * sizeof(*m));
		if (!m) {
			r = -ENOMEM;
			goto out;
		}
		b->maps = m;
		b->cap = cap;
	}
	*dma = (uint64_t)(uintptr_t)vaddr;
	b->maps[b->n++] = (struct mapping){ *dma, len, dir };
out:
	pthread_mutex_unlock(&b->lock);
	return r;
}

/* Exactly one live mapping starts at dma with this length and direction;
 * anything else is the caller's mistake, refused with -ENOENT. */
static int skel_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		      enum dmasplit_dir dir, uint32_t attrs)
{
	size_t i;
	int r = -ENOENT;

	(void)attrs;
	pthread_mutex_lock(&b->lock);
	for (i = 0; i < b->n; i++) {
		struct mapping *m = &b->maps[i];

		if (m->dma == dma && m->len == len && m->dir == dir) {
			*m = b->maps[--b->n];
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&b->lock);
	if (r < 0)
		dmasplit_host_err(b->host, "%s: no mapping 0x%llx+0x%zx to unmap",
				  SKEL_NAME, (unsigned long long)dma, len);
	return r;
}

/* The device touches [dma, dma + len): allowed when one live mapping
 * covers it and lets the device read (or write) it. */
static int skel_access(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		       int write)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		const struct mapping *m = &b->maps[i];

		if (dma >= m->dma && len <= m->len && dma - m->dma <= m->len - len &&
		    (write ? dmasplit_dir_device_writes(m->dir) :
			     dmasplit_dir_device_reads(m->dir)))
			return 0;
	}
	return -EFAULT;
}

static int skel_dma_read(struct dmasplit_bdev *b, uint64_t dma, void *buf,
			 size_t len)
{
	int r;

	pthread_mutex_lock(&b->lock);
	r = skel_access(b, dma, len, 0);
	if (r == 0)
		memcpy(buf, (const void *)(uintptr_t)dma, len);
	pthread_mutex_unlock(&b->lock);
	return r;
}

static int skel_dma_write(struct dmasplit_bdev *b, uint64_t dma,
			  const void *buf, size_t len)
{
	int r;

	pthread_mutex_lock(&b->lock);
	r = skel_access(b, dma, len, 1);
	if (r == 0)
		memcpy((void *)(uintptr_t)dma, buf, len);
	pthread_mutex_unlock(&b->lock);
	return r;
}

/* No windows (the device needs no address reservation), no device file,
 * no syncs (coherent); the core maps vectors buffer by buffer. */
static const struct dmasplit_backend_ops skel_ops = {
	.size = sizeof(struct dmasplit_backend_ops),
	.abi_version = DMASPLIT_BACKEND_ABI_VERSION,
	.name = SKEL_NAME,
	.uuid = SKEL_UUID,
	.version = "1.0",
	.description = "skeleton: a device that shares the process's virtual addresses",
	.probe = skel_probe,
	.open = skel_open,
	.close = skel_close,
	.get_info = skel_get_info,
	.map = skel_map,
	.unmap = skel_unmap,
	.dma_read = skel_dma_read,
	.dma_write = skel_dma_write,
};

DMASPLIT_BACKEND_EXPORT const struct dmasplit_backend_ops *
DMASPLIT_BACKEND_ENTRY(void)
{
	return &skel_ops;
}
