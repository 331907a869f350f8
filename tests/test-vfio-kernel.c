// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The vfio backend's windows and range reports against the fake kernel
 * of vfio-fake.h: strict and lazy unlink, failed kernel calls, and every
 * usable range a kernel reports kept.  Defines ioctl, for the ranges.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"
#include "uapi.h"
#include "vfio-fake.h"
#include "vfio.h"

START_TEST(strict_sync_maps_each_link_alone)
{
	struct dmasplit_bwin *w = window();

	link_pages(w, 0, 3);
	ck_assert_msg(fk.calls == 3 && fs->kernel_calls == 3,
		      "expected 3 map calls for 3 links, got %u", fk.calls);
	ck_assert_msg(fk.id[0] != fk.id[1] && fk.id[1] != fk.id[2],
		      "expected one kernel mapping per link");
	win_destroy(w);
	ck_assert_uint_eq(fs->kernel_maps, 0);
}
END_TEST

START_TEST(strict_partial_unlink_never_unmaps_a_linked_page)
{
	struct dmasplit_bwin *w = window();
	unsigned int calls;
	int r;

	link_pages(w, 0, 3);
	r = unlink_pages(w, 1, 1, &calls);
	ck_assert_msg(r == 0 && calls == 1,
		      "unlink of the middle link: expected 0 and 1 unmap call, got %d and %u",
		      r, calls);
	ck_assert_msg(mapped(0) && !mapped(1) && mapped(2),
		      "expected A and C mapped, B not: %d %d %d", mapped(0),
		      mapped(1), mapped(2));
	ck_assert_msg(fk.linked_unmapped == 0,
		      "%u linked pages were unmapped", fk.linked_unmapped);
	ck_assert_uint_eq(fs->bytes_mapped, 2 * PG);
	/* Both sides, around the hole: still one call. */
	r = unlink_pages(w, 0, 3, &calls);
	ck_assert_msg(r == 0 && calls == 1 && !mapped(0) && !mapped(2),
		      "unlink of A..C: expected 0, 1 call, nothing mapped; got %d, %u",
		      r, calls);
	ck_assert_uint_eq(fs->kernel_maps, 0);
	calls = fk.calls;
	win_destroy(w);
	ck_assert_msg(fk.calls == calls, "destroy of an empty window made %u calls",
		      fk.calls - calls);
}
END_TEST

START_TEST(strict_unlink_of_part_of_a_link_is_refused)
{
	struct dmasplit_bwin *w = window();
	unsigned int calls;
	int r;

	ck_assert_int_eq(win_link(w, 0, mem, 3 * PG, DMASPLIT_TO_DEVICE, 0), 0);
	fk.linked[0] = fk.linked[1] = fk.linked[2] = true;
	ck_assert_int_eq(win_sync(w, 0, 3 * PG), 0);
	ck_assert_uint_eq(fk.calls, 1);
	r = unlink_pages(w, 1, 1, &calls);
	ck_assert_msg(r == -EINVAL && calls == 0,
		      "expected -EINVAL and no call, got %d and %u", r, calls);
	ck_assert_msg(strstr(fk.log, "unlinked whole") && mapped(1),
		      "expected a log line and the page still mapped; log:\n%s",
		      fk.log);
	r = unlink_pages(w, 0, 3, &calls);
	ck_assert_msg(r == 0 && calls == 1 && fk.linked_unmapped == 0,
		      "whole unlink: expected 0 and 1 call, got %d and %u", r,
		      calls);
	win_destroy(w);
}
END_TEST

START_TEST(strict_unlink_of_part_of_an_unsynced_link_trims_it)
{
	struct dmasplit_bwin *w = window();

	ck_assert_int_eq(win_link(w, 0, mem, 3 * PG, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(win_unlink(w, PG, PG, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_uint_eq(fk.calls, 0);
	ck_assert_int_eq(win_sync(w, 0, 3 * PG), 0);
	ck_assert_msg(fk.calls == 2 && mapped(0) && !mapped(1) && mapped(2),
		      "expected the two outer pages mapped in 2 calls, got %u calls",
		      fk.calls);
	win_destroy(w);
}
END_TEST

START_TEST(lazy_partial_unlink_keeps_the_area_and_accounts_it)
{
	struct dmasplit_bwin *w;
	unsigned int calls;
	int r;

	fb->lazy = true;
	w = window();
	link_pages(w, 0, 3);
	ck_assert_msg(fk.calls == 1, "expected one map call for 3 contiguous links, got %u",
		      fk.calls);
	ck_assert_uint_eq(fb->lazy_bytes, 3 * PG);
	r = unlink_pages(w, 1, 1, &calls);
	ck_assert_msg(r == 0 && calls == 0 && mapped(1),
		      "unlink of B: expected 0, no call, B still mapped; got %d, %u",
		      r, calls);
	ck_assert_msg(fs->stale_bytes == PG && fs->bytes_mapped == 3 * PG,
		      "expected 4096 stale of 12288 mapped, got %" PRIu64 " of %" PRIu64,
		      fs->stale_bytes, fs->bytes_mapped);
	/* The unlinked page cannot be linked again while it is mapped. */
	ck_assert_int_eq(win_link(w, PG, mem + 5 * PG, PG, DMASPLIT_TO_DEVICE,
				  DMASPLIT_ATTR_NO_WARN), -EBUSY);
	/* Unlinking it again is refused: nothing is linked there. */
	ck_assert_int_eq(win_unlink(w, PG, PG, DMASPLIT_BIDIRECTIONAL,
				    DMASPLIT_ATTR_NO_WARN), -ENOENT);
	ck_assert_uint_eq(fs->stale_bytes, PG);
	r = unlink_pages(w, 0, 1, &calls);
	ck_assert_msg(r == 0 && calls == 0 && fs->stale_bytes == 2 * PG,
		      "unlink of A: expected 0, no call, 8192 stale; got %d, %u, %" PRIu64,
		      r, calls, fs->stale_bytes);
	r = unlink_pages(w, 2, 1, &calls);
	ck_assert_msg(r == 0 && calls == 1 && !mapped(0) && !mapped(1) &&
		      !mapped(2),
		      "unlink of the last link: expected the area unmapped in 1 call, got %d, %u",
		      r, calls);
	ck_assert_msg(fs->stale_bytes == 0 && fb->lazy_bytes == 0 &&
		      fs->bytes_mapped == 0, "accounting left: %" PRIu64 " %" PRIu64 " %" PRIu64,
		      fs->stale_bytes, fb->lazy_bytes, fs->bytes_mapped);
	ck_assert_uint_eq(fk.linked_unmapped, 0);
	win_destroy(w);
}
END_TEST

START_TEST(lazy_unlink_of_part_of_a_link_keeps_it_mapped)
{
	struct dmasplit_bwin *w;
	unsigned int calls;

	fb->lazy = true;
	w = window();
	ck_assert_int_eq(win_link(w, 0, mem, 3 * PG, DMASPLIT_TO_DEVICE, 0), 0);
	fk.linked[0] = fk.linked[1] = fk.linked[2] = true;
	ck_assert_int_eq(win_sync(w, 0, 3 * PG), 0);
	ck_assert_int_eq(unlink_pages(w, 1, 1, &calls), 0);
	ck_assert_msg(calls == 0 && mapped(1) && fs->stale_bytes == PG,
		      "middle page: expected no call and 4096 kept, got %u, %" PRIu64,
		      calls, fs->stale_bytes);
	ck_assert_int_eq(unlink_pages(w, 0, 1, &calls), 0);
	ck_assert_uint_eq(calls, 0);
	ck_assert_int_eq(unlink_pages(w, 2, 1, &calls), 0);
	ck_assert_msg(calls == 1 && !mapped(0) && !mapped(2) &&
		      fs->stale_bytes == 0 && fk.linked_unmapped == 0,
		      "last page: expected the mapping gone in 1 call, got %u",
		      calls);
	win_destroy(w);
}
END_TEST

START_TEST(lazy_destroy_releases_what_unlink_kept)
{
	struct dmasplit_bwin *w;
	unsigned int calls;

	fb->lazy = true;
	w = window();
	link_pages(w, 0, 3);
	ck_assert_int_eq(unlink_pages(w, 1, 1, &calls), 0);
	calls = fk.calls;
	win_destroy(w);
	ck_assert_msg(fk.calls == calls + 1 && !mapped(0) && !mapped(1) &&
		      !mapped(2), "destroy: expected 1 call and nothing mapped");
	ck_assert_msg(fs->stale_bytes == 0 && fb->lazy_bytes == 0 &&
		      fs->bytes_mapped == 0 && fs->kernel_maps == 0,
		      "accounting left after destroy");
}
END_TEST

START_TEST(lazy_mode_maps_link_by_link_past_its_limit)
{
	struct dmasplit_bwin *w;
	unsigned int calls;

	fb->lazy = true;
	fb->lazy_bytes = LAZY_LIMIT;	/* as if other windows held it all */
	w = window();
	link_pages(w, 0, 3);
	ck_assert_msg(fk.calls == 3, "over the limit: expected 3 map calls, got %u",
		      fk.calls);
	ck_assert_uint_eq(fb->lazy_bytes, LAZY_LIMIT);
	ck_assert_int_eq(unlink_pages(w, 1, 1, &calls), 0);
	ck_assert_msg(calls == 1 && !mapped(1) && fs->stale_bytes == 0,
		      "strict fallback: expected B unmapped in 1 call, nothing kept");
	ck_assert_uint_eq(fk.linked_unmapped, 0);
	/* Part of a link mapped so is refused, saying why on a device
	 * that is lazy already. */
	ck_assert_int_eq(win_link(w, 4 * PG, mem + 4 * PG, 2 * PG,
				  DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(win_sync(w, 0, 8 * PG), 0);
	fk.log[0] = '\0';
	ck_assert_int_eq(win_unlink(w, 4 * PG, PG, DMASPLIT_TO_DEVICE, 0),
			 -EINVAL);
	ck_assert_msg(strstr(fk.log, "mapped past the device's limit of lazy mappings") &&
		      !strstr(fk.log, "open with unlink=lazy"),
		      "log:\n%s", fk.log);
	win_destroy(w);
}
END_TEST

START_TEST(failed_unmap_changes_nothing)
{
	struct dmasplit_bwin *w;
	unsigned int calls;
	bool lazy;

	for (lazy = false; ; lazy = true) {
		memset(fk.id, 0, sizeof(fk.id));
		fb->lazy = lazy;
		w = window();
		link_pages(w, 0, 3);
		if (lazy)	/* leave only C linked in the area */
			ck_assert_int_eq(unlink_pages(w, 0, 2, &calls), 0);
		fk.fail_at = fk.calls + 1;
		ck_assert_msg(unlink_pages(w, 2, 1, &calls) == -EIO,
			      "lazy=%d: expected the kernel's -EIO", lazy);
		ck_assert_msg(mapped(2) && fs->kernel_maps == (lazy ? 1 : 3),
			      "lazy=%d: a failed unlink changed the mappings", lazy);
		ck_assert_uint_eq(fs->stale_bytes, lazy ? 2 * PG : 0);
		fk.fail_at = 0;
		ck_assert_msg(unlink_pages(w, 2, 1, &calls) == 0 && calls == 1 &&
			      !mapped(2),
			      "lazy=%d: the same unlink again: expected it to work in 1 call",
			      lazy);
		ck_assert_uint_eq(fk.linked_unmapped, 0);
		memset(fk.linked, 0, sizeof(fk.linked));	/* destroy unlinks */
		win_destroy(w);
		ck_assert_uint_eq(fs->bytes_mapped, 0);
		ck_assert_uint_eq(fs->stale_bytes, 0);
		if (lazy)
			break;
	}
}
END_TEST

/* A window of three one-page links whose sync fails at the kernel call
 * fail_at, and at fail_too (0: none). */
static struct dmasplit_bwin *sync_failing(unsigned int fail_at,
					  unsigned int fail_too)
{
	struct dmasplit_bwin *w = window();
	unsigned int i;

	for (i = 0; i < 3; i++)
		ck_assert_int_eq(win_link(w, i * PG, mem + i * PG, PG,
					  DMASPLIT_FROM_DEVICE, 0), 0);
	fk.fail_at = fail_at;
	fk.fail_too = fail_too;
	fk.log[0] = '\0';
	ck_assert_int_eq(win_sync(w, 0, 3 * PG), -EIO);
	fk.fail_at = fk.fail_too = 0;
	return w;
}

/* The sync after a failed one maps what is left, calls in all. */
static void sync_again_maps_all(struct dmasplit_bwin *w, unsigned int calls)
{
	ck_assert_int_eq(win_sync(w, 0, 3 * PG), 0);
	ck_assert_msg(mapped(0) && mapped(1) && mapped(2) && fk.calls == calls,
		      "expected all three mapped after the second sync, in %u calls in all, got %u",
		      calls, fk.calls);
	win_destroy(w);
	ck_assert_uint_eq(fs->kernel_maps, 0);
}

/* A sync that fails maps nothing: what it mapped before the failure is
 * unmapped again, and every link waits for another sync, which maps
 * them all. */
START_TEST(failed_map_at_sync_maps_nothing_and_leaves_every_link_pending)
{
	struct dmasplit_bwin *w = sync_failing(2, 0);

	ck_assert_msg(!mapped(0) && !mapped(1) && !mapped(2) &&
		      fk.calls == 3,
		      "expected nothing mapped after the failure, in 3 calls (map, failed map, unmap), got %u",
		      fk.calls);
	ck_assert_uint_eq(fs->kernel_maps, 0);
	ck_assert_uint_eq(fs->bytes_mapped, 0);
	sync_again_maps_all(w, 6);
}
END_TEST

/* Where the kernel also refuses to unmap what the failed sync mapped,
 * that stays mapped and linked, in one line; the links after it wait
 * for another sync. */
START_TEST(failed_sync_whose_undo_is_refused_keeps_what_stays_mapped)
{
	struct dmasplit_bwin *w = sync_failing(2, 3);

	ck_assert_msg(mapped(0) && !mapped(1) && !mapped(2),
		      "expected the first link still mapped");
	ck_assert_uint_eq(fs->kernel_maps, 1);
	ck_assert_msg(strstr(fk.log, "stays mapped: its unmap after the failure was refused") &&
		      !strstr(strstr(fk.log, "stays mapped") + 1, "stays mapped"),
		      "expected one line for what stays mapped; log:\n%s",
		      fk.log);
	ck_assert_int_eq(win_link(w, 0, mem, PG, DMASPLIT_FROM_DEVICE,
				  DMASPLIT_ATTR_NO_WARN), -EEXIST);
	sync_again_maps_all(w, 5);
}
END_TEST

/* A window of one link, the common I/O, in strict mode: a failed map
 * leaves the link for another sync, a failed unmap leaves it mapped and
 * linked; a sync of another range and an unlink of part of it change
 * nothing. */
START_TEST(one_link_window_failures_change_nothing)
{
	struct dmasplit_bwin *w = window();
	unsigned int calls;

	ck_assert_int_eq(win_link(w, PG, mem + PG, PG, DMASPLIT_TO_DEVICE, 0),
			 0);
	ck_assert_int_eq(win_sync(w, 2 * PG, PG), 0);
	ck_assert_msg(!mapped(1) && fk.calls == 0,
		      "a sync of another range mapped the link");
	fk.fail_at = 1;
	ck_assert_int_eq(win_sync(w, 0, 4 * PG), -EIO);
	ck_assert(!mapped(1));
	fk.fail_at = 0;
	ck_assert_int_eq(win_sync(w, 0, 4 * PG), 0);
	ck_assert_msg(mapped(1) && fs->kernel_maps == 1,
		      "the second sync did not map the link");
	ck_assert_int_eq(win_unlink(w, PG, PG / 2, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_msg(!mapped(1),
		      "an unlink inside the granule of a link takes it whole");
	ck_assert_int_eq(win_link(w, PG, mem + PG, PG, DMASPLIT_TO_DEVICE, 0),
			 0);
	ck_assert_int_eq(win_sync(w, PG, PG), 0);
	fk.linked[1] = true;
	fk.fail_at = fk.calls + 1;
	ck_assert_int_eq(unlink_pages(w, 1, 1, &calls), -EIO);
	ck_assert_msg(mapped(1) && fs->kernel_maps == 1,
		      "a failed unlink changed the mapping");
	fk.fail_at = 0;
	ck_assert_msg(unlink_pages(w, 1, 1, &calls) == 0 && calls == 1 &&
		      !mapped(1), "the same unlink again: expected one call");
	ck_assert_uint_eq(fk.linked_unmapped, 0);
	ck_assert_int_eq(unlink_pages(w, 1, 1, &calls), -ENOENT);
	win_destroy(w);
	ck_assert_uint_eq(fs->kernel_maps, 0);
	ck_assert_uint_eq(fs->bytes_mapped, 0);
}
END_TEST

START_TEST(unlink_of_nothing_linked_is_refused)
{
	struct dmasplit_bwin *w = window();
	unsigned int calls;

	link_pages(w, 0, 1);
	ck_assert_int_eq(unlink_pages(w, 4, 2, &calls), -ENOENT);
	ck_assert_msg(calls == 0 && strstr(fk.log, "nothing is linked there"),
		      "expected no call and a log line; log:\n%s", fk.log);
	win_destroy(w);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Ranges: all the kernel reports are kept                              */

/* IOMMU_IOAS_IOVA_RANGES of the fake kernel: n ranges; the others go
 * to the real kernel. */
static uint32_t fake_ranges;
static uint64_t fake_alignment = PG;

int ioctl(int fd, unsigned long request, ...)
{
	struct iommu_ioas_iova_ranges *q;
	struct iommu_iova_range *out;
	va_list ap;
	void *arg;
	uint32_t i;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fd != FAKE_FD || request != IOMMU_IOAS_IOVA_RANGES)
		return (int)syscall(SYS_ioctl, fd, request, arg);
	q = arg;
	if (q->num_iovas < fake_ranges) {
		q->num_iovas = fake_ranges;
		errno = EMSGSIZE;
		return -1;
	}
	out = (struct iommu_iova_range *)(uintptr_t)q->allowed_iovas;
	for (i = 0; i < fake_ranges; i++) {
		out[i].start = 0x100000ull * (2 * i + 1);
		out[i].last = 0x100000ull * (2 * i + 2) - 1;
	}
	q->num_iovas = fake_ranges;
	q->out_iova_alignment = fake_alignment;
	return 0;
}

START_TEST(iommufd_ranges_are_all_kept)
{
	struct dmasplit_range info[DMASPLIT_MAX_RANGES];
	unsigned int n, total;

	fake_ranges = 20;
	ck_assert_int_eq(iommufd_read_ranges(fb), 0);
	ck_assert_msg(fs->num_ranges == 20 && fs->ranges[19].start == 0x2700000,
		      "expected 20 ranges, the last at 0x2700000; got %u",
		      fs->num_ranges);
	n = ranges_below(fs->ranges, fs->num_ranges, PG, UINT64_MAX, info,
			 DMASPLIT_MAX_RANGES, &total);
	ck_assert_msg(n == DMASPLIT_MAX_RANGES && total == 20,
		      "expected 8 of 20 in dev_info, got %u of %u", n, total);
	/* dmasplit_dev_get_ranges has them all, or says how many. */
	{
		struct dmasplit_range all[32];
		unsigned int k = 8;

		ck_assert_int_eq(vfio_get_ranges(fb, all, &k), -ENOSPC);
		ck_assert_uint_eq(k, 20);
		k = 32;
		ck_assert_int_eq(vfio_get_ranges(fb, all, &k), 0);
		ck_assert_uint_eq(k, 20);
		ck_assert_uint_eq(all[19].start, 0x2700000);
	}
	/* Below a mask of 0x9fffff: ranges 1, 3, 5, 7 and part of 9 MiB. */
	n = ranges_below(fs->ranges, fs->num_ranges, PG, 0x9fffff, info,
			 DMASPLIT_MAX_RANGES, &total);
	ck_assert_msg(n == 5 && total == 5 && info[4].last == 0x9fffff,
		      "below the mask: expected 5, the last ending at the mask; got %u",
		      n);
}
END_TEST

START_TEST(type1_ranges_are_all_kept)
{
	struct {
		struct vfio_iommu_type1_info info;
		/* struct vfio_iommu_type1_info_cap_iova_range, whose
		 * flexible array cannot be followed by more members */
		struct vfio_info_cap_header cap;
		__u32 nr_iovas, reserved;
		struct vfio_iova_range r[20];
		struct vfio_iommu_type1_info_dma_avail avail;
	} __attribute__((packed)) buf;
	unsigned int i;

	ck_assert_uint_eq(offsetof(typeof(buf), r) - offsetof(typeof(buf), cap),
			  sizeof(struct vfio_iommu_type1_info_cap_iova_range));
	memset(&buf, 0, sizeof(buf));
	buf.info.argsz = sizeof(buf);
	buf.info.flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
	buf.info.iova_pgsizes = 0x40201000;
	buf.info.cap_offset = offsetof(typeof(buf), cap);
	buf.cap.id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;
	buf.cap.next = offsetof(typeof(buf), avail);
	buf.nr_iovas = 20;
	for (i = 0; i < 20; i++) {
		buf.r[i].start = 0x100000ull * (2 * i + 1);
		buf.r[i].end = 0x100000ull * (2 * i + 2) - 1;
	}
	buf.avail.header.id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL;
	buf.avail.avail = 1000;
	ck_assert_int_eq(type1_parse_info(fb, &buf, sizeof(buf)), 0);
	ck_assert_msg(fs->num_ranges == 20 && fs->granule == PG &&
		      fs->map_limit == 1000,
		      "expected 20 ranges, granule 4096, limit 1000; got %u, %" PRIu64 ", %u",
		      fs->num_ranges, fs->granule, fs->map_limit);
	/* A capability that claims more ranges than the answer holds is
	 * read as far as it goes, and a chain pointing back ends. */
	buf.nr_iovas = 1000;
	buf.avail.header.next = buf.info.cap_offset;
	ck_assert_int_eq(type1_parse_info(fb, &buf, offsetof(typeof(buf), r[3])), 0);
	ck_assert_msg(fs->num_ranges == 3, "truncated answer: expected 3 ranges, got %u",
		      fs->num_ranges);
	ck_assert_int_eq(type1_parse_info(fb, &buf, sizeof(buf)), 0);
	ck_assert_uint_eq(fs->num_ranges, 20);
}
END_TEST

/* Teardown cannot fail, but addresses the allocator refuses to take
 * back are a bookkeeping error worth a line. */
START_TEST(refused_iova_free_is_logged)
{
	struct dmasplit_bwin *w = window();

	link_pages(w, 0, 1);
	fk.free_error = -EINVAL;
	win_destroy(w);
	ck_assert_msg(strstr(fk.log, "not given back to the allocator"),
		      "log:\n%s", fk.log);
}
END_TEST

/* Coherent memory is aligned, at its CPU and its device address, to the
 * smallest power-of-two number of pages that holds it, as the kernel's
 * dma_alloc_coherent is, from an allocator that hands out an address
 * one page past an aligned one; what the alignment took beyond the
 * mapping goes back at once, and the rest at the free. */
START_TEST(coherent_memory_is_aligned_to_its_size_order)
{
	static const size_t sizes[] = {
		1, 4096, 4097, 10000, 65536, 65537, 1 << 20,
	};
	const struct dmasplit_backend_ops *ops = DMASPLIT_BACKEND_ENTRY();
	unsigned int j;

	for (j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
		uint64_t dma, align, len = (sizes[j] + PG - 1) & ~(uint64_t)(PG - 1);
		void *cpu;

		for (align = PG; align < sizes[j]; align *= 2)
			;
		fk.alloc_at = FK_BASE + PG;
		fk.freed = 0;
		ck_assert_int_eq(ops->alloc_coherent(fb, sizes[j], 0,
								      &cpu, &dma), 0);
		ck_assert_msg(!(dma & (align - 1)) && !((uintptr_t)cpu & (align - 1)),
			      "%zu bytes of coherent memory at dma 0x%" PRIx64 ", cpu %p: not aligned to 0x%" PRIx64,
			      sizes[j], dma, cpu, align);
		ck_assert_uint_eq(fk.freed, align - PG);
		memset(cpu, 0x44, sizes[j]);
		ck_assert_int_eq(ops->free_coherent(fb, sizes[j], cpu, dma), 0);
		ck_assert_uint_eq(fk.freed, align - PG + len);
	}
}
END_TEST

/* In a named space the kernel would unmap any member's mapping for any
 * other: the backend lets only the member that made it do so. */
START_TEST(a_member_cannot_unmap_another_members_mapping)
{
	const struct dmasplit_backend_ops *ops = DMASPLIT_BACKEND_ENTRY();
	struct dmasplit_bdev *other = calloc(1, sizeof(*other));
	struct dmasplit_seg seg;
	struct iovec iov = { mem, PG };
	unsigned int nsegs = 1, calls;
	uint64_t dma;

	ck_assert_ptr_nonnull(other);
	other->host = fb->host;
	other->sp = fs;
	other->limit = UINT64_MAX;
	snprintf(other->name, sizeof(other->name), "0000:00:05.0");
	snprintf(fs->name, sizeof(fs->name), "s");
	fs->members = fb;
	fb->sp_next = other;
	fs->nmembers = 2;

	ck_assert_int_eq(ops->map(fb, mem, PG, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	calls = fk.calls;
	ck_assert_int_eq(ops->unmap(other, dma, PG, DMASPLIT_TO_DEVICE, 0),
			 -EINVAL);
	ck_assert_msg(strstr(fk.log, "another device of address space s (0000:00:04.0) mapped it"),
		      "log:\n%s", fk.log);
	ck_assert_uint_eq(fk.calls, calls);
	ck_assert(mapped(page_of(dma)));
	ck_assert_int_eq(ops->unmap(fb, dma, PG, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert(!mapped(page_of(dma)));

	ck_assert_int_eq(ops->map_vec(fb, &iov, 1, DMASPLIT_TO_DEVICE, 0, &seg,
				      &nsegs), 0);
	ck_assert_int_eq(ops->unmap_vec(other, &seg, 1, DMASPLIT_TO_DEVICE, 0),
			 -EINVAL);
	ck_assert(mapped(page_of(seg.dma)));
	ck_assert_int_eq(ops->unmap_vec(fb, &seg, 1, DMASPLIT_TO_DEVICE, 0), 0);

	/* Not only at a mapping's start: a later page of a vector is the
	 * maker's too. */
	{
		struct iovec two[2] = { { mem, PG }, { mem + 2 * PG, PG } };
		struct dmasplit_seg segs[2];

		nsegs = 2;
		ck_assert_int_eq(ops->map_vec(fb, two, 2, DMASPLIT_TO_DEVICE, 0,
					      segs, &nsegs), 0);
		ck_assert_uint_eq(nsegs, 2);
		ck_assert_int_eq(ops->unmap(other, segs[1].dma, PG,
					    DMASPLIT_TO_DEVICE, 0), -EINVAL);
		ck_assert(mapped(page_of(segs[1].dma)));
		/* Nor does the maker unmap part of it. */
		ck_assert_int_eq(ops->unmap(fb, segs[1].dma, PG,
					    DMASPLIT_TO_DEVICE, 0), -ENOENT);
		ck_assert(mapped(page_of(segs[1].dma)));
		ck_assert_int_eq(ops->unmap_vec(fb, segs, 2, DMASPLIT_TO_DEVICE, 0),
				 0);
	}

	/* A vector goes whole, by unmap_vec with the segments map_vec gave:
	 * not by unmap over its whole span, nor with a segment left out
	 * between the first and the last; a mapping not by unmap_vec. */
	{
		struct iovec three[3] = { { mem, PG }, { mem + 2 * PG, PG },
					  { mem + 4 * PG, PG } };
		struct dmasplit_seg segs[3], ends[2];

		nsegs = 3;
		ck_assert_int_eq(ops->map_vec(fb, three, 3, DMASPLIT_TO_DEVICE, 0,
					      segs, &nsegs), 0);
		ck_assert_uint_eq(nsegs, 3);
		calls = fk.calls;
		fk.log[0] = '\0';
		ck_assert_int_eq(ops->unmap(fb, segs[0].dma, 3 * PG,
					    DMASPLIT_TO_DEVICE, 0), -EINVAL);
		ck_assert_msg(strstr(fk.log, "that is a dmasplit_map_vec vector; unmap it with dmasplit_unmap_vec"),
			      "log:\n%s", fk.log);
		ends[0] = segs[0];
		ends[1] = segs[2];
		ck_assert_int_eq(ops->unmap_vec(fb, ends, 2, DMASPLIT_TO_DEVICE, 0),
				 -EINVAL);
		ck_assert_msg(strstr(fk.log, "unmap_vec of 2 segments at"),
			      "log:\n%s", fk.log);
		ck_assert_uint_eq(fk.calls, calls);
		ck_assert(mapped(page_of(segs[1].dma)));
		ck_assert_int_eq(ops->unmap_vec(fb, segs, 3, DMASPLIT_TO_DEVICE, 0),
				 0);
		ck_assert(!mapped(page_of(segs[1].dma)));

		/* One buffer: one segment, as a mapping of its own would be. */
		nsegs = 1;
		ck_assert_int_eq(ops->map_vec(fb, three, 1, DMASPLIT_TO_DEVICE, 0,
					      segs, &nsegs), 0);
		ck_assert_int_eq(ops->unmap(fb, segs[0].dma, PG,
					    DMASPLIT_TO_DEVICE, 0), -EINVAL);
		ck_assert_int_eq(ops->unmap_vec(fb, segs, 1, DMASPLIT_TO_DEVICE, 0),
				 0);
		ck_assert_int_eq(ops->map(fb, mem, PG, DMASPLIT_TO_DEVICE, 0,
					  &segs[0].dma), 0);
		segs[0].len = PG;
		ck_assert_int_eq(ops->unmap_vec(fb, segs, 1, DMASPLIT_TO_DEVICE, 0),
				 -EINVAL);
		ck_assert_int_eq(ops->unmap(fb, segs[0].dma, PG,
					    DMASPLIT_TO_DEVICE, 0), 0);
	}

	fs->members = NULL;
	fb->sp_next = NULL;
	free(fb->owned);
	fb->owned = NULL;
	free(other);
}
END_TEST

/* The kernel would unmap a window's link for a per-range unmap of its
 * address: the backend knows its mappings and refuses it first. */
START_TEST(an_unmap_of_a_window_address_is_refused)
{
	const struct dmasplit_backend_ops *ops = DMASPLIT_BACKEND_ENTRY();
	struct dmasplit_bwin *w = window();
	unsigned int calls;

	link_pages(w, 0, 2);
	calls = fk.calls;
	ck_assert_int_eq(ops->unmap(fb, FK_BASE, PG, DMASPLIT_TO_DEVICE, 0),
			 -ENOENT);
	ck_assert_uint_eq(fk.calls, calls);
	ck_assert(mapped(page_of(FK_BASE)));
	ck_assert_msg(strstr(fk.log, "a window's address"), "log:\n%s", fk.log);
	ck_assert_int_eq(unlink_pages(w, 0, 2, &calls), 0);
	win_destroy(w);
}
END_TEST

/* A free of coherent memory is checked against the allocation: another
 * size or CPU address would unmap what the caller still uses. */
START_TEST(coherent_free_is_checked_against_the_allocation)
{
	const struct dmasplit_backend_ops *ops = DMASPLIT_BACKEND_ENTRY();
	uint64_t dma;
	void *cpu;

	ck_assert_int_eq(ops->alloc_coherent(fb, 100, 0, &cpu, &dma), 0);
	fk.log[0] = '\0';
	ck_assert_int_eq(ops->free_coherent(fb, 200, cpu, dma), -EINVAL);
	ck_assert_msg(strstr(fk.log, "allocated as"), "log:\n%s", fk.log);
	ck_assert_int_eq(ops->free_coherent(fb, 100, (char *)cpu + PG, dma),
			 -EINVAL);
	ck_assert_int_eq(ops->free_coherent(fb, 100, cpu, dma + PG), -ENOENT);
	ck_assert(strstr(fk.log, "no coherent memory there"));
	ck_assert(mapped(page_of(dma)));
	memset(cpu, 0x55, 100);
	ck_assert_int_eq(ops->free_coherent(fb, 100, cpu, dma), 0);
	ck_assert(!mapped(page_of(dma)));
	ck_assert_int_eq(ops->free_coherent(fb, 100, cpu, dma), -ENOENT);
}
END_TEST

/* A map the kernel refuses for memory says the pinning limit, which is
 * what the caller can raise (dmasplit_map(3), ENOMEM). */
START_TEST(a_map_refused_for_memory_names_the_pinning_limit)
{
	struct rlimit rl, old;
	char buf[80];
	const char *hint;

	ck_assert_int_eq(getrlimit(RLIMIT_MEMLOCK, &old), 0);
	rl = old;
	rl.rlim_cur = old.rlim_max == RLIM_INFINITY || old.rlim_max >= 65536 ?
		      65536 : old.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_MEMLOCK, &rl), 0);
	hint = memlock_hint(-ENOMEM, buf, sizeof(buf));
	ck_assert_msg(strstr(hint, "RLIMIT_MEMLOCK") &&
		      strtoull(strstr(hint, "RLIMIT_MEMLOCK") + 15, NULL, 10) ==
		      rl.rlim_cur, "hint: '%s'", hint);
	ck_assert_str_eq(memlock_hint(-EFAULT, buf, sizeof(buf)), "");
	ck_assert_int_eq(setrlimit(RLIMIT_MEMLOCK, &old), 0);
}
END_TEST

/* A vector that meets the type1 container's mapping limit part-way
 * gives back what it mapped, and the count of live mappings stays
 * right: the next map is not refused as over the limit. */
START_TEST(a_vector_at_the_mapping_limit_leaves_the_count_right)
{
	const struct dmasplit_backend_ops *ops = DMASPLIT_BACKEND_ENTRY();
	struct iovec three[3] = { { mem, PG }, { mem + 2 * PG, PG },
				  { mem + 4 * PG, PG } };
	struct dmasplit_seg segs[3];
	unsigned int nsegs = 3, p;
	uint64_t dma;

	fs->map_limit = 2;
	ck_assert_int_eq(ops->map_vec(fb, three, 3, DMASPLIT_TO_DEVICE, 0, segs,
				      &nsegs), -ENOSPC);
	ck_assert_msg(strstr(fk.log, "holds its limit of 2"), "log:\n%s", fk.log);
	ck_assert_uint_eq(fs->kernel_maps, 0);
	ck_assert_uint_eq(fs->bytes_mapped, 0);
	for (p = 0; p < FK_PAGES; p++)
		ck_assert(!mapped(p));
	ck_assert_int_eq(ops->map(fb, mem, PG, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_uint_eq(fs->kernel_maps, 1);
	ck_assert_int_eq(ops->unmap(fb, dma, PG, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_uint_eq(fs->kernel_maps, 0);
	/* Out of segments, the runs mapped go as well. */
	nsegs = 2;
	fs->map_limit = 0;
	ck_assert_int_eq(ops->map_vec(fb, three, 3, DMASPLIT_TO_DEVICE, 0, segs,
				      &nsegs), -ENOSPC);
	ck_assert_uint_eq(fs->kernel_maps, 0);
}
END_TEST

/* A link over a granule linked and not yet synced would make the
 * kernel refuse every sync: it is refused at the link where that costs
 * little, and otherwise by the sync, before anything is mapped. */
START_TEST(a_link_over_a_pending_link_is_refused)
{
	struct dmasplit_bwin *w = window();
	unsigned int i;

	ck_assert_int_eq(win_link(w, 0, mem, PG, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(win_link(w, 0, mem + PG, PG, DMASPLIT_TO_DEVICE, 0),
			 -EEXIST);
	ck_assert_msg(strstr(fk.log, "a granule of it is linked already"),
		      "log:\n%s", fk.log);
	/* Within one granule: the kernel maps it whole. */
	ck_assert_int_eq(win_link(w, 512, mem + 512, 512, DMASPLIT_TO_DEVICE,
				  DMASPLIT_ATTR_NO_WARN), -EEXIST);
	ck_assert_int_eq(win_sync(w, 0, 8 * PG), 0);
	ck_assert_uint_eq(fk.calls, 1);
	ck_assert_int_eq(win_unlink(w, 0, PG, DMASPLIT_TO_DEVICE, 0), 0);
	win_destroy(w);

	/* Many links pending, the new one among them: the sync finds it,
	 * names both, and maps nothing; unlinking the range that covers
	 * both clears the way. */
	{
		uint8_t *buf = aligned_alloc(PG, 40 * PG);
		uint64_t size = 40 * PG, addr;

		ck_assert_ptr_nonnull(buf);
		ck_assert_int_eq(win_alloc(fb, size, 0, &w, &addr), 0);
		for (i = 0; i < 40; i += 2)
			ck_assert_int_eq(win_link(w, i * PG, buf + i * PG, PG,
						  DMASPLIT_BIDIRECTIONAL, 0), 0);
		ck_assert_int_eq(win_link(w, 9 * PG, buf + 9 * PG, 2 * PG,
					  DMASPLIT_BIDIRECTIONAL, 0), 0);
		fk.calls = 0;
		fk.log[0] = '\0';
		ck_assert_int_eq(win_sync(w, 0, size), -EEXIST);
		ck_assert_msg(strstr(fk.log, "link at window offset 0xa000+0x1000 meets the link at 0x9000+0x2000: nothing mapped; unlink the range that covers both"),
			      "log:\n%s", fk.log);
		ck_assert_uint_eq(fk.calls, 0);
		ck_assert_uint_eq(fs->kernel_maps, 0);
		/* A sync of a range the overlap is not in maps its links. */
		ck_assert_int_eq(win_sync(w, 12 * PG, size - 12 * PG), 0);
		ck_assert_uint_eq(fk.calls, 14);
		ck_assert_int_eq(win_unlink(w, 9 * PG, 2 * PG,
					    DMASPLIT_BIDIRECTIONAL, 0), 0);
		ck_assert_int_eq(win_link(w, 10 * PG, buf + 10 * PG, PG,
					  DMASPLIT_BIDIRECTIONAL, 0), 0);
		ck_assert_int_eq(win_sync(w, 0, size), 0);
		ck_assert_uint_eq(fs->kernel_maps, 20);

		/* One of two overlapping links mapped by a ranged sync: the
		 * other's sync names what is mapped. */
		ck_assert_int_eq(win_unlink(w, 0, size, DMASPLIT_BIDIRECTIONAL,
					    0), 0);
		ck_assert_uint_eq(fs->kernel_maps, 0);
		for (i = 0; i < 20; i++)
			if (i != 13)
				ck_assert_int_eq(win_link(w, i * PG, buf + i * PG,
							  PG, DMASPLIT_BIDIRECTIONAL,
							  0), 0);
		ck_assert_int_eq(win_link(w, 13 * PG, buf + 13 * PG, 2 * PG,
					  DMASPLIT_BIDIRECTIONAL, 0), 0);
		ck_assert_int_eq(win_sync(w, 13 * PG, PG), 0);
		ck_assert_uint_eq(fs->kernel_maps, 1);
		fk.log[0] = '\0';
		ck_assert_int_eq(win_sync(w, 0, size), -EEXIST);
		ck_assert_msg(strstr(fk.log, "link at window offset 0xe000+0x1000 meets what is mapped at 0xd000+0x2000"),
			      "log:\n%s", fk.log);
		ck_assert_uint_eq(fs->kernel_maps, 1);
		ck_assert_int_eq(win_unlink(w, 13 * PG, 2 * PG,
					    DMASPLIT_BIDIRECTIONAL, 0), 0);
		ck_assert_int_eq(win_sync(w, 0, size), 0);
		ck_assert_uint_eq(fs->kernel_maps, 18);
		win_destroy(w);
		ck_assert_uint_eq(fs->kernel_maps, 0);
		free(buf);
	}
}
END_TEST

/* An unmap names the mapping's bytes exactly, as the simulated device
 * asks: not only its granules.  Coherent memory is freed, not
 * unmapped. */
START_TEST(an_unmap_must_name_the_mapping_exactly)
{
	const struct dmasplit_backend_ops *ops = DMASPLIT_BACKEND_ENTRY();
	uint64_t dma, cdma;
	void *cpu;

	ck_assert_int_eq(ops->map(fb, mem + 8, 3000, DMASPLIT_TO_DEVICE, 0,
				  &dma), 0);
	ck_assert_int_eq(ops->unmap(fb, dma, 100, DMASPLIT_TO_DEVICE, 0),
			 -EINVAL);
	ck_assert_msg(strstr(fk.log, "the mapping there is"), "log:\n%s", fk.log);
	ck_assert_int_eq(ops->unmap(fb, dma + 8, 2992, DMASPLIT_TO_DEVICE, 0),
			 -EINVAL);
	ck_assert_int_eq(ops->unmap(fb, dma - 8, 3008, DMASPLIT_TO_DEVICE,
				    DMASPLIT_ATTR_NO_WARN), -EINVAL);
	ck_assert(mapped(page_of(dma)));
	ck_assert_int_eq(ops->unmap(fb, dma, 3000, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert(!mapped(page_of(dma)));

	ck_assert_int_eq(ops->alloc_coherent(fb, PG, 0, &cpu, &cdma), 0);
	fk.log[0] = '\0';
	ck_assert_int_eq(ops->unmap(fb, cdma, PG, DMASPLIT_BIDIRECTIONAL, 0),
			 -EINVAL);
	ck_assert_msg(strstr(fk.log, "that is coherent memory; free it with dmasplit_free_coherent"),
		      "log:\n%s", fk.log);
	ck_assert(mapped(page_of(cdma)));
	ck_assert_int_eq(ops->free_coherent(fb, PG, cpu, cdma), 0);
	ck_assert(!mapped(page_of(cdma)));
}
END_TEST

/* Maps and unmaps interleaved, so that the records' index grows while
 * some are gone and loses entries in every order: each mapping is
 * found by its unmap, once. */
START_TEST(mappings_made_and_undone_interleaved)
{
	const struct dmasplit_backend_ops *ops = DMASPLIT_BACKEND_ENTRY();
	enum { N = 480 };
	static uint64_t dma[N];
	static bool live[N];
	unsigned int step, i, nlive = 0;
	uint32_t x = 12345;

	memset(live, 0, sizeof(live));
	for (step = 0; step < 6000; step++) {
		x = x * 1103515245u + 12345u;
		i = (x >> 8) % N;
		if (!live[i]) {
			/* Page i is mapping i's: no two live ones share. */
			fk.alloc_at = FK_BASE + (uint64_t)i * PG;
			ck_assert_int_eq(ops->map(fb, mem + (i % 7) * PG, 64,
						  DMASPLIT_TO_DEVICE, 0,
						  &dma[i]), 0);
			live[i] = true;
			nlive++;
		} else {
			ck_assert_msg(ops->unmap(fb, dma[i], 64,
						 DMASPLIT_TO_DEVICE, 0) == 0,
				      "step %u: unmap %u", step, i);
			ck_assert_int_eq(ops->unmap(fb, dma[i], 64,
						    DMASPLIT_TO_DEVICE,
						    DMASPLIT_ATTR_NO_WARN),
					 -ENOENT);
			live[i] = false;
			nlive--;
		}
		ck_assert_uint_eq(fb->nowned, nlive);
	}
	for (i = 0; i < N; i++)
		if (live[i])
			ck_assert_int_eq(ops->unmap(fb, dma[i], 64,
						    DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_uint_eq(fb->nowned, 0);
}
END_TEST

/* Many live mappings, undone in an order neither the one they were made
 * in nor its reverse: each unmap finds its own mapping, a second one is
 * refused, and a mapping's later page is still no mapping's start. */
START_TEST(many_mappings_unmapped_in_any_order)
{
	const struct dmasplit_backend_ops *ops = DMASPLIT_BACKEND_ENTRY();
	enum { N = 400 };
	static uint64_t dma[N];
	unsigned int i, k;

	for (i = 0; i < N; i++) {
		/* The fake allocator hands out what it is told. */
		fk.alloc_at = FK_BASE + (uint64_t)i * PG;
		ck_assert_int_eq(ops->map(fb, mem + (i % 7) * PG + 16, 100 + i,
					  DMASPLIT_TO_DEVICE, 0, &dma[i]), 0);
		ck_assert(mapped(page_of(dma[i])));
	}
	/* 397 is prime to N: every index once. */
	for (k = 0; k < N; k++) {
		i = (k * 397u) % N;
		ck_assert_msg(ops->unmap(fb, dma[i], 100 + i, DMASPLIT_TO_DEVICE,
					 0) == 0, "unmap %u (the %u-th)", i, k);
		ck_assert(!mapped(page_of(dma[i])));
		ck_assert_int_eq(ops->unmap(fb, dma[i], 100 + i,
					    DMASPLIT_TO_DEVICE,
					    DMASPLIT_ATTR_NO_WARN), -ENOENT);
		if (k % 100 == 0) {
			unsigned int j = (i + 1) % N;

			/* Another one still there, found again. */
			if (mapped(page_of(dma[j]))) {
				ck_assert_int_eq(ops->unmap(fb, dma[j], 99 + j,
							    DMASPLIT_TO_DEVICE,
							    DMASPLIT_ATTR_NO_WARN),
						 -EINVAL);
				ck_assert(mapped(page_of(dma[j])));
			}
		}
	}
}
END_TEST

/* DMASPLIT_ATTR_NO_WARN keeps the backend's refusals and the kernel's
 * failures of that call out of the log. */
START_TEST(no_warn_keeps_refusals_and_kernel_failures_quiet)
{
	const struct dmasplit_backend_ops *ops = DMASPLIT_BACKEND_ENTRY();
	struct dmasplit_bwin *w = window();
	uint64_t dma;

	ck_assert_int_eq(win_link(w, 0, mem + 8, 100, DMASPLIT_TO_DEVICE,
				  DMASPLIT_ATTR_NO_WARN), -EINVAL);
	fk.fail_at = fk.calls + 1;
	ck_assert_int_eq(ops->map(fb, mem, PG, DMASPLIT_TO_DEVICE,
				  DMASPLIT_ATTR_NO_WARN, &dma), -EIO);
	ck_assert_msg(!fk.log[0], "log:\n%s", fk.log);
	fk.fail_at = fk.calls + 1;
	ck_assert_int_eq(ops->map(fb, mem, PG, DMASPLIT_TO_DEVICE, 0, &dma),
			 -EIO);
	ck_assert_msg(strstr(fk.log, "FAKE_MAP iova 0x100000 length 0x1000"),
		      "log:\n%s", fk.log);
	win_destroy(w);
}
END_TEST

/* A device joining a space reads the kernel's answer for itself, but
 * the granule and the container's limit stay the space's: the members
 * read them without the lock. */
START_TEST(a_join_keeps_the_space_s_granule_and_limit)
{
	struct {
		struct vfio_iommu_type1_info info;
		struct vfio_iommu_type1_info_dma_avail avail;
	} __attribute__((packed)) buf;

	memset(&buf, 0, sizeof(buf));
	buf.info.argsz = sizeof(buf);
	buf.info.flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
	buf.info.iova_pgsizes = 0x10000;
	buf.info.cap_offset = offsetof(typeof(buf), avail);
	buf.avail.header.id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL;
	buf.avail.avail = 10;
	fs->map_limit = 1000;
	fs->nmembers = 1;
	ck_assert_int_eq(type1_parse_info(fb, &buf, sizeof(buf)), 0);
	ck_assert_uint_eq(fs->granule, PG);
	ck_assert_uint_eq(fs->map_limit, 1000);
	fake_ranges = 3;
	fake_alignment = 0x10000;
	ck_assert_int_eq(iommufd_read_ranges(fb), 0);
	ck_assert_uint_eq(fs->num_ranges, 3);
	ck_assert_uint_eq(fs->granule, PG);
	fs->nmembers = 0;
	ck_assert_int_eq(iommufd_read_ranges(fb), 0);
	ck_assert_uint_eq(fs->granule, 0x10000);
	fake_alignment = PG;
	fs->granule = 0;
	ck_assert_int_eq(type1_parse_info(fb, &buf, sizeof(buf)), 0);
	ck_assert_uint_eq(fs->granule, 0x10000);
	ck_assert_uint_eq(fs->map_limit, 10);
	fs->granule = PG;
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vfio");
	TCase *tc = tcase_create("fake-kernel");

	if (!tu_backend_built("vfio"))
		tu_skip_all("the vfio backend is not built");
	tu_plugin_dir();
	tcase_add_checked_fixture(tc, fake_setup, fake_teardown);
	tcase_add_test(tc, strict_sync_maps_each_link_alone);
	tcase_add_test(tc, strict_partial_unlink_never_unmaps_a_linked_page);
	tcase_add_test(tc, strict_unlink_of_part_of_a_link_is_refused);
	tcase_add_test(tc, strict_unlink_of_part_of_an_unsynced_link_trims_it);
	tcase_add_test(tc, lazy_partial_unlink_keeps_the_area_and_accounts_it);
	tcase_add_test(tc, lazy_unlink_of_part_of_a_link_keeps_it_mapped);
	tcase_add_test(tc, lazy_destroy_releases_what_unlink_kept);
	tcase_add_test(tc, lazy_mode_maps_link_by_link_past_its_limit);
	tcase_add_test(tc, failed_unmap_changes_nothing);
	tcase_add_test(tc, failed_map_at_sync_maps_nothing_and_leaves_every_link_pending);
	tcase_add_test(tc, failed_sync_whose_undo_is_refused_keeps_what_stays_mapped);
	tcase_add_test(tc, one_link_window_failures_change_nothing);
	tcase_add_test(tc, unlink_of_nothing_linked_is_refused);
	tcase_add_test(tc, iommufd_ranges_are_all_kept);
	tcase_add_test(tc, type1_ranges_are_all_kept);
	tcase_add_test(tc, refused_iova_free_is_logged);
	tcase_add_test(tc, coherent_memory_is_aligned_to_its_size_order);
	tcase_add_test(tc, a_map_refused_for_memory_names_the_pinning_limit);
	tcase_add_test(tc, a_member_cannot_unmap_another_members_mapping);
	tcase_add_test(tc, coherent_free_is_checked_against_the_allocation);
	tcase_add_test(tc, an_unmap_of_a_window_address_is_refused);
	tcase_add_test(tc, a_vector_at_the_mapping_limit_leaves_the_count_right);
	tcase_add_test(tc, a_link_over_a_pending_link_is_refused);
	tcase_add_test(tc, an_unmap_must_name_the_mapping_exactly);
	tcase_add_test(tc, many_mappings_unmapped_in_any_order);
	tcase_add_test(tc, mappings_made_and_undone_interleaved);
	tcase_add_test(tc, no_warn_keeps_refusals_and_kernel_failures_quiet);
	tcase_add_test(tc, a_join_keeps_the_space_s_granule_and_limit);
	suite_add_tcase(s, tc);
	return tu_main(s);
}

