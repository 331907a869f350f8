// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The vfio backend against a real kernel, through libdmasplit only: the
 * program drives QEMU's edu device (hw/misc/edu.c) through the device fd
 * the library hands out, for each kernel interface in turn.  Run in the
 * VM by tests/vm/run, which binds edu to vfio-pci and sets
 * DMASPLIT_VM_EDU and DMASPLIT_VM_NVME.  Output is TAP.
 *
 * edu: BAR0 register 0x00 reads 0x010000ed (4-byte access); DMA registers
 * (8-byte access) 0x80 source,
 * 0x88 destination, 0x90 count, 0x98 command (bit 0 start and busy,
 * bit 1 device to RAM); its buffer is at 0x40000, 4 KiB; it reaches 28 bits of
 * address, hence mask=28.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <linux/vfio.h>

#include <dmasplit/dmasplit.h>

#include "vmtest.h"


/* True when the kernel logged a DMAR fault since kmsg's position. */
static bool dmar_fault_logged(int kmsg)
{
	char line[1024];
	bool seen = false;
	ssize_t n;

	while ((n = read(kmsg, line, sizeof(line) - 1)) > 0 ||
	       (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;
		line[n] = '\0';
		if (strstr(line, "DMAR") && strstr(line, "fault"))
			seen = true;
	}
	return seen;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* The fault is reported by an interrupt, which a guest under software
 * emulation on a loaded host may take long to deliver: kmsg is read
 * again for up to 10 s. */
static bool dmar_fault_logged_soon(int kmsg)
{
	double until = now() + 10.0;

	do {
		if (dmar_fault_logged(kmsg))
			return true;
		usleep(100000);
	} while (now() < until);
	return false;
}

static int kmsg_open(void)
{
	int kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (kmsg >= 0)
		lseek(kmsg, 0, SEEK_END);
	return kmsg;
}

/*
 * Pages A, B, C linked one link each, contiguous in the window and in
 * memory, synced; B unlinked.  strict: each link is its own kernel
 * mapping; the unlink of B unmaps B alone, in one call, and A and C stay
 * reachable.  lazy: one mapping for the three; the unlink of B costs no
 * call, B stays reachable and pinned until A and C go, in one call.
 */
static void partial_unlink(struct dmasplit_dev *dev, struct edu *e,
			   const char *iface, bool lazy)
{
	const char *mode = lazy ? "lazy" : "strict";
	struct dmasplit_iova *iova = NULL;
	uint8_t *buf = aligned_alloc(PAGE, 3 * PAGE);
	uint64_t base, before;
	double t0, t1;
	int r, kmsg, i;
	bool b_reached;

	for (i = 0; i < (int)(3 * PAGE); i++)
		buf[i] = (uint8_t)(i * 13 + 7);
	r = dmasplit_iova_alloc(dev, 3 * PAGE, 0, &iova);
	ok(r == 0, "%s %s: iova_alloc of 3 pages (%d)", iface, mode, r);
	if (r < 0)
		goto out;
	base = dmasplit_iova_addr(iova);
	ok(base && base + 3 * PAGE - 1 < (1u << 28),
	   "%s %s: the window 0x%" PRIx64 " lies below the 28-bit mask",
	   iface, mode, base);
	before = dev_stats(dev).kernel_calls;
	for (i = 0; i < 3; i++)
		dmasplit_iova_link(iova, i * PAGE, buf + i * PAGE, PAGE,
				   DMASPLIT_BIDIRECTIONAL, 0);
	ok(dev_stats(dev).kernel_calls == before, "%s %s: links issue no kernel call", iface, mode);
	t0 = now();
	r = dmasplit_iova_sync(iova, 0, 3 * PAGE);
	t1 = now();
	ok(r == 0 && dev_stats(dev).kernel_calls == before + (lazy ? 1 : 3),
	   "%s %s: sync of 3 contiguous links: %d map calls (%" PRIu64 ")",
	   iface, mode, lazy ? 1 : 3, dev_stats(dev).kernel_calls - before);
	printf("# %s %s: sync of 3 links: %" PRIu64 " kernel calls, %.0f us\n",
	       iface, mode, dev_stats(dev).kernel_calls - before, (t1 - t0) * 1e6);

	/* RAM (A) -> device -> RAM (C) through the window. */
	memset(buf + 2 * PAGE, 0, EDU_DMA_LEN);
	r = edu_dma(e, base, EDU_BUF, EDU_DMA_LEN, false);
	if (r == 0)
		r = edu_dma(e, EDU_BUF, base + 2 * PAGE, EDU_DMA_LEN, true);
	ok(r == 0 && !memcmp(buf, buf + 2 * PAGE, EDU_DMA_LEN),
	   "%s %s: edu copies A -> device -> C through the window, bytes match",
	   iface, mode);

	before = dev_stats(dev).kernel_calls;
	t0 = now();
	r = dmasplit_iova_unlink(iova, PAGE, PAGE, DMASPLIT_BIDIRECTIONAL, 0);
	t1 = now();
	ok(r == 0 && dev_stats(dev).kernel_calls == before + (lazy ? 0 : 1),
	   "%s %s: unlink of B: %d kernel calls, no map (%" PRIu64 ")",
	   iface, mode, lazy ? 0 : 1, dev_stats(dev).kernel_calls - before);
	printf("# %s %s: partial unlink of B: %" PRIu64 " kernel calls, %.0f us\n",
	       iface, mode, dev_stats(dev).kernel_calls - before, (t1 - t0) * 1e6);
	ok(dev_stats(dev).bytes_pinned == (lazy ? 3 : 2) * PAGE,
	   "%s %s: bytes pinned after the unlink: %u (%" PRIu64 ")", iface,
	   mode, (lazy ? 3 : 2) * PAGE, dev_stats(dev).bytes_pinned);

	/* The neighbours, still linked, stay reachable. */
	ok(edu_reaches(e, base, buf, EDU_DMA_LEN) && buf[1] == (uint8_t)(1 * 13 + 7),
	   "%s %s: after the unlink of B, the device still writes A", iface, mode);
	ok(edu_reaches(e, base + 2 * PAGE, buf + 2 * PAGE, EDU_DMA_LEN) &&
	   buf[2 * PAGE + 1] == (uint8_t)(1 * 13 + 7),
	   "%s %s: and C", iface, mode);

	kmsg = kmsg_open();
	b_reached = edu_reaches(e, base + PAGE, buf + PAGE, EDU_DMA_LEN);
	if (lazy) {
		ok(b_reached,
		   "%s lazy: B stays reachable until the rest of its area goes",
		   iface);
	} else {
		ok(!b_reached,
		   "%s strict: after its unlink, a DMA to B no longer reaches memory",
		   iface);
		ok(kmsg >= 0 && dmar_fault_logged_soon(kmsg),
		   "%s strict: and the kernel logs a DMAR fault", iface);
	}
	if (kmsg >= 0)
		close(kmsg);

	/* A and C together: the rest goes in one call either way. */
	before = dev_stats(dev).kernel_calls;
	r = dmasplit_iova_unlink(iova, 0, PAGE, DMASPLIT_BIDIRECTIONAL, 0);
	if (r == 0)
		r = dmasplit_iova_unlink(iova, 2 * PAGE, PAGE,
					 DMASPLIT_BIDIRECTIONAL, 0);
	ok(r == 0 && dev_stats(dev).kernel_calls == before + (lazy ? 1 : 2) &&
	   dev_stats(dev).bytes_pinned == 0,
	   "%s %s: unlink of A then C: %d unmap calls, nothing pinned (%" PRIu64 ", %" PRIu64 ")",
	   iface, mode, lazy ? 1 : 2, dev_stats(dev).kernel_calls - before,
	   dev_stats(dev).bytes_pinned);
	if (lazy) {
		kmsg = kmsg_open();
		ok(!edu_reaches(e, base + PAGE, buf + PAGE, EDU_DMA_LEN),
		   "%s lazy: once the area is gone, B no longer reaches memory",
		   iface);
		if (kmsg >= 0)
			close(kmsg);
	}
	dmasplit_iova_destroy(iova);
out:
	free(buf);
}

static void edu_tests(struct dmasplit_ctx *ctx, const char *bdf,
		      const char *iface)
{
	struct dmasplit_dev *dev = NULL;
	struct edu e = { 0 };
	uint8_t *buf;
	uint64_t before;
	char spec[96];
	int r, i, lazy;

	for (lazy = 0; lazy < 2; lazy++) {
		struct dmasplit_dev_info info = { .size = sizeof(info) };

		snprintf(spec, sizeof(spec), "%s,mask=28,vfio=%s%s", bdf, iface,
			 lazy ? ",unlink=lazy" : "");
		r = dmasplit_dev_open(ctx, spec, &dev);
		ok(r == 0 && !strcmp(dmasplit_dev_backend_name(dev), "vfio"),
		   "%s: open %s with the vfio backend (%d)", iface, spec, r);
		if (r < 0)
			return;
		dmasplit_dev_get_info(dev, &info);
		ok(!strcmp(info.interface, iface) &&
		   (info.flags & DMASPLIT_DEV_HAS_FD) &&
		   !(info.flags & DMASPLIT_DEV_LAZY_UNLINK) == !lazy,
		   "%s: dev_info names the interface ('%s'), has a device fd and says %s unlink",
		   iface, info.interface, lazy ? "lazy" : "strict");
		r = edu_open_vfio(dev, &e);
		ok(r == 0 && edu_rd32(&e, 0) == 0x010000ed,
		   "%s: the device fd maps BAR0 and edu answers 0x010000ed",
		   iface);
		if (r < 0)
			goto out;
		partial_unlink(dev, &e, iface, lazy);
		if (!lazy) {
			edu_close(&e);
			dmasplit_dev_close(dev);
		}
	}
	buf = aligned_alloc(PAGE, 2 * PAGE);
	for (i = 0; i < (int)(2 * PAGE); i++)
		buf[i] = (uint8_t)(i * 13 + 7);

	/* The per-range path: coherent memory, and a vector map whose
	 * memory-contiguous buffers share one kernel mapping and segment. */
	{
		struct dmasplit_seg segs[3];
		unsigned int nsegs = 3;
		uint8_t *cpu = NULL, *other = aligned_alloc(PAGE, PAGE);
		struct iovec iov[3] = {
			{ buf, PAGE }, { buf + PAGE, PAGE }, { other, 100 },
		};
		uint64_t dma;

		r = dmasplit_alloc_coherent(dev, PAGE, 0, (void **)&cpu, &dma);
		if (r == 0) {
			memset(cpu, 0, EDU_DMA_LEN);
			r = edu_dma(&e, EDU_BUF, dma, EDU_DMA_LEN, true);
		}
		ok(r == 0 && cpu[1] == (uint8_t)(1 * 13 + 7),
		   "%s: coherent memory receives the device's DMA", iface);
		if (cpu)
			dmasplit_free_coherent(dev, PAGE, cpu, dma);
		memset(other, 0, 100);
		before = dev_stats(dev).kernel_calls;
		r = dmasplit_map_vec(dev, iov, 3, DMASPLIT_BIDIRECTIONAL, 0,
				     segs, &nsegs);
		ok(r == 0 && nsegs == 2 && segs[0].len == 2 * PAGE &&
		   dev_stats(dev).kernel_calls == before + 2,
		   "%s: map_vec of 3 buffers, 2 of them contiguous: 2 segments, 2 map calls (%d, %u, %" PRIu64 ")",
		   iface, r, nsegs, dev_stats(dev).kernel_calls - before);
		if (r == 0) {
			r = edu_dma(&e, EDU_BUF, segs[1].dma, 100, true);
			ok(r == 0 && other[1] == (uint8_t)(1 * 13 + 7),
			   "%s: the device reaches the last buffer through its segment",
			   iface);
			/* A vector goes whole: not as one mapping, nor
			 * with a segment left out. */
			before = dev_stats(dev).kernel_calls;
			ok(dmasplit_unmap(dev, segs[0].dma, segs[0].len,
					  DMASPLIT_BIDIRECTIONAL,
					  DMASPLIT_ATTR_NO_WARN) == -EINVAL &&
			   dmasplit_unmap_vec(dev, segs, 1, DMASPLIT_BIDIRECTIONAL,
					      DMASPLIT_ATTR_NO_WARN) != 0 &&
			   dev_stats(dev).kernel_calls == before,
			   "%s: a vector is refused as one mapping or in part, with no kernel call",
			   iface);
			r = dmasplit_unmap_vec(dev, segs, nsegs,
					       DMASPLIT_BIDIRECTIONAL, 0);
			ok(r == 0 && dev_stats(dev).kernel_calls == before + 1,
			   "%s: the vector goes whole in one unmap call (%d)",
			   iface, r);
		}
		free(other);
	}

	/* A registered region: one kernel call to make it, none to map a
	 * buffer inside it, the device's DMA lands in the buffer, and once
	 * freed (one call) the device reaches it no more. */
	{
		struct dmasplit_region *reg = NULL;
		uint8_t *pool = aligned_alloc(PAGE, 4 * PAGE);
		uint8_t *in = pool + 2 * PAGE + 64;
		uint64_t dma = 0;

		memset(pool, 0, 4 * PAGE);
		before = dev_stats(dev).kernel_calls;
		r = dmasplit_region_new(dev, pool, 4 * PAGE,
					DMASPLIT_BIDIRECTIONAL, 0, &reg);
		ok(r == 0 && dev_stats(dev).kernel_calls == before + 1,
		   "%s: a region of 4 pages: one kernel call (%d, %" PRIu64 ")",
		   iface, r, dev_stats(dev).kernel_calls - before);
		if (r == 0) {
			before = dev_stats(dev).kernel_calls;
			r = dmasplit_map(dev, in, 100, DMASPLIT_FROM_DEVICE, 0,
					 &dma);
			ok(r == 0 &&
			   dma == dmasplit_region_addr(reg) + 2 * PAGE + 64 &&
			   dev_stats(dev).kernel_calls == before,
			   "%s: a map inside the region is its address, no kernel call (%d)",
			   iface, r);
			if (r == 0) {
				r = edu_dma(&e, EDU_BUF, dma, 100, true);
				if (r == 0)
					r = dmasplit_sync_for_cpu(dev, dma, 100,
								  DMASPLIT_FROM_DEVICE);
				ok(r == 0 && in[1] == (uint8_t)(1 * 13 + 7) &&
				   in[100] == 0,
				   "%s: the device's DMA reaches the buffer through the region",
				   iface);
				r = dmasplit_unmap(dev, dma, 100,
						   DMASPLIT_FROM_DEVICE, 0);
				ok(r == 0 && dev_stats(dev).kernel_calls == before,
				   "%s: its unmap makes no kernel call (%d)", iface, r);
			}
			before = dev_stats(dev).kernel_calls;
			r = dmasplit_region_free(reg);
			ok(r == 0 && dev_stats(dev).kernel_calls == before + 1,
			   "%s: the region freed with one kernel call (%d)", iface, r);
			ok(!edu_reaches(&e, dma, in, 100),
			   "%s: the device no longer reaches the freed region", iface);
		}
		free(pool);
	}
	free(buf);
out:
	edu_close(&e);
	dmasplit_dev_close(dev);
}

/* 64K separate page links coalesce into one mapping with unlink=lazy,
 * one link of 64K pages into one in strict mode; the page API needs one
 * mapping per page and meets the type1 container's limit. */
static void limit_tests(struct dmasplit_ctx *ctx, const char *bdf,
			const char *iface)
{
	const size_t pages = 65536;
	struct dmasplit_dev *dev = NULL;
	struct dmasplit_iova *iova;
	uint64_t *dma, before;
	uint8_t *mem;
	char spec[96];
	size_t i, mapped;
	int r;

	snprintf(spec, sizeof(spec), "%s,vfio=%s,unlink=lazy", bdf, iface);
	if (dmasplit_dev_open(ctx, spec, &dev) < 0) {
		ok(false, "%s: open %s", iface, spec);
		return;
	}
	mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dma = calloc(pages, sizeof(*dma));
	r = dmasplit_iova_alloc(dev, pages * PAGE, 0, &iova);
	before = dev_stats(dev).kernel_calls;
	for (i = 0; r == 0 && i < pages; i++)
		r = dmasplit_iova_link(iova, i * PAGE, mem + i * PAGE, PAGE,
				       DMASPLIT_TO_DEVICE, 0);
	if (r == 0)
		r = dmasplit_iova_sync(iova, 0, pages * PAGE);
	ok(r == 0 && dev_stats(dev).kernel_calls == before + 1,
	   "%s lazy: 65536 separate page links: one kernel map call (%d, %" PRIu64 " calls)",
	   iface, r, dev_stats(dev).kernel_calls - before);
	if (r == 0)
		dmasplit_iova_unlink(iova, 0, pages * PAGE, DMASPLIT_TO_DEVICE, 0);
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(dev);

	snprintf(spec, sizeof(spec), "%s,vfio=%s", bdf, iface);
	if (dmasplit_dev_open(ctx, spec, &dev) < 0) {
		ok(false, "%s: open %s", iface, spec);
		goto out;
	}
	r = dmasplit_iova_alloc(dev, pages * PAGE, 0, &iova);
	before = dev_stats(dev).kernel_calls;
	if (r == 0)
		r = dmasplit_iova_link(iova, 0, mem, pages * PAGE,
				       DMASPLIT_TO_DEVICE, 0);
	if (r == 0)
		r = dmasplit_iova_sync(iova, 0, pages * PAGE);
	ok(r == 0 && dev_stats(dev).kernel_calls == before + 1,
	   "%s strict: one link of 65536 pages: one kernel map call (%d, %" PRIu64 " calls)",
	   iface, r, dev_stats(dev).kernel_calls - before);
	if (r == 0)
		dmasplit_iova_unlink(iova, 0, pages * PAGE, DMASPLIT_TO_DEVICE, 0);
	dmasplit_iova_destroy(iova);

	if (!strcmp(iface, "type1")) {
		for (i = 0, r = 0; i < pages && r == 0; i++)
			r = dmasplit_map(dev, mem + i * PAGE, PAGE,
					 DMASPLIT_TO_DEVICE, DMASPLIT_ATTR_NO_WARN,
					 &dma[i]);
		mapped = r == 0 ? i : i - 1;
		ok(r == -ENOSPC && mapped == 65535,
		   "%s: the page-by-page path stops with -ENOSPC at the container's limit (%zu mapped, %d)",
		   iface, mapped, r);
		/* One below the limit, a vector of two runs meets it at
		 * its second: the first goes again, and the count of live
		 * mappings stays right, so that the library, not the
		 * kernel, refuses the map past the limit. */
		if (mapped == 65535 &&
		    dmasplit_unmap(dev, dma[--mapped], PAGE,
				   DMASPLIT_TO_DEVICE, 0) == 0) {
			struct iovec two[2] = {
				{ mem + (pages - 4) * PAGE, PAGE },
				{ mem + (pages - 2) * PAGE, PAGE },
			};
			struct dmasplit_seg segs[2];
			unsigned int nsegs = 2;
			uint64_t calls;

			r = dmasplit_map_vec(dev, two, 2, DMASPLIT_TO_DEVICE,
					     DMASPLIT_ATTR_NO_WARN, segs, &nsegs);
			ok(r == -ENOSPC, "%s: a vector that meets the limit: -ENOSPC (%d)",
			   iface, r);
			r = dmasplit_map(dev, mem + (pages - 1) * PAGE, PAGE,
					 DMASPLIT_TO_DEVICE, 0, &dma[mapped]);
			if (r == 0)
				mapped++;
			calls = dev_stats(dev).kernel_calls;
			r = dmasplit_map(dev, mem, PAGE, DMASPLIT_TO_DEVICE,
					 DMASPLIT_ATTR_NO_WARN, &dma[mapped]);
			ok(mapped == 65535 && r == -ENOSPC &&
			   dev_stats(dev).kernel_calls == calls,
			   "%s: after it, the map to the limit succeeds and the next is refused before the kernel is asked (%zu mapped, %d, %" PRIu64 " calls)",
			   iface, mapped, r, dev_stats(dev).kernel_calls - calls);
		}
		for (i = 0; i < mapped; i++)
			dmasplit_unmap(dev, dma[i], PAGE, DMASPLIT_TO_DEVICE, 0);
	}
	dmasplit_dev_close(dev);
out:
	free(dma);
	munmap(mem, pages * PAGE);
}

/* What each mode costs in kernel calls and time: 1024 page links synced,
 * the middle page unlinked, then the rest. */
static void unlink_cost(struct dmasplit_ctx *ctx, const char *bdf,
			const char *iface)
{
	const size_t n = 1024;
	uint8_t *mem = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	int lazy;

	for (lazy = 0; lazy < 2; lazy++) {
		const char *mode = lazy ? "lazy" : "strict";
		struct dmasplit_dev *dev = NULL;
		struct dmasplit_iova *iova = NULL;
		uint64_t k0, k1, k2, k3;
		double t0, t1, t2, t3;
		char spec[96];
		size_t i;
		int r;

		snprintf(spec, sizeof(spec), "%s,vfio=%s%s", bdf, iface,
			 lazy ? ",unlink=lazy" : "");
		r = dmasplit_dev_open(ctx, spec, &dev);
		if (r == 0)
			r = dmasplit_iova_alloc(dev, n * PAGE, 0, &iova);
		for (i = 0; r == 0 && i < n; i++)
			r = dmasplit_iova_link(iova, i * PAGE, mem + i * PAGE,
					       PAGE, DMASPLIT_TO_DEVICE, 0);
		if (r < 0) {
			ok(false, "%s %s: 1024 page links (%d)", iface, mode, r);
			dmasplit_iova_destroy(iova);
			dmasplit_dev_close(dev);
			continue;
		}
		k0 = dev_stats(dev).kernel_calls;
		t0 = now();
		r = dmasplit_iova_sync(iova, 0, n * PAGE);
		t1 = now();
		k1 = dev_stats(dev).kernel_calls;
		if (r == 0)
			r = dmasplit_iova_unlink(iova, n / 2 * PAGE, PAGE,
						 DMASPLIT_TO_DEVICE, 0);
		t2 = now();
		k2 = dev_stats(dev).kernel_calls;
		if (r == 0)
			r = dmasplit_iova_unlink(iova, 0, n / 2 * PAGE,
						 DMASPLIT_TO_DEVICE, 0);
		if (r == 0)
			r = dmasplit_iova_unlink(iova, (n / 2 + 1) * PAGE,
						 (n / 2 - 1) * PAGE,
						 DMASPLIT_TO_DEVICE, 0);
		t3 = now();
		k3 = dev_stats(dev).kernel_calls;
		ok(r == 0 && k1 - k0 == (lazy ? 1 : n) && k2 - k1 == !lazy &&
		   k3 - k2 == (lazy ? 1 : 2),
		   "%s %s: 1024 page links: sync, unlink of the middle page, of the rest: %u, %u, %u kernel calls (%" PRIu64 ", %" PRIu64 ", %" PRIu64 ")",
		   iface, mode, lazy ? 1 : 1024, !lazy, lazy ? 1 : 2,
		   k1 - k0, k2 - k1, k3 - k2);
		printf("# %s %s: 1024 page links: sync %" PRIu64 " calls %.1f ms; unlink middle page %" PRIu64 " calls %.0f us; unlink the rest %" PRIu64 " calls %.0f us\n",
		       iface, mode, k1 - k0, (t1 - t0) * 1e3, k2 - k1,
		       (t2 - t1) * 1e6, k3 - k2, (t3 - t2) * 1e6);
		dmasplit_iova_destroy(iova);
		dmasplit_dev_close(dev);
	}
	munmap(mem, n * PAGE);
}

/* Split path vs page-by-page map calls, side by side. */
static void measure(struct dmasplit_ctx *ctx, const char *bdf, const char *iface)
{
	static const size_t counts[] = { 1024, 4096, 16384, 65535 };
	struct dmasplit_dev *dev = NULL;
	char spec[96];
	uint8_t *mem;
	size_t c, i;

	/* Page links coalesce only in lazy mode. */
	snprintf(spec, sizeof(spec), "%s,vfio=%s,unlink=lazy", bdf, iface);
	if (dmasplit_dev_open(ctx, spec, &dev) < 0)
		return;
	mem = mmap(NULL, 65536 * (size_t)PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	printf("# %s: pages  split (lazy) ms (calls)  per-page ms (calls)  ratio\n", iface);
	for (c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		size_t n = counts[c];
		uint64_t *dma = calloc(n, sizeof(*dma)), k0, k1, k2;
		struct dmasplit_iova *iova;
		double t0, t1, t2;

		k0 = dev_stats(dev).kernel_calls;
		t0 = now();
		dmasplit_iova_alloc(dev, n * PAGE, 0, &iova);
		for (i = 0; i < n; i++)
			dmasplit_iova_link(iova, i * PAGE, mem + i * PAGE, PAGE,
					   DMASPLIT_TO_DEVICE, 0);
		dmasplit_iova_sync(iova, 0, n * PAGE);
		dmasplit_iova_unlink(iova, 0, n * PAGE, DMASPLIT_TO_DEVICE, 0);
		dmasplit_iova_destroy(iova);
		t1 = now();
		k1 = dev_stats(dev).kernel_calls;
		for (i = 0; i < n; i++)
			dmasplit_map(dev, mem + i * PAGE, PAGE, DMASPLIT_TO_DEVICE,
				     0, &dma[i]);
		for (i = 0; i < n; i++)
			dmasplit_unmap(dev, dma[i], PAGE, DMASPLIT_TO_DEVICE, 0);
		t2 = now();
		k2 = dev_stats(dev).kernel_calls;
		printf("# %s: %6zu  %9.1f (%" PRIu64 ")  %9.1f (%" PRIu64 ")  %6.1fx\n",
		       iface, n, (t1 - t0) * 1e3, k1 - k0, (t2 - t1) * 1e3,
		       k2 - k1, (t2 - t1) / (t1 - t0));
		free(dma);
	}
	munmap(mem, 65536 * (size_t)PAGE);
	dmasplit_dev_close(dev);
}

/*
 * A child of fork() that never calls the library does not hold the
 * parent's device: once the child runs (its copies of the descriptors
 * closed by then) and the parent has closed the device, with a mapping
 * still live, nothing stays pinned and the parent opens the device
 * again while the child lives.
 */
static void fork_tests(const char *bdf, const char *iface)
{
	struct dmasplit_ctx *ctx = NULL;
	struct dmasplit_dev *dev = NULL;
	uint8_t *buf = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	long pinned = pinned_kb();
	int hold[2], ready[2], r, status = -1;
	char spec[96], c;
	uint64_t dma;
	pid_t pid;

	snprintf(spec, sizeof(spec), "%s,vfio=%s", bdf, iface);
	r = buf == MAP_FAILED || pipe(hold) < 0 || pipe(ready) < 0 ? -errno : 0;
	if (r == 0)
		r = dmasplit_ctx_new(&ctx);
	if (r == 0)
		r = dmasplit_dev_open(ctx, spec, &dev);
	if (r == 0)
		r = dmasplit_map(dev, buf, PAGE, DMASPLIT_BIDIRECTIONAL, 0,
				 &dma);
	if (r < 0) {
		ok(false, "%s fork: setting up (%d)", iface, r);
		return;
	}
	pid = fork();
	if (pid == 0) {
		/* Running, so past the library's fork handlers, until the
		 * parent lets go: no library call. */
		close(hold[1]);
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		_exit(read(hold[0], &c, 1) == 0 ? 0 : 1);
	}
	close(hold[0]);
	if (pid > 0 && read(ready[0], &c, 1) != 1)
		ok(false, "%s fork: the child did not start", iface);
	/* Closed with the mapping live: the close takes it (logged). */
	dmasplit_ctx_set_log_priority(ctx, LOG_CRIT);
	dmasplit_dev_close(dev);
	ok(pid > 0 && pinned_kb() == pinned,
	   "%s fork: after the parent's close nothing stays pinned while its child lives (%ld kB, before %ld)",
	   iface, pinned_kb(), pinned);
	dev = NULL;
	r = dmasplit_dev_open(ctx, spec, &dev);
	ok(r == 0, "%s fork: the parent opens the device again while its child lives (%d)",
	   iface, r);
	dmasplit_dev_close(dev);
	close(hold[1]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "%s fork: the child exits on its own (status 0x%x)", iface, status);
	close(ready[0]);
	close(ready[1]);
	dmasplit_ctx_unref(ctx);
	munmap(buf, PAGE);
}

/* Where iommufd does not answer: vfio=iommufd is refused, saying why,
 * and the backend's own choice is the type1 container, which does. */
static void iommufd_refused_tests(struct dmasplit_ctx *ctx, const char *bdf)
{
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_dev *dev = NULL;
	char spec[96];
	int r;

	snprintf(spec, sizeof(spec), "%s,vfio=iommufd", bdf);
	r = dmasplit_dev_open(ctx, spec, &dev);
	ok(r == -EOPNOTSUPP,
	   "a %zu-bit process: %s is refused, iommufd does not answer it (%d)",
	   sizeof(void *) * 8, spec, r);
	if (r == 0)
		dmasplit_dev_close(dev);
	r = dmasplit_dev_open(ctx, bdf, &dev);
	ok(r == 0, "a %zu-bit process: %s opens (%d)", sizeof(void *) * 8,
	   bdf, r);
	if (r < 0)
		return;
	dmasplit_dev_get_info(dev, &info);
	ok(!strcmp(info.interface, "type1"),
	   "a %zu-bit process: the vfio backend chose type1 ('%s')",
	   sizeof(void *) * 8, info.interface);
	dmasplit_dev_close(dev);
}

int main(int argc, char **argv)
{
	static const char *const ifaces[] = { "iommufd", "type1" };
	const char *edu = getenv("DMASPLIT_VM_EDU");
	const char *nvme = getenv("DMASPLIT_VM_NVME");
	struct dmasplit_ctx *ctx;
	unsigned int i;
	int r;

	if (!edu) {
		printf("1..0 # SKIP not in the VM (DMASPLIT_VM_EDU is not set)\n");
		return 0;
	}
	if (dmasplit_ctx_new(&ctx) < 0)
		return 1;
	for (i = 0; i < 2; i++) {
		if (iface_skipped(ifaces[i])) {
			iommufd_refused_tests(ctx, edu);
			continue;
		}
		edu_tests(ctx, edu, ifaces[i]);
		unlink_cost(ctx, edu, ifaces[i]);
		limit_tests(ctx, edu, ifaces[i]);
		fork_tests(edu, ifaces[i]);
	}
	if (nvme) {
		struct dmasplit_desc d = { .size = sizeof(d) };
		struct dmasplit_backend *be = NULL;
		int score = 0;

		/* Asked of vfio alone: the NVMe's published peer memory
		 * makes it the p2pdma backend's. */
		r = dmasplit_backend_find(ctx, "vfio", &be);
		if (r == 0)
			r = dmasplit_describe(ctx, nvme, &d);
		if (r == 0)
			r = dmasplit_backend_probe(be, &d, &score);
		ok(r == -ENODEV,
		   "a device not bound to vfio-pci (%s, nvme) is declined by vfio (%d)",
		   nvme, r);
	}
	if (argc > 1 && !strcmp(argv[1], "--measure"))
		for (i = 0; i < 2; i++)
			if (i || iommufd_answers())
				measure(ctx, edu, ifaces[i]);
	dmasplit_ctx_unref(ctx);
	return tap_end();
}
