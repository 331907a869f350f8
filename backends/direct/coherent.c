// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * direct: coherent memory.  A device without an IOMMU needs it physically
 * contiguous, which user space can only get from a page (up to one page)
 * or from huge pages, whose frames are contiguous by construction and
 * never swapped or split.  More than one huge page is contiguous only by
 * luck, so it is checked, never assumed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "direct.h"

/* The default huge page size, as MAP_HUGETLB uses it; 0 when the kernel
 * has none. */
uint64_t huge_page_size(void)
{
	unsigned long long kb = 0;
	char line[128];
	FILE *f;

	f = fopen("/proc/meminfo", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb << 10;
}

struct contig {
	struct dmasplit_bdev *b;
	uint64_t bus;
	unsigned int runs;
};

static int count_run(void *arg, uintptr_t va, size_t len, uint64_t bus)
{
	struct contig *c = arg;

	if (!c->runs++)
		c->bus = bus;
	return 0;
}

int direct_alloc_coherent(struct dmasplit_bdev *b, size_t size,
			  uint32_t flags, void **cpu, uint64_t *dma)
{
	struct contig c = { .b = b };
	uint64_t step = b->page_size;
	size_t len;
	struct dmap *m;
	void *p;
	int r;

	if (size <= b->page_size) {
		len = b->page_size;
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -ENOMEM;
	} else {
		step = b->huge_page_size;
		if (!step || size > SIZE_MAX - (step - 1)) {
			direct_err(b, "%s: %zu bytes of coherent memory must be physically contiguous, which needs huge pages, and this kernel has none",
				   b->name, size);
			return -ENOMEM;
		}
		len = (size + step - 1) & ~(size_t)(step - 1);
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (p == MAP_FAILED) {
			r = -errno;
			direct_err(b, "%s: %zu bytes of coherent memory must be physically contiguous, which needs %" PRIu64 " free huge page(s) of %" PRIu64 " kB: %s; reserve them with 'sysctl vm.nr_hugepages=N' (or hugepages= on the kernel command line)",
				   b->name, size, (uint64_t)len / step, step >> 10,
				   strerror(-r));
			return -ENOMEM;
		}
	}
	/* Never a child's: shared copy-on-write after fork(), the
	 * parent's first write would leave the device with the child's
	 * pages.  Marked whole, before any page is there (the pinning
	 * cannot mark part of a huge page). */
	(void)madvise(p, len, MADV_DONTFORK);
	/* Zeroed memory, as the kernel's dma_alloc_coherent gives; the
	 * writes also give every page its frame. */
	memset(p, 0, len);
	r = b->host->pin(b->host, p, len);
	if (r < 0) {
		direct_pin_refused(b, 0, p, len, r);
		goto fail_unmap;
	}
	r = direct_walk(b, (uintptr_t)p, len, step, 0, count_run, &c);
	if (r == 0 && c.runs > 1) {
		direct_err(b, "%s: the %" PRIu64 " huge pages of %zu bytes of coherent memory are not physically contiguous; allocate at most %" PRIu64 " bytes at once, or use larger huge pages (hugepagesz=1G)",
			   b->name, (uint64_t)len / step, size, step);
		r = -ENOMEM;
	}
	if (r == 0)
		r = direct_reachable(b, c.bus, size, p, 0);
	if (r < 0)
		goto fail_unpin;
	m = calloc(1, sizeof(*m) + sizeof(m->pieces[0]));
	if (!m) {
		r = -ENOMEM;
		goto fail_unpin;
	}
	m->dma = c.bus;
	m->len = size;
	m->cpu = p;
	m->map_len = len;
	m->npieces = 1;
	m->pieces[0].va = (uintptr_t)p;
	m->pieces[0].len = len;
	table_insert(b, &m, 1);
	*cpu = p;
	*dma = c.bus;
	return 0;

fail_unpin:
	direct_unpin(b, p, len);
fail_unmap:
	munmap(p, len);
	return r;
}

int direct_free_coherent(struct dmasplit_bdev *b, size_t size, void *cpu,
			 uint64_t dma)
{
	struct dmap *m = table_take(b, dma, size, cpu, true);

	/* As the other backends: -EINVAL for another size or CPU address
	 * than the allocation's at dma, -ENOENT where there is none. */
	if (!m) {
		bool other = table_has(b, dma, true);

		direct_err(b, "%s: free of coherent memory %p at 0x%" PRIx64 " (%zu bytes): %s",
			   b->name, cpu, dma, size,
			   other ? "not allocated so" : "nothing allocated there");
		return other ? -EINVAL : -ENOENT;
	}
	dmap_release(b, m);
	return 0;
}
