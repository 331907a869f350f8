// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The direct backend's mappings, where this process may read physical
 * addresses (root), checked against the real /proc/self/pagemap:
 * addresses, pinning, the DMA mask, contiguity, vectors, and coherent
 * memory from huge pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakesys.h"
#include "directutil.h"
#include "testutil.h"


/* ------------------------------------------------------------------ */
/* Mappings against the real pagemap (root)                             */

START_TEST(selection_opens_uio_device_with_direct)
{
	struct dmasplit_dev *dev = NULL;
	struct dmasplit_dev_info info = { .size = sizeof(info) };

	fake("uio_pci_generic", -1, NULL, NULL, NULL);
	ck_assert_msg(dmasplit_dev_open(ctx, ADDR, &dev) == 0, "log:\n%s",
		      tu_log_text());
	ck_assert_str_eq(dmasplit_dev_backend_name(dev), "direct");
	ck_assert_int_eq(dmasplit_dev_get_info(dev, &info), 0);
	ck_assert_str_eq(info.backend, "direct");
	/* No dma_mask_bits, no mask=: the PCI default. */
	ck_assert_uint_eq(info.dma_mask_bits, 32);
	ck_assert_uint_eq(info.granule, ps);
	ck_assert_uint_eq(info.flags, DMASPLIT_DEV_COHERENT);
	ck_assert_uint_eq(info.num_ranges, 1);
	ck_assert_uint_eq(info.ranges[0].start, ps);
	ck_assert_uint_eq(info.ranges[0].last, 0xffffffffu);
	dmasplit_dev_close(dev);
}
END_TEST

START_TEST(map_gives_physical_address_and_pins_until_unmap)
{
	struct dmasplit_dev *dev;
	uint8_t *buf = aligned_alloc(ps, 2 * ps);
	uint64_t dma = 0;
	long before;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 0xa5, 2 * ps);
	fake_uio();
	dev = open_direct(ADDR);
	before = locked_kb();
	ck_assert_int_eq(dmasplit_map(dev, buf + 100, 200, DMASPLIT_TO_DEVICE, 0,
				      &dma), 0);
	ck_assert_msg(dma == phys_of(buf + 100), "dma 0x%" PRIx64 ", physical 0x%" PRIx64,
		      dma, phys_of(buf + 100));
	expect_locked(eq, before + (long)(ps / 1024));
	ck_assert_uint_eq(stats_of(dev).bytes_pinned, ps);
	ck_assert_uint_eq(stats_of(dev).mappings_live, 1);
	/* Coherent: the syncs are there and do nothing. */
	ck_assert_int_eq(dmasplit_sync_for_cpu(dev, dma, 200, DMASPLIT_TO_DEVICE), 0);
	ck_assert_int_eq(dmasplit_sync_for_device(dev, dma, 200, DMASPLIT_TO_DEVICE), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, 200, DMASPLIT_TO_DEVICE, 0), 0);
	expect_locked(eq, before);
	ck_assert_uint_eq(stats_of(dev).bytes_pinned, 0);
	dmasplit_dev_close(dev);
	free(buf);
}
END_TEST

/* A mapped page stays the parent's through fork(): were it inherited
 * copy-on-write, the parent's next write would give it a new page, and
 * the device would go on with the child's. */
START_TEST(a_mapped_page_is_not_inherited_by_a_child)
{
	struct dmasplit_dev *dev;
	uint8_t *buf = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t dma = 0, before;

	ck_assert_ptr_ne(buf, MAP_FAILED);
	memset(buf, 0x5a, 2 * ps);
	fake_uio();
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_map(dev, buf, 100, DMASPLIT_FROM_DEVICE, 0,
				      &dma), 0);
	before = phys_of(buf);
	ck_assert_msg(!tu_child_reads(buf), "the child inherited a mapped page");
	ck_assert_msg(tu_child_reads(buf + ps), "the child lost an unmapped page");
	/* The parent writes while a child lives: a page shared with it
	 * would be copied, and the parent moved to the copy. */
	{
		int gate[2], status = 0;
		pid_t pid;
		char c;

		ck_assert_int_eq(pipe(gate), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(gate[1]);
			_exit(read(gate[0], &c, 1) == 0 ? 0 : 1);
		}
		close(gate[0]);
		buf[0] = 0x5b;
		ck_assert_msg(phys_of(buf) == before && dma == before,
			      "the parent's write moved its page: 0x%" PRIx64 " -> 0x%" PRIx64,
			      before, phys_of(buf));
		close(gate[1]);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		buf[0] = 0x5a;
	}
	ck_assert_int_eq(dmasplit_unmap(dev, dma, 100, DMASPLIT_FROM_DEVICE, 0), 0);
	ck_assert_msg(tu_child_reads(buf), "the page stayed out of children after its unmap");
	/* Shared memory is not copied at fork: a child keeps it (a ring
	 * shared with a worker process). */
	{
		int fd = memfd_create("shared", MFD_CLOEXEC);
		uint8_t *sh;
		uint64_t d = 0;

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(ftruncate(fd, (off_t)ps), 0);
		sh = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ck_assert_ptr_ne(sh, MAP_FAILED);
		memset(sh, 0x5a, ps);
		ck_assert_int_eq(dmasplit_map(dev, sh, 64, DMASPLIT_FROM_DEVICE,
					      0, &d), 0);
		ck_assert_msg(tu_child_reads(sh), "the child lost a shared page");
		ck_assert_int_eq(dmasplit_unmap(dev, d, 64,
						DMASPLIT_FROM_DEVICE, 0), 0);
		munmap(sh, ps);
		close(fd);
	}
	dmasplit_dev_close(dev);
	munmap(buf, 2 * ps);
}
END_TEST

/* In a child: a map made with no descriptor left, then shared memory
 * mapped with descriptors free, which a grandchild must still read.
 * 0, or the step that failed. */
static int shared_after_a_map_at_the_limit(struct dmasplit_dev *dev,
					   uint8_t *priv, uint8_t *sh)
{
	uint64_t d1 = 0, d2 = 0;
	int fds[128], n, r;

	/* The child's own page, as the pin's lock would make it, were a
	 * sanitizer's mlock() not a no-op. */
	priv[0] = 0x5a;
	n = tu_take_every_descriptor(fds, 128);
	if (n < 0)
		return 1;
	r = dmasplit_map(dev, priv, 64, DMASPLIT_TO_DEVICE, 0, &d1);
	tu_give_back_descriptors(fds, n);
	/* The device's own pagemap tells private from shared. */
	if (r != 0)
		return 2;
	if (tu_child_reads(priv))
		return 3;
	if (dmasplit_map(dev, sh, 64, DMASPLIT_TO_DEVICE, 0, &d2) != 0)
		return 4;
	if (!tu_child_reads(sh))
		return 5;
	if (dmasplit_unmap(dev, d2, 64, DMASPLIT_TO_DEVICE, 0) != 0 ||
	    dmasplit_unmap(dev, d1, 64, DMASPLIT_TO_DEVICE, 0) != 0)
		return 6;
	return 0;
}

/* Shared memory stays the child's whatever a map before it met: one
 * made at the process's limit of descriptors neither fails for want of
 * one nor makes the pins after it keep shared memory from children. */
START_TEST(shared_memory_stays_the_child_s_after_a_map_at_the_limit)
{
	uint8_t *priv = tu_page_of_5a(false), *sh = tu_page_of_5a(true);
	struct dmasplit_dev *dev;

	fake_uio();
	dev = open_direct(ADDR);
	TU_IN_CHILD(shared_after_a_map_at_the_limit(dev, priv, sh), "the child",
		    "1: no limit set, 2: the map at the limit failed, 3: its private page inherited, 4: the shared map failed, 5: the shared page not inherited, 6: unmap");
	dmasplit_dev_close(dev);
	munmap(priv, ps);
	munmap(sh, ps);
}
END_TEST

/* Without translation a region's addresses are its memory's: a mapping
 * of that memory past the region (another direction, or made before
 * the region) has them too, and is still the backend's to unmap and
 * sync, with the checker off and on. */
START_TEST(a_mapping_past_a_region_of_its_memory_stays_the_backend_s)
{
	unsigned int check;

	fake_uio();
	for (check = 0; check < 2; check++) {
		uint8_t *buf = aligned_alloc(ps, 2 * ps);
		struct dmasplit_region *rg = NULL;
		struct dmasplit_dev *dev;
		uint64_t before = 0, past = 0, in = 0;

		ck_assert_ptr_nonnull(buf);
		memset(buf, 3, 2 * ps);
		dmasplit_ctx_set_check(ctx, (int)check);
		dev = open_direct(ADDR);
		ck_assert_int_eq(dmasplit_map(dev, buf + 64, 64,
					      DMASPLIT_TO_DEVICE, 0, &before), 0);
		ck_assert_int_eq(dmasplit_region_new(dev, buf, ps,
						     DMASPLIT_TO_DEVICE, 0, &rg), 0);
		ck_assert_int_eq(dmasplit_map(dev, buf + 256, 64,
					      DMASPLIT_FROM_DEVICE, 0, &past), 0);
		ck_assert_uint_eq(past, phys_of(buf + 256));
		/* Before any mapping through the region starts in its
		 * granule, the one made before the region is found. */
		ck_assert_int_eq(dmasplit_unmap(dev, before, 64,
						DMASPLIT_TO_DEVICE, 0), 0);
		ck_assert_int_eq(dmasplit_map(dev, buf + 128, 64,
					      DMASPLIT_TO_DEVICE, 0, &in), 0);
		ck_assert_int_eq(dmasplit_sync_for_cpu(dev, past, 64,
						       DMASPLIT_FROM_DEVICE), 0);
		ck_assert_int_eq(dmasplit_unmap(dev, past, 64,
						DMASPLIT_FROM_DEVICE, 0), 0);
		ck_assert_int_eq(dmasplit_unmap(dev, in, 64,
						DMASPLIT_TO_DEVICE, 0), 0);
		/* Nothing of either is left: a second unmap is refused. */
		ck_assert_int_lt(dmasplit_unmap(dev, past, 64,
						DMASPLIT_FROM_DEVICE,
						DMASPLIT_ATTR_NO_WARN), 0);
		/* A vector past the region, on the backend's path too. */
		{
			struct iovec iov = { buf + 512, 64 };
			struct dmasplit_seg seg;
			unsigned int nsegs = 1;

			ck_assert_int_eq(dmasplit_map_vec(dev, &iov, 1,
							  DMASPLIT_FROM_DEVICE,
							  0, &seg, &nsegs), 0);
			ck_assert_int_eq(dmasplit_unmap_vec(dev, &seg, 1,
							    DMASPLIT_FROM_DEVICE,
							    0), 0);
			ck_assert_int_lt(dmasplit_unmap_vec(dev, &seg, 1,
							    DMASPLIT_FROM_DEVICE,
							    DMASPLIT_ATTR_NO_WARN), 0);
		}
		ck_assert_int_eq(dmasplit_region_free(rg), 0);
		ck_assert_uint_eq(stats_of(dev).mappings_live, 0);
		ck_assert_uint_eq(stats_of(dev).bytes_pinned, 0);
		dmasplit_dev_close(dev);
		free(buf);
	}
}
END_TEST

/* With the checker, which knows what made each mapping, a mapping made
 * before the region and one made through it in the same granule each
 * go where they came from; and a sync is judged by the mapping that
 * allows it. */
START_TEST(the_checker_tells_a_region_s_mapping_from_the_backend_s)
{
	uint8_t *buf = aligned_alloc(ps, ps);
	struct dmasplit_region *rg = NULL;
	struct dmasplit_dev *dev;
	uint64_t before = 0, in = 0, m1 = 0, m2 = 0;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 3, ps);
	fake_uio();
	dmasplit_ctx_set_check(ctx, 1);
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_map(dev, buf + 64, 64, DMASPLIT_TO_DEVICE, 0,
				      &before), 0);
	ck_assert_int_eq(dmasplit_map(dev, buf, 64, DMASPLIT_FROM_DEVICE, 0,
				      &m1), 0);
	ck_assert_int_eq(dmasplit_region_new(dev, buf, ps,
					     DMASPLIT_BIDIRECTIONAL, 0, &rg), 0);
	ck_assert_int_eq(dmasplit_map(dev, buf + 128, 64, DMASPLIT_TO_DEVICE, 0,
				      &in), 0);
	ck_assert_int_eq(dmasplit_map(dev, buf, 64, DMASPLIT_TO_DEVICE, 0, &m2), 0);
	ck_assert_int_eq(dmasplit_sync_for_cpu(dev, m1, 64, DMASPLIT_FROM_DEVICE), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, before, 64, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, in, 64, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, m1, 64, DMASPLIT_FROM_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, m2, 64, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_region_free(rg), 0);
	ck_assert_uint_eq(stats_of(dev).mappings_live, 0);
	ck_assert_uint_eq(stats_of(dev).bytes_pinned, 0);
	dmasplit_dev_close(dev);
	free(buf);
}
END_TEST

START_TEST(overlapping_mappings_unlock_with_the_last)
{
	struct dmasplit_dev *dev;
	uint8_t *buf = aligned_alloc(ps, ps);
	uint64_t a = 0, b = 0;
	long before;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 1, ps);
	fake_uio();
	/* The backend's own bookkeeping, without the checker before it. */
	dmasplit_ctx_set_check(ctx, 0);
	dev = open_direct(ADDR);
	before = locked_kb();
	ck_assert_int_eq(dmasplit_map(dev, buf, 64, DMASPLIT_TO_DEVICE, 0, &a), 0);
	ck_assert_int_eq(dmasplit_map(dev, buf + 64, 64, DMASPLIT_FROM_DEVICE, 0, &b), 0);
	ck_assert_uint_eq(b, a + 64);
	ck_assert_int_eq(dmasplit_unmap(dev, a, 64, DMASPLIT_TO_DEVICE, 0), 0);
	expect_locked(eq, before + (long)(ps / 1024));
	ck_assert_int_eq(dmasplit_unmap(dev, b, 64, DMASPLIT_FROM_DEVICE, 0), 0);
	expect_locked(eq, before);
	/* Unmapped already: the backend says so. */
	tu_log_clear();
	ck_assert_int_eq(dmasplit_unmap(dev, b, 64, DMASPLIT_FROM_DEVICE, 0), -ENOENT);
	ck_assert(tu_log_has("no mapping starts there"));
	dmasplit_dev_close(dev);
	free(buf);
}
END_TEST

START_TEST(no_windows_no_device_access_no_fd)
{
	struct dmasplit_dev *dev;
	struct dmasplit_iova *iova = NULL;
	uint8_t byte;
	int fd;

	fake_uio();
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_iova_alloc(dev, ps, 0, &iova), -EOPNOTSUPP);
	ck_assert_ptr_null(iova);
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, 0x100000, &byte, 1), -EOPNOTSUPP);
	ck_assert_int_eq(dmasplit_dev_dma_write(dev, 0x100000, &byte, 1), -EOPNOTSUPP);
	ck_assert_int_eq(dmasplit_dev_get_fd(dev, &fd), -EOPNOTSUPP);
	dmasplit_dev_close(dev);
}
END_TEST

START_TEST(mask_is_enforced_with_address_and_mask_in_log)
{
	struct dmasplit_dev *dev;
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	uint8_t *buf = aligned_alloc(ps, ps);
	uint64_t dma = 0;
	char want[64];
	long before;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 1, ps);
	fake_uio();
	/* 1 MiB of reach: ordinary memory is above it. */
	dev = open_direct(ADDR ",mask=20");
	ck_assert_int_eq(dmasplit_dev_get_info(dev, &info), 0);
	ck_assert_uint_eq(info.dma_mask_bits, 20);
	ck_assert_uint_eq(info.ranges[0].last, 0xfffff);
	before = locked_kb();
	ck_assert_uint_gt(phys_of(buf), 0xfffff);
	ck_assert_int_eq(dmasplit_map(dev, buf, 16, DMASPLIT_TO_DEVICE, 0, &dma), -ERANGE);
	snprintf(want, sizeof(want), "is at 0x%" PRIx64 "-0x%" PRIx64,
		 phys_of(buf), phys_of(buf) + 15);
	ck_assert_msg(tu_log_count("\n") == 1 && tu_log_has(want) &&
		      tu_log_has("beyond the device's 20-bit DMA mask 0xfffff"),
		      "expected one line with '%s' and the mask, log:\n%s", want,
		      tu_log_text());
	ck_assert_uint_eq(dma, 0);
	/* Nothing stays pinned, nothing is live. */
	expect_locked(eq, before);
	ck_assert_uint_eq(stats_of(dev).mappings_live, 0);
	/* Expected failures stay quiet. */
	tu_log_clear();
	ck_assert_int_eq(dmasplit_map(dev, buf, 16, DMASPLIT_TO_DEVICE,
				      DMASPLIT_ATTR_NO_WARN, &dma), -ERANGE);
	ck_assert_uint_eq(tu_log_count("\n"), 0);
	dmasplit_dev_close(dev);
	free(buf);
}
END_TEST

/* A mask inside page 0 reaches nothing the device may use. */
START_TEST(a_mask_inside_page_0_is_refused_at_open)
{
	struct dmasplit_dev *dev = NULL;

	fake_uio();
	tu_log_clear();
	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, ADDR ",mask=12", "direct",
						   &dev), -EINVAL);
	ck_assert_ptr_null(dev);
	ck_assert_msg(tu_log_has("a DMA mask of 12 bits reaches no address above page 0"),
		      "log:\n%s", tu_log_text());
}
END_TEST

/* Memory that is not there, or that no access may touch, is memory the
 * device cannot reach (-EFAULT), not a limit to raise; nothing stays
 * locked. */
START_TEST(memory_that_is_not_there_is_efault_and_stays_unlocked)
{
	struct dmasplit_dev *dev;
	uint8_t *m = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t dma = 0;
	long before;

	ck_assert_ptr_ne(m, MAP_FAILED);
	ck_assert_int_eq(mprotect(m + ps, ps, PROT_NONE), 0);
	fake_uio();
	dev = open_direct(ADDR);
	before = locked_kb();
	tu_log_clear();
	ck_assert_int_eq(dmasplit_map(dev, m + ps, 64, DMASPLIT_TO_DEVICE, 0,
				      &dma), -EFAULT);
	/* A sanitizer makes mlock() a no-op: then the frame lookup is
	 * what finds nothing there. */
	ck_assert_msg(MLOCK_IS_NOOP ||
		      (tu_log_count("no memory the process can reach there") == 1 &&
		       tu_log_has("direct: " ADDR ": cannot pin 64 bytes at ")),
		      "log:\n%s", tu_log_text());
	expect_locked(eq, before);
	/* Expected failures are quiet, the backend's as the library's. */
	tu_log_clear();
	ck_assert_int_eq(dmasplit_map(dev, m + ps, 64, DMASPLIT_TO_DEVICE,
				      DMASPLIT_ATTR_NO_WARN, &dma), -EFAULT);
	ck_assert_msg(!tu_log_has("cannot pin"), "log:\n%s", tu_log_text());
	ck_assert_int_eq(munmap(m + ps, ps), 0);
	ck_assert_int_eq(dmasplit_map(dev, m + ps, 64, DMASPLIT_TO_DEVICE, 0,
				      &dma), -EFAULT);
	expect_locked(eq, before);
	ck_assert_uint_eq(stats_of(dev).mappings_live, 0);
	dmasplit_dev_close(dev);
	munmap(m, ps);
}
END_TEST

/* In a child over a locked-memory limit of 0 (CAP_IPC_LOCK dropped, so
 * that the limit holds for root): a map is -ENOMEM with one line naming
 * the device and the limit, and none with DMASPLIT_ATTR_NO_WARN.  0, or
 * the step that failed. */
static int map_over_the_lock_limit(struct dmasplit_dev *dev, uint8_t *m)
{
	struct rlimit none = { 0, 0 };
	uint64_t dma = 0;
	struct tu_vma was;

	if (!tu_cap_effective(CAP_IPC_LOCK, false) ||
	    setrlimit(RLIMIT_MEMLOCK, &none) != 0 || !tu_vma_of(m, &was))
		return 1;
	tu_log_clear();
	if (dmasplit_map(dev, m, 64, DMASPLIT_TO_DEVICE, 0, &dma) != -ENOMEM)
		return 2;
	/* -ENOMEM changes nothing (libdmasplit(3)): no mark on the
	 * memory, whose mapping is not split around the page. */
	if (!tu_vma_unchanged(m, &was))
		return 6;
	if (tu_log_count("\n") != 1 ||
	    !tu_log_has("direct: " ADDR ": cannot pin 64 bytes at ") ||
	    !tu_log_has("over the locked-memory limit (RLIMIT_MEMLOCK 0 bytes)"))
		return 3;
	tu_log_clear();
	if (dmasplit_map(dev, m, 64, DMASPLIT_TO_DEVICE, DMASPLIT_ATTR_NO_WARN,
			 &dma) != -ENOMEM || tu_log_has("cannot pin"))
		return 4;
	return stats_of(dev).mappings_live == 0 ? 0 : 5;
}

/* In a child: the limit and the capability cannot be given back, and
 * the tests after this one may run in this process (CK_FORK=no, as
 * under valgrind). */
START_TEST(memory_over_the_lock_limit_is_enomem_with_the_limit)
{
	struct dmasplit_dev *dev;
	uint8_t *m = mmap(NULL, 3 * ps, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(m, MAP_FAILED);
	memset(m, 1, 3 * ps);
	fake_uio();
	dev = open_direct(ADDR);
	TU_IN_CHILD(map_over_the_lock_limit(dev, m + ps), "the child over the limit",
		    "1: capset, setrlimit or smaps failed, 2: not -ENOMEM, 3: not the one line, 4: NO_WARN not quiet, 5: a mapping left, 6: the memory marked or its mapping split");
	dmasplit_dev_close(dev);
	munmap(m, 3 * ps);
}
END_TEST

/* Under valgrind, whose preloaded objects are in LD_PRELOAD. */
static bool under_valgrind(void)
{
	const char *pre = getenv("LD_PRELOAD");

	return pre && strstr(pre, "vgpreload");
}

/* Whether the kernel can say memory is not writable (Linux 5.14). */
static bool can_populate_write(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool ok = p != MAP_FAILED && madvise(p, 4096, 23) == 0;

	if (p != MAP_FAILED)
		munmap(p, 4096);
	return ok;
}

/* Memory the device writes must be writable: read-only memory never
 * written is the kernel's zero page, shared by every process. */
START_TEST(read_only_memory_is_refused_where_the_device_writes)
{
	struct dmasplit_dev *dev;
	uint8_t *ro = mmap(NULL, ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
	uint64_t dma = 0;
	long before;

	ck_assert_ptr_ne(ro, MAP_FAILED);
	fake_uio();
	dev = open_direct(ADDR);
	before = locked_kb();
	tu_log_clear();
	ck_assert_int_eq(dmasplit_map(dev, ro, 64, DMASPLIT_FROM_DEVICE, 0,
				      &dma), -EFAULT);
	ck_assert_msg(tu_log_count("which the device would write, are not memory the process can write (read-only, or not there)") == 1,
		      "log:\n%s", tu_log_text());
	expect_locked(eq, before);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_map(dev, ro, 64, DMASPLIT_FROM_DEVICE,
				      DMASPLIT_ATTR_NO_WARN, &dma), -EFAULT);
	ck_assert_msg(!tu_log_has("not memory the process can write"),
		      "log:\n%s", tu_log_text());
	/* The device only reads: the zero page reads as it should. */
	ck_assert_int_eq(dmasplit_map(dev, ro, 64, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, 64, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(dev);
	munmap(ro, ps);
}
END_TEST

/* step(dev, ro) in a child of fork(), ro a read-only page (the zero
 * page) of the child's: it must give 0, else the step that failed,
 * which steps names. */
static void read_only_in_a_child(int (*step)(struct dmasplit_dev *, uint8_t *),
				 const char *steps)
{
	struct dmasplit_dev *dev;
	uint8_t *ro = mmap(NULL, ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);

	ck_assert_ptr_ne(ro, MAP_FAILED);
	(void)*(volatile uint8_t *)ro;	/* the zero page */
	fake_uio();
	dev = open_direct(ADDR);
	TU_IN_CHILD(step(dev, ro), "the child", steps);
	dmasplit_dev_close(dev);
	munmap(ro, ps);
}

/* In a child with no descriptor left: read-only memory mapped for the
 * device to write cannot be judged by /proc/self/maps, and is refused
 * with the error in one line, nothing locked or marked; with a
 * descriptor free again it is -EFAULT as ever.  0, or the step that
 * failed. */
static int read_only_at_the_descriptor_limit(struct dmasplit_dev *dev,
					     uint8_t *ro)
{
	int fds[128], n, r;
	uint64_t dma = 0;
	long before = locked_kb();
	struct tu_vma was;

	if (!tu_vma_of(ro, &was))
		return 1;
	n = tu_take_every_descriptor(fds, 128);
	if (n < 0)
		return 1;
	tu_log_clear();
	r = dmasplit_map(dev, ro, 64, DMASPLIT_FROM_DEVICE, 0, &dma);
	tu_give_back_descriptors(fds, n);
	if (r != -EMFILE)
		return r == 0 ? 2 : 3;
	if (tu_log_count("\n") != 1 ||
	    !tu_log_has("direct: " ADDR ": cannot tell whether the 64 bytes at ") ||
	    !tu_log_has("reading /proc/self/maps: Too many open files"))
		return 4;
	if ((!MLOCK_IS_NOOP && locked_kb() != before) ||
	    stats_of(dev).mappings_live != 0)
		return 5;
	if (!tu_vma_unchanged(ro, &was))
		return 8;
	n = tu_take_every_descriptor(fds, 128);
	tu_log_clear();
	r = dmasplit_map(dev, ro, 64, DMASPLIT_FROM_DEVICE,
			 DMASPLIT_ATTR_NO_WARN, &dma);
	tu_give_back_descriptors(fds, n);
	if (n < 0 || r != -EMFILE || tu_log_has("/proc/self/maps"))
		return 6;
	if (dmasplit_map(dev, ro, 64, DMASPLIT_FROM_DEVICE, 0, &dma) != -EFAULT)
		return 7;
	return 0;
}

/* Where whether the process may write the memory cannot be read, the
 * map is refused: a device write to memory that is read-only (the zero
 * page, shared by every process) must never be let through. */
START_TEST(writability_that_cannot_be_read_refuses_the_map)
{
	read_only_in_a_child(read_only_at_the_descriptor_limit,
			     "without descriptors; 1: no limit set, 2: mapped, 3: not -EMFILE, 4: not the one line, 5: left locked or mapped, 6: NO_WARN, 7: not -EFAULT with descriptors free, 8: the memory marked");
}
END_TEST

/* In a child with no address space to spare: the first map of
 * read-only memory for device writes, which asks the kernel whether it
 * has MADV_POPULATE_WRITE of a page it cannot get, is refused; once the
 * address space is there again, read-only memory is still -EFAULT.  0,
 * or the step that failed. */
static int read_only_after_a_failed_probe(struct dmasplit_dev *dev,
					  uint8_t *ro)
{
	struct rlimit rl, none;
	uint64_t dma = 0;
	int r;

	if (getrlimit(RLIMIT_AS, &rl) != 0)
		return 1;
	none = rl;
	none.rlim_cur = 0;
	if (setrlimit(RLIMIT_AS, &none) != 0)
		return 1;
	r = dmasplit_map(dev, ro, 64, DMASPLIT_FROM_DEVICE,
			 DMASPLIT_ATTR_NO_WARN, &dma);
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		return 1;
	if (r == 0)
		return 2;
	if (dmasplit_map(dev, ro, 64, DMASPLIT_FROM_DEVICE, 0, &dma) != -EFAULT)
		return 3;
	return 0;
}

/* Whether the kernel has MADV_POPULATE_WRITE is kept only when it said
 * so: a probe that found no memory for its page is no answer, and
 * taking it for "no" would let read-only memory through from then on. */
START_TEST(a_failed_probe_for_populate_write_is_asked_again)
{
	read_only_in_a_child(read_only_after_a_failed_probe,
			     "without address space; 1: no limit set, 2: mapped without address space, 3: not -EFAULT after");
}
END_TEST

/* The column of /proc/self/maps at which the line of the mapping that
 * starts at p gives needle, -1 if it does not. */
static long maps_column(const void *p, const char *needle)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char *line = NULL, *at;
	unsigned long lo;
	size_t cap = 0;
	long col = -1;

	ck_assert_ptr_nonnull(f);
	while (getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%lx-", &lo) == 1 && lo == (uintptr_t)p) {
			at = strstr(line, needle);
			col = at ? at - line : -1;
			break;
		}
	}
	free(line);
	fclose(f);
	return col;
}

/* Where the backend reads /proc/self/maps in pieces of 511 bytes. */
#define MAPS_CUT 511

/* A line of /proc/self/maps longer than the backend reads at once is
 * one line: the rest of it (a file's path) is never read as a mapping
 * of its own.  A file mapped read-only below read-only memory, whose
 * path from byte MAPS_CUT of its line reads "0...0-7fffffffffff rw-p",
 * would otherwise make all memory above it writable. */
START_TEST(a_long_path_in_the_mappings_is_not_read_as_a_mapping)
{
	char *dir = tu_mkdtemp(), path[PATH_MAX], tail[256];
	size_t at, need, c;
	struct dmasplit_dev *dev;
	uint8_t *area;
	uint64_t dma = 0;
	long col;
	int fd;

	area = mmap(NULL, 3 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	ck_assert_ptr_ne(area, MAP_FAILED);
	/* Where the path of a file mapped at area starts in its line. */
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)ps), 0);
	ck_assert_ptr_eq(mmap(area, ps, PROT_READ, MAP_PRIVATE | MAP_FIXED,
			      fd, 0), area);
	close(fd);
	col = maps_column(area, dir);
	ck_assert_int_gt(col, 0);
	/* Directories that put the last component at column 400, whose
	 * 230 zeros then run past the cut. */
	at = (size_t)col + strlen(dir);
	snprintf(path, sizeof(path), "%s", dir);
	ck_assert_uint_lt(at, 400);
	need = 400 - at - 1;
	while (need >= 2) {
		c = need - 1 > 200 ? 200 : need - 1;
		memset(tail, 'a', c);
		tail[c] = '\0';
		snprintf(path + strlen(path), sizeof(path) - strlen(path),
			 "/%s", tail);
		ck_assert_int_eq(mkdir(path, 0700), 0);
		need -= c + 1;
	}
	memset(tail, '0', 230);
	snprintf(tail + 230, sizeof(tail) - 230, "-7fffffffffff rw-p");
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", tail);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)ps), 0);
	ck_assert_ptr_eq(mmap(area, ps, PROT_READ, MAP_PRIVATE | MAP_FIXED,
			      fd, 0), area);
	close(fd);
	col = maps_column(area, tail);
	ck_assert_msg(col > 0 && col + 5 < MAPS_CUT && col + 230 > MAPS_CUT + 5,
		      "the zeros are at column %ld, not over %d", col, MAPS_CUT);
	/* Above it, past a page of nothing, read-only memory: the zero
	 * page. */
	ck_assert_ptr_eq(mmap(area + 2 * ps, ps, PROT_READ,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
			 area + 2 * ps);
	(void)*(volatile uint8_t *)(area + 2 * ps);
	fake_uio();
	dev = open_direct(ADDR);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_map(dev, area + 2 * ps, 64,
				      DMASPLIT_FROM_DEVICE, 0, &dma), -EFAULT);
	ck_assert_msg(tu_log_has("are not memory the process can write"),
		      "log:\n%s", tu_log_text());
	dmasplit_dev_close(dev);
	munmap(area, 3 * ps);
	tu_rm_rf(dir);
	free(dir);
}
END_TEST

/* A map refused before its pages are locked leaves the caller's memory
 * as it was: not marked MADV_NOHUGEPAGE, its mapping not split around
 * the buffer (in a single map or in a vector). */
START_TEST(a_map_refused_before_the_lock_leaves_the_memory_as_it_was)
{
	struct dmasplit_dev *dev;
	uint8_t *ro = mmap(NULL, 3 * ps, PROT_READ,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec iov = { NULL, 64 };
	struct dmasplit_seg seg;
	unsigned int nsegs = 1;
	uint64_t dma = 0;
	struct tu_vma was;

	ck_assert_ptr_ne(ro, MAP_FAILED);
	(void)*(volatile uint8_t *)(ro + ps);
	ck_assert(tu_vma_of(ro + ps, &was));
	ck_assert_uint_eq(was.hi - was.lo, 3 * ps);
	fake_uio();
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_map(dev, ro + ps, 64, DMASPLIT_FROM_DEVICE,
				      DMASPLIT_ATTR_NO_WARN, &dma), -EFAULT);
	ck_assert_msg(tu_vma_unchanged(ro + ps, &was),
		      "the refused map marked the memory or split its mapping");
	iov.iov_base = ro + ps;
	ck_assert_int_eq(dmasplit_map_vec(dev, &iov, 1, DMASPLIT_FROM_DEVICE,
					  DMASPLIT_ATTR_NO_WARN, &seg, &nsegs),
			 -EFAULT);
	ck_assert_msg(tu_vma_unchanged(ro + ps, &was),
		      "the refused vector marked the memory or split its mapping");
	dmasplit_dev_close(dev);
	munmap(ro, 3 * ps);
}
END_TEST

/* A vector goes whole or not at all: a segment that is not live keeps
 * the others mapped. */
START_TEST(unmap_vec_is_all_or_nothing)
{
	struct dmasplit_dev *dev;
	uint8_t *buf = aligned_alloc(ps, 4 * ps);
	struct iovec iov[2];
	struct dmasplit_seg segs[4], bad[2];
	unsigned int nsegs = 4;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 3, 4 * ps);
	iov[0].iov_base = buf;
	iov[0].iov_len = 100;
	iov[1].iov_base = buf + 2 * ps;
	iov[1].iov_len = 100;
	fake_uio();
	/* The backend's own answer: the checker would refuse first. */
	dmasplit_ctx_set_check(ctx, 0);
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 0,
					  segs, &nsegs), 0);
	ck_assert_uint_eq(nsegs, 2);
	bad[0] = segs[0];
	bad[1] = segs[1];
	bad[1].len--;
	tu_log_clear();
	ck_assert_int_eq(dmasplit_unmap_vec(dev, bad, 2, DMASPLIT_TO_DEVICE, 0),
			 -ENOENT);
	ck_assert_msg(tu_log_has("is not live; nothing unmapped"), "log:\n%s",
		      tu_log_text());
	ck_assert_uint_eq(stats_of(dev).mappings_live, 2);
	ck_assert_int_eq(dmasplit_unmap_vec(dev, segs, 2, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_uint_eq(stats_of(dev).mappings_live, 0);
	dmasplit_dev_close(dev);
	free(buf);
}
END_TEST

START_TEST(mask_from_sysfs_is_the_default)
{
	struct dmasplit_dev *dev;
	struct dmasplit_dev_info info = { .size = sizeof(info) };

	fake("igb_uio", -1, NULL, NULL, "36\n");
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_dev_get_info(dev, &info), 0);
	ck_assert_uint_eq(info.dma_mask_bits, 36);
	ck_assert_uint_eq(info.ranges[0].last, (1ull << 36) - 1);
	dmasplit_dev_close(dev);
}
END_TEST

START_TEST(discontiguous_map_gives_exdev_and_points_to_map_vec)
{
	struct dmasplit_dev *dev;
	uint8_t *p = scattered_pages(64);
	size_t i = find_break(p, 64);
	uint64_t dma = 0;
	long before;

	fake_uio();
	dev = open_direct(ADDR);
	before = locked_kb();
	ck_assert_int_eq(dmasplit_map(dev, p + i * ps + 8, ps, DMASPLIT_TO_DEVICE,
				      0, &dma), -EXDEV);
	ck_assert_msg(tu_log_count("\n") == 1 &&
		      tu_log_has("not physically contiguous") &&
		      tu_log_has("dmasplit_map_vec"), "log:\n%s", tu_log_text());
	expect_locked(eq, before);
	/* One page is always contiguous. */
	ck_assert_int_eq(dmasplit_map(dev, p + i * ps, ps, DMASPLIT_TO_DEVICE, 0,
				      &dma), 0);
	ck_assert_uint_eq(dma, phys_of(p + i * ps));
	ck_assert_int_eq(dmasplit_unmap(dev, dma, ps, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(dev);
	munmap(p, 64 * ps);
}
END_TEST

/* The same bytes twice in one vector, where the backend merges the
 * first two buffers into one segment: the segments share addresses as
 * the bytes do, and the checker accepts it. */
START_TEST(map_vec_of_the_same_bytes_merged_is_accepted_by_the_checker)
{
	uint8_t *a = aligned_alloc(ps, ps);
	struct iovec iov[3];
	struct dmasplit_seg segs[4];
	unsigned int nsegs = 4;
	struct dmasplit_dev *dev;

	ck_assert_ptr_nonnull(a);
	memset(a, 7, ps);
	iov[0] = (struct iovec){ a, 100 };
	iov[1] = (struct iovec){ a + 100, 100 };
	iov[2] = (struct iovec){ a, 100 };
	fake_uio();
	dmasplit_ctx_set_check(ctx, 1);
	dev = open_direct(ADDR);
	tu_log_clear();
	ck_assert_msg(dmasplit_map_vec(dev, iov, 3, DMASPLIT_TO_DEVICE, 0, segs,
				       &nsegs) == 0, "log:\n%s", tu_log_text());
	ck_assert_uint_eq(nsegs, 2);
	ck_assert_uint_eq(segs[0].len, 200);
	ck_assert_uint_eq(segs[1].dma, segs[0].dma);
	ck_assert_int_eq(dmasplit_unmap_vec(dev, segs, nsegs, DMASPLIT_TO_DEVICE,
					    0), 0);
	dmasplit_dev_close(dev);
	free(a);
}
END_TEST

/* One page at two virtual addresses (a ring buffer mapped twice) has
 * one device address, and the checker tells that from a backend bug by
 * the page tables. */
START_TEST(the_same_page_at_two_addresses_is_accepted_by_the_checker)
{
	int fd = memfd_create("ring", MFD_CLOEXEC);
	struct dmasplit_dev *dev;
	uint8_t *one, *two;
	uint64_t a = 0, b = 0;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)ps), 0);
	one = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	two = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert(one != MAP_FAILED && two != MAP_FAILED);
	one[0] = 1;
	(void)*(volatile uint8_t *)two;	/* a page there, also where mlock is a no-op */
	fake_uio();
	dmasplit_ctx_set_check(ctx, 1);
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_map(dev, one, 64, DMASPLIT_TO_DEVICE, 0, &a), 0);
	tu_log_clear();
	ck_assert_msg(dmasplit_map(dev, two, 64, DMASPLIT_TO_DEVICE, 0, &b) == 0,
		      "log:\n%s", tu_log_text());
	ck_assert_uint_eq(a, b);
	ck_assert_int_eq(dmasplit_unmap(dev, b, 64, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, a, 64, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(dev);
	munmap(one, ps);
	munmap(two, ps);
	close(fd);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Two buffers that follow each other physically, not virtually, are one
 * segment: the checker tells the bytes of each from the other's, and
 * accepts that a mapping of one of them shares its addresses. */
START_TEST(a_segment_merged_by_physical_address_is_accepted_by_the_checker)
{
	enum { N = 4096 };
	static uint64_t frame[N];
	struct dmasplit_seg segs[4];
	unsigned int nsegs = 4;
	struct dmasplit_dev *dev;
	struct iovec iov[2];
	size_t i, j = N, k;
	uint64_t one = 0;
	uint8_t *p;

	/* Among scattered pages some two are physical neighbours without
	 * being virtual ones.  Sorted frames find them. */
	p = scattered_pages(N);
	for (k = 0; k < N; k++)
		frame[k] = phys_of(p + k * ps) << 12 | k;	/* frame, then index */
	qsort(frame, N, sizeof(frame[0]), cmp_u64);
	for (k = 0; k + 1 < N && j == N; k++) {
		i = frame[k] & 0xfff;
		if ((frame[k + 1] >> 12) == (frame[k] >> 12) + ps &&
		    (frame[k + 1] & 0xfff) != i + 1)
			j = frame[k + 1] & 0xfff;
	}
	ck_assert_msg(j < N, "no two of %d pages are physical neighbours out of virtual order", N);
	iov[0] = (struct iovec){ p + i * ps, ps };
	iov[1] = (struct iovec){ p + j * ps, ps };
	fake_uio();
	dmasplit_ctx_set_check(ctx, 1);
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_map(dev, p + j * ps, 64, DMASPLIT_TO_DEVICE, 0,
				      &one), 0);
	tu_log_clear();
	ck_assert_msg(dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 0, segs,
				       &nsegs) == 0, "log:\n%s", tu_log_text());
	ck_assert_uint_eq(nsegs, 1);
	ck_assert_uint_eq(segs[0].len, 2 * ps);
	ck_assert_int_eq(dmasplit_unmap_vec(dev, segs, nsegs, DMASPLIT_TO_DEVICE,
					    0), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, one, 64, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(dev);
	munmap(p, N * ps);
}
END_TEST

START_TEST(map_vec_splits_where_memory_breaks_and_merges_where_it_meets)
{
	struct dmasplit_dev *dev;
	uint8_t *p = scattered_pages(64);
	size_t i = find_break(p, 64);
	uint8_t *at = p + i * ps;
	struct iovec iov[3] = {
		{ at + 100, 2 * ps - 200 },	/* across the break */
		{ at + 2 * ps + 10, 50 },	/* two buffers that meet */
		{ at + 2 * ps + 60, 40 },
	};
	struct dmasplit_seg segs[8];
	unsigned int nsegs = 1;
	long before;

	fake_uio();
	dev = open_direct(ADDR);
	before = locked_kb();
	/* Room for one segment: it takes at least three. */
	ck_assert_int_eq(dmasplit_map_vec(dev, iov, 3, DMASPLIT_BIDIRECTIONAL, 0,
					  segs, &nsegs), -ENOSPC);
	ck_assert_msg(tu_log_has("room for 1"), "log:\n%s", tu_log_text());
	ck_assert_uint_eq(nsegs, 1);
	expect_locked(eq, before);

	nsegs = 8;
	ck_assert_int_eq(dmasplit_map_vec(dev, iov, 3, DMASPLIT_BIDIRECTIONAL, 0,
					  segs, &nsegs), 0);
	ck_assert_uint_ge(nsegs, 3);
	ck_assert_uint_eq(segs[0].dma, phys_of(at + 100));
	ck_assert_uint_eq(segs[0].len, ps - 100);
	ck_assert_uint_eq(segs[1].dma, phys_of(at + ps));
	/* The last segment: two buffers in one page, merged. */
	ck_assert_uint_eq(segs[nsegs - 1].dma, phys_of(at + 2 * ps + 10));
	ck_assert_uint_eq(segs[nsegs - 1].len, 90);
	expect_locked(eq, before + 3 * (long)(ps / 1024));
	ck_assert_int_eq(dmasplit_unmap_vec(dev, segs, nsegs, DMASPLIT_BIDIRECTIONAL, 0), 0);
	expect_locked(eq, before);
	ck_assert_uint_eq(stats_of(dev).mappings_live, 0);
	dmasplit_dev_close(dev);
	munmap(p, 64 * ps);
}
END_TEST

START_TEST(huge_page_maps_as_one_range)
{
	uint64_t hp = (uint64_t)meminfo("Hugepagesize") << 10;
	struct dmasplit_dev *dev;
	struct iovec iov[2];
	struct dmasplit_seg segs[2];
	unsigned int nsegs = 2;
	uint64_t dma = 0;
	uint8_t *p;

	want_huge_pages(1);
	p = mmap(NULL, hp, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	ck_assert_msg(p != MAP_FAILED, "MAP_HUGETLB: %s", strerror(errno));
	memset(p, 7, hp);
	fake_uio();
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_map(dev, p, hp, DMASPLIT_FROM_DEVICE, 0, &dma), 0);
	ck_assert_uint_eq(dma, phys_of(p));
	ck_assert_uint_eq(dma + hp - ps, phys_of(p + hp - ps));
	ck_assert_int_eq(dmasplit_unmap(dev, dma, hp, DMASPLIT_FROM_DEVICE, 0), 0);
	iov[0].iov_base = p;
	iov[0].iov_len = hp / 2;
	iov[1].iov_base = p + hp / 2;
	iov[1].iov_len = hp / 2;
	ck_assert_int_eq(dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 0, segs,
					  &nsegs), 0);
	ck_assert_uint_eq(nsegs, 1);
	ck_assert_uint_eq(segs[0].dma, phys_of(p));
	ck_assert_uint_eq(segs[0].len, hp);
	ck_assert_int_eq(dmasplit_unmap_vec(dev, segs, 1, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(dev);
	munmap(p, hp);
}
END_TEST

START_TEST(coherent_memory_is_zeroed_contiguous_and_reachable)
{
	size_t big = 1u << 20;
	struct dmasplit_dev *dev;
	uint64_t small_dma = 0, big_dma = 0;
	uint8_t *small = NULL, *cpu = NULL;
	size_t i;

	want_huge_pages(1);
	fake_uio();
	dev = open_direct(ADDR);
	/* Up to a page: any page will do. */
	ck_assert_int_eq(dmasplit_alloc_coherent(dev, 100, 0, (void **)&small,
						 &small_dma), 0);
	ck_assert_uint_eq(small_dma, phys_of(small));
	for (i = 0; i < 100; i++)
		ck_assert_uint_eq(small[i], 0);
	/* More: from a huge page. */
	ck_assert_msg(dmasplit_alloc_coherent(dev, big, 0, (void **)&cpu, &big_dma) == 0,
		      "log:\n%s", tu_log_text());
	for (i = 0; i < big; i += ps) {
		if (cpu[i] || phys_of(cpu + i) != big_dma + i)
			ck_abort_msg("byte 0x%zx: %u at 0x%" PRIx64 ", expected 0 at 0x%" PRIx64,
				     i, cpu[i], phys_of(cpu + i), big_dma + i);
	}
	ck_assert_uint_ge(stats_of(dev).bytes_pinned, big + ps);
	ck_assert_int_eq(dmasplit_free_coherent(dev, big, cpu, big_dma), 0);
	ck_assert_int_eq(dmasplit_free_coherent(dev, 100, small, small_dma), 0);
	ck_assert_uint_eq(stats_of(dev).bytes_pinned, 0);
	dmasplit_dev_close(dev);
}
END_TEST

START_TEST(coherent_memory_without_huge_pages_says_what_to_configure)
{
	struct dmasplit_dev *dev;
	uint64_t dma = 0;
	void *cpu = NULL;

	fake_uio();
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_alloc_coherent(dev, 1u << 20, 0, &cpu, &dma),
			 -ENOMEM);
	ck_assert_msg(tu_log_count("\n") == 1 && tu_log_has("physically contiguous") &&
		      tu_log_has("vm.nr_hugepages"), "log:\n%s", tu_log_text());
	ck_assert_ptr_null(cpu);
	dmasplit_dev_close(dev);
}
END_TEST

START_TEST(close_releases_what_is_still_mapped)
{
	struct dmasplit_dev *dev;
	uint8_t *buf = aligned_alloc(ps, 3 * ps);
	struct iovec iov = { buf + ps, ps };
	struct dmasplit_seg seg;
	unsigned int nsegs = 1;
	uint64_t dma;
	void *cpu;
	long before;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 3, 3 * ps);
	fake_uio();
	dmasplit_ctx_set_check(ctx, 0);
	dev = open_direct(ADDR);
	before = locked_kb();
	ck_assert_int_eq(dmasplit_map(dev, buf, 10, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_map_vec(dev, &iov, 1, DMASPLIT_TO_DEVICE, 0, &seg,
					  &nsegs), 0);
	ck_assert_int_eq(dmasplit_alloc_coherent(dev, 64, 0, &cpu, &dma), 0);
	expect_locked(gt, before);
	dmasplit_dev_close(dev);
	expect_locked(eq, before);
	free(buf);
}
END_TEST

struct racer {
	struct dmasplit_dev *dev;
	uint8_t *buf;
	unsigned int lost;	/* regions refused: the other's was there */
	int err;
};

static void *register_over_and_over(void *arg)
{
	struct racer *a = arg;
	unsigned int i;

	for (i = 0; i < 400 && !a->err; i++) {
		struct dmasplit_region *reg;
		int r = dmasplit_region_new(a->dev, a->buf, ps,
					    DMASPLIT_BIDIRECTIONAL, 0, &reg);

		if (r == 0)
			a->err = dmasplit_region_free(reg);
		else if (r == -EEXIST)
			a->lost++;
		else
			a->err = r;
	}
	return NULL;
}

/* Two threads registering one buffer: where the device address is the
 * memory's, the one that loses the race must take down its own mapping,
 * not be refused by the winner's region at the same addresses (which
 * left the mapping and its pin behind). */
START_TEST(two_threads_registering_one_buffer_leave_nothing_behind)
{
	uint8_t *buf = aligned_alloc(ps, ps);
	struct racer a[2] = { { 0 } };
	struct dmasplit_dev *dev;
	pthread_t t[2];
	long before;
	int i;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 5, ps);
	fake_uio();
	dmasplit_ctx_set_check(ctx, 0);
	dev = open_direct(ADDR);
	before = locked_kb();
	for (i = 0; i < 2; i++) {
		a[i] = (struct racer){ .dev = dev, .buf = buf };
		ck_assert_int_eq(pthread_create(&t[i], NULL,
						register_over_and_over, &a[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_int_eq(a[i].err, 0);
	}
	ck_assert_msg(stats_of(dev).mappings_live == 0,
		      "%" PRIu64 " mappings left after %u and %u lost races",
		      stats_of(dev).mappings_live, a[0].lost, a[1].lost);
	expect_locked(eq, before);
	dmasplit_dev_close(dev);
	free(buf);
}
END_TEST

START_TEST(free_coherent_must_match_the_allocation)
{
	struct dmasplit_dev *dev;
	uint64_t dma = 0;
	void *cpu = NULL;

	fake_uio();
	/* The backend's own check, without the checker before it. */
	dmasplit_ctx_set_check(ctx, 0);
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_alloc_coherent(dev, 64, 0, &cpu, &dma), 0);
	tu_log_clear();
	/* Where nothing was allocated: -ENOENT, as an unmap; another CPU
	 * address or size than the allocation's: -EINVAL. */
	ck_assert_int_eq(dmasplit_free_coherent(dev, 64, cpu, dma + 4096), -ENOENT);
	ck_assert_int_eq(dmasplit_free_coherent(dev, 64, (char *)cpu + 1, dma), -EINVAL);
	ck_assert_int_eq(dmasplit_free_coherent(dev, 128, cpu, dma), -EINVAL);
	ck_assert_uint_eq(tu_log_count("nothing allocated there"), 1);
	ck_assert_uint_eq(tu_log_count("not allocated so"), 2);
	ck_assert_int_eq(dmasplit_free_coherent(dev, 64, cpu, dma), 0);
	dmasplit_dev_close(dev);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("direct");
	TCase *tc = tcase_create("direct");
	bool root_ok = can_read_phys(), huge = can_reserve_huge_pages();
	const char *no_phys = "reading physical addresses needs CAP_SYS_ADMIN (run as root)";

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, direct_setup, direct_teardown);
	tu_add_test_if(tc, selection_opens_uio_device_with_direct, root_ok, no_phys);
	tu_add_test_if(tc, map_gives_physical_address_and_pins_until_unmap, root_ok, no_phys);
	tu_add_test_if(tc, a_mapped_page_is_not_inherited_by_a_child, root_ok, no_phys);
	tu_add_test_if(tc, shared_memory_stays_the_child_s_after_a_map_at_the_limit,
		       root_ok, no_phys);
	tu_add_test_if(tc, a_mapping_past_a_region_of_its_memory_stays_the_backend_s,
		       root_ok, no_phys);
	tu_add_test_if(tc, the_checker_tells_a_region_s_mapping_from_the_backend_s,
		       root_ok, no_phys);
	tu_add_test_if(tc, overlapping_mappings_unlock_with_the_last, root_ok, no_phys);
	tu_add_test_if(tc, no_windows_no_device_access_no_fd, root_ok, no_phys);
	tu_add_test_if(tc, mask_is_enforced_with_address_and_mask_in_log, root_ok, no_phys);
	tu_add_test_if(tc, mask_from_sysfs_is_the_default, root_ok, no_phys);
	tu_add_test_if(tc, a_mask_inside_page_0_is_refused_at_open, root_ok, no_phys);
	tu_add_test_if(tc, memory_that_is_not_there_is_efault_and_stays_unlocked,
		       root_ok, no_phys);
	tu_add_test_if(tc, memory_over_the_lock_limit_is_enomem_with_the_limit,
		       root_ok && !MLOCK_IS_NOOP,
		       !root_ok ? no_phys : "the sanitizer makes mlock() a no-op: no limit to reach");
	tu_add_test_if(tc, unmap_vec_is_all_or_nothing, root_ok, no_phys);
	tu_add_test_if(tc, read_only_memory_is_refused_where_the_device_writes,
		       root_ok && can_populate_write() && !MLOCK_IS_NOOP,
		       !root_ok ? no_phys :
		       MLOCK_IS_NOOP ? "the sanitizer makes mlock() a no-op, which leaves read-only memory without a page" :
		       "the kernel has no MADV_POPULATE_WRITE (Linux 5.14)");
	tu_add_test_if(tc, writability_that_cannot_be_read_refuses_the_map,
		       root_ok && can_populate_write(),
		       !root_ok ? no_phys :
		       "the kernel has no MADV_POPULATE_WRITE (Linux 5.14)");
	tu_add_test_if(tc, a_failed_probe_for_populate_write_is_asked_again,
		       root_ok && can_populate_write() && !under_valgrind(),
		       !root_ok ? no_phys :
		       under_valgrind() ? "valgrind runs out of memory itself under RLIMIT_AS 0" :
		       "the kernel has no MADV_POPULATE_WRITE (Linux 5.14)");
	tu_add_test_if(tc, a_long_path_in_the_mappings_is_not_read_as_a_mapping,
		       root_ok && can_populate_write(),
		       !root_ok ? no_phys :
		       "the kernel has no MADV_POPULATE_WRITE (Linux 5.14)");
	tu_add_test_if(tc, a_map_refused_before_the_lock_leaves_the_memory_as_it_was,
		       root_ok && can_populate_write(),
		       !root_ok ? no_phys :
		       "the kernel has no MADV_POPULATE_WRITE (Linux 5.14)");
	tu_add_test_if(tc, discontiguous_map_gives_exdev_and_points_to_map_vec, root_ok, no_phys);
	tu_add_test_if(tc, map_vec_splits_where_memory_breaks_and_merges_where_it_meets,
		       root_ok, no_phys);
	tu_add_test_if(tc, map_vec_of_the_same_bytes_merged_is_accepted_by_the_checker,
		       root_ok, no_phys);
	tu_add_test_if(tc, the_same_page_at_two_addresses_is_accepted_by_the_checker,
		       root_ok, no_phys);
	tu_add_test_if(tc, a_segment_merged_by_physical_address_is_accepted_by_the_checker,
		       root_ok, no_phys);
	tu_add_test_if(tc, huge_page_maps_as_one_range, root_ok && huge,
		       root_ok ? "no huge pages can be reserved here (/proc/sys/vm/nr_hugepages)" : no_phys);
	tu_add_test_if(tc, coherent_memory_is_zeroed_contiguous_and_reachable, root_ok && huge,
		       root_ok ? "no huge pages can be reserved here (/proc/sys/vm/nr_hugepages)" : no_phys);
	tu_add_test_if(tc, coherent_memory_without_huge_pages_says_what_to_configure,
		       root_ok && meminfo("HugePages_Free") == 0,
		       root_ok ? "this system has huge pages free" : no_phys);
	tu_add_test_if(tc, close_releases_what_is_still_mapped, root_ok, no_phys);
	tu_add_test_if(tc, free_coherent_must_match_the_allocation, root_ok, no_phys);
	tu_add_test_if(tc, two_threads_registering_one_buffer_leave_nothing_behind,
		       root_ok, no_phys);
	suite_add_tcase(s, tc);
	return tu_main(s);
}

