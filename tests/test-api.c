// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The public API through the recording test backends: argument validation
 * of every function (refused with one log line, before the backend is
 * called), dispatch of both paths with device-side verification, the
 * versioned out-structs, the checker's classes of misuse, and what a
 * device releases when it is closed.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "testutil.h"

#define G 4096u

static const char *const both[] = { "testa", "testb", NULL };
static struct dmasplit_ctx *ctx;
static struct dmasplit_dev *dev;	/* testa, "nic0" */
static uint8_t *buf;			/* 16 granules, page aligned */

static void open_dev(const char *spec)
{
	ck_assert_msg(dmasplit_dev_open(ctx, spec, &dev) == 0, "open %s: log:\n%s",
		      spec, tu_log_text());
	tu_log_clear();
}

static void setup_with(int check)
{
	ctx = tu_ctx_with(both);
	dmasplit_ctx_set_check(ctx, check);
	buf = aligned_alloc(G, 16 * G);
	ck_assert_ptr_nonnull(buf);
	memset(buf, 0, 16 * G);
	open_dev("sim:nic0");
}

static void setup_checked(void)
{
	setup_with(1);
}

static void setup_unchecked(void)
{
	setup_with(0);
}

static void teardown(void)
{
	dmasplit_dev_close(dev);
	dev = NULL;
	if (ctx)
		tu_ctx_free(ctx);
	ctx = NULL;
	free(buf);
}

/* The backend saw an operation: its lines start with its name. */
static bool backend_called(void)
{
	const char *log = tu_log_text();

	return strstr(log, "testa: ") || strstr(log, "testb: ");
}

/* Refused by the core with err, in exactly one log line, before any
 * backend operation ran. */
#define refused(expr, err)                                                   \
	do {                                                                 \
		int r_;                                                      \
		tu_log_clear();                                              \
		r_ = (expr);                                                 \
		ck_assert_msg(r_ == (err), "%s: got %d, expected %d", #expr, \
			      r_, (err));                                    \
		ck_assert_msg(tu_log_count("\n") == 1 && !backend_called(),  \
			      "%s: expected one line and no backend call, log:\n%s", \
			      #expr, tu_log_text());                         \
	} while (0)

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
	ck_assert_ptr_null(cpu);
	refused_silently(dmasplit_free_coherent(NULL, G, buf, 0x1000), -EINVAL);
	refused(dmasplit_free_coherent(dev, G, NULL, 0x1000), -EINVAL);
	refused(dmasplit_free_coherent(dev, 0, buf, 0x1000), -EINVAL);
	refused(dmasplit_free_coherent(dev, G, buf, UINT64_MAX), -EINVAL);

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
	ck_assert_ptr_null(dmasplit_dev_backend_name(NULL));
	dmasplit_dev_close(NULL);
	ck_assert_int_eq(fd, -1);
}
END_TEST

START_TEST(bad_device_options_fail_open_cleanly)
{
	struct dmasplit_dev *d = NULL;

	/* The test backend's granule must be a power of two. */
	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:odd,granule=3000", &d), -EINVAL);
	ck_assert_ptr_null(d);
	ck_assert(tu_log_has("backend testa cannot open odd"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Dispatch                                                             */

static struct dmasplit_dev_stats stats_of(struct dmasplit_dev *d)
{
	struct dmasplit_dev_stats s = { .size = sizeof(s) };

	ck_assert_int_eq(dmasplit_dev_get_stats(d, &s), 0);
	return s;
}

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

/* ------------------------------------------------------------------ */
/* The checker (libdmasplit(3)): each class of misuse                  */

static struct dmasplit_iova *window_with_link(enum dmasplit_dir dir)
{
	struct dmasplit_iova *iova;

	ck_assert_int_eq(dmasplit_iova_alloc(dev, 4 * G, 0, &iova), 0);
	ck_assert_int_eq(dmasplit_iova_link(iova, 0, buf, 2 * G, dir, 0), 0);
	ck_assert_int_eq(dmasplit_iova_sync(iova, 0, 2 * G), 0);
	tu_log_clear();
	return iova;
}

START_TEST(checker_unlink_of_what_was_never_linked)
{
	struct dmasplit_iova *iova = window_with_link(DMASPLIT_TO_DEVICE);

	refused(dmasplit_iova_unlink(iova, 2 * G, G, DMASPLIT_TO_DEVICE, 0), -ENOENT);
	ck_assert(tu_log_has("is not linked (never linked, or double unlink)"));
	/* Partly linked is not linked either. */
	refused(dmasplit_iova_unlink(iova, G, 2 * G, DMASPLIT_TO_DEVICE, 0), -ENOENT);
	dmasplit_iova_destroy(iova);
}
END_TEST

START_TEST(checker_double_unlink)
{
	struct dmasplit_iova *iova = window_with_link(DMASPLIT_TO_DEVICE);

	ck_assert_int_eq(dmasplit_iova_unlink(iova, 0, 2 * G, DMASPLIT_TO_DEVICE, 0), 0);
	refused(dmasplit_iova_unlink(iova, 0, 2 * G, DMASPLIT_TO_DEVICE, 0), -ENOENT);
	dmasplit_iova_destroy(iova);
}
END_TEST

START_TEST(checker_unlink_with_wrong_direction)
{
	struct dmasplit_iova *iova = window_with_link(DMASPLIT_FROM_DEVICE);

	refused(dmasplit_iova_unlink(iova, 0, 2 * G, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert(tu_log_has("direction TO_DEVICE, but offset 0x0 was linked FROM_DEVICE"));
	ck_assert_int_eq(dmasplit_iova_unlink(iova, 0, 2 * G, DMASPLIT_FROM_DEVICE, 0), 0);
	dmasplit_iova_destroy(iova);
}
END_TEST

START_TEST(checker_sync_of_unlinked_range)
{
	struct dmasplit_iova *iova = window_with_link(DMASPLIT_TO_DEVICE);
	uint64_t base = dmasplit_iova_addr(iova);

	refused(dmasplit_iova_sync(iova, G, 2 * G), -ENOENT);
	ck_assert(tu_log_has("offset 0x2000 of window"));
	/* The per-range syncs see windows too. */
	ck_assert_int_eq(dmasplit_sync_for_device(dev, base, G, DMASPLIT_TO_DEVICE), 0);
	refused(dmasplit_sync_for_device(dev, base + 2 * G, G, DMASPLIT_TO_DEVICE), -ENOENT);
	refused(dmasplit_sync_for_cpu(dev, base, G, DMASPLIT_FROM_DEVICE), -EINVAL);
	refused(dmasplit_sync_for_cpu(dev, 0x7000000000ull, G, DMASPLIT_FROM_DEVICE), -ENOENT);
	dmasplit_iova_destroy(iova);
}
END_TEST

START_TEST(checker_link_over_link)
{
	struct dmasplit_iova *iova = window_with_link(DMASPLIT_TO_DEVICE);

	refused(dmasplit_iova_link(iova, G, buf, 2 * G, DMASPLIT_TO_DEVICE, 0), -EEXIST);
	ck_assert(tu_log_has("already linked (link over link)"));
	/* The refused link left no state: the free granules still link. */
	ck_assert_int_eq(dmasplit_iova_link(iova, 2 * G, buf, 2 * G, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_iova_destroy(iova);
}
END_TEST

START_TEST(checker_use_after_destroy)
{
	struct dmasplit_iova *iova = window_with_link(DMASPLIT_TO_DEVICE);

	dmasplit_iova_destroy(iova);
	tu_log_clear();
	refused(dmasplit_iova_link(iova, 2 * G, buf, G, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert(tu_log_has("used after dmasplit_iova_destroy"));
	refused(dmasplit_iova_sync(iova, 0, G), -EINVAL);
	refused(dmasplit_iova_unlink(iova, 0, G, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	tu_log_clear();
	dmasplit_iova_destroy(iova);
	ck_assert(tu_log_has("used after dmasplit_iova_destroy"));
	ck_assert(!backend_called());
}
END_TEST

START_TEST(checker_unmap_of_what_was_never_mapped)
{
	uint64_t dma;

	refused(dmasplit_unmap(dev, 0x123000, G, DMASPLIT_TO_DEVICE, 0), -ENOENT);
	ck_assert(tu_log_has("was never mapped (or already unmapped)"));
	ck_assert_int_eq(dmasplit_map(dev, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, G, DMASPLIT_TO_DEVICE, 0), 0);
	refused(dmasplit_unmap(dev, dma, G, DMASPLIT_TO_DEVICE, 0), -ENOENT);
}
END_TEST

START_TEST(checker_unmap_with_wrong_length_direction_or_kind)
{
	struct dmasplit_seg seg;
	uint64_t dma;

	ck_assert_int_eq(dmasplit_map(dev, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	refused(dmasplit_unmap(dev, dma, G - 1, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert(tu_log_has("with length 0xfff, but mapped with 0x1000"));
	refused(dmasplit_unmap(dev, dma, G, DMASPLIT_FROM_DEVICE, 0), -EINVAL);
	ck_assert(tu_log_has("with direction FROM_DEVICE, but mapped TO_DEVICE"));
	seg.dma = dma;
	seg.len = G;
	refused(dmasplit_unmap_vec(dev, &seg, 1, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert(tu_log_has("was mapped by dmasplit_map"));
	/* A bidirectional mapping syncs either way, a one-way one does not. */
	refused(dmasplit_sync_for_cpu(dev, dma, G, DMASPLIT_FROM_DEVICE), -EINVAL);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, G, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_map(dev, buf, G, DMASPLIT_BIDIRECTIONAL, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_sync_for_cpu(dev, dma, 10, DMASPLIT_FROM_DEVICE), 0);
	ck_assert_int_eq(dmasplit_sync_for_device(dev, dma + 10, 10, DMASPLIT_TO_DEVICE), 0);
	refused(dmasplit_sync_for_cpu(dev, dma + G - 1, 2, DMASPLIT_FROM_DEVICE), -ENOENT);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, G, DMASPLIT_BIDIRECTIONAL, 0), 0);
}
END_TEST

START_TEST(checker_free_coherent_with_wrong_address)
{
	void *cpu;
	uint64_t dma;

	ck_assert_int_eq(dmasplit_alloc_coherent(dev, G, 0, &cpu, &dma), 0);
	refused(dmasplit_free_coherent(dev, G, buf, dma), -EINVAL);
	ck_assert(tu_log_has("with CPU address"));
	refused(dmasplit_unmap(dev, dma, G, DMASPLIT_BIDIRECTIONAL, 0), -EINVAL);
	ck_assert_int_eq(dmasplit_free_coherent(dev, G, cpu, dma), 0);
}
END_TEST

START_TEST(checker_catches_overlapping_windows_from_a_backend)
{
	struct dmasplit_iova *a, *b = NULL;
	struct dmasplit_dev *d;

	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:bug,testa.overlap", &d), 0);
	ck_assert_int_eq(dmasplit_iova_alloc(d, G, 0, &a), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_iova_alloc(d, G, 0, &b), -EIO);
	ck_assert_ptr_null(b);
	ck_assert(tu_log_has("overlapping live range"));
	dmasplit_iova_destroy(a);
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(checker_reports_leaks_at_close_and_the_last_window_releases)
{
	struct iovec iov[2] = { { buf, G }, { buf + G, G } };
	struct dmasplit_seg segs[2];
	struct dmasplit_iova *iova;
	struct dmasplit_dev *b;
	unsigned int nsegs = 2;
	uint64_t dma;
	void *cpu;

	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:leaky", "testb", &b), 0);
	ck_assert_int_eq(dmasplit_iova_alloc(b, 2 * G, 0, &iova), 0);
	ck_assert_int_eq(dmasplit_iova_link(iova, 0, buf, G, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_map(b, buf, 10, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_map_vec(b, iov, 2, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	ck_assert_int_eq(dmasplit_alloc_coherent(b, G, 0, &cpu, &dma), 0);
	tu_log_clear();
	dmasplit_dev_close(b);
	/* The window is reported, not freed: it keeps the device, whose
	 * mappings wait for it. */
	ck_assert_msg(tu_log_has("leaky: leaked window") &&
		      tu_log_has("still live at close: the device stays") &&
		      !tu_log_has("testb: iova_destroy") &&
		      !tu_log_has("leaked dmasplit_map mapping") &&
		      !tu_log_has("testb: close"),
		      "log:\n%s", tu_log_text());
	ck_assert_int_eq(dmasplit_iova_unlink(iova, 0, G, DMASPLIT_TO_DEVICE, 0), 0);
	tu_log_clear();
	dmasplit_iova_destroy(iova);
	ck_assert_msg(tu_log_has("leaky: leaked dmasplit_map mapping") &&
		      tu_log_has("leaky: leaked dmasplit_map_vec mapping") &&
		      tu_log_has("leaky: leaked dmasplit_alloc_coherent mapping") &&
		      tu_log_has("testb: iova_destroy") &&
		      tu_log_has("testb: unmap dma=") &&
		      tu_log_has("testb: unmap_vec nsegs=1") &&
		      tu_log_has("testb: free_coherent") &&
		      tu_log_has("testb: close"),
		      "log:\n%s", tu_log_text());
}
END_TEST

START_TEST(checker_reports_device_access_to_cpu_owned_memory)
{
	static const char *const sim[] = { "swiotlb-sim", NULL };
	struct dmasplit_ctx *c;
	struct dmasplit_dev *d;
	struct dmasplit_iova *iova;
	uint64_t dma, base;
	uint8_t byte;

	/* The fixture's context holds the scratch directory: replace it. */
	dmasplit_dev_close(dev);
	dev = NULL;
	tu_ctx_free(ctx);
	ctx = NULL;
	c = tu_ctx_with(sim);
	dmasplit_ctx_set_check(c, 1);
	ck_assert_int_eq(dmasplit_dev_open(c, "sim:nc,coherent=0", &d), 0);
	ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_BIDIRECTIONAL, 0, &dma), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_dev_dma_read(d, dma, &byte, 1), 0);
	ck_assert(!tu_log_has("while the CPU owns"));
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma, G, DMASPLIT_BIDIRECTIONAL), 0);
	/* Reported, not refused: the access itself is the device's. */
	ck_assert_int_eq(dmasplit_dev_dma_write(d, dma + 5, &byte, 1), 0);
	ck_assert_msg(tu_log_has("device write at") &&
		      tu_log_has("while the CPU owns that memory"),
		      "log:\n%s", tu_log_text());
	ck_assert_int_eq(dmasplit_sync_for_device(d, dma, G, DMASPLIT_BIDIRECTIONAL), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_dev_dma_read(d, dma, &byte, 1), 0);
	ck_assert(!tu_log_has("while the CPU owns"));
	ck_assert_int_eq(dmasplit_unmap(d, dma, G, DMASPLIT_BIDIRECTIONAL, 0), 0);

	/* Windows, per granule. */
	ck_assert_int_eq(dmasplit_iova_alloc(d, 2 * G, 0, &iova), 0);
	base = dmasplit_iova_addr(iova);
	ck_assert_int_eq(dmasplit_iova_link(iova, 0, buf, 2 * G, DMASPLIT_FROM_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_iova_sync(iova, 0, 2 * G), 0);
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, base + G, G, DMASPLIT_FROM_DEVICE), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_dev_dma_write(d, base, &byte, 1), 0);
	ck_assert(!tu_log_has("while the CPU owns"));
	ck_assert_int_eq(dmasplit_dev_dma_write(d, base + G, &byte, 1), 0);
	ck_assert(tu_log_has("while the CPU owns"));
	ck_assert_int_eq(dmasplit_iova_unlink(iova, 0, 2 * G, DMASPLIT_FROM_DEVICE, 0), 0);
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);

	/* A coherent device has no such rule. */
	ck_assert_int_eq(dmasplit_dev_open(c, "sim:co", &d), 0);
	ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_BIDIRECTIONAL, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma, G, DMASPLIT_BIDIRECTIONAL), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_dev_dma_write(d, dma, &byte, 1), 0);
	ck_assert(!tu_log_has("while the CPU owns"));
	ck_assert_int_eq(dmasplit_unmap(d, dma, G, DMASPLIT_BIDIRECTIONAL, 0), 0);
	dmasplit_dev_close(d);
	tu_ctx_free(c);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Backends that fail or misbehave                                      */

static struct dmasplit_dev *open_other(const char *spec, const char *backend)
{
	struct dmasplit_dev *d;

	ck_assert_msg(dmasplit_dev_open_backend(ctx, spec, backend, &d) == 0,
		      "open %s: log:\n%s", spec, tu_log_text());
	tu_log_clear();
	return d;
}

/* Three buffers that no backend merges into fewer segments. */
static void three_buffers(struct iovec *iov)
{
	iov[0].iov_base = buf;
	iov[0].iov_len = 100;
	iov[1].iov_base = buf + 2 * G;
	iov[1].iov_len = 200;
	iov[2].iov_base = buf + 4 * G;
	iov[2].iov_len = 300;
}

START_TEST(unmap_vec_returns_the_backend_error_and_counts_what_went)
{
	struct iovec iov[3];
	struct dmasplit_seg segs[3];
	unsigned int nsegs = 3;
	struct dmasplit_dev *d;
	int r;

	/* Per segment (no backend vector operation): the second fails. */
	d = open_other("sim:v,testa.fail=unmap,testa.failskip=1", "testa");
	three_buffers(iov);
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 3, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	r = dmasplit_unmap_vec(d, segs, 3, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(r == -EIO, "unmap_vec: expected -EIO from the backend, got %d", r);
	ck_assert_msg(stats_of(d).unmaps == 1 && stats_of(d).mappings_live == 2,
		      "expected 1 unmap counted and 2 live, got %llu and %llu",
		      (unsigned long long)stats_of(d).unmaps,
		      (unsigned long long)stats_of(d).mappings_live);
	/* What stayed mapped is still a vector to unmap. */
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs + 1, 2, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_uint_eq(stats_of(d).mappings_live, 0);
	dmasplit_dev_close(d);

	/* A vector operation fails whole: nothing counted, all still mapped. */
	d = open_other("sim:w,testb.fail=unmap_vec", "testb");
	nsegs = 3;
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 3, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	ck_assert_uint_eq(nsegs, 3);
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs, 3, DMASPLIT_TO_DEVICE, 0), -EIO);
	ck_assert_msg(stats_of(d).unmaps == 0 && stats_of(d).mappings_live == 3,
		      "expected nothing counted, got %llu unmaps",
		      (unsigned long long)stats_of(d).unmaps);
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs, 3, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_uint_eq(stats_of(d).mappings_live, 0);
	tu_log_clear();
	dmasplit_dev_close(d);
	ck_assert_msg(!tu_log_has("leaked") && !tu_log_has("still live"),
		      "log:\n%s", tu_log_text());
}
END_TEST

START_TEST(failed_unlink_leaves_the_link_in_place)
{
	struct dmasplit_iova *iova;
	struct dmasplit_dev *d = open_other("sim:u,testa.fail=unlink", "testa");

	ck_assert_int_eq(dmasplit_iova_alloc(d, 4 * G, 0, &iova), 0);
	ck_assert_int_eq(dmasplit_iova_link(iova, 0, buf, 2 * G, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_iova_sync(iova, 0, 2 * G), 0);
	ck_assert_int_eq(dmasplit_iova_unlink(iova, 0, 2 * G, DMASPLIT_TO_DEVICE, 0), -EIO);
	/* Still linked, as the backend says: sync, then unlink, work. */
	ck_assert_msg(dmasplit_iova_sync(iova, 0, 2 * G) == 0,
		      "sync after a failed unlink refused, log:\n%s", tu_log_text());
	ck_assert_msg(dmasplit_iova_unlink(iova, 0, 2 * G, DMASPLIT_TO_DEVICE, 0) == 0,
		      "unlink after a failed unlink refused, log:\n%s", tu_log_text());
	ck_assert_uint_eq(stats_of(d).unlinks, 1);
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(checker_refuses_a_vector_with_a_segment_twice)
{
	struct iovec iov[3];
	struct dmasplit_seg segs[3], twice[2];
	unsigned int nsegs = 3;
	struct dmasplit_dev *d = open_other("sim:t", "testb");

	three_buffers(iov);
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 2, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	ck_assert_uint_eq(nsegs, 2);
	twice[0] = segs[0];
	twice[1] = segs[0];
	tu_log_clear();
	ck_assert_int_eq(dmasplit_unmap_vec(d, twice, 2, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert_msg(tu_log_count("\n") == 1 && !tu_log_has("testb: unmap"),
		      "expected one line and no backend call, log:\n%s", tu_log_text());
	nsegs = 1;
	ck_assert_int_eq(dmasplit_map_vec(d, iov + 2, 1, DMASPLIT_TO_DEVICE, 0,
					  segs + 2, &nsegs), 0);
	twice[0] = segs[2];
	twice[1] = segs[2];
	ck_assert_int_eq(dmasplit_unmap_vec(d, twice, 2, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs, 2, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs + 2, 1, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(checker_unmaps_a_vector_only_as_mapped)
{
	struct iovec iov[3];
	struct dmasplit_seg segs[3], other[1], bad[3];
	unsigned int nsegs = 3, one = 1;
	struct dmasplit_dev *d = open_other("sim:o", "testb");

	three_buffers(iov);
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 3, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	ck_assert_uint_eq(nsegs, 3);
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 1, DMASPLIT_TO_DEVICE, 0, other, &one), 0);
	/* Another order. */
	bad[0] = segs[1];
	bad[1] = segs[0];
	refused(dmasplit_unmap_vec(d, bad, 2, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert(tu_log_has("unmap the vector as dmasplit_map_vec returned it"));
	bad[0] = segs[0];
	bad[1] = segs[2];
	bad[2] = segs[1];
	refused(dmasplit_unmap_vec(d, bad, 3, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	/* A subset, from the front or not. */
	refused(dmasplit_unmap_vec(d, segs, 2, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert(tu_log_has("2 segments, but the vector mapped at"));
	refused(dmasplit_unmap_vec(d, segs + 1, 2, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	/* Segments of two calls. */
	bad[0] = segs[0];
	bad[1] = segs[1];
	bad[2] = other[0];
	refused(dmasplit_unmap_vec(d, bad, 3, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert_uint_eq(stats_of(d).mappings_live, 4);
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs, 3, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap_vec(d, other, 1, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(d);
}
END_TEST

/* Every way a backend can hand out addresses the device cannot use is
 * refused, undone and blamed on the backend, checker or not. */
static void bad_addresses_refused(void)
{
	static const char *const modes[] = { "zero", "wrap", "mask" };
	struct iovec iov[3];
	struct dmasplit_seg segs[3];
	unsigned int i, nsegs;
	char spec[64];

	three_buffers(iov);
	for (i = 0; i < 3; i++) {
		struct dmasplit_iova *iova = NULL;
		struct dmasplit_dev *d;
		uint64_t dma = 7;
		void *cpu = NULL;

		snprintf(spec, sizeof(spec), "sim:bad,testb.badaddr=%s", modes[i]);
		d = open_other(spec, "testb");
		ck_assert_int_eq(dmasplit_iova_alloc(d, 2 * G, 0, &iova), -EIO);
		ck_assert_ptr_null(iova);
		ck_assert_msg(tu_log_count("backend testb returned device address") == 1 &&
			      tu_log_has("testb: iova_destroy"),
			      "%s: window: log:\n%s", modes[i], tu_log_text());
		tu_log_clear();
		ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), -EIO);
		ck_assert_uint_eq(dma, 7);
		ck_assert_msg(tu_log_count("backend testb returned device address") == 1 &&
			      tu_log_has("testb: unmap dma="),
			      "%s: map: log:\n%s", modes[i], tu_log_text());
		nsegs = 3;
		ck_assert_int_eq(dmasplit_map_vec(d, iov, 3, DMASPLIT_TO_DEVICE, 0,
						  segs, &nsegs), 0);
		ck_assert_int_eq(dmasplit_unmap_vec(d, segs, nsegs, DMASPLIT_TO_DEVICE, 0), 0);
		tu_log_clear();
		ck_assert_int_eq(dmasplit_alloc_coherent(d, G, 0, &cpu, &dma), -EIO);
		ck_assert_msg(tu_log_count("backend testb returned device address") == 1 &&
			      tu_log_has("testb: free_coherent"),
			      "%s: coherent: log:\n%s", modes[i], tu_log_text());
		ck_assert_uint_eq(stats_of(d).windows_live, 0);
		ck_assert_uint_eq(stats_of(d).mappings_live, 0);
		tu_log_clear();
		dmasplit_dev_close(d);
		ck_assert_msg(!tu_log_has("leaked") && !tu_log_has("still live"),
			      "%s: log:\n%s", modes[i], tu_log_text());
	}
}

START_TEST(checker_refuses_unusable_backend_addresses)
{
	bad_addresses_refused();
}
END_TEST

START_TEST(unchecked_refuses_unusable_backend_addresses)
{
	bad_addresses_refused();
}
END_TEST

START_TEST(unchecked_live_counts_never_wrap)
{
	struct dmasplit_dev_stats st;
	struct dmasplit_dev *d = open_other("sim:lax,testa.lax", "testa");
	uint64_t dma;

	ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_FROM_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_unmap(d, dma, G, DMASPLIT_FROM_DEVICE, 0), 0);
	/* The backend wrongly accepts what it no longer holds. */
	ck_assert_int_eq(dmasplit_unmap(d, dma, G, DMASPLIT_FROM_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap(d, dma + G, G, DMASPLIT_FROM_DEVICE, 0), 0);
	tu_log_clear();
	st = stats_of(d);
	ck_assert_msg(st.mappings_live == 0, "mappings_live: expected 0, got %llu",
		      (unsigned long long)st.mappings_live);
	ck_assert_msg(tu_log_has("backend testa released 2 more mappings than were made"),
		      "log:\n%s", tu_log_text());
	tu_log_clear();
	dmasplit_dev_close(d);
	ck_assert_msg(!tu_log_has("mappings still live"), "log:\n%s", tu_log_text());
}
END_TEST

START_TEST(unchecked_backend_errors_outside_the_contract_become_eio)
{
	struct dmasplit_dev *d;
	uint64_t dma = 7;
	int r;

	/* ECHILD means nothing for a map: the caller gets EIO and a line. */
	d = open_other("sim:e,testa.fail=map,testa.errno=10", "testa");
	r = dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &dma);
	ck_assert_msg(r == -EIO, "expected -EIO, got %d", r);
	ck_assert_msg(tu_log_count("\n") == 2 &&
		      tu_log_has("backend testa returned -10 (No child processes) from map"),
		      "log:\n%s", tu_log_text());
	ck_assert_uint_eq(stats_of(d).maps, 0);
	dmasplit_dev_close(d);
	/* A documented one passes as it is, without a line of the core's. */
	d = open_other("sim:e,testa.fail=map,testa.errno=28", "testa");
	ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), -ENOSPC);
	ck_assert(!tu_log_has("which that call may not return"));
	dmasplit_dev_close(d);
	/* The same for an unmap (ENOSPC is not an unmap's). */
	d = open_other("sim:e,testa.fail=unmap,testa.errno=28", "testa");
	ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_unmap(d, dma, G, DMASPLIT_TO_DEVICE, 0), -EIO);
	ck_assert(tu_log_has("from unmap, which that call may not return"));
	ck_assert_int_eq(dmasplit_unmap(d, dma, G, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(checker_lets_untranslated_devices_map_the_same_bytes_twice)
{
	struct iovec iov[2] = { { buf, G }, { buf, G } };
	struct dmasplit_seg segs[2];
	unsigned int nsegs = 2;
	uint64_t a, b;
	struct dmasplit_dev *d = open_other("sim:p,testa.phys,testa.nowin", "testa");

	ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &a), 0);
	ck_assert_msg(dmasplit_map(d, buf + 100, 10, DMASPLIT_TO_DEVICE, 0, &b) == 0,
		      "second mapping of the same bytes refused, log:\n%s",
		      tu_log_text());
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 2, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	ck_assert_int_eq(dmasplit_unmap(d, b, 10, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs, 2, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap(d, a, G, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(d);

	/* Two different buffers at one address is still a backend bug. */
	d = open_other("sim:q,testa.phys,testa.alias", "testa");
	ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &a), 0);
	ck_assert_int_eq(dmasplit_map(d, buf + 4 * G, G, DMASPLIT_TO_DEVICE, 0, &b), -EIO);
	ck_assert(tu_log_has("overlapping live range"));
	ck_assert_int_eq(dmasplit_unmap(d, a, G, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(d);
}
END_TEST

/* Two vectors of the same bytes start at one address without
 * translation: each unmaps as itself, in either order. */
START_TEST(checker_tells_vectors_of_the_same_bytes_apart)
{
	struct iovec two[2] = { { buf, G }, { buf + 2 * G, G } };
	struct iovec one = { buf, G };
	unsigned int order;

	for (order = 0; order < 2; order++) {
		struct dmasplit_dev *d = open_other("sim:p,testa.phys,testa.nowin", "testa");
		struct dmasplit_seg s2[2], s1[1];
		unsigned int n2 = 2, n1 = 1;
		int r1, r2;

		ck_assert_int_eq(dmasplit_map_vec(d, two, 2, DMASPLIT_TO_DEVICE, 0, s2, &n2), 0);
		ck_assert_int_eq(dmasplit_map_vec(d, &one, 1, DMASPLIT_TO_DEVICE, 0, s1, &n1), 0);
		ck_assert_uint_eq(s1[0].dma, s2[0].dma);
		if (order) {
			r1 = dmasplit_unmap_vec(d, s2, n2, DMASPLIT_TO_DEVICE, 0);
			r2 = dmasplit_unmap_vec(d, s1, n1, DMASPLIT_TO_DEVICE, 0);
		} else {
			r1 = dmasplit_unmap_vec(d, s1, n1, DMASPLIT_TO_DEVICE, 0);
			r2 = dmasplit_unmap_vec(d, s2, n2, DMASPLIT_TO_DEVICE, 0);
		}
		ck_assert_msg(r1 == 0 && r2 == 0,
			      "%s vector first: expected 0 and 0, got %d and %d; log:\n%s",
			      order ? "two-segment" : "one-segment", r1, r2,
			      tu_log_text());
		dmasplit_dev_close(d);
	}
}
END_TEST

/* A sync is judged against a mapping whose direction allows it, when
 * the same bytes are mapped twice at one address in different
 * directions; a direction no mapping has is still refused. */
START_TEST(checker_syncs_the_same_bytes_by_the_mapping_that_allows_it)
{
	struct dmasplit_dev *d = open_other("sim:p,testa.phys,testa.nowin", "testa");
	uint64_t a, b;

	ck_assert_int_eq(dmasplit_map(d, buf + 7, 37, DMASPLIT_FROM_DEVICE, 0, &a), 0);
	ck_assert_int_eq(dmasplit_map(d, buf, 4 * G, DMASPLIT_TO_DEVICE, 0, &b), 0);
	ck_assert_msg(dmasplit_sync_for_cpu(d, a, 37, DMASPLIT_FROM_DEVICE) == 0,
		      "sync_for_cpu FROM_DEVICE of the FROM_DEVICE mapping refused, log:\n%s",
		      tu_log_text());
	ck_assert_msg(dmasplit_sync_for_device(d, a, 37, DMASPLIT_TO_DEVICE) == 0,
		      "sync_for_device TO_DEVICE inside the TO_DEVICE mapping refused, log:\n%s",
		      tu_log_text());
	tu_log_clear();
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, b + 2 * G, 8, DMASPLIT_FROM_DEVICE),
			 -EINVAL);
	ck_assert(tu_log_has("mapped TO_DEVICE"));
	ck_assert_int_eq(dmasplit_unmap(d, a, 37, DMASPLIT_FROM_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap(d, b, 4 * G, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(d);
}
END_TEST

/* The checker's state for a window costs what is linked: a 2^46-byte
 * window with one link takes no more heap than a small one. */
START_TEST(checker_state_follows_links_not_window_size)
{
	static const char *const sim[] = { "swiotlb-sim", NULL };
	struct dmasplit_iova *iova;
	struct dmasplit_ctx *c;
	struct dmasplit_dev *d;
	struct mallinfo2 before, after;
	size_t grew;

	tu_ctx_free(ctx);
	ctx = c = tu_ctx_with(sim);
	dmasplit_ctx_set_check(c, 1);
	ck_assert_int_eq(dmasplit_dev_open(c, "sim:huge", &d), 0);
	before = mallinfo2();
	ck_assert_int_eq(dmasplit_iova_alloc(d, (size_t)1 << 46, 0, &iova), 0);
	ck_assert_int_eq(dmasplit_iova_link(iova, ((size_t)1 << 45), buf, 4 * G,
					    DMASPLIT_BIDIRECTIONAL, 0), 0);
	ck_assert_int_eq(dmasplit_iova_sync(iova, ((size_t)1 << 45), 4 * G), 0);
	after = mallinfo2();
	grew = (after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd);
	ck_assert_msg(grew < (1u << 20), "a window with one link cost %zu bytes of heap",
		      grew);
	/* Runs split where an unlink ends inside one. */
	ck_assert_int_eq(dmasplit_iova_unlink(iova, ((size_t)1 << 45) + G, 2 * G,
					      DMASPLIT_BIDIRECTIONAL, 0), 0);
	refused(dmasplit_iova_unlink(iova, ((size_t)1 << 45) + G, G,
				     DMASPLIT_BIDIRECTIONAL, 0), -ENOENT);
	refused(dmasplit_iova_sync(iova, ((size_t)1 << 45), 4 * G), -ENOENT);
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, dmasplit_iova_addr(iova) + ((size_t)1 << 45),
					       G, DMASPLIT_FROM_DEVICE), 0);
	ck_assert_int_eq(dmasplit_iova_unlink(iova, ((size_t)1 << 45) + 3 * G, G,
					      DMASPLIT_BIDIRECTIONAL, 0), 0);
	ck_assert_int_eq(dmasplit_iova_unlink(iova, ((size_t)1 << 45), G,
					      DMASPLIT_BIDIRECTIONAL, 0), 0);
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Without the checker                                                  */

START_TEST(unchecked_core_still_refuses_what_it_knows)
{
	struct dmasplit_iova *iova;

	ck_assert_int_eq(dmasplit_ctx_get_check(ctx), 0);
	ck_assert_int_eq(dmasplit_iova_alloc(dev, 2 * G, 0, &iova), 0);
	/* The window's bounds are the core's: outside is refused early. */
	refused(dmasplit_iova_unlink(iova, G, 2 * G, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_iova_sync(iova, 2 * G, 1), -EINVAL);
	/* What only the checker tracks reaches the backend, which refuses. */
	tu_log_clear();
	ck_assert_int_eq(dmasplit_unmap(dev, 0x123000, G, DMASPLIT_TO_DEVICE, 0), -ENOENT);
	ck_assert(tu_log_has("testa: unmap of 0x123000: no such mapping"));
	dmasplit_iova_destroy(iova);
}
END_TEST

START_TEST(unchecked_close_counts_windows_and_the_last_one_releases)
{
	struct dmasplit_iova *iova;
	uint64_t dma;

	ck_assert_int_eq(dmasplit_iova_alloc(dev, 2 * G, 0, &iova), 0);
	ck_assert_int_eq(dmasplit_map(dev, buf, 10, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_map(dev, buf, 20, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	tu_log_clear();
	dmasplit_dev_close(dev);
	dev = NULL;
	ck_assert_msg(tu_log_count("\n") == 1 &&
		      tu_log_has("nic0: closed with 1 windows and 0 batches live"),
		      "expected one line counting the window, log:\n%s",
		      tu_log_text());
	/* The window still works, and its destruction releases the device. */
	ck_assert_int_eq(dmasplit_iova_link(iova, 0, buf, G, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_iova_unlink(iova, 0, G, DMASPLIT_TO_DEVICE, 0), 0);
	tu_log_clear();
	dmasplit_iova_destroy(iova);
	ck_assert_msg(tu_log_has("nic0: 2 mappings still live at close") &&
		      tu_log_has("testa: iova_destroy") && tu_log_has("testa: close"),
		      "log:\n%s", tu_log_text());
}
END_TEST

static bool sim_built(void)
{
	const char *dir = getenv("DMASPLIT_TEST_BACKENDS");
	char path[4096];

	snprintf(path, sizeof(path), "%s/backend-swiotlb-sim.so", dir ? dir : "");
	return dir && access(path, R_OK) == 0;
}

int main(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("arguments");

	tu_plugin_dir();
	tcase_add_checked_fixture(tc, setup_checked, teardown);
	tcase_add_test(tc, iova_arguments_are_validated);
	tcase_add_test(tc, map_arguments_are_validated);
	tcase_add_test(tc, vector_arguments_are_validated);
	tcase_add_test(tc, device_arguments_are_validated);
	tcase_add_test(tc, bad_device_options_fail_open_cleanly);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("dispatch");
	tcase_add_checked_fixture(tc, setup_checked, teardown);
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

	tc = tcase_create("checker");
	tcase_add_checked_fixture(tc, setup_checked, teardown);
	tcase_add_test(tc, checker_unlink_of_what_was_never_linked);
	tcase_add_test(tc, checker_double_unlink);
	tcase_add_test(tc, checker_unlink_with_wrong_direction);
	tcase_add_test(tc, checker_sync_of_unlinked_range);
	tcase_add_test(tc, checker_link_over_link);
	tcase_add_test(tc, checker_use_after_destroy);
	tcase_add_test(tc, checker_unmap_of_what_was_never_mapped);
	tcase_add_test(tc, checker_unmap_with_wrong_length_direction_or_kind);
	tcase_add_test(tc, checker_free_coherent_with_wrong_address);
	tcase_add_test(tc, checker_catches_overlapping_windows_from_a_backend);
	tcase_add_test(tc, checker_reports_leaks_at_close_and_the_last_window_releases);
	tu_add_test_if(tc, checker_reports_device_access_to_cpu_owned_memory,
		       sim_built(), "the swiotlb-sim backend is not built");
	tcase_add_test(tc, unmap_vec_returns_the_backend_error_and_counts_what_went);
	tcase_add_test(tc, failed_unlink_leaves_the_link_in_place);
	tcase_add_test(tc, checker_refuses_a_vector_with_a_segment_twice);
	tcase_add_test(tc, checker_unmaps_a_vector_only_as_mapped);
	tcase_add_test(tc, checker_refuses_unusable_backend_addresses);
	tcase_add_test(tc, checker_lets_untranslated_devices_map_the_same_bytes_twice);
	tcase_add_test(tc, checker_syncs_the_same_bytes_by_the_mapping_that_allows_it);
	tcase_add_test(tc, checker_tells_vectors_of_the_same_bytes_apart);
	tu_add_test_if(tc, checker_state_follows_links_not_window_size,
		       sim_built(), "the swiotlb-sim backend is not built");
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("unchecked");
	tcase_add_checked_fixture(tc, setup_unchecked, teardown);
	tcase_add_test(tc, unchecked_core_still_refuses_what_it_knows);
	tcase_add_test(tc, unchecked_refuses_unusable_backend_addresses);
	tcase_add_test(tc, unchecked_live_counts_never_wrap);
	tcase_add_test(tc, unchecked_backend_errors_outside_the_contract_become_eio);
	tcase_add_test(tc, unmap_vec_returns_the_backend_error_and_counts_what_went);
	tcase_add_test(tc, failed_unlink_leaves_the_link_in_place);
	tcase_add_test(tc, unchecked_close_counts_windows_and_the_last_one_releases);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
