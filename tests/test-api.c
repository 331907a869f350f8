// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The public API through the recording test backends: argument validation
 * of every function (refused with one log line, before the backend is
 * called), dispatch of both paths with device-side verification, and the
 * versioned out-structs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "apiutil.h"
#include "testutil.h"

/* Refused without a device to log on. */
#define refused_silently(expr, err)                                          \
	do {                                                                 \
		int r_ = (expr);                                             \
		ck_assert_msg(r_ == (err), "%s: got %d, expected %d", #expr, \
			      r_, (err));                                    \
	} while (0)

#define OVERFLOWING ((void *)(UINTPTR_MAX - 100))
#define BAD_DIR ((enum dmasplit_dir)3)

/* ------------------------------------------------------------------ */
/* Argument validation                                                  */

START_TEST(iova_arguments_are_validated)
{
	struct dmasplit_iova *iova = NULL;

	refused_silently(dmasplit_iova_alloc(NULL, G, 0, &iova), -EINVAL);
	refused_silently(dmasplit_iova_alloc(dev, G, 0, NULL), -EINVAL);
	refused(dmasplit_iova_alloc(dev, 0, 0, &iova), -EINVAL);
	refused(dmasplit_iova_alloc(dev, SIZE_MAX, 0, &iova), -EINVAL);
	refused(dmasplit_iova_alloc(dev, SIZE_MAX - G + 2, 0, &iova), -EINVAL);
	refused(dmasplit_iova_alloc(dev, G, 1, &iova), -EINVAL);
	ck_assert_ptr_null(iova);
	ck_assert_uint_eq(dmasplit_iova_addr(NULL), 0);
	ck_assert_uint_eq(dmasplit_iova_size(NULL), 0);

	ck_assert_int_eq(dmasplit_iova_alloc(dev, 4 * G, 0, &iova), 0);
	refused_silently(dmasplit_iova_link(NULL, 0, buf, G, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_iova_link(iova, 0, NULL, G, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_iova_link(iova, 0, buf, 0, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_iova_link(iova, 0, OVERFLOWING, G, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_iova_link(iova, 4 * G, buf, G, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_iova_link(iova, 3 * G, buf, 2 * G, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_iova_link(iova, SIZE_MAX, buf, 2, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_iova_link(iova, G, buf, SIZE_MAX, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_iova_link(iova, 0, buf, G, BAD_DIR, 0), -EINVAL);
	refused(dmasplit_iova_link(iova, 0, buf, G, (enum dmasplit_dir)-1, 0), -EINVAL);
	refused(dmasplit_iova_link(iova, 0, buf, G, DMASPLIT_TO_DEVICE, 0x100), -EINVAL);

	refused_silently(dmasplit_iova_sync(NULL, 0, G), -EINVAL);
	refused(dmasplit_iova_sync(iova, 0, 0), -EINVAL);
	refused(dmasplit_iova_sync(iova, G, 4 * G), -EINVAL);
	refused(dmasplit_iova_sync(iova, SIZE_MAX, 2), -EINVAL);

	refused_silently(dmasplit_iova_unlink(NULL, 0, G, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_iova_unlink(iova, 0, 0, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_iova_unlink(iova, 2 * G, 3 * G, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_iova_unlink(iova, 0, G, BAD_DIR, 0), -EINVAL);
	refused(dmasplit_iova_unlink(iova, 0, G, DMASPLIT_TO_DEVICE, 0x80), -EINVAL);

	/* Expected failures stay quiet when the caller says so. */
	tu_log_clear();
	ck_assert_int_eq(dmasplit_iova_link(iova, 0, buf, G, BAD_DIR,
					    DMASPLIT_ATTR_NO_WARN), -EINVAL);
	ck_assert_uint_eq(tu_log_count("\n"), 0);

	dmasplit_iova_destroy(iova);
	dmasplit_iova_destroy(NULL);
}
END_TEST

START_TEST(map_arguments_are_validated)
{
	uint64_t dma = 0;

	refused_silently(dmasplit_map(NULL, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), -EINVAL);
	refused_silently(dmasplit_map(dev, buf, G, DMASPLIT_TO_DEVICE, 0, NULL), -EINVAL);
	refused(dmasplit_map(dev, NULL, G, DMASPLIT_TO_DEVICE, 0, &dma), -EINVAL);
	refused(dmasplit_map(dev, buf, 0, DMASPLIT_TO_DEVICE, 0, &dma), -EINVAL);
	refused(dmasplit_map(dev, OVERFLOWING, G, DMASPLIT_TO_DEVICE, 0, &dma), -EINVAL);
	refused(dmasplit_map(dev, buf, G, BAD_DIR, 0, &dma), -EINVAL);
	refused(dmasplit_map(dev, buf, G, DMASPLIT_TO_DEVICE, 1u << 31, &dma), -EINVAL);
	ck_assert_uint_eq(dma, 0);

	refused_silently(dmasplit_unmap(NULL, 0x1000, G, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_unmap(dev, 0x1000, 0, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_unmap(dev, UINT64_MAX - 10, G, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_unmap(dev, 0x1000, G, BAD_DIR, 0), -EINVAL);
	refused(dmasplit_unmap(dev, 0x1000, G, DMASPLIT_TO_DEVICE, 0x40), -EINVAL);

	refused_silently(dmasplit_sync_for_cpu(NULL, 0x1000, G, DMASPLIT_FROM_DEVICE), -EINVAL);
	refused(dmasplit_sync_for_cpu(dev, 0x1000, 0, DMASPLIT_FROM_DEVICE), -EINVAL);
	refused(dmasplit_sync_for_cpu(dev, UINT64_MAX, 2, DMASPLIT_FROM_DEVICE), -EINVAL);
	refused(dmasplit_sync_for_cpu(dev, 0x1000, G, BAD_DIR), -EINVAL);
	refused_silently(dmasplit_sync_for_device(NULL, 0x1000, G, DMASPLIT_TO_DEVICE), -EINVAL);
	refused(dmasplit_sync_for_device(dev, 0x1000, 0, DMASPLIT_TO_DEVICE), -EINVAL);
	refused(dmasplit_sync_for_device(dev, UINT64_MAX, 2, DMASPLIT_TO_DEVICE), -EINVAL);
	refused(dmasplit_sync_for_device(dev, 0x1000, G, BAD_DIR), -EINVAL);
}
END_TEST

START_TEST(vector_arguments_are_validated)
{
	struct iovec iov[2] = { { buf, G }, { buf + G, G } };
	struct dmasplit_seg segs[2] = { { 0x1000, G }, { 0x3000, G } };
	unsigned int nsegs = 2, zero = 0;

	refused_silently(dmasplit_map_vec(NULL, iov, 2, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), -EINVAL);
	refused_silently(dmasplit_map_vec(dev, NULL, 2, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), -EINVAL);
	refused_silently(dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 0, NULL, &nsegs), -EINVAL);
	refused_silently(dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 0, segs, NULL), -EINVAL);
	refused(dmasplit_map_vec(dev, iov, 0, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), -EINVAL);
	refused(dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 0, segs, &zero), -EINVAL);
	refused(dmasplit_map_vec(dev, iov, 2, BAD_DIR, 0, segs, &nsegs), -EINVAL);
	refused(dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 4, segs, &nsegs), -EINVAL);
	iov[1].iov_base = NULL;
	refused(dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), -EINVAL);
	iov[1].iov_base = buf;
	iov[1].iov_len = 0;
	refused(dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), -EINVAL);
	iov[1].iov_base = OVERFLOWING;
	iov[1].iov_len = G;
	refused(dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), -EINVAL);
	ck_assert_uint_eq(nsegs, 2);

	refused_silently(dmasplit_unmap_vec(NULL, segs, 2, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused_silently(dmasplit_unmap_vec(dev, NULL, 2, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_unmap_vec(dev, segs, 0, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_unmap_vec(dev, segs, 2, BAD_DIR, 0), -EINVAL);
	refused(dmasplit_unmap_vec(dev, segs, 2, DMASPLIT_TO_DEVICE, 8), -EINVAL);
	segs[1].len = 0;
	refused(dmasplit_unmap_vec(dev, segs, 2, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	segs[1].dma = UINT64_MAX - 1;
	segs[1].len = 4;
	refused(dmasplit_unmap_vec(dev, segs, 2, DMASPLIT_TO_DEVICE, 0), -EINVAL);
}
END_TEST

START_TEST(device_arguments_are_validated)
{
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_dev_stats stats = { .size = sizeof(stats) };
	void *cpu = NULL;
	uint64_t dma = 0;
	char tmp[8];
	int fd = -1;

	refused_silently(dmasplit_alloc_coherent(NULL, G, 0, &cpu, &dma), -EINVAL);
	refused_silently(dmasplit_alloc_coherent(dev, G, 0, NULL, &dma), -EINVAL);
	refused_silently(dmasplit_alloc_coherent(dev, G, 0, &cpu, NULL), -EINVAL);
	refused(dmasplit_alloc_coherent(dev, 0, 0, &cpu, &dma), -EINVAL);
	refused(dmasplit_alloc_coherent(dev, G, 1, &cpu, &dma), -EINVAL);
	/* Rounded up to a granule it would wrap to a small size. */
	refused(dmasplit_alloc_coherent(dev, SIZE_MAX, 0, &cpu, &dma), -EINVAL);
	refused(dmasplit_alloc_coherent(dev, SIZE_MAX - G + 2, 0, &cpu, &dma),
		-EINVAL);
	ck_assert_ptr_null(cpu);
	refused_silently(dmasplit_free_coherent(NULL, G, buf, 0x1000), -EINVAL);
	refused(dmasplit_free_coherent(dev, G, NULL, 0x1000), -EINVAL);
	refused(dmasplit_free_coherent(dev, 0, buf, 0x1000), -EINVAL);
	refused(dmasplit_free_coherent(dev, G, buf, UINT64_MAX), -EINVAL);
	refused(dmasplit_free_coherent(dev, 2 * G, (void *)(UINTPTR_MAX - 0xfff),
				       0x1000), -EINVAL);

	refused_silently(dmasplit_dev_dma_read(NULL, 0x1000, tmp, 1), -EINVAL);
	refused(dmasplit_dev_dma_read(dev, 0x1000, NULL, 1), -EINVAL);
	refused(dmasplit_dev_dma_read(dev, 0x1000, tmp, 0), -EINVAL);
	refused(dmasplit_dev_dma_read(dev, UINT64_MAX, tmp, 2), -EINVAL);
	refused_silently(dmasplit_dev_dma_write(NULL, 0x1000, tmp, 1), -EINVAL);
	refused(dmasplit_dev_dma_write(dev, 0x1000, NULL, 1), -EINVAL);
	refused(dmasplit_dev_dma_write(dev, 0x1000, tmp, 0), -EINVAL);
	refused(dmasplit_dev_dma_write(dev, UINT64_MAX, tmp, 2), -EINVAL);

	refused_silently(dmasplit_dev_get_info(NULL, &info), -EINVAL);
	refused_silently(dmasplit_dev_get_info(dev, NULL), -EINVAL);
	info.size = 3;
	refused_silently(dmasplit_dev_get_info(dev, &info), -EINVAL);
	refused_silently(dmasplit_dev_get_stats(NULL, &stats), -EINVAL);
	refused_silently(dmasplit_dev_get_stats(dev, NULL), -EINVAL);
	stats.size = 1;
	refused_silently(dmasplit_dev_get_stats(dev, &stats), -EINVAL);
	refused_silently(dmasplit_dev_get_fd(NULL, &fd), -EINVAL);
	refused_silently(dmasplit_dev_get_fd(dev, NULL), -EINVAL);
	refused_silently(dmasplit_dev_trim(NULL), -EINVAL);
	ck_assert_ptr_null(dmasplit_dev_backend_name(NULL));
	dmasplit_dev_close(NULL);
	ck_assert_int_eq(fd, -1);
}
END_TEST

/* The ranges dev_info holds are all there are on a device whose backend
 * has no get_ranges; the call answers with every one, or -ENOSPC and
 * how many. */
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(ranges_are_reported_whole_or_counted)
{
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_range r[DMASPLIT_MAX_RANGES + 4];
	unsigned int n;

	ck_assert_int_eq(dmasplit_dev_get_info(dev, &info), 0);
	ck_assert_uint_ge(info.num_ranges, 1);
	ck_assert(!(info.flags & DMASPLIT_DEV_MORE_RANGES));
	n = 0;
	ck_assert_int_eq(dmasplit_dev_get_ranges(dev, NULL, &n), -ENOSPC);
	ck_assert_uint_eq(n, info.num_ranges);
	n = ARRAY_LEN(r);
	ck_assert_int_eq(dmasplit_dev_get_ranges(dev, r, &n), 0);
	ck_assert_uint_eq(n, info.num_ranges);
	ck_assert_mem_eq(r, info.ranges, n * sizeof(r[0]));
	ck_assert_int_eq(dmasplit_dev_get_ranges(NULL, r, &n), -EINVAL);
	ck_assert_int_eq(dmasplit_dev_get_ranges(dev, r, NULL), -EINVAL);
	n = 1;
	ck_assert_int_eq(dmasplit_dev_get_ranges(dev, NULL, &n), -EINVAL);
}
END_TEST

/* More ranges than dev_info holds: flagged, and all of them from
 * dmasplit_dev_get_ranges; as many as it holds: not flagged. */
START_TEST(more_ranges_than_dev_info_holds_are_flagged)
{
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_range r[16];
	struct dmasplit_dev *d = NULL;
	unsigned int n = 16;

	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:many,testb.ranges=12",
						   "testb", &d), 0);
	ck_assert_int_eq(dmasplit_dev_get_info(d, &info), 0);
	ck_assert_uint_eq(info.num_ranges, DMASPLIT_MAX_RANGES);
	ck_assert(info.flags & DMASPLIT_DEV_MORE_RANGES);
	ck_assert_int_eq(dmasplit_dev_get_ranges(d, r, &n), 0);
	ck_assert_uint_eq(n, 12);
	ck_assert_mem_eq(r, info.ranges, DMASPLIT_MAX_RANGES * sizeof(r[0]));
	ck_assert_uint_eq(r[11].start, 12ull << 21);
	dmasplit_dev_close(d);
	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:few,testb.ranges=8",
						   "testb", &d), 0);
	ck_assert_int_eq(dmasplit_dev_get_info(d, &info), 0);
	ck_assert_uint_eq(info.num_ranges, 8);
	ck_assert(!(info.flags & DMASPLIT_DEV_MORE_RANGES));
	dmasplit_dev_close(d);
	/* A backend that says its ranges do not fit in room that holds
	 * them answers wrongly: -EIO and a line, *n untouched. */
	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:lie,testb.rangesnofit",
						   "testb", &d), 0);
	n = 16;
	tu_log_clear();
	ck_assert_int_eq(dmasplit_dev_get_ranges(d, r, &n), -EIO);
	ck_assert_uint_eq(n, 16);
	ck_assert_msg(tu_log_has("backend testb says 16 ranges do not fit in 16: reported as EIO"),
		      "%s", tu_log_text());
	dmasplit_dev_close(d);
	/* The other lie: more than there was room for, "done": the caller
	 * would read past its array. */
	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:over,testb.rangesover",
						   "testb", &d), 0);
	n = 1;
	tu_log_clear();
	ck_assert_int_eq(dmasplit_dev_get_ranges(d, r, &n), -EIO);
	ck_assert_uint_eq(n, 1);
	ck_assert_msg(tu_log_has("backend testb gave 2 ranges for room for 1: reported as EIO"),
		      "%s", tu_log_text());
	dmasplit_dev_close(d);
}
END_TEST

/* The version the library reports matches the header's major and minor
 * it was built with here. */
START_TEST(version_is_the_library_s)
{
	char want[32];

	snprintf(want, sizeof(want), "%d.%d", DMASPLIT_VERSION_MAJOR,
		 DMASPLIT_VERSION_MINOR);
	ck_assert_str_eq(dmasplit_version(), want);
}
END_TEST

START_TEST(bad_device_options_fail_open_cleanly)
{
	struct dmasplit_dev *d = NULL;

	/* The test backend's granule must be a power of two. */
	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:odd,granule=3000", &d), -EINVAL);
	ck_assert_ptr_null(d);
	/* One line, the backend's reason: the core adds none of its own
	 * to a failure the backend has explained. */
	ck_assert_msg(tu_log_has("testa: odd: granule=3000: Invalid argument") &&
		      !tu_log_has("cannot open"),
		      "%s", tu_log_text());
}
END_TEST

/* ------------------------------------------------------------------ */
/* Dispatch                                                             */

START_TEST(two_step_path_reaches_the_device)
{
	struct dmasplit_iova *iova;
	struct dmasplit_dev_stats s;
	uint8_t got[3 * G];
	uint64_t base;
	unsigned int i;

	for (i = 0; i < 3 * G; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	ck_assert_int_eq(dmasplit_iova_alloc(dev, 2 * G + 1, 0, &iova), 0);
	/* Rounded to the granule; never address 0. */
	ck_assert_uint_eq(dmasplit_iova_size(iova), 3 * G);
	base = dmasplit_iova_addr(iova);
	ck_assert_uint_ne(base, 0);
	ck_assert_uint_eq(base % G, 0);
	ck_assert(tu_log_has("testa: iova_alloc size=0x3000"));

	ck_assert_int_eq(dmasplit_iova_link(iova, 0, buf, 2 * G,
					    DMASPLIT_BIDIRECTIONAL, 0), 0);
	ck_assert_int_eq(dmasplit_iova_link(iova, 2 * G, buf + 2 * G, G,
					    DMASPLIT_BIDIRECTIONAL,
					    DMASPLIT_ATTR_SKIP_CPU_SYNC), 0);
	ck_assert(tu_log_has("testa: iova_link off=0x2000 len=0x1000 dir=0 attrs=0x1"));
	/* Linked is not yet visible: the device faults until the sync. */
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, base, got, 16), -EFAULT);
	ck_assert_int_eq(dmasplit_iova_sync(iova, 0, 3 * G), 0);
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, base, got, 3 * G), 0);
	ck_assert_mem_eq(got, buf, 3 * G);
	memset(got, 0xee, 100);
	ck_assert_int_eq(dmasplit_dev_dma_write(dev, base + G - 50, got, 100), 0);
	ck_assert_uint_eq(buf[G - 50], 0xee);
	ck_assert_uint_eq(buf[G + 49], 0xee);
	ck_assert_uint_ne(buf[G + 50], 0xee);

	ck_assert_int_eq(dmasplit_iova_unlink(iova, G, G, DMASPLIT_BIDIRECTIONAL, 0), 0);
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, base + G, got, 1), -EFAULT);
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, base, got, 1), 0);

	s = stats_of(dev);
	ck_assert_uint_eq(s.windows_allocated, 1);
	ck_assert_uint_eq(s.windows_live, 1);
	ck_assert_uint_eq(s.links, 2);
	ck_assert_uint_eq(s.syncs, 1);
	ck_assert_uint_eq(s.unlinks, 1);
	ck_assert_uint_gt(s.kernel_calls, 0);	/* the backend's own counter */
	dmasplit_iova_destroy(iova);
	s = stats_of(dev);
	ck_assert_uint_eq(s.windows_live, 0);
	ck_assert(tu_log_has("testa: iova_destroy"));
}
END_TEST

START_TEST(no_windows_means_quiet_eopnotsupp_and_fallback)
{
	struct dmasplit_dev *d;
	struct dmasplit_iova *iova = NULL;
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	uint64_t dma;
	uint8_t got[8];

	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:plain,nowin", &d), 0);
	ck_assert_int_eq(dmasplit_dev_get_info(d, &info), 0);
	ck_assert_uint_eq(info.flags & DMASPLIT_DEV_WINDOWS, 0);
	dmasplit_ctx_set_log_priority(ctx, LOG_ERR);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_iova_alloc(d, G, 0, &iova), -EOPNOTSUPP);
	ck_assert_ptr_null(iova);
	ck_assert_msg(tu_log_count("\n") == 0, "an expected fallback was logged:\n%s",
		      tu_log_text());
	memcpy(buf, "fallback", 8);
	ck_assert_int_eq(dmasplit_map(d, buf, 8, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_dev_dma_read(d, dma, got, 8), 0);
	ck_assert_mem_eq(got, "fallback", 8);
	ck_assert_int_eq(dmasplit_unmap(d, dma, 8, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(per_range_path_reaches_the_device)
{
	struct dmasplit_dev_stats s;
	uint64_t dma;
	uint8_t got[300];

	memset(buf + 100, 0xab, 300);
	ck_assert_int_eq(dmasplit_map(dev, buf + 100, 300, DMASPLIT_BIDIRECTIONAL,
				      0, &dma), 0);
	ck_assert_uint_ne(dma, 0);
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, dma, got, 300), 0);
	ck_assert_mem_eq(got, buf + 100, 300);
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, dma + 299, got, 2), -EFAULT);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_sync_for_cpu(dev, dma + 10, 20, DMASPLIT_FROM_DEVICE), 0);
	ck_assert_int_eq(dmasplit_sync_for_device(dev, dma, 300, DMASPLIT_TO_DEVICE), 0);
	ck_assert(tu_log_has("testa: sync dma="));
	s = stats_of(dev);
	ck_assert_uint_eq(s.maps, 1);
	ck_assert_uint_eq(s.mappings_live, 1);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, 300, DMASPLIT_BIDIRECTIONAL, 0), 0);
	s = stats_of(dev);
	ck_assert_uint_eq(s.unmaps, 1);
	ck_assert_uint_eq(s.mappings_live, 0);
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, dma, got, 1), -EFAULT);
}
END_TEST

START_TEST(map_vec_without_backend_support_maps_each_buffer)
{
	struct iovec iov[3] = { { buf, 100 }, { buf + 2 * G, G }, { buf + 5 * G + 7, 9 } };
	struct dmasplit_seg segs[3];
	unsigned int nsegs = 2, i;
	uint8_t got[G];

	for (i = 0; i < 16 * G; i++)
		buf[i] = (uint8_t)(i / 3);
	/* One segment per buffer: too little room is a clear error. */
	refused(dmasplit_map_vec(dev, iov, 3, DMASPLIT_TO_DEVICE, 0, segs, &nsegs),
		-ENOSPC);
	nsegs = 3;
	ck_assert_int_eq(dmasplit_map_vec(dev, iov, 3, DMASPLIT_TO_DEVICE, 0, segs,
					  &nsegs), 0);
	ck_assert_uint_eq(nsegs, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_uint_eq(segs[i].len, iov[i].iov_len);
		ck_assert_int_eq(dmasplit_dev_dma_read(dev, segs[i].dma, got,
						       segs[i].len), 0);
		ck_assert_mem_eq(got, iov[i].iov_base, segs[i].len);
	}
	ck_assert_uint_eq(stats_of(dev).mappings_live, 3);
	ck_assert_int_eq(dmasplit_unmap_vec(dev, segs, 3, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_uint_eq(stats_of(dev).mappings_live, 0);
	ck_assert_uint_eq(tu_log_count("testa: unmap dma="), 3);
}
END_TEST

START_TEST(map_vec_uses_the_backend_merge)
{
	struct iovec iov[3] = { { buf, G }, { buf + 8 * G, 2 * G }, { buf + 3 * G, 10 } };
	struct dmasplit_seg segs[3];
	struct dmasplit_dev *b;
	unsigned int nsegs = 3, i;
	uint8_t got[3 * G + 10];

	for (i = 0; i < 16 * G; i++)
		buf[i] = (uint8_t)(i % 251);
	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:vec", "testb", &b), 0);
	ck_assert_int_eq(dmasplit_map_vec(b, iov, 3, DMASPLIT_TO_DEVICE, 0, segs,
					  &nsegs), 0);
	/* Granule-sized buffers end on granule boundaries: one segment. */
	ck_assert_uint_eq(nsegs, 1);
	ck_assert_uint_eq(segs[0].len, 3 * G + 10);
	ck_assert_int_eq(dmasplit_dev_dma_read(b, segs[0].dma, got, 3 * G + 10), 0);
	ck_assert_mem_eq(got, buf, G);
	ck_assert_mem_eq(got + G, buf + 8 * G, 2 * G);
	ck_assert_mem_eq(got + 3 * G, buf + 3 * G, 10);
	ck_assert_int_eq(dmasplit_unmap_vec(b, segs, 1, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert(tu_log_has("testb: unmap_vec nsegs=1"));
	ck_assert_int_eq(dmasplit_dev_dma_read(b, segs[0].dma, got, 1), -EFAULT);
	dmasplit_dev_close(b);
}
END_TEST

START_TEST(coherent_memory_is_shared)
{
	uint8_t *cpu = NULL, got[4];
	uint64_t dma = 0;

	ck_assert_int_eq(dmasplit_alloc_coherent(dev, 3 * G, 0, (void **)&cpu, &dma), 0);
	ck_assert_ptr_nonnull(cpu);
	ck_assert_uint_ne(dma, 0);
	memcpy(cpu + G, "abcd", 4);
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, dma + G, got, 4), 0);
	ck_assert_mem_eq(got, "abcd", 4);
	ck_assert_int_eq(dmasplit_free_coherent(dev, 3 * G, cpu, dma), 0);
}
END_TEST

START_TEST(device_fd_where_the_backend_has_one)
{
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_dev *b;
	int fd = -1;

	ck_assert_int_eq(dmasplit_dev_get_fd(dev, &fd), -EOPNOTSUPP);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(dmasplit_dev_get_info(dev, &info), 0);
	ck_assert_uint_eq(info.flags & DMASPLIT_DEV_HAS_FD, 0);
	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:fd", "testb", &b), 0);
	ck_assert_int_eq(dmasplit_dev_get_fd(b, &fd), 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);	/* testb's device is /dev/null */
	ck_assert_int_eq(dmasplit_dev_get_info(b, &info), 0);
	ck_assert_uint_ne(info.flags & DMASPLIT_DEV_HAS_FD, 0);
	dmasplit_dev_close(b);
}
END_TEST

START_TEST(info_and_stats_are_versioned)
{
	struct {
		struct dmasplit_dev_info info;
		uint8_t tail[32];
	} big;
	struct dmasplit_dev_info full = { .size = sizeof(full) };
	struct dmasplit_dev_stats old;
	size_t old_info = offsetof(struct dmasplit_dev_info, num_ranges);
	size_t old_stats = offsetof(struct dmasplit_dev_stats, windows_live);
	unsigned int i;

	ck_assert_int_eq(dmasplit_dev_get_info(dev, &full), 0);
	ck_assert_str_eq(full.backend, "testa");
	ck_assert_str_eq(full.backend_uuid, "6f1d2c3a-7b54-4e0e-9a43-1b9d2c7e5a01");
	ck_assert_str_eq(dmasplit_dev_backend_name(dev), "testa");
	ck_assert_uint_eq(full.granule, G);
	ck_assert_uint_eq(full.dma_mask_bits, 48);
	ck_assert_uint_eq(full.num_ranges, 1);
	ck_assert_uint_eq(full.ranges[0].start, 0x1000);
	ck_assert_uint_ne(full.flags & DMASPLIT_DEV_WINDOWS, 0);

	/* An older caller's smaller struct: filled up to its size only. */
	memset(&big, 0x77, sizeof(big));
	big.info.size = old_info;
	ck_assert_int_eq(dmasplit_dev_get_info(dev, &big.info), 0);
	ck_assert_uint_eq(big.info.size, old_info);
	ck_assert_uint_eq(big.info.granule, G);
	ck_assert_uint_eq(((uint8_t *)&big.info)[old_info], 0x77);
	/* A newer caller's larger struct: the part this library does not
	 * know is zeroed. */
	memset(&big, 0x77, sizeof(big));
	big.info.size = sizeof(big);
	ck_assert_int_eq(dmasplit_dev_get_info(dev, &big.info), 0);
	ck_assert_uint_eq(big.info.size, sizeof(big));
	for (i = 0; i < sizeof(big.tail); i++)
		ck_assert_uint_eq(big.tail[i], 0);

	memset(&old, 0x77, sizeof(old));
	old.size = old_stats;
	ck_assert_int_eq(dmasplit_dev_get_stats(dev, &old), 0);
	ck_assert_uint_eq(old.maps, 0);
	ck_assert_uint_eq(old.windows_live, 0x7777777777777777ull);

	/* Too small to hold its own size: refused, untouched, one line each. */
	tu_log_clear();
	old.size = sizeof(old.size) - 1;
	ck_assert_int_eq(dmasplit_dev_get_stats(dev, &old), -EINVAL);
	ck_assert_uint_eq(old.maps, 0);
	big.info.size = 0;
	ck_assert_int_eq(dmasplit_dev_get_info(dev, &big.info), -EINVAL);
	ck_assert_uint_eq(big.info.size, 0);
	ck_assert_msg(tu_log_count("\n") == 2 &&
		      tu_log_has("dmasplit_dev_get_stats: stats->size ") &&
		      tu_log_count("is too small") == 2 &&
		      tu_log_has("dmasplit_dev_get_info: info->size 0 is too small"),
		      "log:\n%s", tu_log_text());
}
END_TEST

START_TEST(granule_comes_from_the_backend)
{
	struct dmasplit_dev *d;
	struct dmasplit_iova *iova;

	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:big,granule=65536", &d), 0);
	ck_assert_int_eq(dmasplit_iova_alloc(d, 1, 0, &iova), 0);
	ck_assert_uint_eq(dmasplit_iova_size(iova), 65536);
	ck_assert_uint_eq(dmasplit_iova_addr(iova) % 65536, 0);
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api");
	TCase *tc;

	tu_plugin_dir();
	tc = tcase_create("arguments");
	tcase_add_checked_fixture(tc, setup_checked, api_teardown);
	tcase_add_test(tc, iova_arguments_are_validated);
	tcase_add_test(tc, map_arguments_are_validated);
	tcase_add_test(tc, vector_arguments_are_validated);
	tcase_add_test(tc, device_arguments_are_validated);
	tcase_add_test(tc, ranges_are_reported_whole_or_counted);
	tcase_add_test(tc, more_ranges_than_dev_info_holds_are_flagged);
	tcase_add_test(tc, version_is_the_library_s);
	tcase_add_test(tc, bad_device_options_fail_open_cleanly);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("dispatch");
	tcase_add_checked_fixture(tc, setup_checked, api_teardown);
	tcase_add_test(tc, two_step_path_reaches_the_device);
	tcase_add_test(tc, no_windows_means_quiet_eopnotsupp_and_fallback);
	tcase_add_test(tc, per_range_path_reaches_the_device);
	tcase_add_test(tc, map_vec_without_backend_support_maps_each_buffer);
	tcase_add_test(tc, map_vec_uses_the_backend_merge);
	tcase_add_test(tc, coherent_memory_is_shared);
	tcase_add_test(tc, device_fd_where_the_backend_has_one);
	tcase_add_test(tc, info_and_stats_are_versioned);
	tcase_add_test(tc, granule_comes_from_the_backend);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
