// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The mapping batch: one window, linked and synced once, on devices that
 * have windows; per-range mappings on devices that do not, or whose
 * granule rules refuse a link; device segments either way, verified from
 * the device side on the simulated devices, and physical runs on the
 * direct backend (as root, on a fake uio device).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fakesys.h"
#include "testutil.h"

static const char *const plugins[] = { "swiotlb-sim", "testb", "direct", NULL };
static struct dmasplit_ctx *ctx;
static struct dmasplit_dev *dev;

/*
 * Four buffers over eight granules of g bytes: two that fill whole
 * granules and meet in a window (one segment), a small one inside a
 * granule and one across a granule boundary, both at odd offsets.
 */
struct bufs {
	uint8_t *mem;
	size_t g;
	struct iovec iov[4];
};

static struct bufs bs;

static void make_bufs(size_t g)
{
	unsigned int i;
	size_t k;

	bs.g = g;
	bs.mem = aligned_alloc(g, 8 * g);
	ck_assert_ptr_nonnull(bs.mem);
	memset(bs.mem, 0xee, 8 * g);
	bs.iov[0].iov_base = bs.mem;
	bs.iov[0].iov_len = 2 * g;
	bs.iov[1].iov_base = bs.mem + 3 * g;
	bs.iov[1].iov_len = g;
	bs.iov[2].iov_base = bs.mem + 5 * g + 100;
	bs.iov[2].iov_len = 300;
	bs.iov[3].iov_base = bs.mem + 7 * g - 96;
	bs.iov[3].iov_len = 300;
	for (i = 0; i < 4; i++)
		for (k = 0; k < bs.iov[i].iov_len; k++)
			((uint8_t *)bs.iov[i].iov_base)[k] = (uint8_t)(i * 61 + k);
}

static void setup(void)
{
	ctx = tu_ctx_with(plugins);
	memset(&bs, 0, sizeof(bs));
}

static void teardown(void)
{
	dmasplit_dev_close(dev);
	dev = NULL;
	tu_ctx_free(ctx);
	ctx = NULL;
	free(bs.mem);
	bs.mem = NULL;
}

static void open_dev(const char *spec, const char *backend)
{
	int r = dmasplit_dev_open_backend(ctx, spec, backend, &dev);

	ck_assert_msg(r == 0, "open %s: %d, log:\n%s", spec, r, tu_log_text());
	tu_log_clear();
}

static struct dmasplit_dev_stats stats(void)
{
	struct dmasplit_dev_stats s = { .size = sizeof(s) };

	ck_assert_int_eq(dmasplit_dev_get_stats(dev, &s), 0);
	return s;
}

static struct dmasplit_batch *batch_of(enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_batch *b = NULL;
	unsigned int i;

	ck_assert_int_eq(dmasplit_batch_new(dev, dir, attrs, &b), 0);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(dmasplit_batch_add(b, bs.iov[i].iov_base,
						    bs.iov[i].iov_len), 0);
	return b;
}

static size_t total(void)
{
	return bs.iov[0].iov_len + bs.iov[1].iov_len + bs.iov[2].iov_len +
	       bs.iov[3].iov_len;
}

/* What the device reads through the segments, in order, is the buffers'
 * bytes, in order. */
static void device_sees_buffers(const struct dmasplit_seg *segs,
				unsigned int nsegs)
{
	uint8_t *want = malloc(total()), *got = malloc(total()), *p;
	unsigned int i;
	size_t at = 0;
	int r;

	ck_assert(want && got);
	for (i = 0, p = want; i < 4; p += bs.iov[i].iov_len, i++)
		memcpy(p, bs.iov[i].iov_base, bs.iov[i].iov_len);
	for (i = 0; i < nsegs; i++) {
		ck_assert_uint_le(at + segs[i].len, total());
		r = dmasplit_dev_dma_read(dev, segs[i].dma, got + at, segs[i].len);
		ck_assert_msg(r == 0, "device read of segment %u (0x%" PRIx64 "+0x%" PRIx64 "): %d, log:\n%s",
			      i, segs[i].dma, segs[i].len, r, tu_log_text());
		at += segs[i].len;
	}
	ck_assert_uint_eq(at, total());
	for (at = 0; at < total(); at++)
		if (want[at] != got[at])
			ck_abort_msg("byte %zu of the buffers: device read 0x%02x, expected 0x%02x",
				     at, got[at], want[at]);
	free(want);
	free(got);
}

/* The device writes v into every byte of the segments. */
static void device_writes(const struct dmasplit_seg *segs, unsigned int nsegs,
			  uint8_t v)
{
	unsigned int i;

	for (i = 0; i < nsegs; i++) {
		uint8_t *data = malloc(segs[i].len);

		ck_assert_ptr_nonnull(data);
		memset(data, v, segs[i].len);
		ck_assert_int_eq(dmasplit_dev_dma_write(dev, segs[i].dma, data,
							segs[i].len), 0);
		free(data);
	}
}

/* Buffer i holds v in every byte. */
static bool buffer_is(unsigned int i, uint8_t v)
{
	size_t k;

	for (k = 0; k < bs.iov[i].iov_len; k++)
		if (((uint8_t *)bs.iov[i].iov_base)[k] != v)
			return false;
	return true;
}

/* ------------------------------------------------------------------ */

START_TEST(translated_device_gets_one_window_synced_once)
{
	const struct dmasplit_seg *segs = NULL;
	struct dmasplit_batch *b;
	struct dmasplit_dev_stats s;
	unsigned int nsegs = 0;
	uint8_t byte = 0;
	uint64_t first;

	make_bufs(4096);
	open_dev("sim:b", "swiotlb-sim");
	b = batch_of(DMASPLIT_TO_DEVICE, 0);
	ck_assert_int_eq(dmasplit_batch_uses_window(b), 0);
	ck_assert_msg(dmasplit_batch_map(b, &segs, &nsegs) == 0, "log:\n%s",
		      tu_log_text());
	ck_assert_int_eq(dmasplit_batch_uses_window(b), 1);
	s = stats();
	ck_assert_uint_eq(s.windows_allocated, 1);
	ck_assert_uint_eq(s.links, 4);
	ck_assert_uint_eq(s.syncs, 1);
	ck_assert_uint_eq(s.maps, 0);
	/* The two buffers that fill their granules are one segment. */
	ck_assert_uint_eq(nsegs, 3);
	ck_assert_uint_eq(segs[0].len, 3 * 4096);
	ck_assert_uint_eq(segs[1].dma & 4095, 100);
	ck_assert_uint_eq(segs[2].dma & 4095, 4096 - 96);
	device_sees_buffers(segs, nsegs);
	/* The links keep their direction. */
	ck_assert_int_eq(dmasplit_dev_dma_write(dev, segs[1].dma, &byte, 1), -EFAULT);
	first = segs[0].dma;
	dmasplit_batch_free(b);
	s = stats();
	ck_assert_uint_eq(s.windows_live, 0);
	ck_assert_uint_eq(s.unlinks, 1);
	/* Torn down: the device reaches nothing any more. */
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, first, &byte, 1), -EFAULT);
}
END_TEST

START_TEST(device_writes_reach_bounced_buffers_after_sync_for_cpu)
{
	const struct dmasplit_seg *segs = NULL;
	struct dmasplit_batch *b;
	unsigned int nsegs = 0;

	make_bufs(4096);
	/* Untrusted: partial granules are bounced, as the kernel does. */
	open_dev("sim:u,untrusted=1", "swiotlb-sim");
	b = batch_of(DMASPLIT_FROM_DEVICE, 0);
	ck_assert_int_eq(dmasplit_batch_map(b, &segs, &nsegs), 0);
	ck_assert_int_eq(dmasplit_batch_uses_window(b), 1);
	device_writes(segs, nsegs, 0x5c);
	/* Whole granules are the buffer itself; the others are copies. */
	ck_assert(buffer_is(0, 0x5c) && buffer_is(1, 0x5c));
	ck_assert(!buffer_is(2, 0x5c) && !buffer_is(3, 0x5c));
	ck_assert_uint_gt(stats().bytes_bounced, 0);
	ck_assert_int_eq(dmasplit_batch_sync_for_cpu(b), 0);
	ck_assert(buffer_is(2, 0x5c) && buffer_is(3, 0x5c));
	/* The bytes around the buffers stayed the CPU's. */
	ck_assert_uint_eq(bs.mem[5 * 4096 + 99], 0xee);
	ck_assert_uint_eq(bs.mem[5 * 4096 + 400], 0xee);
	ck_assert_int_eq(dmasplit_batch_sync_for_device(b), 0);
	dmasplit_batch_free(b);
	ck_assert_uint_eq(stats().windows_live, 0);
}
END_TEST

START_TEST(granules_larger_than_pages_keep_offsets)
{
	const struct dmasplit_seg *segs = NULL;
	struct dmasplit_batch *b;
	unsigned int nsegs = 0;

	make_bufs(65536);
	open_dev("sim:g,granule=65536", "swiotlb-sim");
	b = batch_of(DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_msg(dmasplit_batch_map(b, &segs, &nsegs) == 0, "log:\n%s",
		      tu_log_text());
	ck_assert_int_eq(dmasplit_batch_uses_window(b), 1);
	ck_assert_uint_eq(nsegs, 3);
	ck_assert_uint_eq(segs[2].dma & 65535, 65536 - 96);
	device_sees_buffers(segs, nsegs);
	dmasplit_batch_free(b);
}
END_TEST

START_TEST(device_without_iommu_falls_back_to_per_range)
{
	const struct dmasplit_seg *segs = NULL;
	struct dmasplit_batch *b;
	struct dmasplit_dev_stats s;
	unsigned int nsegs = 0, i;

	make_bufs(4096);
	open_dev("sim:n,iommu=off", "swiotlb-sim");
	b = batch_of(DMASPLIT_TO_DEVICE, 0);
	ck_assert_int_eq(dmasplit_batch_map(b, &segs, &nsegs), 0);
	ck_assert_int_eq(dmasplit_batch_uses_window(b), 0);
	s = stats();
	ck_assert_uint_eq(s.windows_allocated, 0);
	ck_assert_uint_eq(s.links, 0);
	ck_assert_uint_eq(s.maps, nsegs);
	/* dma-direct: the buffers at their own addresses. */
	ck_assert_uint_eq(nsegs, 4);
	for (i = 0; i < 4; i++) {
		ck_assert_uint_eq(segs[i].dma, (uintptr_t)bs.iov[i].iov_base);
		ck_assert_uint_eq(segs[i].len, bs.iov[i].iov_len);
	}
	device_sees_buffers(segs, nsegs);
	dmasplit_batch_free(b);
	ck_assert_uint_eq(stats().mappings_live, 0);
}
END_TEST

START_TEST(bounced_fallback_follows_the_syncs)
{
	const struct dmasplit_seg *segs = NULL;
	struct dmasplit_batch *b;
	unsigned int nsegs = 0, i;

	make_bufs(4096);
	open_dev("sim:f,iommu=off,bounce=force", "swiotlb-sim");
	b = batch_of(DMASPLIT_TO_DEVICE, 0);
	ck_assert_int_eq(dmasplit_batch_map(b, &segs, &nsegs), 0);
	ck_assert_int_eq(dmasplit_batch_uses_window(b), 0);
	device_sees_buffers(segs, nsegs);
	/* The CPU writes again: the device sees it after the sync only. */
	memset(bs.iov[2].iov_base, 0x11, bs.iov[2].iov_len);
	ck_assert_uint_ne(segs[2].dma, (uintptr_t)bs.iov[2].iov_base);
	{
		uint8_t byte = 0;

		ck_assert_int_eq(dmasplit_dev_dma_read(dev, segs[2].dma, &byte, 1), 0);
		ck_assert_uint_ne(byte, 0x11);
	}
	ck_assert_int_eq(dmasplit_batch_sync_for_device(b), 0);
	device_sees_buffers(segs, nsegs);
	dmasplit_batch_free(b);

	b = batch_of(DMASPLIT_FROM_DEVICE, 0);
	ck_assert_int_eq(dmasplit_batch_map(b, &segs, &nsegs), 0);
	device_writes(segs, nsegs, 0x77);
	for (i = 0; i < 4; i++)
		ck_assert(!buffer_is(i, 0x77));
	ck_assert_int_eq(dmasplit_batch_sync_for_cpu(b), 0);
	for (i = 0; i < 4; i++)
		ck_assert(buffer_is(i, 0x77));
	/* Written again, and copied back by the teardown. */
	ck_assert_int_eq(dmasplit_batch_sync_for_device(b), 0);
	device_writes(segs, nsegs, 0x78);
	dmasplit_batch_free(b);
	for (i = 0; i < 4; i++)
		ck_assert(buffer_is(i, 0x78));
}
END_TEST

START_TEST(backend_refusing_a_link_gets_per_range)
{
	const struct dmasplit_seg *segs = NULL;
	struct dmasplit_batch *b;
	unsigned int nsegs = 0;

	make_bufs(4096);
	/* testb links only at granule offsets, and bounces nothing. */
	open_dev("sim:t", "testb");
	b = batch_of(DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(dmasplit_batch_map(b, &segs, &nsegs) == 0, "log:\n%s",
		      tu_log_text());
	ck_assert_int_eq(dmasplit_batch_uses_window(b), 0);
	ck_assert_uint_eq(stats().windows_live, 0);
	ck_assert_uint_gt(stats().maps, 0);
	ck_assert_msg(tu_log_has("linking buffer 2") &&
		      tu_log_has("mapping them per range"), "log:\n%s",
		      tu_log_text());
	device_sees_buffers(segs, nsegs);
	dmasplit_batch_free(b);
	ck_assert_uint_eq(stats().mappings_live, 0);

	/* Buffers on granule boundaries: the window. */
	ck_assert_int_eq(dmasplit_batch_new(dev, DMASPLIT_TO_DEVICE, 0, &b), 0);
	ck_assert_int_eq(dmasplit_batch_add(b, bs.iov[0].iov_base, bs.iov[0].iov_len), 0);
	ck_assert_int_eq(dmasplit_batch_add(b, bs.iov[1].iov_base, bs.iov[1].iov_len), 0);
	ck_assert_int_eq(dmasplit_batch_map(b, &segs, &nsegs), 0);
	ck_assert_int_eq(dmasplit_batch_uses_window(b), 1);
	ck_assert_uint_eq(nsegs, 1);
	ck_assert_uint_eq(segs[0].len, 3 * 4096);
	dmasplit_batch_free(b);
}
END_TEST

START_TEST(unmapped_batch_maps_again_and_grows)
{
	const struct dmasplit_seg *segs = NULL;
	struct dmasplit_batch *b;
	unsigned int nsegs = 0;
	uint8_t extra[64];

	make_bufs(4096);
	memset(extra, 0x42, sizeof(extra));
	open_dev("sim:r", "swiotlb-sim");
	b = batch_of(DMASPLIT_TO_DEVICE, 0);
	ck_assert_int_eq(dmasplit_batch_map(b, &segs, &nsegs), 0);
	ck_assert_int_eq(dmasplit_batch_unmap(b), 0);
	ck_assert_int_eq(dmasplit_batch_uses_window(b), 0);
	ck_assert_uint_eq(stats().windows_live, 0);
	ck_assert_int_eq(dmasplit_batch_add(b, extra, sizeof(extra)), 0);
	ck_assert_int_eq(dmasplit_batch_map(b, &segs, &nsegs), 0);
	ck_assert_uint_eq(nsegs, 4);
	ck_assert_uint_eq(segs[3].len, sizeof(extra));
	ck_assert_uint_eq(stats().windows_allocated, 2);
	dmasplit_batch_free(b);
	ck_assert_uint_eq(stats().windows_live, 0);
}
END_TEST

START_TEST(many_buffers_grow_the_batch)
{
	const struct dmasplit_seg *segs = NULL;
	struct dmasplit_batch *b;
	unsigned int nsegs = 0, i;
	uint8_t *mem = aligned_alloc(4096, 100 * 4096);

	ck_assert_ptr_nonnull(mem);
	for (i = 0; i < 100 * 4096; i++)
		mem[i] = (uint8_t)(i / 4096);
	open_dev("sim:m", "swiotlb-sim");
	ck_assert_int_eq(dmasplit_batch_new(dev, DMASPLIT_TO_DEVICE, 0, &b), 0);
	/* Every other page: no two buffers meet. */
	for (i = 0; i < 50; i++)
		ck_assert_int_eq(dmasplit_batch_add(b, mem + 2 * i * 4096, 4096), 0);
	ck_assert_int_eq(dmasplit_batch_map(b, &segs, &nsegs), 0);
	/* Each buffer fills its granule: one segment for all. */
	ck_assert_uint_eq(nsegs, 1);
	ck_assert_uint_eq(segs[0].len, 50 * 4096);
	for (i = 0; i < 50; i++) {
		uint8_t byte = 0xff;

		ck_assert_int_eq(dmasplit_dev_dma_read(dev, segs[0].dma + i * 4096 + 7,
						       &byte, 1), 0);
		ck_assert_uint_eq(byte, 2 * i);
	}
	dmasplit_batch_free(b);
	free(mem);
}
END_TEST

#define refused(expr, err, what)                                             \
	do {                                                                 \
		int r_;                                                      \
		tu_log_clear();                                              \
		r_ = (expr);                                                 \
		ck_assert_msg(r_ == (err), "%s: got %d, expected %d", #expr, \
			      r_, (err));                                    \
		ck_assert_msg(tu_log_count("\n") == 1 && tu_log_has(what),   \
			      "%s: expected one line with '%s', log:\n%s",  \
			      #expr, what, tu_log_text());                   \
	} while (0)

START_TEST(bad_calls_are_refused)
{
	const struct dmasplit_seg *segs = NULL;
	struct dmasplit_batch *b = NULL;
	unsigned int nsegs = 0;
	uint8_t buf[64];

	open_dev("sim:x", "swiotlb-sim");
	ck_assert_int_eq(dmasplit_batch_new(NULL, DMASPLIT_TO_DEVICE, 0, &b), -EINVAL);
	ck_assert_int_eq(dmasplit_batch_new(dev, DMASPLIT_TO_DEVICE, 0, NULL), -EINVAL);
	refused(dmasplit_batch_new(dev, (enum dmasplit_dir)3, 0, &b), -EINVAL,
		"invalid arguments (dir 3");
	refused(dmasplit_batch_new(dev, DMASPLIT_TO_DEVICE, 0x80, &b), -EINVAL,
		"attrs 0x80");
	ck_assert_ptr_null(b);

	ck_assert_int_eq(dmasplit_batch_new(dev, DMASPLIT_TO_DEVICE, 0, &b), 0);
	ck_assert_int_eq(dmasplit_batch_add(NULL, buf, 1), -EINVAL);
	refused(dmasplit_batch_add(b, NULL, 1), -EINVAL, "invalid buffer");
	refused(dmasplit_batch_add(b, buf, 0), -EINVAL, "invalid buffer");
	refused(dmasplit_batch_add(b, (void *)(UINTPTR_MAX - 10), 64), -EINVAL,
		"invalid buffer");
	ck_assert_int_eq(dmasplit_batch_map(NULL, &segs, &nsegs), -EINVAL);
	ck_assert_int_eq(dmasplit_batch_map(b, NULL, &nsegs), -EINVAL);
	ck_assert_int_eq(dmasplit_batch_map(b, &segs, NULL), -EINVAL);
	refused(dmasplit_batch_map(b, &segs, &nsegs), -EINVAL, "has no buffers");
	refused(dmasplit_batch_sync_for_cpu(b), -EINVAL, "is not mapped");
	refused(dmasplit_batch_sync_for_device(b), -EINVAL, "is not mapped");
	refused(dmasplit_batch_unmap(b), -EINVAL, "is not mapped");
	ck_assert_int_eq(dmasplit_batch_sync_for_cpu(NULL), -EINVAL);
	ck_assert_int_eq(dmasplit_batch_sync_for_device(NULL), -EINVAL);
	ck_assert_int_eq(dmasplit_batch_unmap(NULL), -EINVAL);
	ck_assert_int_eq(dmasplit_batch_uses_window(NULL), 0);

	ck_assert_int_eq(dmasplit_batch_add(b, buf, sizeof(buf)), 0);
	ck_assert_int_eq(dmasplit_batch_map(b, &segs, &nsegs), 0);
	refused(dmasplit_batch_add(b, buf, 1), -EBUSY, "unmap it before adding");
	refused(dmasplit_batch_map(b, &segs, &nsegs), -EBUSY, "already mapped");
	/* Expected failures stay quiet. */
	dmasplit_batch_free(b);
	ck_assert_int_eq(dmasplit_batch_new(dev, DMASPLIT_TO_DEVICE,
					    DMASPLIT_ATTR_NO_WARN, &b), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_batch_map(b, &segs, &nsegs), -EINVAL);
	ck_assert_uint_eq(tu_log_count("\n"), 0);
	dmasplit_batch_free(b);
	dmasplit_batch_free(NULL);
}
END_TEST

START_TEST(free_leaves_nothing_for_close_to_report)
{
	static const char *const specs[] = { "sim:w", "sim:w,iommu=off" };
	const struct dmasplit_seg *segs = NULL;
	struct dmasplit_batch *b;
	unsigned int nsegs = 0, i;

	make_bufs(4096);
	dmasplit_ctx_set_check(ctx, 1);
	for (i = 0; i < 2; i++) {
		open_dev(specs[i], "swiotlb-sim");
		b = batch_of(DMASPLIT_BIDIRECTIONAL, 0);
		ck_assert_int_eq(dmasplit_batch_map(b, &segs, &nsegs), 0);
		dmasplit_batch_free(b);
		ck_assert_uint_eq(stats().windows_live, 0);
		ck_assert_uint_eq(stats().mappings_live, 0);
		tu_log_clear();
		dmasplit_dev_close(dev);
		dev = NULL;
		ck_assert_msg(!tu_log_has("leaked") && !tu_log_has("still live"),
			      "%s: log:\n%s", specs[i], tu_log_text());
	}
}
END_TEST

/* The man page allows any address, the same bytes twice included: on a
 * device without translation both get the same device address, which
 * the checker accepts as the same memory, not as a backend bug. */
START_TEST(buffer_added_twice_maps_on_a_device_without_translation)
{
	const struct dmasplit_seg *segs = NULL;
	struct dmasplit_batch *b;
	unsigned int nsegs = 0;
	int r;

	make_bufs(4096);
	dmasplit_ctx_set_check(ctx, 1);
	open_dev("sim:n,iommu=off", "swiotlb-sim");
	ck_assert_int_eq(dmasplit_batch_new(dev, DMASPLIT_TO_DEVICE, 0, &b), 0);
	ck_assert_int_eq(dmasplit_batch_add(b, bs.iov[2].iov_base, bs.iov[2].iov_len), 0);
	ck_assert_int_eq(dmasplit_batch_add(b, bs.iov[0].iov_base, bs.iov[0].iov_len), 0);
	ck_assert_int_eq(dmasplit_batch_add(b, bs.iov[2].iov_base, bs.iov[2].iov_len), 0);
	r = dmasplit_batch_map(b, &segs, &nsegs);
	ck_assert_msg(r == 0, "batch with a buffer twice: %d, log:\n%s", r,
		      tu_log_text());
	ck_assert_uint_eq(nsegs, 3);
	ck_assert_uint_eq(segs[0].dma, segs[2].dma);
	{
		uint8_t got[300];

		ck_assert_int_eq(dmasplit_dev_dma_read(dev, segs[2].dma, got,
						       sizeof(got)), 0);
		ck_assert_mem_eq(got, bs.iov[2].iov_base, sizeof(got));
	}
	ck_assert_int_eq(dmasplit_batch_unmap(b), 0);
	dmasplit_batch_free(b);
	ck_assert_uint_eq(stats().mappings_live, 0);
}
END_TEST

/* A batch holds its device: it works after dmasplit_dev_close(), and
 * freeing it releases the device. */
START_TEST(batch_keeps_its_device_after_close)
{
	static const char *const specs[] = { "sim:w", "sim:w,iommu=off" };
	const struct dmasplit_seg *segs = NULL;
	struct dmasplit_batch *b;
	unsigned int nsegs = 0, i;

	make_bufs(4096);
	for (i = 0; i < 2; i++) {
		open_dev(specs[i], "swiotlb-sim");
		b = batch_of(DMASPLIT_BIDIRECTIONAL, 0);
		dmasplit_dev_close(dev);
		dev = NULL;
		/* With the checker on, a finding. */
		ck_assert_msg(tu_log_has("dmasplit-check: w: leaked batch still live at close") &&
			      !tu_log_has("closed w\n"), "%s: log:\n%s", specs[i],
			      tu_log_text());
		ck_assert_int_eq(dmasplit_batch_map(b, &segs, &nsegs), 0);
		ck_assert_int_eq(dmasplit_batch_sync_for_cpu(b), 0);
		ck_assert_int_eq(dmasplit_batch_sync_for_device(b), 0);
		tu_log_clear();
		dmasplit_batch_free(b);
		ck_assert_msg(tu_log_has("closed w\n") && !tu_log_has("leaked") &&
			      !tu_log_has("still live"), "%s: log:\n%s",
			      specs[i], tu_log_text());
		tu_log_clear();
	}
}
END_TEST

/* A batch mapped through a window is reported at close as a batch, with
 * the checker off (no count of windows) and on (no leaked window). */
START_TEST(a_mapped_batch_at_close_is_a_batch_not_a_window)
{
	const struct dmasplit_seg *segs = NULL;
	struct dmasplit_batch *b;
	unsigned int nsegs = 0;

	make_bufs(4096);
	dmasplit_ctx_set_check(ctx, _i);
	open_dev("sim:w", "swiotlb-sim");
	b = batch_of(DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_int_eq(dmasplit_batch_map(b, &segs, &nsegs), 0);
	ck_assert_int_eq(dmasplit_batch_uses_window(b), 1);
	tu_log_clear();
	dmasplit_dev_close(dev);
	dev = NULL;
	/* One line, for the batch: with the checker, a finding. */
	ck_assert_msg(tu_log_count("\n") == 1 && !tu_log_has("window") &&
		      tu_log_has(_i ? "dmasplit-check: w: leaked batch still live at close"
				    : "w: closed with 1 batches live"),
		      "checker %d: log:\n%s", _i, tu_log_text());
	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx), (unsigned int)_i);
	dmasplit_batch_free(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* On direct: physical runs, as root                                    */

#define ADDR "0000:01:00.0"
#define DEVDIR "devices/pci0000:00/0000:00:01.0/" ADDR

static bool can_read_phys(void)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	bool ok;

	ok = fd >= 0 && pread(fd, &e, sizeof(e),
			      (off_t)((uintptr_t)&e / (uint64_t)sysconf(_SC_PAGESIZE) * 8)) == 8 &&
	     (e & ((1ull << 55) - 1)) != 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static uint64_t phys_of(int pagemap, const void *p)
{
	uint64_t e = 0, ps = (uint64_t)sysconf(_SC_PAGESIZE);

	ck_assert_int_eq(pread(pagemap, &e, sizeof(e),
			       (off_t)((uintptr_t)p / ps * sizeof(e))), sizeof(e));
	return (e & ((1ull << 55) - 1)) * ps + (uintptr_t)p % ps;
}

static void fake_uio(const char *root)
{
	static const struct fakesys_pci uio = {
		.vendor = "0x8086\n",
		.device = "0x10d3\n",
		.class = "0x020000\n",
		.dma_mask_bits = "64\n",
		.driver = "uio_pci_generic",
	};

	fakesys_root(root);
	fakesys_pci(DEVDIR, &uio);
}

START_TEST(direct_device_gets_physical_segments)
{
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	const struct dmasplit_seg *segs = NULL;
	struct dmasplit_batch *b;
	char *root = tu_mkdtemp();
	unsigned int nsegs = 0, i;
	int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint8_t *p;
	uint64_t sum = 0;

	ck_assert_int_ge(pagemap, 0);
	fake_uio(root);
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, root), 0);
	open_dev(ADDR, "direct");
	/* Pages written backwards are not physically in order. */
	p = mmap(NULL, 8 * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(p != MAP_FAILED);
	for (i = 8; i-- > 0;)
		memset(p + i * ps, (int)i, ps);
	ck_assert_int_eq(dmasplit_batch_new(dev, DMASPLIT_BIDIRECTIONAL, 0, &b), 0);
	ck_assert_int_eq(dmasplit_batch_add(b, p + 10, 4 * ps), 0);
	ck_assert_int_eq(dmasplit_batch_add(b, p + 6 * ps + 1, 100), 0);
	ck_assert_msg(dmasplit_batch_map(b, &segs, &nsegs) == 0, "log:\n%s",
		      tu_log_text());
	ck_assert_int_eq(dmasplit_batch_uses_window(b), 0);
	ck_assert_uint_eq(stats().windows_allocated, 0);
	ck_assert_uint_eq(stats().maps, nsegs);
	/* A segment per physically contiguous run. */
	ck_assert_uint_ge(nsegs, 2);
	ck_assert_uint_le(nsegs, 6);
	ck_assert_uint_eq(segs[0].dma, phys_of(pagemap, p + 10));
	ck_assert_uint_eq(segs[nsegs - 1].dma, phys_of(pagemap, p + 6 * ps + 1));
	for (i = 0; i < nsegs; i++)
		sum += segs[i].len;
	ck_assert_uint_eq(sum, 4 * ps + 100);
	ck_assert_uint_gt(stats().bytes_pinned, 0);
	ck_assert_int_eq(dmasplit_batch_sync_for_device(b), 0);
	ck_assert_int_eq(dmasplit_batch_sync_for_cpu(b), 0);
	dmasplit_batch_free(b);
	ck_assert_uint_eq(stats().bytes_pinned, 0);
	ck_assert_uint_eq(stats().mappings_live, 0);
	dmasplit_dev_close(dev);
	dev = NULL;
	munmap(p, 8 * ps);
	close(pagemap);
	tu_rm_rf(root);
	free(root);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("batch");
	TCase *tc = tcase_create("batch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, translated_device_gets_one_window_synced_once);
	tcase_add_test(tc, device_writes_reach_bounced_buffers_after_sync_for_cpu);
	tcase_add_test(tc, granules_larger_than_pages_keep_offsets);
	tcase_add_test(tc, device_without_iommu_falls_back_to_per_range);
	tcase_add_test(tc, bounced_fallback_follows_the_syncs);
	tcase_add_test(tc, backend_refusing_a_link_gets_per_range);
	tcase_add_test(tc, unmapped_batch_maps_again_and_grows);
	tcase_add_test(tc, many_buffers_grow_the_batch);
	tcase_add_test(tc, bad_calls_are_refused);
	tcase_add_test(tc, free_leaves_nothing_for_close_to_report);
	tcase_add_test(tc, buffer_added_twice_maps_on_a_device_without_translation);
	tcase_add_test(tc, batch_keeps_its_device_after_close);
	tcase_add_loop_test(tc, a_mapped_batch_at_close_is_a_batch_not_a_window,
			    0, 2);
	tu_add_test_if(tc, direct_device_gets_physical_segments, can_read_phys(),
		       "reading physical addresses needs CAP_SYS_ADMIN (run as root)");
	suite_add_tcase(s, tc);
	return tu_main(s);
}
