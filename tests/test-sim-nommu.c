// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * swiotlb-sim without an IOMMU: buffers the device reaches are used in
 * place, the others go through the bounce pool, whose copies follow the
 * syncs and whose segments bound every mapping.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <syslog.h>

#include "simutil.h"

/* ------------------------------------------------------------------ */
/* iommu=off: direct and bounced                                        */

START_TEST(iommu_off_has_no_windows)
{
	struct dmasplit_dev *d = open_dev("sim:o,iommu=off");
	struct dmasplit_iova *iova = NULL;
	int r;

	ck_assert_uint_eq(info_of(d).flags & DMASPLIT_DEV_WINDOWS, 0);
	dmasplit_ctx_set_log_priority(ctx, LOG_ERR);
	tu_log_clear();
	r = dmasplit_iova_alloc(d, G, 0, &iova);
	ck_assert_msg(r == -EOPNOTSUPP && !iova, "expected -EOPNOTSUPP, got %d", r);
	ck_assert_msg(tu_log_count("\n") == 0, "an expected fallback was logged as an error:\n%s",
		      tu_log_text());
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(iommu_off_direct_when_below_mask)
{
	static const char *const specs[] = { "sim:d,iommu=off", "sim:d48,iommu=off,mask=48" };
	uint8_t *buf = buf_new(2 * G);
	unsigned int i;

	ck_assert_msg(fits_mask((uintptr_t)buf, 2 * G, 48), "the heap is above 2^48 here");
	for (i = 0; i < 2; i++) {
		struct dmasplit_dev *d = open_dev(specs[i]);
		struct dmasplit_dev_stats s;
		uint64_t dma;

		fill(buf, 2 * G, 15 + i);
		dma = map_ok(d, buf + 5, 1000, DMASPLIT_BIDIRECTIONAL, 0);
		ck_assert_msg(dma == (uintptr_t)(buf + 5), "%s: dma 0x%" PRIx64 ", expected the address %p",
			      specs[i], dma, (void *)(buf + 5));
		buf[10] = 0x91;
		ck_assert_msg(read_byte(d, dma + 5) == 0x91, "%s: no copy: the device sees host writes at once",
			      specs[i]);
		write_byte(d, dma + 6, 0x92);
		ck_assert_msg(buf[11] == 0x92, "%s: no copy: the host sees device writes at once", specs[i]);
		ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma, 1000, DMASPLIT_BIDIRECTIONAL), 0);
		ck_assert_int_eq(dmasplit_sync_for_device(d, dma, 1000, DMASPLIT_BIDIRECTIONAL), 0);
		ck_assert_msg(buf[10] == 0x91 && buf[11] == 0x92, "%s: a sync of a direct mapping copied", specs[i]);
		unmap_ok(d, dma, 1000, DMASPLIT_BIDIRECTIONAL, 0);
		s = stats_of(d);
		ck_assert_msg(s.bytes_bounced == 0, "%s: %" PRIu64 " bytes bounced, expected none",
			      specs[i], s.bytes_bounced);
		ck_assert_msg(s.kernel_calls == 0, "%s: %" PRIu64 " invalidations without an IOMMU",
			      specs[i], s.kernel_calls);
		dmasplit_dev_close(d);
	}
	free(buf);
}
END_TEST

START_TEST(buffer_above_mask_is_bounced)
{
	struct dmasplit_dev *d = open_dev("sim:b,iommu=off,mask=32");
	struct hostmem hi = { 0 }, lo = { 0 };
	uint64_t dma;
	uint8_t *p;

	ck_assert(hostmem_at(&hi, 4 * G, FOUR_GIB, USER_TOP));
	p = hi.p;
	fill(p, 4 * G, 17);
	dma = map_ok(d, p + 3, 5000, DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_msg(dma != (uintptr_t)(p + 3) && fits_mask(dma, 5000, 32),
		      "buffer at %p: dma 0x%" PRIx64 ", expected a pool address below 4 GiB",
		      (void *)(p + 3), dma);
	expect_read(d, dma, p + 3, 5000, "the bounce slot");
	expect_fault(d, (uintptr_t)p, 8, false, "the buffer itself, above the mask");
	p[10] = 0xa1;
	ck_assert_msg(read_byte(d, dma + 7) == pat(17, 10), "the slot changed before sync_for_device");
	ck_assert_int_eq(dmasplit_sync_for_device(d, dma, 5000, DMASPLIT_TO_DEVICE), 0);
	ck_assert_msg(read_byte(d, dma + 7) == 0xa1, "sync_for_device did not copy");
	write_byte(d, dma + 8, 0xa2);
	ck_assert_msg(p[11] == pat(17, 11), "the host saw a device write before sync_for_cpu");
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma, 5000, DMASPLIT_FROM_DEVICE), 0);
	ck_assert_msg(p[11] == 0xa2, "sync_for_cpu did not copy");
	unmap_ok(d, dma, 5000, DMASPLIT_BIDIRECTIONAL, 0);

	/* A buffer below 4 GiB on the same device is reached in place. */
	if (hostmem_at(&lo, 4 * G, 0x10000000ull, 0x80000000ull)) {
		dma = map_ok(d, lo.p + 1, 100, DMASPLIT_TO_DEVICE, 0);
		ck_assert_msg(dma == (uintptr_t)(lo.p + 1), "buffer at %p below the mask: dma 0x%" PRIx64,
			      (void *)(lo.p + 1), dma);
		unmap_ok(d, dma, 100, DMASPLIT_TO_DEVICE, 0);
	}
	hostmem_free(&hi);
	hostmem_free(&lo);
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(iommu_off_device_reaches_host_memory_and_faults_elsewhere)
{
	struct dmasplit_dev *d = open_dev("sim:r,iommu=off");
	struct dmasplit_dev *d32 = open_dev("sim:r32,iommu=off,mask=32");
	char stack[16] = "reach me";
	char got[16];
	void *gone;

	/* Without an IOMMU a device reaches any memory. */
	ck_assert_int_eq(dmasplit_dev_dma_read(d, (uintptr_t)stack, got, sizeof(got)), 0);
	ck_assert_str_eq(got, "reach me");
	ck_assert_int_eq(dmasplit_dev_dma_write(d, (uintptr_t)stack, "written", 8), 0);
	ck_assert_str_eq(stack, "written");

	gone = mmap(NULL, G, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(gone != MAP_FAILED);
	ck_assert_int_eq(munmap(gone, G), 0);
	expect_fault(d, (uintptr_t)gone, 8, false, "memory that is not there");
	expect_fault(d, (uintptr_t)gone, 8, true, "write to memory that is not there");
	expect_fault(d32, FOUR_GIB, 4, false, "first address above a 32-bit mask");
	expect_fault(d32, FOUR_GIB - 4, 8, false, "a read crossing the mask");
	dmasplit_dev_close(d);
	dmasplit_dev_close(d32);
}
END_TEST

/* dmasplit_dev_open(3): an access that faults part way has moved the
 * bytes before the fault; past the mask, as anywhere else.  At 1 GiB,
 * which AddressSanitizer leaves to the program too. */
START_TEST(iommu_off_access_crossing_the_mask_moves_the_bytes_below_it)
{
	struct dmasplit_dev *d;
	uint64_t top = 0, below = 0;
	uint8_t got[3 * 4096], *p = MAP_FAILED;
	char spec[64], fault[64];
	unsigned int bits;
	size_t i, moved;

	/* Two pages just below a mask's limit, at the first limit from
	 * 1 GiB up whose addresses are free in this process. */
	for (bits = 30; bits <= 46 && p == MAP_FAILED; bits++) {
		top = 1ull << bits;
		below = top - 8192;
		p = mmap((void *)(uintptr_t)below, 8192, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != MAP_FAILED && p != (uint8_t *)(uintptr_t)below) {
			/* A kernel before 4.17 takes the flag as a hint. */
			munmap(p, 8192);
			p = MAP_FAILED;
		}
	}
	ck_assert_msg(p != MAP_FAILED,
		      "no address below a mask's limit, from 1 GiB to 64 TiB, is free");
	snprintf(spec, sizeof(spec), "sim:m,iommu=off,mask=%u", bits - 1);
	snprintf(fault, sizeof(fault), "fault addr 0x%" PRIx64 " ", top);
	d = open_dev(spec);
	memset(p, 0x5a, 8192);
	memset(got, 0, sizeof(got));
	tu_log_clear();
	ck_assert_int_eq(dmasplit_dev_dma_read(d, below, got, sizeof(got)), -EFAULT);
	for (moved = 0; moved < sizeof(got) && got[moved] == 0x5a; moved++)
		;
	ck_assert_msg(moved == 8192, "read crossing the mask moved %zu bytes, expected the 8192 below it",
		      moved);
	ck_assert_msg(tu_log_count(fault) == 1,
		      "the fault does not name the first address beyond the mask:\n%s",
		      tu_log_text());
	memset(got, 0xa5, sizeof(got));
	ck_assert_int_eq(dmasplit_dev_dma_write(d, below, got, sizeof(got)), -EFAULT);
	for (i = 0; i < 8192 && p[i] == 0xa5; i++)
		;
	ck_assert_msg(i == 8192, "write crossing the mask moved %zu bytes, expected 8192", i);
	munmap(p, 8192);
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(bounce_visible_only_after_sync_for_device)
{
	static const char *const specs[] = { "sim:f,iommu=off,bounce=force", "sim:u,untrusted=1" };
	uint8_t *buf = buf_new(3 * G);
	unsigned int i;

	for (i = 0; i < 2; i++) {
		struct dmasplit_dev *d = open_dev(specs[i]);
		uint64_t dma;

		fill(buf, 3 * G, 18);
		dma = map_ok(d, buf + 5, 5000, DMASPLIT_TO_DEVICE, 0);
		expect_read(d, dma, buf + 5, 5000, specs[i]);
		fill(buf, 3 * G, 19);
		ck_assert_msg(read_byte(d, dma + 100) == pat(18, 105),
			      "%s: the device saw a host write before sync_for_device", specs[i]);
		ck_assert_int_eq(dmasplit_sync_for_device(d, dma, 5000, DMASPLIT_TO_DEVICE), 0);
		expect_read(d, dma, buf + 5, 5000, specs[i]);
		unmap_ok(d, dma, 5000, DMASPLIT_TO_DEVICE, 0);
		dmasplit_dev_close(d);
	}
	/* Copied in at map whatever the direction: without an IOMMU the
	 * device can read a FROM_DEVICE slot, and finds the buffer there. */
	{
		struct dmasplit_dev *d = open_dev("sim:f2,iommu=off,bounce=force");
		uint64_t dma = map_ok(d, buf + 1, 300, DMASPLIT_FROM_DEVICE, 0);

		expect_read(d, dma, buf + 1, 300, "FROM_DEVICE slot");
		unmap_ok(d, dma, 300, DMASPLIT_FROM_DEVICE, 0);
		expect_pattern(buf, 3 * G, 19, "after a FROM_DEVICE unmap of unchanged data");
		dmasplit_dev_close(d);
	}
	free(buf);
}
END_TEST

START_TEST(host_sees_device_write_only_after_sync_for_cpu)
{
	static const enum dmasplit_dir dirs[] = { DMASPLIT_FROM_DEVICE, DMASPLIT_BIDIRECTIONAL };
	struct dmasplit_dev *d = open_dev("sim:f,iommu=off,bounce=force");
	uint8_t *buf = buf_new(2 * G), *src = buf_new(3000);
	unsigned int i;

	for (i = 0; i < 2; i++) {
		uint64_t dma;

		fill(buf, 2 * G, 20);
		fill(src, 3000, 21 + i);
		dma = map_ok(d, buf + 1, 3000, dirs[i], 0);
		expect_write(d, dma, src, 3000, "device write");
		expect_pattern(buf, 2 * G, 20, "before sync_for_cpu");
		ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma, 3000, dirs[i]), 0);
		ck_assert_msg(first_diff(buf + 1, src, 3000) == 3000, "dir %d: sync_for_cpu did not copy",
			      (int)dirs[i]);
		ck_assert_msg(buf[0] == pat(20, 0) && buf[3001] == pat(20, 3001),
			      "dir %d: sync_for_cpu wrote beside the buffer", (int)dirs[i]);
		unmap_ok(d, dma, 3000, dirs[i], DMASPLIT_ATTR_SKIP_CPU_SYNC);
	}
	dmasplit_dev_close(d);
	free(buf);
	free(src);
}
END_TEST

START_TEST(unmap_copies_back_from_device)
{
	static const enum dmasplit_dir dirs[] = {
		DMASPLIT_FROM_DEVICE, DMASPLIT_BIDIRECTIONAL, DMASPLIT_TO_DEVICE,
	};
	static const char *const specs[] = { "sim:f,iommu=off,bounce=force", "sim:u,untrusted=1" };
	uint8_t *buf = buf_new(2 * G), *src = buf_new(3000);
	unsigned int i, j;

	for (j = 0; j < 2; j++) {
		struct dmasplit_dev *d = open_dev(specs[j]);

		for (i = 0; i < 3; i++) {
			uint64_t dma;

			fill(buf, 2 * G, 22);
			fill(src, 3000, 23);
			dma = map_ok(d, buf + 1, 3000, dirs[i], 0);
			if (dirs[i] == DMASPLIT_TO_DEVICE && j == 1) {
				/* Behind the IOMMU the direction is enforced. */
				expect_fault(d, dma, 3000, true, "write into TO_DEVICE");
			} else {
				expect_write(d, dma, src, 3000, specs[j]);
			}
			expect_pattern(buf, 2 * G, 22, "before unmap");
			unmap_ok(d, dma, 3000, dirs[i], 0);
			if (dirs[i] == DMASPLIT_TO_DEVICE) {
				expect_pattern(buf, 2 * G, 22, "a TO_DEVICE unmap copies nothing back");
				continue;
			}
			ck_assert_msg(first_diff(buf + 1, src, 3000) == 3000,
				      "%s dir %d: unmap did not copy back", specs[j], (int)dirs[i]);
			ck_assert_msg(buf[0] == pat(22, 0) && buf[3001] == pat(22, 3001),
				      "%s dir %d: unmap wrote beside the buffer", specs[j], (int)dirs[i]);
		}
		dmasplit_dev_close(d);
	}
	free(buf);
	free(src);
}
END_TEST

/* Bytes bounced on d since *mark, and a new mark. */
static uint64_t bounced_since(struct dmasplit_dev *d, uint64_t *mark)
{
	uint64_t now = stats_of(d).bytes_bounced, n = now - *mark;

	*mark = now;
	return n;
}

/*
 * SKIP_CPU_SYNC skips the copies back; the copy in at map or link is
 * made always, as the kernel's swiotlb does since its DMA_FROM_DEVICE
 * information-leak fix, so that a device never sees what an earlier
 * mapping left in the pool.
 */
START_TEST(skip_cpu_sync_skips_copies_back)
{
	struct dmasplit_dev *d = open_dev("sim:f,iommu=off,bounce=force");
	struct dmasplit_dev *u = open_dev("sim:u,untrusted=1");
	uint8_t *buf = buf_new(G), *src = buf_new(3000);
	uint64_t dma, mark = 0, umark = 0, at_map, at_map2, at_link, n;
	struct dmasplit_iova *iova;

	fill(buf, G, 24);
	fill(src, 3000, 25);
	bounced_since(d, &mark);
	dma = map_ok(d, buf, 3000, DMASPLIT_BIDIRECTIONAL, DMASPLIT_ATTR_SKIP_CPU_SYNC);
	at_map = bounced_since(d, &mark);
	expect_write(d, dma, src, 3000, "device write");
	unmap_ok(d, dma, 3000, DMASPLIT_BIDIRECTIONAL, DMASPLIT_ATTR_SKIP_CPU_SYNC);
	expect_pattern(buf, G, 24, "unmap with SKIP_CPU_SYNC");
	n = bounced_since(d, &mark);
	ck_assert_msg(n == 0, "unmap with SKIP_CPU_SYNC bounced %" PRIu64 " bytes, expected none", n);

	/* An explicit sync copies again, whatever the map did. */
	dma = map_ok(d, buf, 3000, DMASPLIT_TO_DEVICE, DMASPLIT_ATTR_SKIP_CPU_SYNC);
	at_map2 = bounced_since(d, &mark);
	ck_assert_int_eq(dmasplit_sync_for_device(d, dma, 3000, DMASPLIT_TO_DEVICE), 0);
	n = bounced_since(d, &mark);
	ck_assert_msg(n == 3000, "an explicit sync of 3000 bytes bounced %" PRIu64, n);
	expect_read(d, dma, buf, 3000, "after the explicit sync");
	unmap_ok(d, dma, 3000, DMASPLIT_TO_DEVICE, DMASPLIT_ATTR_SKIP_CPU_SYNC);
	dma = map_ok(d, buf, 3000, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, dma, 3000, DMASPLIT_TO_DEVICE, 0);
	n = bounced_since(d, &mark);
	ck_assert_msg(n == 3000, "TO_DEVICE map and unmap of 3000 bytes bounced %" PRIu64 ", expected 3000", n);

	/* A bounced link granule alike. */
	bounced_since(u, &umark);
	iova = window(u, G);
	link_ok(iova, 100, buf + 100, 200, DMASPLIT_BIDIRECTIONAL, DMASPLIT_ATTR_SKIP_CPU_SYNC);
	at_link = bounced_since(u, &umark);
	sync_ok(iova, 100, 200);
	write_byte(u, dmasplit_iova_addr(iova) + 150, 0x5c);
	unlink_ok(iova, 100, 200, DMASPLIT_BIDIRECTIONAL, DMASPLIT_ATTR_SKIP_CPU_SYNC);
	expect_pattern(buf, G, 24, "unlink with SKIP_CPU_SYNC");
	n = bounced_since(u, &umark);
	ck_assert_msg(n == 0, "unlink with SKIP_CPU_SYNC bounced %" PRIu64 " bytes, expected none", n);
	dmasplit_iova_destroy(iova);

	ck_assert_msg(at_map == 3000 && at_map2 == 3000 && at_link == 200,
		      "with SKIP_CPU_SYNC the buffer is still copied in: BIDIRECTIONAL map bounced %" PRIu64 ", TO_DEVICE map %" PRIu64 ", link %" PRIu64 " bytes, expected 3000, 3000, 200",
		      at_map, at_map2, at_link);
	dmasplit_dev_close(d);
	dmasplit_dev_close(u);
	free(buf);
	free(src);
}
END_TEST

START_TEST(partial_sync_at_any_offset)
{
	static const char *const specs[] = { "sim:f,iommu=off,bounce=force", "sim:u,untrusted=1" };
	uint8_t *buf = buf_new(3 * G), *c = buf_new(10000), *want = buf_new(10000);
	unsigned int j;

	fill(c, 10000, 28);
	for (j = 0; j < 2; j++) {
		struct dmasplit_dev *d = open_dev(specs[j]);
		struct dmasplit_dev_stats s0 = stats_of(d), s1;
		uint64_t dma;
		size_t i;

		fill(buf, 3 * G, 26);
		dma = map_ok(d, buf + 3, 10000, DMASPLIT_BIDIRECTIONAL, 0);
		fill(buf, 3 * G, 27);
		ck_assert_int_eq(dmasplit_sync_for_device(d, dma + 1234, 777, DMASPLIT_TO_DEVICE), 0);
		for (i = 0; i < 10000; i++)
			want[i] = i >= 1234 && i < 2011 ? pat(27, i + 3) : pat(26, i + 3);
		expect_read(d, dma, want, 10000, "after sync_for_device of 777 bytes at 1234");

		expect_write(d, dma, c, 10000, "device write");
		ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma + 5001, 13, DMASPLIT_FROM_DEVICE), 0);
		for (i = 0; i < 3 * G; i++) {
			uint8_t w = i >= 5004 && i < 5017 ? c[i - 3] : pat(27, i);

			FAIL_UNLESS(buf[i] == w, "%s: after sync_for_cpu of 13 bytes at 5001, host byte %zu is 0x%02x, expected 0x%02x",
				    specs[j], i, buf[i], w);
		}
		unmap_ok(d, dma, 10000, DMASPLIT_BIDIRECTIONAL, DMASPLIT_ATTR_SKIP_CPU_SYNC);
		s1 = stats_of(d);
		ck_assert_msg(s1.bytes_bounced - s0.bytes_bounced == 10000 + 777 + 13,
			      "%s: %" PRIu64 " bytes bounced, expected %u", specs[j],
			      s1.bytes_bounced - s0.bytes_bounced, 10000 + 777 + 13);
		dmasplit_dev_close(d);
	}
	free(buf);
	free(c);
	free(want);
}
END_TEST

START_TEST(large_bounce_slots_start_on_4k)
{
	struct dmasplit_dev *d = open_dev("sim:f,iommu=off,bounce=force,pool=1M");
	uint8_t *buf = buf_new(4 * G);
	uint64_t small, a, b;

	small = map_ok(d, buf + 5, 100, DMASPLIT_TO_DEVICE, 0);
	a = map_ok(d, buf + 3, 5000, DMASPLIT_TO_DEVICE, 0);
	b = map_ok(d, buf + 1, 4096, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(a % G == 0 && b % G == 0,
		      "mappings of 4 KiB or more start on 4 KiB: got 0x%" PRIx64 " and 0x%" PRIx64, a, b);
	unmap_ok(d, small, 100, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, a, 5000, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, b, 4096, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(pool_exhaustion_is_enomem_and_harmless)
{
	struct dmasplit_dev *d = open_dev("sim:p,iommu=off,bounce=force,pool=256K");
	struct dmasplit_dev_stats s0, s1;
	uint8_t *buf = buf_new(9 * 32768);
	uint64_t dma[9], x = 0;
	unsigned int i;
	int r;

	for (i = 0; i < 9; i++)
		fill(buf + i * 32768, 32768, 30 + i);
	for (i = 0; i < 8; i++)
		dma[i] = map_ok(d, buf + i * 32768, 32768, DMASPLIT_BIDIRECTIONAL, 0);
	s0 = stats_of(d);
	tu_log_clear();
	r = dmasplit_map(d, buf + 8 * 32768, 32768, DMASPLIT_BIDIRECTIONAL, 0, &x);
	ck_assert_msg(r == -ENOMEM && x == 0, "ninth 32 KiB mapping in 256 KiB: expected -ENOMEM, got %d", r);
	ck_assert_msg(tu_log_has("swiotlb buffer is full (sz: 32768 bytes), total 128 (slots), used 128 (slots)"),
		      "expected the kernel's pool-full line, log:\n%s", tu_log_text());
	r = dmasplit_map(d, buf, 100, DMASPLIT_TO_DEVICE, 0, &x);
	ck_assert_msg(r == -ENOMEM, "100 bytes in a full pool: expected -ENOMEM, got %d", r);
	ck_assert(tu_log_has("swiotlb buffer is full (sz: 100 bytes)"));
	s1 = stats_of(d);
	ck_assert_uint_eq(s1.maps, s0.maps);
	ck_assert_uint_eq(s1.bytes_bounced, s0.bytes_bounced);

	/* The others kept their slots and data. */
	for (i = 0; i < 8; i++)
		expect_read(d, dma[i], buf + i * 32768, 32768, "a mapping made before the pool filled");
	unmap_ok(d, dma[3], 32768, DMASPLIT_BIDIRECTIONAL, 0);
	dma[3] = map_ok(d, buf + 8 * 32768, 32768, DMASPLIT_BIDIRECTIONAL, 0);
	expect_read(d, dma[3], buf + 8 * 32768, 32768, "the mapping made after a free");
	for (i = 0; i < 8; i++)
		unmap_ok(d, dma[i], 32768, DMASPLIT_BIDIRECTIONAL, 0);
	for (i = 0; i < 9; i++)
		expect_pattern(buf + i * 32768, 32768, 30 + i, "after unmapping everything");
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

/*
 * A bounce copies the buffer at map time: memory that is not there, or
 * that the device would write and the CPU cannot, is refused there with
 * -EFAULT, as pinning refuses it on a real backend, and its slots go
 * back: a later mapping of the whole pool still fits.
 */
static void bounce_refusals(void)
{
	static const enum dmasplit_dir dirs[] = {
		DMASPLIT_TO_DEVICE, DMASPLIT_FROM_DEVICE, DMASPLIT_BIDIRECTIONAL,
	};
	struct dmasplit_dev *d = open_dev("sim:p,iommu=off,bounce=force,pool=256K");
	uint8_t *none, *ro, *buf = buf_new(256 * 1024);
	struct dmasplit_dev_stats s0, s1;
	uint64_t dma, x;
	unsigned int i;
	int r;

	none = mmap(NULL, G, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, G, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(none != MAP_FAILED && ro != MAP_FAILED);
	s0 = stats_of(d);
	dmasplit_ctx_set_log_priority(ctx, LOG_ERR);
	for (i = 0; i < 3; i++) {
		bool writes = dirs[i] != DMASPLIT_TO_DEVICE;

		tu_log_clear();
		x = 0;
		r = dmasplit_map(d, none + 8, 100, dirs[i], 0, &x);
		ck_assert_msg(r == -EFAULT && x == 0, "dir %d: map of PROT_NONE memory: expected -EFAULT, got %d",
			      (int)dirs[i], r);
		ck_assert_msg(tu_log_count("\n") == 1 && tu_log_has("not readable memory"),
			      "dir %d: expected one line on the unreadable buffer, log:\n%s",
			      (int)dirs[i], tu_log_text());
		tu_log_clear();
		r = dmasplit_map(d, ro + 8, 100, dirs[i], 0, &x);
		if (!writes) {
			ck_assert_msg(r == 0, "read-only memory the device only reads: expected 0, got %d", r);
			unmap_ok(d, x, 100, dirs[i], 0);
			continue;
		}
		ck_assert_msg(r == -EFAULT, "dir %d: map of read-only memory the device writes: expected -EFAULT, got %d",
			      (int)dirs[i], r);
		ck_assert_msg(tu_log_count("\n") == 1 && tu_log_has("not writable memory"),
			      "dir %d: expected one line on the read-only buffer, log:\n%s",
			      (int)dirs[i], tu_log_text());
	}
	s1 = stats_of(d);
	ck_assert_uint_eq(s1.maps, s0.maps + 1);
	ck_assert_uint_eq(s1.mappings_live, 0);
	/* The read-only buffer's 100 bytes, copied in each direction before
	 * two of the three maps were refused; nothing of the unreadable. */
	ck_assert_msg(s1.bytes_bounced - s0.bytes_bounced == 300,
		      "bytes_bounced went up by %" PRIu64 ", expected 300",
		      s1.bytes_bounced - s0.bytes_bounced);

	fill(buf, 256 * 1024, 47);
	dma = map_ok(d, buf, 256 * 1024, DMASPLIT_BIDIRECTIONAL, 0);
	expect_read(d, dma, buf, 256 * 1024, "the whole pool, after the refusals");
	unmap_ok(d, dma, 256 * 1024, DMASPLIT_BIDIRECTIONAL, 0);
	munmap(none, G);
	munmap(ro, G);
	dmasplit_dev_close(d);
	free(buf);
}

START_TEST(bounce_refuses_memory_it_cannot_copy)
{
	bounce_refusals();
}
END_TEST

/* The same, and the device's faults without an IOMMU, where a seccomp
 * filter (a container's) forbids the calls that check the buffer:
 * dmasplit_dev_open(3) promises the refusal all the same. */
START_TEST(memory_it_cannot_copy_without_process_vm_calls)
{
	struct dmasplit_dev *d;
	void *gone;

	ck_assert_msg(forbid_vm_rw(), "seccomp filter: %s", strerror(errno));
	ck_assert(!vm_rw_works());
	bounce_refusals();
	d = open_dev("sim:r,iommu=off");
	gone = mmap(NULL, G, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(gone != MAP_FAILED);
	ck_assert_int_eq(munmap(gone, G), 0);
	expect_fault(d, (uintptr_t)gone, 8, false, "memory that is not there");
	expect_fault(d, (uintptr_t)gone, 8, true, "write to memory that is not there");
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(pool_size_rounds_up_to_whole_segments)
{
	static const struct {
		const char *pool;	/* NULL: the default, 64M */
		unsigned int segs;
	} cases[] = {
		{ "256K", 1 }, { "262144", 1 }, { "300K", 2 }, { "1M", 4 },
		{ NULL, 256 },
	};
	uint8_t *buf = buf_new(SEG);
	char spec[64], line[96];
	unsigned int i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dmasplit_dev *d;
		uint64_t *dma = calloc(cases[i].segs, sizeof(*dma)), x;
		int r;

		ck_assert_ptr_nonnull(dma);
		if (cases[i].pool)
			snprintf(spec, sizeof(spec), "sim:p,iommu=off,bounce=force,pool=%s", cases[i].pool);
		else
			snprintf(spec, sizeof(spec), "sim:p,iommu=off,bounce=force");
		d = open_dev(spec);
		for (j = 0; j < cases[i].segs; j++)
			dma[j] = map_ok(d, buf, SEG, DMASPLIT_TO_DEVICE, 0);
		tu_log_clear();
		r = dmasplit_map(d, buf, SEG, DMASPLIT_TO_DEVICE, 0, &x);
		snprintf(line, sizeof(line), "total %u (slots)", cases[i].segs * 128);
		ck_assert_msg(r == -ENOMEM && tu_log_has(line),
			      "%s: mapping %u of a whole segment: expected -ENOMEM and \"%s\", got %d, log:\n%s",
			      spec, cases[i].segs + 1, line, r, tu_log_text());
		for (j = 0; j < cases[i].segs; j++)
			unmap_ok(d, dma[j], SEG, DMASPLIT_TO_DEVICE, 0);
		dmasplit_dev_close(d);
		free(dma);
	}
	free(buf);
}
END_TEST

START_TEST(mapping_never_crosses_a_segment)
{
	struct dmasplit_dev *d = open_dev("sim:p,iommu=off,bounce=force,pool=512K");
	uint8_t *buf = buf_new(SEG);
	uint64_t a, x, y, z, w = 0;
	int r;

	/* Slots 0-99, 100-127, 128-155, 156-255 of two segments; freeing
	 * the middle two leaves 56 free slots, but 28 on each side of the
	 * segment boundary. */
	a = map_ok(d, buf, 100 * 2048, DMASPLIT_TO_DEVICE, 0);
	x = map_ok(d, buf, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	y = map_ok(d, buf, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	z = map_ok(d, buf, 100 * 2048, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, x, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, y, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	tu_log_clear();
	r = dmasplit_map(d, buf, 50 * 2048, DMASPLIT_TO_DEVICE, 0, &w);
	ck_assert_msg(r == -ENOMEM, "50 slots when only 28 are free in each segment: expected -ENOMEM, got %d at 0x%" PRIx64,
		      r, w);
	ck_assert_msg(tu_log_has("total 256 (slots), used 200 (slots)"), "log:\n%s", tu_log_text());
	x = map_ok(d, buf, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	y = map_ok(d, buf, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, x, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, y, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, a, 100 * 2048, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, z, 100 * 2048, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

/* untrusted=1 without an IOMMU: a buffer that does not fill whole
 * granules is bounced, so that the device reaches none of the bytes
 * around it; whole granules are reached at their own address. */
START_TEST(untrusted_without_iommu_bounces_partial_granules)
{
	struct dmasplit_dev *d = open_dev("sim:u,iommu=off,untrusted=1");
	uint8_t *buf = buf_new(3 * G), before;
	struct dmasplit_dev_stats s;
	uint64_t dma;

	fill(buf, 3 * G, 41);
	dma = map_ok(d, buf + 0x100, 0x200, DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_msg(dma != (uintptr_t)(buf + 0x100),
		      "a partial granule of an untrusted device was not bounced");
	expect_read(d, dma, buf + 0x100, 0x200, "the bounced buffer");
	before = buf[0xff];
	write_byte(d, dma - 1, (uint8_t)~before);
	ck_assert_msg(buf[0xff] == before,
		      "the device wrote the byte before the buffer in its granule");
	unmap_ok(d, dma, 0x200, DMASPLIT_BIDIRECTIONAL, 0);
	s = stats_of(d);
	ck_assert_uint_ge(s.bytes_bounced, 0x200);
	dma = map_ok(d, buf + G, G, DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_msg(dma == (uintptr_t)(buf + G),
		      "a whole granule was bounced: 0x%" PRIx64, dma);
	unmap_ok(d, dma, G, DMASPLIT_BIDIRECTIONAL, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(mapping_larger_than_a_segment_is_refused)
{
	struct dmasplit_dev *d = open_dev("sim:p,iommu=off,bounce=force,pool=1M");
	struct dmasplit_dev_stats s0, s1;
	uint8_t *buf = buf_new(SEG + 1);
	uint64_t dma = 0;
	char line[96];
	size_t far;
	int r;

	fill(buf, SEG + 1, 40);
	s0 = stats_of(d);
	tu_log_clear();
	r = dmasplit_map(d, buf, SEG + 1, DMASPLIT_TO_DEVICE, 0, &dma);
	ck_assert_msg(r == -EINVAL && dma == 0, "256 KiB + 1: expected -EINVAL, got %d", r);
	ck_assert_msg(tu_log_count("\n") >= 1, "the refusal was not logged");
	/* A length far beyond (2^47, 2^31 where a size_t has 32 bits):
	 * the line gives it, not a count of slots that wrapped. */
	tu_log_clear();
	far = (size_t)1 << (SIZE_MAX > UINT32_MAX ? 47 : 31);
	r = dmasplit_map(d, (void *)(uintptr_t)0x1000, far,
			 DMASPLIT_TO_DEVICE, 0, &dma);
	ck_assert_msg(r == -EINVAL && dma == 0, "%zu bytes: expected -EINVAL, got %d", far, r);
	snprintf(line, sizeof(line),
		 "bounce of %zu bytes exceeds the 262144-byte limit", far);
	ck_assert_msg(tu_log_count(line) == 1,
		      "the refusal of %zu bytes is not named as such:\n%s", far,
		      tu_log_text());
	s1 = stats_of(d);
	ck_assert_uint_eq(s1.maps, s0.maps);
	dma = map_ok(d, buf, SEG, DMASPLIT_TO_DEVICE, 0);
	expect_read(d, dma, buf, SEG, "a whole segment");
	unmap_ok(d, dma, SEG, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(map_vec_on_iommu_off_maps_each_buffer)
{
	struct dmasplit_dev *d = open_dev("sim:vo,iommu=off");
	struct dmasplit_dev *f = open_dev("sim:vf,iommu=off,bounce=force");
	uint8_t *buf = buf_new(4 * G);
	struct iovec iov[3] = {
		{ buf + 10, 100 }, { buf + 110, 200 }, { buf + 2 * G, 300 },
	};
	struct dmasplit_seg segs[3];
	unsigned int nsegs = 3, i;

	fill(buf, 4 * G, 43);
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 3, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	/* The first two are contiguous in memory: they may merge. */
	if (nsegs == 2) {
		ck_assert_msg(segs[0].dma == (uintptr_t)(buf + 10) && segs[0].len == 300,
			      "merged direct segment 0x%" PRIx64 "+0x%" PRIx64, segs[0].dma, segs[0].len);
		ck_assert_uint_eq(segs[1].dma, (uintptr_t)(buf + 2 * G));
	} else {
		ck_assert_msg(nsegs == 3, "%u segments for 3 buffers", nsegs);
		for (i = 0; i < 3; i++)
			ck_assert_msg(segs[i].dma == (uintptr_t)iov[i].iov_base && segs[i].len == iov[i].iov_len,
				      "segment %u is 0x%" PRIx64 "+0x%" PRIx64 ", expected the buffer", i,
				      segs[i].dma, segs[i].len);
	}
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs, nsegs, DMASPLIT_TO_DEVICE, 0), 0);

	nsegs = 3;
	ck_assert_int_eq(dmasplit_map_vec(f, iov, 3, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	ck_assert_msg(nsegs == 3, "bounced buffers: %u segments, expected one per buffer", nsegs);
	for (i = 0; i < 3; i++) {
		ck_assert_uint_eq(segs[i].len, iov[i].iov_len);
		ck_assert_msg(segs[i].dma != (uintptr_t)iov[i].iov_base, "buffer %u was not bounced", i);
		expect_read(f, segs[i].dma, iov[i].iov_base, iov[i].iov_len, "bounced segment");
	}
	ck_assert_int_eq(dmasplit_unmap_vec(f, segs, nsegs, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(d);
	dmasplit_dev_close(f);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim");
	TCase *tc;

	tu_plugin_dir();
	tc = tcase_create("no iommu");
	tcase_add_checked_fixture(tc, sim_setup, sim_teardown);
	tcase_add_test(tc, iommu_off_has_no_windows);
	tcase_add_test(tc, iommu_off_direct_when_below_mask);
	tu_add_test_if(tc, buffer_above_mask_is_bounced, high_memory_available(),
		       "no memory can be mapped above 4 GiB here");
	tcase_add_test(tc, iommu_off_device_reaches_host_memory_and_faults_elsewhere);
	tcase_add_test(tc, iommu_off_access_crossing_the_mask_moves_the_bytes_below_it);
	tcase_add_test(tc, bounce_visible_only_after_sync_for_device);
	tcase_add_test(tc, host_sees_device_write_only_after_sync_for_cpu);
	tcase_add_test(tc, unmap_copies_back_from_device);
	tcase_add_test(tc, skip_cpu_sync_skips_copies_back);
	tcase_add_test(tc, partial_sync_at_any_offset);
	tcase_add_test(tc, large_bounce_slots_start_on_4k);
	tcase_add_test(tc, pool_exhaustion_is_enomem_and_harmless);
	tcase_add_test(tc, bounce_refuses_memory_it_cannot_copy);
	tcase_add_test(tc, pool_size_rounds_up_to_whole_segments);
	tcase_add_test(tc, mapping_never_crosses_a_segment);
	tcase_add_test(tc, mapping_larger_than_a_segment_is_refused);
	tcase_add_test(tc, untrusted_without_iommu_bounces_partial_granules);
	tcase_add_test(tc, map_vec_on_iommu_off_maps_each_buffer);
	/* Last: with CK_FORK=no its filter stays for the tests after it. */
	tu_add_test_if(tc, memory_it_cannot_copy_without_process_vm_calls,
		       can_forbid_vm_rw(),
		       "no seccomp filter can be set in this process");
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
