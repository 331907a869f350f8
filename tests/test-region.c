// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Registered regions: mapped once, then any buffer inside is mapped by an
 * address computation.  Checked from the device side on the simulated
 * device (what the device reads and writes through those addresses, and
 * that they fault once the region is gone), with the checker off and on;
 * the counters; and every refusal: bad arguments, devices where a mapping
 * would need a copy or a flush, overlapping regions, unmaps of nothing,
 * a region freed under its mappings.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "testutil.h"

#define G 4096u
#define PAGES 16u

static const char *const plugins[] = { "swiotlb-sim", NULL };
static struct dmasplit_ctx *ctx;
static struct dmasplit_dev *dev;
static uint8_t *mem;

static void setup(void)
{
	unsigned int i;

	ctx = tu_ctx_with(plugins);
	mem = aligned_alloc(G, PAGES * G);
	ck_assert_ptr_nonnull(mem);
	for (i = 0; i < PAGES * G; i++)
		mem[i] = (uint8_t)(i * 13 + (i >> 12));
}

static void teardown(void)
{
	dmasplit_dev_close(dev);
	dev = NULL;
	tu_ctx_free(ctx);
	ctx = NULL;
	free(mem);
	mem = NULL;
}

static void open_dev(const char *spec)
{
	int r = dmasplit_dev_open_backend(ctx, spec, "swiotlb-sim", &dev);

	ck_assert_msg(r == 0, "open %s: %d; log:\n%s", spec, r, tu_log_text());
}

static struct dmasplit_dev_stats stats(void)
{
	struct dmasplit_dev_stats s = { .size = sizeof(s) };

	ck_assert_int_eq(dmasplit_dev_get_stats(dev, &s), 0);
	return s;
}

static struct dmasplit_region *region_of(size_t first, size_t pages,
					 enum dmasplit_dir dir)
{
	struct dmasplit_region *reg = NULL;
	int r = dmasplit_region_new(dev, mem + first * G, pages * G, dir, 0,
				    &reg);

	ck_assert_msg(r == 0, "region_new: %d; log:\n%s", r, tu_log_text());
	ck_assert_ptr_nonnull(reg);
	ck_assert_uint_ne(dmasplit_region_addr(reg), 0);
	return reg;
}

static const char *const checker_specs[] = { "sim:r", "sim:r,untrusted=1" };

static void open_checked(int i)
{
	dmasplit_ctx_set_check(ctx, i >= 2);
	open_dev(checker_specs[i % 2]);
}

/* A buffer inside the region: its address in the region, what the device
 * reads there, what it writes seen by the CPU with no sync; no backend
 * call at map, unmap or sync. */
START_TEST(buffer_inside_is_mapped_at_its_region_address)
{
	struct dmasplit_region *reg;
	struct dmasplit_dev_stats before, after;
	uint8_t buf[300], in[300];
	uint64_t dma = 0, base;

	open_checked(_i);
	reg = region_of(2, 8, DMASPLIT_BIDIRECTIONAL);
	base = dmasplit_region_addr(reg);
	before = stats();
	ck_assert_int_eq(dmasplit_map(dev, mem + 5 * G + 100, sizeof(buf),
				      DMASPLIT_FROM_DEVICE, 0, &dma), 0);
	ck_assert_uint_eq(dma, base + 3 * G + 100);
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, dma, in, sizeof(in)), 0);
	ck_assert_mem_eq(in, mem + 5 * G + 100, sizeof(in));
	memset(buf, 0x5a, sizeof(buf));
	ck_assert_int_eq(dmasplit_dev_dma_write(dev, dma, buf, sizeof(buf)), 0);
	ck_assert_int_eq(dmasplit_sync_for_cpu(dev, dma, sizeof(buf),
					       DMASPLIT_FROM_DEVICE), 0);
	ck_assert_mem_eq(mem + 5 * G + 100, buf, sizeof(buf));
	ck_assert_int_eq(dmasplit_sync_for_device(dev, dma, sizeof(buf),
						  DMASPLIT_FROM_DEVICE), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, sizeof(buf),
					DMASPLIT_FROM_DEVICE, 0), 0);
	after = stats();
	ck_assert_uint_eq(after.maps, before.maps + 1);
	ck_assert_uint_eq(after.unmaps, before.unmaps + 1);
	ck_assert_uint_eq(after.kernel_calls, before.kernel_calls);
	ck_assert_uint_eq(after.mappings_live, before.mappings_live);
	/* Once unmapped, it is not the region's to unmap again: misuse the
	 * checker reports. */
	ck_assert_int_eq(dmasplit_unmap(dev, dma, sizeof(buf),
					DMASPLIT_FROM_DEVICE, 0), -ENOENT);
	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx), _i >= 2);
	ck_assert_int_eq(dmasplit_region_free(reg), 0);
	/* Gone: the device no longer reaches the memory. */
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, base, in, 16), -EFAULT);
	ck_assert_uint_eq(stats().windows_live, 0);
	ck_assert_uint_eq(stats().mappings_live, 0);
	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx), _i >= 2);
}
END_TEST

/* Two mappings through a region: unmapping one twice is refused, and the
 * other keeps the region (-EBUSY) until it goes.  Without the checker the
 * region counts the mappings that start in each granule, so the two
 * start in different ones; with it, each mapping is known whole, so they
 * share one. */
START_TEST(a_second_unmap_in_a_region_is_refused)
{
	struct dmasplit_region *reg;
	uint64_t a = 0, b = 0;
	size_t gap = _i >= 2 ? 200 : G;

	open_checked(_i);
	reg = region_of(0, 4, DMASPLIT_TO_DEVICE);
	ck_assert_int_eq(dmasplit_map(dev, mem, 100, DMASPLIT_TO_DEVICE, 0, &a),
			 0);
	ck_assert_int_eq(dmasplit_map(dev, mem + gap, 100, DMASPLIT_TO_DEVICE,
				      0, &b), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, a, 100, DMASPLIT_TO_DEVICE, 0), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_unmap(dev, a, 100, DMASPLIT_TO_DEVICE, 0),
			 -ENOENT);
	ck_assert_msg(tu_log_count("\n") == 1, "log:\n%s", tu_log_text());
	ck_assert_int_eq(dmasplit_unmap(dev, a, 100, DMASPLIT_TO_DEVICE,
					DMASPLIT_ATTR_NO_WARN), -ENOENT);
	ck_assert_uint_eq(stats().mappings_live, 1);
	ck_assert_int_eq(dmasplit_region_free(reg), -EBUSY);
	ck_assert(tu_log_has("1 mappings through region"));
	ck_assert_int_eq(dmasplit_unmap(dev, b, 100, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_region_free(reg), 0);
	ck_assert_uint_eq(stats().mappings_live, 0);
	/* Both second unmaps, the one kept out of the log too. */
	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx),
			  _i >= 2 ? 2 : 0);
}
END_TEST

/* A vector through a region goes once: the second unmap_vec is refused. */
START_TEST(a_second_unmap_vec_in_a_region_is_refused)
{
	struct dmasplit_region *reg;
	struct iovec iov[2] = { { mem + 3 * G, G }, { mem + G, G } };
	struct dmasplit_seg segs[2];
	unsigned int nsegs = 2;

	open_checked(_i);
	reg = region_of(0, 4, DMASPLIT_TO_DEVICE);
	ck_assert_int_eq(dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 0,
					  segs, &nsegs), 0);
	ck_assert_uint_eq(nsegs, 2);
	ck_assert_int_eq(dmasplit_unmap_vec(dev, segs, nsegs,
					    DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap_vec(dev, segs, nsegs,
					    DMASPLIT_TO_DEVICE, 0), -ENOENT);
	ck_assert_uint_eq(stats().mappings_live, 0);
	ck_assert_int_eq(dmasplit_region_free(reg), 0);
	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx), _i >= 2);
}
END_TEST

/* Scattered pages of the region: one segment per run of pages that are
 * contiguous in the region, every byte where the device looks. */
START_TEST(scattered_pages_map_as_one_vector)
{
	struct dmasplit_region *reg;
	struct iovec iov[5];
	struct dmasplit_seg segs[5];
	unsigned int nsegs = 5, i;
	uint8_t page[G];
	uint64_t base;

	open_checked(_i);
	reg = region_of(0, PAGES, DMASPLIT_TO_DEVICE);
	base = dmasplit_region_addr(reg);
	for (i = 0; i < 5; i++) {
		/* pages 9, 7, 8, 3, 12 */
		static const unsigned int pg[] = { 9, 7, 8, 3, 12 };

		iov[i].iov_base = mem + pg[i] * G;
		iov[i].iov_len = G;
	}
	ck_assert_int_eq(dmasplit_map_vec(dev, iov, 5, DMASPLIT_TO_DEVICE, 0,
					  segs, &nsegs), 0);
	ck_assert_uint_eq(nsegs, 4);	/* 7 and 8 meet */
	ck_assert_uint_eq(segs[0].dma, base + 9 * G);
	ck_assert_uint_eq(segs[1].dma, base + 7 * G);
	ck_assert_uint_eq(segs[1].len, 2 * G);
	ck_assert_uint_eq(segs[2].dma, base + 3 * G);
	ck_assert_uint_eq(segs[3].dma, base + 12 * G);
	for (i = 0; i < nsegs; i++) {
		ck_assert_int_eq(dmasplit_dev_dma_read(dev, segs[i].dma, page,
						       G), 0);
		ck_assert_mem_eq(page, mem + (segs[i].dma - base), G);
	}
	/* The region is TO_DEVICE: the device may not write. */
	ck_assert_int_eq(dmasplit_dev_dma_write(dev, segs[0].dma, page, 8),
			 -EFAULT);
	ck_assert_int_eq(dmasplit_region_free(reg), -EBUSY);
	ck_assert(tu_log_has("mappings through region"));
	ck_assert_int_eq(dmasplit_unmap_vec(dev, segs, nsegs,
					    DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_uint_eq(stats().mappings_live, 0);
	ck_assert_int_eq(dmasplit_region_free(reg), 0);
	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx), 0);
}
END_TEST

/* Outside the region, or for a direction it was not made for: the
 * ordinary path, at an address of its own. */
START_TEST(other_buffers_take_the_ordinary_path)
{
	struct dmasplit_region *reg;
	uint64_t dma = 0, base;
	uint8_t in[64];

	open_dev("sim:r");
	reg = region_of(0, 4, DMASPLIT_TO_DEVICE);
	base = dmasplit_region_addr(reg);
	ck_assert_int_eq(dmasplit_map(dev, mem + 6 * G, G,
				      DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert(dma < base || dma >= base + 4 * G);
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, dma, in, sizeof(in)), 0);
	ck_assert_mem_eq(in, mem + 6 * G, sizeof(in));
	ck_assert_int_eq(dmasplit_unmap(dev, dma, G, DMASPLIT_TO_DEVICE, 0),
			 0);
	/* Across the region's end. */
	ck_assert_int_eq(dmasplit_map(dev, mem + 3 * G, 2 * G,
				      DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert(dma < base || dma >= base + 4 * G);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, 2 * G, DMASPLIT_TO_DEVICE,
					0), 0);
	ck_assert_int_eq(dmasplit_map(dev, mem + G, G, DMASPLIT_FROM_DEVICE,
				      0, &dma), 0);
	ck_assert(dma < base || dma >= base + 4 * G);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, G, DMASPLIT_FROM_DEVICE, 0),
			 0);
	/* A region address unmapped for another direction. */
	ck_assert_int_eq(dmasplit_map(dev, mem + G, G, DMASPLIT_TO_DEVICE, 0,
				      &dma), 0);
	ck_assert_uint_eq(dma, base + G);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, G, DMASPLIT_FROM_DEVICE, 0),
			 -EINVAL);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, G, DMASPLIT_TO_DEVICE, 0),
			 0);
	ck_assert_uint_eq(stats().mappings_live, 0);
	ck_assert_int_eq(dmasplit_region_free(reg), 0);
}
END_TEST

START_TEST(bad_regions_are_refused)
{
	struct dmasplit_region *reg = NULL, *other = NULL;

	open_dev("sim:r");
	ck_assert_int_eq(dmasplit_region_new(NULL, mem, G, 0, 0, &reg),
			 -EINVAL);
	ck_assert_int_eq(dmasplit_region_new(dev, mem, G, 0, 0, NULL),
			 -EINVAL);
	ck_assert_int_eq(dmasplit_region_new(dev, NULL, G, 0, 0, &reg),
			 -EINVAL);
	ck_assert_int_eq(dmasplit_region_new(dev, mem, 0, 0, 0, &reg),
			 -EINVAL);
	ck_assert_int_eq(dmasplit_region_new(dev, mem + 8, G, 0, 0, &reg),
			 -EINVAL);
	ck_assert_int_eq(dmasplit_region_new(dev, mem, G + 8, 0, 0, &reg),
			 -EINVAL);
	ck_assert_int_eq(dmasplit_region_new(dev, mem, G, 3, 0, &reg),
			 -EINVAL);
	ck_assert_int_eq(dmasplit_region_new(dev, mem, G, 0, 1, &reg),
			 -EINVAL);
	ck_assert(tu_log_has("whole 4096-byte granules"));
	ck_assert_ptr_null(reg);
	reg = region_of(2, 4, DMASPLIT_BIDIRECTIONAL);
	ck_assert_int_eq(dmasplit_region_new(dev, mem + 5 * G, 2 * G, 0, 0,
					     &other), -EEXIST);
	ck_assert(tu_log_has("overlaps a registered region"));
	ck_assert_ptr_null(other);
	other = region_of(6, 2, DMASPLIT_BIDIRECTIONAL);
	ck_assert_int_eq(dmasplit_region_free(other), 0);
	ck_assert_int_eq(dmasplit_region_free(reg), 0);
	ck_assert_int_eq(dmasplit_region_free(NULL), 0);
	ck_assert_uint_eq(stats().windows_live, 0);
}
END_TEST

/* Where a mapping through a region would need a flush or a copy. */
START_TEST(devices_that_copy_or_flush_have_no_regions)
{
	static const char *const specs[] = {
		"sim:r,coherent=0", "sim:r,iommu=off", "sim:r,iommu=off,bounce=force",
	};
	struct dmasplit_region *reg = NULL;

	open_dev(specs[_i]);
	ck_assert_int_eq(dmasplit_region_new(dev, mem, G, 0, 0, &reg),
			 -EOPNOTSUPP);
	ck_assert_ptr_null(reg);
	ck_assert(tu_log_has("no registered regions"));
	ck_assert_uint_eq(stats().mappings_live, 0);
	ck_assert_uint_eq(stats().windows_live, 0);
}
END_TEST

/* A region keeps its device after close, as windows do. */
START_TEST(region_keeps_its_device_after_close)
{
	struct dmasplit_region *reg;
	uint64_t dma = 0;
	uint8_t in[16];

	dmasplit_ctx_set_check(ctx, _i);
	open_dev("sim:w");
	reg = region_of(0, 2, DMASPLIT_BIDIRECTIONAL);
	tu_log_clear();
	dmasplit_dev_close(dev);
	/* The region's own window is the region's, not a leaked window;
	 * the region is a leak, a finding of the checker's. */
	if (_i)
		ck_assert_msg(tu_log_count("\n") == 1 &&
			      tu_log_has("dmasplit-check: w: leaked registered region still live at close: the device stays until it is freed"),
			      "log:\n%s", tu_log_text());
	else
		ck_assert_msg(tu_log_count("\n") == 1 &&
			      tu_log_has("w: closed with 1 registered regions live"),
			      "log:\n%s", tu_log_text());
	ck_assert(!tu_log_has("window"));
	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx), (unsigned int)_i);
	ck_assert(!tu_log_has("closed w\n"));
	ck_assert_int_eq(dmasplit_map(dev, mem + 8, 16, DMASPLIT_TO_DEVICE, 0,
				      &dma), 0);
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, dma, in, 16), 0);
	ck_assert_mem_eq(in, mem + 8, 16);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, 16, DMASPLIT_TO_DEVICE, 0),
			 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_region_free(reg), 0);
	ck_assert_msg(tu_log_has("closed w\n") && !tu_log_has("still live"),
		      "log:\n%s", tu_log_text());
	dev = NULL;
}
END_TEST

/* With the checker, a sync through a region is checked against the
 * mapping, as any other: its direction and its bytes, not the region's. */
START_TEST(checker_checks_syncs_of_mappings_through_a_region)
{
	struct dmasplit_region *reg;
	uint64_t dma = 0;

	dmasplit_ctx_set_check(ctx, 1);
	open_dev("sim:c");
	reg = region_of(0, 4, DMASPLIT_BIDIRECTIONAL);
	ck_assert_int_eq(dmasplit_map(dev, mem + 100, 1000, DMASPLIT_FROM_DEVICE,
				      0, &dma), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_sync_for_device(dev, dma, 1000,
						  DMASPLIT_TO_DEVICE), -EINVAL);
	ck_assert_int_eq(dmasplit_sync_for_cpu(dev, dma, 2000,
					       DMASPLIT_FROM_DEVICE), -ENOENT);
	ck_assert_int_eq(dmasplit_sync_for_cpu(dev, dma + 2000, 8,
					       DMASPLIT_FROM_DEVICE), -ENOENT);
	ck_assert_msg(tu_log_count("dmasplit-check: ") == 3, "log:\n%s",
		      tu_log_text());
	ck_assert_int_eq(dmasplit_sync_for_cpu(dev, dma, 1000,
					       DMASPLIT_FROM_DEVICE), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, 1000, DMASPLIT_FROM_DEVICE, 0),
			 0);
	ck_assert_int_eq(dmasplit_sync_for_cpu(dev, dma, 1000,
					       DMASPLIT_FROM_DEVICE), -ENOENT);
	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx), 4);
	ck_assert_int_eq(dmasplit_region_free(reg), 0);
}
END_TEST

/* A mapping through a region left live when its device is closed can no
 * longer be unmapped: freeing the region releases it, as a leak, and the
 * device goes with the region. */
START_TEST(region_free_after_close_releases_its_live_mappings)
{
	struct dmasplit_region *reg;
	uint64_t dma = 0;

	dmasplit_ctx_set_check(ctx, _i);
	open_dev("sim:w");
	reg = region_of(0, 2, DMASPLIT_BIDIRECTIONAL);
	ck_assert_int_eq(dmasplit_map(dev, mem + 8, 16, DMASPLIT_TO_DEVICE, 0,
				      &dma), 0);
	/* Open, the device's application may still unmap it. */
	ck_assert_int_eq(dmasplit_region_free(reg), -EBUSY);
	dmasplit_dev_close(dev);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_region_free(reg), 0);
	ck_assert_msg(tu_log_has("1 mappings through region") &&
		      tu_log_has("still live after the device was closed") &&
		      tu_log_has("closed w\n"), "log:\n%s", tu_log_text());
	/* Reported once, with the region: the device's release that
	 * follows has nothing left to report. */
	ck_assert_msg(tu_log_count("dmasplit-check: w: leaked dmasplit_map mapping") ==
		      (unsigned int)_i && !tu_log_has("still live at close"),
		      "log:\n%s", tu_log_text());
	/* With the checker, the region live at close was one finding, the
	 * mapping it released another. */
	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx), 2u * (unsigned int)_i);
	dev = NULL;
}
END_TEST

/* A vector refused for want of segments leaves no mapping behind: the
 * region frees (dmasplit_region_new(3): -EBUSY only while mappings made
 * through it are live). */
START_TEST(a_vector_refused_for_want_of_segments_leaves_nothing)
{
	struct dmasplit_region *reg;
	struct dmasplit_seg seg;
	unsigned int nsegs = 1;
	struct iovec iov[2] = {
		{ .iov_base = mem, .iov_len = G },
		{ .iov_base = mem + 4 * G, .iov_len = G },
	};
	int r;

	open_checked(_i);
	reg = region_of(0, 8, DMASPLIT_BIDIRECTIONAL);
	tu_log_clear();
	r = dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 0, &seg, &nsegs);
	ck_assert_msg(r == -ENOSPC && tu_log_count("\n") == 1,
		      "map_vec of two apart into one segment: %d, log:\n%s", r,
		      tu_log_text());
	ck_assert_uint_eq(stats().mappings_live, 0);
	ck_assert_int_eq(dmasplit_region_free(reg), 0);
}
END_TEST

/* Through a region the syncs are held to its direction, checker or not. */
START_TEST(a_sync_in_a_direction_the_region_does_not_allow_is_refused)
{
	struct dmasplit_region *reg;
	uint64_t dma = 0;

	open_checked(_i);
	reg = region_of(0, 4, DMASPLIT_TO_DEVICE);
	ck_assert_int_eq(dmasplit_map(dev, mem + G, G, DMASPLIT_TO_DEVICE, 0,
				      &dma), 0);
	ck_assert_uint_eq(dma, dmasplit_region_addr(reg) + G);
	ck_assert_int_eq(dmasplit_sync_for_device(dev, dma, G,
						  DMASPLIT_TO_DEVICE), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_sync_for_cpu(dev, dma, G,
					       DMASPLIT_FROM_DEVICE), -EINVAL);
	ck_assert_int_eq(dmasplit_sync_for_device(dev, dma, G,
						  DMASPLIT_FROM_DEVICE), -EINVAL);
	ck_assert_msg(tu_log_count("\n") == 2, "expected a line each, log:\n%s",
		      tu_log_text());
	ck_assert_int_eq(dmasplit_unmap(dev, dma, G, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_region_free(reg), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("region");
	TCase *tc = tcase_create("region");

	tcase_add_checked_fixture(tc, setup, teardown);
	/* Trusted and untrusted, checker off and on. */
	tcase_add_loop_test(tc, buffer_inside_is_mapped_at_its_region_address,
			    0, 4);
	tcase_add_loop_test(tc, scattered_pages_map_as_one_vector, 0, 4);
	tcase_add_test(tc, other_buffers_take_the_ordinary_path);
	tcase_add_test(tc, bad_regions_are_refused);
	tcase_add_loop_test(tc, devices_that_copy_or_flush_have_no_regions, 0,
			    3);
	tcase_add_loop_test(tc, region_keeps_its_device_after_close, 0, 2);
	tcase_add_test(tc, checker_checks_syncs_of_mappings_through_a_region);
	tcase_add_loop_test(tc, region_free_after_close_releases_its_live_mappings,
			    0, 2);
	tcase_add_loop_test(tc, a_second_unmap_in_a_region_is_refused, 0, 4);
	tcase_add_loop_test(tc, a_second_unmap_vec_in_a_region_is_refused, 0,
			    4);
	tcase_add_loop_test(tc, a_vector_refused_for_want_of_segments_leaves_nothing,
			    0, 4);
	tcase_add_loop_test(tc, a_sync_in_a_direction_the_region_does_not_allow_is_refused,
			    0, 4);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
