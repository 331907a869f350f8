// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The checker (libdmasplit(3)) through the recording test backends: each
 * class of misuse is refused with one log line, leaks are reported at
 * close, and device access to memory the CPU owns is caught.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "apiutil.h"
#include "testutil.h"

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

/* Destroying a closed device's last window releases the device; the
 * window is still known then, and a second destroy or a link is still
 * refused (a read of freed memory under ASan and valgrind otherwise). */
START_TEST(checker_use_after_destroy_once_the_device_is_released)
{
	struct dmasplit_dev *d = NULL;
	struct dmasplit_iova *iova = NULL;

	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:gone", "testa", &d), 0);
	ck_assert_int_eq(dmasplit_iova_alloc(d, 2 * G, 0, &iova), 0);
	dmasplit_dev_close(d);
	dmasplit_iova_destroy(iova);
	tu_log_clear();
	dmasplit_iova_destroy(iova);
	ck_assert_msg(tu_log_count("\n") == 1 &&
		      tu_log_has("(a device closed since): window") &&
		      tu_log_has("used after dmasplit_iova_destroy"),
		      "%s", tu_log_text());
	tu_log_clear();
	ck_assert_int_eq(dmasplit_iova_link(iova, 0, buf, G, DMASPLIT_TO_DEVICE, 0),
			 -EINVAL);
	ck_assert_msg(tu_log_count("\n") == 1, "%s", tu_log_text());
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

/* A leaked vector is one leak, however many segments the backend made
 * of it: one line, one finding, naming what released it. */
START_TEST(checker_reports_a_leaked_vector_once)
{
	struct iovec iov[3] = { { buf, 100 }, { buf + 2 * G, 100 }, { buf + 4 * G, 100 } };
	struct dmasplit_seg segs[3];
	struct dmasplit_dev *b;
	unsigned int nsegs = 3;
	uint64_t before;

	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:leaky", "testb", &b), 0);
	ck_assert_int_eq(dmasplit_map_vec(b, iov, 3, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	ck_assert_uint_eq(nsegs, 3);
	before = dmasplit_ctx_get_check_findings(ctx);
	tu_log_clear();
	dmasplit_dev_close(b);
	ck_assert_msg(tu_log_count("leaked dmasplit_map_vec") == 1 &&
		      tu_log_has("leaky: leaked dmasplit_map_vec vector of 3 segments from ") &&
		      tu_log_has("released as the device went"),
		      "log:\n%s", tu_log_text());
	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx) - before, 1);
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

	/* Part of a mapping, to the byte: [100, 300) and [1000, 1100) are
	 * the CPU's, then [200, 1050) goes back to the device. */
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma + 100, 200, DMASPLIT_BIDIRECTIONAL), 0);
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma + 1000, 100, DMASPLIT_BIDIRECTIONAL), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_dev_dma_read(d, dma + 99, &byte, 1), 0);
	ck_assert_int_eq(dmasplit_dev_dma_read(d, dma + 300, &byte, 1), 0);
	ck_assert_int_eq(dmasplit_dev_dma_read(d, dma + 500, &byte, 1), 0);
	ck_assert_msg(!tu_log_has("while the CPU owns"), "log:\n%s", tu_log_text());
	ck_assert_int_eq(dmasplit_dev_dma_read(d, dma + 299, &byte, 1), 0);
	ck_assert_uint_eq(tu_log_count("while the CPU owns"), 1);
	ck_assert_int_eq(dmasplit_dev_dma_read(d, dma + 1000, &byte, 1), 0);
	ck_assert_uint_eq(tu_log_count("while the CPU owns"), 2);
	ck_assert_int_eq(dmasplit_sync_for_device(d, dma + 200, 850, DMASPLIT_BIDIRECTIONAL), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_dev_dma_read(d, dma + 200, &byte, 1), 0);
	ck_assert_int_eq(dmasplit_dev_dma_read(d, dma + 1049, &byte, 1), 0);
	ck_assert_msg(!tu_log_has("while the CPU owns"), "log:\n%s", tu_log_text());
	ck_assert_int_eq(dmasplit_dev_dma_read(d, dma + 199, &byte, 1), 0);
	ck_assert_int_eq(dmasplit_dev_dma_read(d, dma + 1050, &byte, 1), 0);
	ck_assert_uint_eq(tu_log_count("while the CPU owns"), 2);
	/* The whole mapping back, from inside the owned ranges too. */
	ck_assert_int_eq(dmasplit_sync_for_device(d, dma, G, DMASPLIT_BIDIRECTIONAL), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_dev_dma_read(d, dma + 150, &byte, 1), 0);
	ck_assert_int_eq(dmasplit_dev_dma_read(d, dma + 1060, &byte, 1), 0);
	ck_assert(!tu_log_has("while the CPU owns"));
	ck_assert_int_eq(dmasplit_unmap(d, dma, G, DMASPLIT_BIDIRECTIONAL, 0), 0);

	/* Windows. */
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
	/* To the byte, as for mappings: the CPU polls 8 bytes while the
	 * device fills the rest of the page. */
	ck_assert_int_eq(dmasplit_sync_for_device(d, base, 2 * G, DMASPLIT_FROM_DEVICE), 0);
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, base + 512, 8, DMASPLIT_FROM_DEVICE), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_dev_dma_write(d, base + 520, &byte, 1), 0);
	ck_assert_int_eq(dmasplit_dev_dma_write(d, base + 511, &byte, 1), 0);
	ck_assert_msg(!tu_log_has("while the CPU owns"), "log:\n%s", tu_log_text());
	ck_assert_int_eq(dmasplit_dev_dma_write(d, base + 519, &byte, 1), 0);
	ck_assert_uint_eq(tu_log_count("while the CPU owns"), 1);
	/* Unlinked, the bytes are nobody's: a relink starts the device's. */
	ck_assert_int_eq(dmasplit_iova_unlink(iova, 0, 2 * G, DMASPLIT_FROM_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_iova_link(iova, 0, buf, 2 * G, DMASPLIT_FROM_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_iova_sync(iova, 0, 2 * G), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_dev_dma_write(d, base + 515, &byte, 1), 0);
	ck_assert_int_eq(dmasplit_dev_dma_write(d, base + G, &byte, 1), 0);
	ck_assert_msg(!tu_log_has("while the CPU owns"), "log:\n%s", tu_log_text());
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
/* Reports: who to blame, one prefix, counted                          */

#define CHECK_PREFIX "dmasplit-check: "

/*
 * Not static, not hidden (the build's default) and not inlined, so that
 * the program's dynamic symbols (it is linked with --export-dynamic) name
 * them; the barrier keeps the call from becoming a tail call, which would
 * return past them.
 */
#define NAMED __attribute__((noinline, visibility("default")))
int checker_test_maps_here(void *p, size_t len, uint64_t *dma);
int checker_test_unmaps_here(uint64_t dma, size_t len);

NAMED int checker_test_maps_here(void *p, size_t len, uint64_t *dma)
{
	int r = dmasplit_map(dev, p, len, DMASPLIT_TO_DEVICE, 0, dma);

	__asm__ volatile("" ::: "memory");
	return r;
}

NAMED int checker_test_unmaps_here(uint64_t dma, size_t len)
{
	int r = dmasplit_unmap(dev, dma, len, DMASPLIT_TO_DEVICE, 0);

	__asm__ volatile("" ::: "memory");
	return r;
}

START_TEST(checker_a_double_unmap_names_where_it_was_mapped_and_unmapped)
{
	uint64_t dma;

	ck_assert_int_eq(checker_test_maps_here(buf, G, &dma), 0);
	ck_assert_int_eq(checker_test_unmaps_here(dma, G), 0);
	refused(dmasplit_unmap(dev, dma, G, DMASPLIT_TO_DEVICE, 0), -ENOENT);
	ck_assert_msg(tu_log_has("was already unmapped") &&
		      tu_log_has("mapped at ") &&
		      tu_log_has("(checker_test_maps_here+0x") &&
		      tu_log_has("unmapped at ") &&
		      tu_log_has("(checker_test_unmaps_here+0x"),
		      "log:\n%s", tu_log_text());
	/* A live mapping that is misused is named the same way. */
	ck_assert_int_eq(checker_test_maps_here(buf, G, &dma), 0);
	refused(dmasplit_unmap(dev, dma, G - 1, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert_msg(tu_log_has("mapped at ") &&
		      tu_log_has("(checker_test_maps_here+0x"),
		      "log:\n%s", tu_log_text());
	ck_assert_int_eq(dmasplit_unmap(dev, dma, G, DMASPLIT_TO_DEVICE, 0), 0);
}
END_TEST

START_TEST(checker_a_leak_names_where_it_was_mapped)
{
	uint64_t dma;

	ck_assert_int_eq(checker_test_maps_here(buf, G, &dma), 0);
	tu_log_clear();
	dmasplit_dev_close(dev);
	dev = NULL;
	ck_assert_msg(tu_log_count("leaked dmasplit_map mapping") == 1 &&
		      tu_log_has("(checker_test_maps_here+0x"),
		      "log:\n%s", tu_log_text());
}
END_TEST

/* Each misuse: refused in one line, which is the checker's, and one more
 * finding on the context. */
#define misuse(expr, err, found)                                             \
	do {                                                                 \
		refused(expr, err);                                          \
		ck_assert_msg(tu_log_count(CHECK_PREFIX) == 1,               \
			      "%s: no \"" CHECK_PREFIX "\" line:\n%s", #expr,  \
			      tu_log_text());                                \
		ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx),      \
				  ++(found));                                \
	} while (0)

START_TEST(checker_every_report_carries_the_prefix_and_counts_once)
{
	struct iovec iov[2] = { { buf, G }, { buf + 2 * G, G } };
	struct dmasplit_seg segs[2], seg;
	struct dmasplit_iova *iova;
	unsigned int nsegs = 2;
	uint64_t dma, found = 0;
	void *cpu;

	ck_assert_int_eq(dmasplit_map(dev, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	misuse(dmasplit_unmap(dev, dma, G - 1, DMASPLIT_TO_DEVICE, 0), -EINVAL, found);
	misuse(dmasplit_unmap(dev, dma, G, DMASPLIT_FROM_DEVICE, 0), -EINVAL, found);
	misuse(dmasplit_sync_for_cpu(dev, dma, G, DMASPLIT_FROM_DEVICE), -EINVAL, found);
	misuse(dmasplit_sync_for_cpu(dev, dma + G - 1, 2, DMASPLIT_TO_DEVICE), -ENOENT, found);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, G, DMASPLIT_TO_DEVICE, 0), 0);
	misuse(dmasplit_unmap(dev, dma, G, DMASPLIT_TO_DEVICE, 0), -ENOENT, found);
	misuse(dmasplit_unmap(dev, 0x123000, G, DMASPLIT_TO_DEVICE, 0), -ENOENT, found);

	ck_assert_int_eq(dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	misuse(dmasplit_unmap_vec(dev, segs, 1, DMASPLIT_TO_DEVICE, 0), -EINVAL, found);
	ck_assert_int_eq(dmasplit_unmap_vec(dev, segs, nsegs, DMASPLIT_TO_DEVICE, 0), 0);

	ck_assert_int_eq(dmasplit_alloc_coherent(dev, G, 0, &cpu, &dma), 0);
	misuse(dmasplit_free_coherent(dev, G, buf, dma), -EINVAL, found);
	seg.dma = dma;
	seg.len = G;
	misuse(dmasplit_unmap_vec(dev, &seg, 1, DMASPLIT_BIDIRECTIONAL, 0), -EINVAL, found);
	ck_assert_int_eq(dmasplit_free_coherent(dev, G, cpu, dma), 0);

	iova = window_with_link(DMASPLIT_TO_DEVICE);
	misuse(dmasplit_iova_link(iova, G, buf, G, DMASPLIT_TO_DEVICE, 0), -EEXIST, found);
	misuse(dmasplit_iova_sync(iova, 2 * G, G), -ENOENT, found);
	misuse(dmasplit_iova_unlink(iova, 0, G, DMASPLIT_FROM_DEVICE, 0), -EINVAL, found);
	misuse(dmasplit_iova_unlink(iova, 2 * G, G, DMASPLIT_TO_DEVICE, 0), -ENOENT, found);
	misuse(dmasplit_sync_for_device(dev, dmasplit_iova_addr(iova) + 3 * G, G,
					DMASPLIT_TO_DEVICE), -ENOENT, found);
	dmasplit_iova_destroy(iova);
	misuse(dmasplit_iova_sync(iova, 0, G), -EINVAL, found);

	/* Quiet is not clean: counted without a line. */
	tu_log_clear();
	ck_assert_int_eq(dmasplit_unmap(dev, 0x123000, G, DMASPLIT_TO_DEVICE,
					DMASPLIT_ATTR_NO_WARN), -ENOENT);
	ck_assert_uint_eq(tu_log_count("\n"), 0);
	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx), ++found);

	/* Leaks at close, one each, and the count once at teardown. */
	ck_assert_int_eq(dmasplit_map(dev, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_iova_alloc(dev, G, 0, &iova), 0);
	tu_log_clear();
	dmasplit_dev_close(dev);
	dev = NULL;
	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx), found + 1);
	dmasplit_iova_destroy(iova);
	found += 2;
	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx), found);
	ck_assert_msg(tu_log_count(CHECK_PREFIX) == 2 &&
		      tu_log_has(CHECK_PREFIX "nic0: leaked window") &&
		      tu_log_has(CHECK_PREFIX "nic0: leaked dmasplit_map mapping"),
		      "log:\n%s", tu_log_text());
	tu_log_clear();
	tu_ctx_free(ctx);
	ctx = NULL;
	ck_assert_msg(tu_log_count(CHECK_PREFIX) == 1 &&
		      tu_log_has(CHECK_PREFIX "18 findings in this context"),
		      "log:\n%s", tu_log_text());
}
END_TEST

START_TEST(checker_clean_use_has_no_findings)
{
	struct iovec iov[2] = { { buf, G }, { buf + 2 * G, G } };
	struct dmasplit_seg segs[2];
	struct dmasplit_iova *iova;
	unsigned int nsegs = 2;
	uint64_t dma;
	void *cpu;

	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx), 0);
	ck_assert_int_eq(dmasplit_map(dev, buf, G, DMASPLIT_BIDIRECTIONAL, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_sync_for_cpu(dev, dma, G, DMASPLIT_FROM_DEVICE), 0);
	ck_assert_int_eq(dmasplit_sync_for_device(dev, dma, G, DMASPLIT_TO_DEVICE), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, G, DMASPLIT_BIDIRECTIONAL, 0), 0);
	ck_assert_int_eq(dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	ck_assert_int_eq(dmasplit_unmap_vec(dev, segs, nsegs, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_alloc_coherent(dev, G, 0, &cpu, &dma), 0);
	ck_assert_int_eq(dmasplit_free_coherent(dev, G, cpu, dma), 0);
	iova = window_with_link(DMASPLIT_TO_DEVICE);
	ck_assert_int_eq(dmasplit_iova_unlink(iova, 0, 2 * G, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_iova_destroy(iova);
	/* An invalid argument is an error, not the checker's finding. */
	ck_assert_int_eq(dmasplit_map(dev, NULL, G, DMASPLIT_TO_DEVICE, 0, &dma), -EINVAL);
	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(ctx), 0);
	ck_assert_uint_eq(dmasplit_ctx_get_check_findings(NULL), 0);
	dmasplit_dev_close(dev);
	dev = NULL;
	tu_log_clear();
	tu_ctx_free(ctx);
	ctx = NULL;
	ck_assert_msg(!tu_log_has(CHECK_PREFIX), "log:\n%s", tu_log_text());
}
END_TEST

/*
 * A log function that calls back into the library on the device it
 * hears about, through calls that take the device's lock: the library
 * must not call it with that lock held.
 */
static unsigned int reports_heard, calls_back;

TU_LOG_FN
static void log_and_call_back(void *data, int priority, const char *file,
			      int line, const char *fn, const char *format,
			      va_list args)
{
	static bool inside;
	struct dmasplit_dev_stats s = { .size = sizeof(s) };
	struct dmasplit_iova *iova;
	char msg[1024];
	uint64_t dma;

	vsnprintf(msg, sizeof(msg), format, args);
	fprintf(stderr, "[log %d] %s\n", priority, msg);
	if (inside || !strstr(msg, CHECK_PREFIX) || !dev)
		return;
	inside = true;
	reports_heard++;
	ck_assert_int_eq(dmasplit_dev_get_stats(dev, &s), 0);
	ck_assert_int_eq(dmasplit_map(dev, buf + 8 * G, G, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, G, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_iova_alloc(dev, G, 0, &iova), 0);
	dmasplit_iova_destroy(iova);
	calls_back++;
	inside = false;
}

START_TEST(checker_a_log_function_may_call_the_library_on_the_same_device)
{
	struct dmasplit_iova *iova, *leak;
	struct dmasplit_dev *d;
	uint64_t dma;
	unsigned int want = 0;

	dmasplit_ctx_set_log_fn(ctx, log_and_call_back, NULL);
	ck_assert_int_eq(dmasplit_map(dev, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, G - 1, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert_int_eq(dmasplit_sync_for_cpu(dev, dma + G, G, DMASPLIT_FROM_DEVICE), -ENOENT);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, G, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, G, DMASPLIT_TO_DEVICE, 0), -ENOENT);
	want += 3;
	ck_assert_int_eq(dmasplit_iova_alloc(dev, 4 * G, 0, &iova), 0);
	ck_assert_int_eq(dmasplit_iova_link(iova, 0, buf, G, DMASPLIT_FROM_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_iova_link(iova, 0, buf, G, DMASPLIT_FROM_DEVICE, 0), -EEXIST);
	ck_assert_int_eq(dmasplit_iova_unlink(iova, 0, G, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert_int_eq(dmasplit_iova_unlink(iova, G, G, DMASPLIT_FROM_DEVICE, 0), -ENOENT);
	want += 3;
	ck_assert_int_eq(dmasplit_iova_unlink(iova, 0, G, DMASPLIT_FROM_DEVICE, 0), 0);
	dmasplit_iova_destroy(iova);
	/* A leaked window is reported as the application closes the device,
	 * which stays open for it. */
	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:other", &d), 0);
	ck_assert_int_eq(dmasplit_iova_alloc(dev, G, 0, &leak), 0);
	dmasplit_dev_close(dev);
	dev = d;
	want++;
	ck_assert_uint_eq(reports_heard, want);
	ck_assert_uint_eq(calls_back, want);
	dmasplit_iova_destroy(leak);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api");
	TCase *tc;

	tu_plugin_dir();
	tc = tcase_create("checker");
	tcase_add_checked_fixture(tc, setup_checked, api_teardown);
	tcase_add_test(tc, checker_unlink_of_what_was_never_linked);
	tcase_add_test(tc, checker_double_unlink);
	tcase_add_test(tc, checker_unlink_with_wrong_direction);
	tcase_add_test(tc, checker_sync_of_unlinked_range);
	tcase_add_test(tc, checker_link_over_link);
	tcase_add_test(tc, checker_use_after_destroy);
	tcase_add_test(tc, checker_use_after_destroy_once_the_device_is_released);
	tcase_add_test(tc, checker_unmap_of_what_was_never_mapped);
	tcase_add_test(tc, checker_unmap_with_wrong_length_direction_or_kind);
	tcase_add_test(tc, checker_free_coherent_with_wrong_address);
	tcase_add_test(tc, checker_catches_overlapping_windows_from_a_backend);
	tcase_add_test(tc, checker_reports_leaks_at_close_and_the_last_window_releases);
	tcase_add_test(tc, checker_reports_a_leaked_vector_once);
	tu_add_test_if(tc, checker_reports_device_access_to_cpu_owned_memory,
		       tu_backend_built("swiotlb-sim"),
		       "the swiotlb-sim backend is not built");
	tcase_add_test(tc, checker_a_double_unmap_names_where_it_was_mapped_and_unmapped);
	tcase_add_test(tc, checker_a_leak_names_where_it_was_mapped);
	tcase_add_test(tc, checker_every_report_carries_the_prefix_and_counts_once);
	tcase_add_test(tc, checker_clean_use_has_no_findings);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	/* A deadlock shows as the timeout. */
	tc = tcase_create("checker-reentry");
	tcase_add_checked_fixture(tc, setup_checked, api_teardown);
	tcase_add_test(tc, checker_a_log_function_may_call_the_library_on_the_same_device);
	tcase_set_timeout(tc, 10);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
