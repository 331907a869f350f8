// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * p2pdma: a provider of PCI peer memory.  A kernel driver that owns a
 * device with spare BAR memory (the NVMe driver for a controller memory
 * buffer) may publish it through drivers/pci/p2pdma.c, which shows
 * p2pmem/size, available and published in sysfs and lets a process map
 * pieces of it by mmap of p2pmem/allocate.  The kernel refuses private
 * mappings (each mapping is an allocation of its own) and inserts the
 * pages at mmap time, from one contiguous piece of its pool.
 *
 * dmasplit_alloc_coherent hands out such a mapping with its device
 * address: the PCI bus address, which is what the provider itself and a
 * client below the same switch use.  sysfs "resource" and pagemap speak
 * CPU physical addresses; the BAR register in the configuration space
 * holds the bus address, so bus = BAR register + (physical - resource
 * start).  Each allocation is registered in the context's peer registry,
 * so that client devices map it with the address peer-to-peer DMA needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dmasplit/backend.h>

#define P2P_NAME "p2pdma"
#define P2P_UUID "c5d618a2-2a8d-48d7-9f3f-66d1f5121fbf"
/* Only this backend hands out a device's published peer memory; the
 * device is bound to its kernel driver, which no other backend drives. */
#define P2P_SCORE 50

#define IORESOURCE_MEM 0x200
#define NUM_BARS 6

#define p2p_err(b, ...) dmasplit_host_err((b)->host, P2P_NAME ": " __VA_ARGS__)
#define p2p_dbg(b, ...) dmasplit_host_dbg((b)->host, P2P_NAME ": " __VA_ARGS__)

struct alloc {
	struct alloc *next;
	void *cpu;
	size_t len;	/* of the mapping */
	size_t size;	/* asked for */
	uint64_t dma;
};

struct bar {
	uint64_t start, end;	/* CPU physical, from sysfs resource */
	uint64_t bus;		/* bus address of start; 0: not memory */
};

struct dmasplit_bdev {
	const struct dmasplit_host *host;
	char name[64];
	uint64_t page_size;
	struct bar bars[NUM_BARS];
	pthread_mutex_t lock;	/* allocs */
	struct alloc *allocs;
};

static int qualify(const struct dmasplit_host *host,
		   const struct dmasplit_desc *d, char *why, size_t len)
{
	if (d->bus != DMASPLIT_BUS_PCI) {
		snprintf(why, len, "not a PCI device");
		return -ENODEV;
	}
	if (!d->has_p2pmem) {
		snprintf(why, len, "no p2pmem in sysfs: its driver (%s) registered no peer memory",
			 d->driver[0] ? d->driver : "none");
		return -ENODEV;
	}
	if (!d->p2pmem_published) {
		snprintf(why, len, "its driver (%s) registered peer memory but did not publish it",
			 d->driver[0] ? d->driver : "none");
		return -ENODEV;
	}
	if (!DMASPLIT_HOST_HAS(host, pci_bar_bus)) {
		snprintf(why, len, "the library is older than this backend (no peer registry)");
		return -ENODEV;
	}
	return 0;
}

static int p2p_probe(const struct dmasplit_host *host,
		     const struct dmasplit_desc *desc, int *score)
{
	char why[256];

	if (qualify(host, desc, why, sizeof(why)) < 0) {
		dmasplit_host_dbg(host, P2P_NAME ": %s: %s", desc->name, why);
		return -ENODEV;
	}
	*score = P2P_SCORE;
	return 0;
}

static void release(struct dmasplit_bdev *b, struct alloc *a)
{
	int r = b->host->peer_del(b->host, a->cpu);

	/* Only a registry that lost track of it refuses: worth a line,
	 * not a reason to keep the memory. */
	if (r < 0)
		p2p_err(b, "%s: peer memory at %p was missing from the registry: %s",
			b->name, a->cpu, strerror(-r));
	munmap(a->cpu, a->len);
	free(a);
}

static void p2p_close(struct dmasplit_bdev *b)
{
	struct alloc *a, *next;

	for (a = b->allocs; a; a = next) {
		next = a->next;
		release(b, a);
	}
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static int p2p_open(const struct dmasplit_host *host,
		    const struct dmasplit_desc *desc,
		    struct dmasplit_bdev **out)
{
	struct dmasplit_bdev *b;
	char why[256];
	unsigned int i;
	int r;

	if (qualify(host, desc, why, sizeof(why)) < 0) {
		dmasplit_host_err(host, P2P_NAME ": %s: %s", desc->name, why);
		return -ENODEV;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->host = host;
	snprintf(b->name, sizeof(b->name), "%s", desc->name);
	b->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	pthread_mutex_init(&b->lock, NULL);
	for (i = 0; i < NUM_BARS && i < desc->num_resources; i++) {
		const struct dmasplit_pci_resource *res = &desc->resource[i];

		if (!(res->flags & IORESOURCE_MEM) || res->end <= res->start)
			continue;
		r = host->pci_bar_bus(host, b->name, i, &b->bars[i].bus);
		if (r < 0) {
			p2p_close(b);
			return r;
		}
		b->bars[i].start = res->start;
		b->bars[i].end = res->end;
		p2p_dbg(b, "%s: BAR%u at physical 0x%" PRIx64 ", bus 0x%" PRIx64,
			b->name, i, res->start, b->bars[i].bus);
	}
	*out = b;
	return 0;
}

static int p2p_get_info(struct dmasplit_bdev *b,
			struct dmasplit_dev_info *info)
{
	unsigned int i;

	/* Its own memory, reached without a cache in between. */
	info->flags = DMASPLIT_DEV_COHERENT;
	info->dma_mask_bits = 64;
	info->granule = b->page_size;
	info->num_ranges = 0;
	for (i = 0; i < NUM_BARS; i++) {
		const struct bar *bar = &b->bars[i];

		if (!bar->end || !bar->bus)
			continue;
		info->ranges[info->num_ranges].start = bar->bus;
		info->ranges[info->num_ranges++].last =
			bar->bus + (bar->end - bar->start);
	}
	return 0;
}

/* The bus address of [phys, phys + len), which must lie in one BAR. */
static int to_bus(struct dmasplit_bdev *b, uint64_t phys, size_t len,
		  uint64_t *bus)
{
	unsigned int i;

	for (i = 0; i < NUM_BARS; i++) {
		const struct bar *bar = &b->bars[i];

		if (bar->end && phys >= bar->start &&
		    phys + (len - 1) <= bar->end) {
			*bus = bar->bus + (phys - bar->start);
			return 0;
		}
	}
	p2p_err(b, "%s: peer memory at physical 0x%" PRIx64 "+0x%zx lies in no memory BAR of the device",
		b->name, phys, len);
	return -EIO;
}

/* The kernel hands out one contiguous piece of its pool: say so if not. */
static int physical(struct dmasplit_bdev *b, void *p, size_t len,
		    uint64_t *phys)
{
	uint64_t first = 0, cur;
	size_t off;
	int r;

	for (off = 0; off < len; off += b->page_size) {
		r = b->host->virt_to_phys(b->host, (char *)p + off, &cur);
		if (r < 0) {
			p2p_err(b, "%s: cannot read the physical address of peer memory at %p: %s%s",
				b->name, (void *)((char *)p + off), strerror(-r),
				r == -EPERM ? " (pagemap shows it only with CAP_SYS_ADMIN)" : "");
			return r;
		}
		if (!off)
			first = cur;
		else if (cur != first + off) {
			p2p_err(b, "%s: peer memory at %p is not physically contiguous (offset 0x%zx at 0x%" PRIx64 ")",
				b->name, p, off, cur);
			return -EIO;
		}
	}
	*phys = first;
	return 0;
}

static int p2p_alloc_coherent(struct dmasplit_bdev *b, size_t size,
			      uint32_t flags, void **cpu, uint64_t *dma)
{
	struct dmasplit_peer peer = { .kind = DMASPLIT_PEER_P2PMEM };
	char path[128];
	struct alloc *a;
	struct stat st;
	size_t len;
	void *p;
	int fd, r;

	if (size > SIZE_MAX - (b->page_size - 1))
		return -ENOMEM;
	len = (size + b->page_size - 1) & ~(size_t)(b->page_size - 1);
	snprintf(path, sizeof(path), "bus/pci/devices/%s/p2pmem/allocate",
		 b->name);
	r = b->host->sysfs_open(b->host, path, O_RDWR, &fd);
	if (r < 0) {
		p2p_err(b, "%s: cannot open %s: %s", b->name, path,
			strerror(-r));
		/* The attribute is root's: the process is not permitted,
		 * as it is not to read the physical addresses after. */
		return r == -EACCES ? -EPERM : r;
	}
	/* The kernel's attribute is 1 TiB long; a shorter file (a tree
	 * not the kernel's) would map pages that fault when touched. */
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size < len) {
		close(fd);
		p2p_err(b, "%s: no %zu bytes of peer memory from %s: the file has %lld",
			b->name, len, path, (long long)st.st_size);
		return -ENOMEM;
	}
	/* Shared: the kernel refuses private mappings of peer memory. */
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	r = p == MAP_FAILED ? -errno : 0;
	close(fd);
	if (r < 0) {
		p2p_err(b, "%s: no %zu bytes of peer memory from %s: %s",
			b->name, len, path, strerror(-r));
		return r == -ENOMEM || r == -ENOSPC ? -ENOMEM : r;
	}
	/* Never a child's: a copy of the shared mapping after fork() would
	 * let the child write what the devices read, and keep the memory
	 * from the provider's pool after the parent frees it. */
	(void)madvise(p, len, MADV_DONTFORK);
	/* Zeroed, as the kernel's dma_alloc_coherent() gives it. */
	memset(p, 0, len);
	a = calloc(1, sizeof(*a));
	r = a ? physical(b, p, len, &peer.phys) : -ENOMEM;
	if (r == 0)
		r = to_bus(b, peer.phys, len, &peer.bus);
	if (r == 0) {
		peer.cpu = p;
		peer.len = len;
		snprintf(peer.provider, sizeof(peer.provider), "%s", b->name);
		r = b->host->peer_add(b->host, &peer);
	}
	if (r < 0) {
		free(a);
		munmap(p, len);
		return r;
	}
	a->cpu = p;
	a->len = len;
	a->size = size;
	a->dma = peer.bus;
	pthread_mutex_lock(&b->lock);
	a->next = b->allocs;
	b->allocs = a;
	pthread_mutex_unlock(&b->lock);
	p2p_dbg(b, "%s: %zu bytes of peer memory at %p, physical 0x%" PRIx64 ", bus 0x%" PRIx64,
		b->name, size, p, peer.phys, peer.bus);
	*cpu = p;
	*dma = peer.bus;
	return 0;
}

static int p2p_free_coherent(struct dmasplit_bdev *b, size_t size, void *cpu,
			     uint64_t dma)
{
	struct alloc **pa, *a = NULL;

	pthread_mutex_lock(&b->lock);
	for (pa = &b->allocs; *pa; pa = &(*pa)->next) {
		if ((*pa)->cpu == cpu && (*pa)->dma == dma &&
		    (*pa)->size == size) {
			a = *pa;
			*pa = a->next;
			break;
		}
	}
	pthread_mutex_unlock(&b->lock);
	if (!a) {
		p2p_err(b, "%s: free of peer memory %p at 0x%" PRIx64 " (%zu bytes): not allocated so",
			b->name, cpu, dma, size);
		return -EINVAL;
	}
	release(b, a);
	return 0;
}

/*
 * A provider only: it hands out memory and maps nothing of others (a
 * device bound to its kernel driver does its own DMA).  No windows, no
 * maps, no device file.
 */
static const struct dmasplit_backend_ops p2p_ops = {
	.size = sizeof(struct dmasplit_backend_ops),
	.abi_version = DMASPLIT_BACKEND_ABI_VERSION,
	.name = P2P_NAME,
	.uuid = P2P_UUID,
	.version = PACKAGE_VERSION,
	.description = "PCI peer memory published by a device's kernel driver (p2pmem)",
	.probe = p2p_probe,
	.open = p2p_open,
	.close = p2p_close,
	.get_info = p2p_get_info,
	.alloc_coherent = p2p_alloc_coherent,
	.free_coherent = p2p_free_coherent,
};

DMASPLIT_BACKEND_EXPORT const struct dmasplit_backend_ops *
DMASPLIT_BACKEND_ENTRY(void)
{
	return &p2p_ops;
}
