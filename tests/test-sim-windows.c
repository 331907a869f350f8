// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * swiotlb-sim behind its IOMMU: windows (dmasplit_iova_*) reach exactly
 * what was linked and synced, at every granule, with untrusted devices'
 * partial granules bounced, below the DMA mask, with one invalidation per
 * sync.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>

#include "simutil.h"

/* ------------------------------------------------------------------ */
/* iommu=on: windows                                                    */

START_TEST(link_is_invisible_until_sync)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(4 * G);
	struct dmasplit_iova *iova;
	uint64_t base;

	fill(buf, 4 * G, 1);
	iova = window(d, 4 * G);
	base = dmasplit_iova_addr(iova);
	link_ok(iova, 0, buf, 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
	expect_fault(d, base, 16, false, "read of a link before its sync");
	expect_fault(d, base + G, 16, true, "write into a link before its sync");
	expect_pattern(buf, 4 * G, 1, "the faulting write changed nothing");
	sync_ok(iova, 0, 2 * G);
	expect_read(d, base, buf, 2 * G, "read after the sync");

	/* A second link waits for its own sync; the first stays visible. */
	link_ok(iova, 2 * G, buf + 2 * G, G, DMASPLIT_TO_DEVICE, 0);
	expect_fault(d, base + 2 * G, 1, false, "read of the second link before its sync");
	expect_read(d, base, buf, 2 * G, "the first link meanwhile");
	sync_ok(iova, 2 * G, G);
	expect_read(d, base + 2 * G, buf + 2 * G, G, "the second link after its sync");
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(unlink_faults_immediately)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(3 * G);
	struct dmasplit_iova *iova;
	uint64_t base;

	fill(buf, 3 * G, 2);
	iova = window(d, 3 * G);
	base = dmasplit_iova_addr(iova);
	link_ok(iova, 0, buf, 3 * G, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 0, 3 * G);
	expect_read(d, base, buf, 3 * G, "linked and synced");

	/* The middle granule of the link only. */
	unlink_ok(iova, G, G, DMASPLIT_BIDIRECTIONAL, 0);
	expect_fault(d, base + G, 1, false, "read of the unlinked granule");
	expect_fault(d, base + 2 * G - 1, 1, true, "write into the unlinked granule");
	expect_fault(d, base + G - 8, 16, false, "read straddling into the unlinked granule");
	expect_read(d, base, buf, G, "the granule before it");
	expect_read(d, base + 2 * G, buf + 2 * G, G, "the granule after it");

	unlink_ok(iova, 0, G, DMASPLIT_BIDIRECTIONAL, 0);
	unlink_ok(iova, 2 * G, G, DMASPLIT_BIDIRECTIONAL, 0);
	expect_fault(d, base, 1, false, "read after the last unlink");
	expect_fault(d, base + 3 * G - 1, 1, false, "read of the window's last byte");
	expect_pattern(buf, 3 * G, 2, "after unlinking");
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(device_write_into_to_device_link_faults)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(3 * G), b;
	struct dmasplit_iova *iova;
	uint64_t base;

	fill(buf, 3 * G, 3);
	iova = window(d, 3 * G);
	base = dmasplit_iova_addr(iova);
	link_ok(iova, 0, buf, G, DMASPLIT_TO_DEVICE, 0);
	link_ok(iova, G, buf + G, G, DMASPLIT_FROM_DEVICE, 0);
	link_ok(iova, 2 * G, buf + 2 * G, G, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 0, 3 * G);

	expect_fault(d, base + 10, 4, true, "write into a TO_DEVICE link");
	expect_read(d, base, buf, G, "read of a TO_DEVICE link");
	expect_fault(d, base + G + 10, 4, false, "read of a FROM_DEVICE link");
	write_byte(d, base + G + 10, 0x5a);
	ck_assert_msg(buf[G + 10] == 0x5a, "write into a FROM_DEVICE link: host has 0x%02x, expected 0x5a",
		      buf[G + 10]);
	write_byte(d, base + 2 * G + 20, 0x6b);
	ck_assert_msg(buf[2 * G + 20] == 0x6b, "write into a BIDIRECTIONAL link: host has 0x%02x, expected 0x6b",
		      buf[2 * G + 20]);
	b = read_byte(d, base + 2 * G + 20);
	ck_assert_msg(b == 0x6b, "read of a BIDIRECTIONAL link: 0x%02x, expected 0x6b", b);
	/* The faulting write changed no byte. */
	expect_pattern(buf, G, 3, "TO_DEVICE buffer after the faulting write");
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(access_outside_any_window_faults)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(2 * G);
	struct dmasplit_iova *iova;
	uint64_t base;

	iova = window(d, 2 * G);
	base = dmasplit_iova_addr(iova);
	link_ok(iova, 0, buf, 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 0, 2 * G);
	expect_fault(d, base + 2 * G, 1, false, "read just past the window");
	expect_fault(d, base + 2 * G - 8, 16, false, "read running past the window");
	expect_fault(d, base + 2 * G, 8, true, "write just past the window");
	expect_fault(d, base + 0x40000000ull, 8, false, "read far from any window");
	dmasplit_iova_destroy(iova);
	expect_fault(d, base, 1, false, "read of a destroyed window");
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(destroy_unlinks_what_is_still_linked)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	struct dmasplit_dev_stats s;
	uint8_t *buf = buf_new(2 * G);
	struct dmasplit_iova *iova;
	uint64_t base;

	fill(buf, 2 * G, 4);
	iova = window(d, 2 * G);
	base = dmasplit_iova_addr(iova);
	link_ok(iova, 0, buf, 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 0, 2 * G);
	expect_read(d, base, buf, 2 * G, "before destroy");
	dmasplit_iova_destroy(iova);
	expect_fault(d, base, 1, false, "read after destroy");
	expect_fault(d, base + G, 1, true, "write after destroy");
	s = stats_of(d);
	ck_assert_uint_eq(s.windows_live, 0);
	/* The address space came back: a new window of the size fits. */
	iova = window(d, 2 * G);
	dmasplit_iova_destroy(iova);
	expect_pattern(buf, 2 * G, 4, "after destroy");
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(bytes_land_exactly_where_linked)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(4 * G), *src = buf_new(2 * G), *zero = buf_new(4 * G);
	struct dmasplit_iova *iova;
	uint64_t base;
	size_t i;

	fill(src, 2 * G, 5);
	iova = window(d, 8 * G);
	base = dmasplit_iova_addr(iova);
	/* Window [3G+100, 5G+100) shows host [G+100, 3G+100). */
	link_ok(iova, 3 * G + 100, buf + G + 100, 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 3 * G + 100, 2 * G);
	expect_write(d, base + 3 * G + 100, src, 2 * G, "write of the whole link");
	for (i = 0; i < 4 * G; i++) {
		uint8_t want = i >= G + 100 && i < 3 * G + 100 ? src[i - G - 100] : 0;

		FAIL_UNLESS(buf[i] == want, "host byte %zu is 0x%02x, expected 0x%02x (link is host 0x%x-0x%x)",
			    i, buf[i], want, G + 100, 3 * G + 100);
	}
	expect_read(d, base + 3 * G + 100, src, 2 * G, "read back");
	write_byte(d, base + 5 * G + 99, 0x77);
	ck_assert_msg(buf[3 * G + 99] == 0x77 && buf[3 * G + 100] == 0,
		      "last linked byte: host 0x%02x 0x%02x, expected 0x77 0x00",
		      buf[3 * G + 99], buf[3 * G + 100]);
	/* The window's granules before the link's own are unreachable. */
	expect_fault(d, base + 2 * G, 1, false, "granule before the link");
	expect_fault(d, base + 6 * G, 1, false, "granule after the link");
	ck_assert_int_eq(memcmp(buf, zero, G), 0);
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
	free(buf);
	free(src);
	free(zero);
}
END_TEST

START_TEST(trusted_link_reaches_whole_granules)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(2 * G);
	struct dmasplit_iova *iova;
	uint64_t base;

	fill(buf, 2 * G, 6);
	iova = window(d, 2 * G);
	base = dmasplit_iova_addr(iova);
	/* 50 bytes in the middle of the granule: the device reaches it all,
	 * as a trusted device does through the kernel's IOMMU mapping. */
	link_ok(iova, 100, buf + 100, 50, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 100, 50);
	expect_read(d, base, buf, G, "the whole first granule");
	write_byte(d, base + 4000, 0x42);
	ck_assert_msg(buf[4000] == 0x42, "write beside the link: host 0x%02x, expected 0x42",
		      buf[4000]);
	expect_fault(d, base + G, 1, false, "the next, unlinked granule");
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(every_granule_4k_16k_64k)
{
	static const uint64_t granules[] = { 4096, 16384, 65536 };
	char spec[96];
	unsigned int i, untrusted;

	for (i = 0; i < 3; i++) {
		for (untrusted = 0; untrusted < 2; untrusted++) {
			const size_t n = granules[i];
			struct dmasplit_dev *d;
			struct dmasplit_dev_info info;
			struct dmasplit_iova *iova;
			uint8_t *buf = buf_new(4 * n), b[100];
			uint64_t base, dma;
			char what[96];

			snprintf(spec, sizeof(spec), "sim:g%zu,granule=%zu%s", n, n,
				 untrusted ? ",untrusted=1" : "");
			snprintf(what, sizeof(what), "%s", spec);
			d = open_dev(spec);
			info = info_of(d);
			ck_assert_msg(info.granule == n && info.ranges[0].start == n,
				      "%s: granule %" PRIu64 ", range start 0x%" PRIx64 ", expected both %zu",
				      what, info.granule, info.ranges[0].start, n);
			iova = window(d, 1);
			ck_assert_msg(dmasplit_iova_size(iova) == n &&
				      dmasplit_iova_addr(iova) % n == 0 &&
				      dmasplit_iova_addr(iova) != 0,
				      "%s: window of 1 byte is 0x%" PRIx64 "+0x%zx, expected one aligned granule",
				      what, dmasplit_iova_addr(iova), dmasplit_iova_size(iova));
			dmasplit_iova_destroy(iova);

			fill(buf, 4 * n, 7 + i);
			iova = window(d, 3 * n);
			base = dmasplit_iova_addr(iova);
			/* Partial head and tail granules (bounced when untrusted),
			 * and an aligned one (never bounced). */
			link_ok(iova, n + 5, buf + n + 5, 2 * n - 10, DMASPLIT_BIDIRECTIONAL, 0);
			link_ok(iova, 0, buf, n, DMASPLIT_BIDIRECTIONAL, 0);
			sync_ok(iova, 0, 3 * n);
			expect_read(d, base + n + 5, buf + n + 5, 2 * n - 10, what);
			expect_read(d, base, buf, n, what);

			buf[3] = 0x99;
			ck_assert_msg(read_byte(d, base + 3) == 0x99,
				      "%s: an aligned link shows host writes at once", what);
			memset(b, 0x3c, sizeof(b));
			expect_write(d, base + 2 * n - 50, b, sizeof(b), what);
			if (untrusted) {
				ck_assert_msg(buf[2 * n - 50] == pat(7 + i, 2 * n - 50),
					      "%s: a bounced granule showed a device write before sync_for_cpu", what);
				ck_assert_int_eq(dmasplit_sync_for_cpu(d, base + 2 * n - 50, sizeof(b),
								       DMASPLIT_BIDIRECTIONAL), 0);
			}
			ck_assert_msg(first_diff(buf + 2 * n - 50, b, sizeof(b)) == sizeof(b),
				      "%s: the device write did not reach the host", what);
			unlink_ok(iova, n + 5, 2 * n - 10, DMASPLIT_BIDIRECTIONAL, 0);
			expect_fault(d, base + n + 5, 1, false, what);
			unlink_ok(iova, 0, n, DMASPLIT_BIDIRECTIONAL, 0);
			dmasplit_iova_destroy(iova);

			dma = map_ok(d, buf + 7, 10, DMASPLIT_TO_DEVICE, 0);
			if (!untrusted)
				ck_assert_msg(dma % n == 7, "%s: map of an address 7 into its granule gave 0x%" PRIx64,
					      what, dma);
			expect_read(d, dma, buf + 7, 10, what);
			unmap_ok(d, dma, 10, DMASPLIT_TO_DEVICE, 0);
			dmasplit_dev_close(d);
			free(buf);
		}
	}
}
END_TEST

START_TEST(link_offset_and_address_must_agree_within_granule)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	struct dmasplit_dev *d16 = open_dev("sim:b,granule=16384");
	uint8_t *buf = buf_new(4 * 16384);
	struct dmasplit_iova *iova, *iova16;
	int r;

	iova = window(d, 4 * G);
	tu_log_clear();
	r = dmasplit_iova_link(iova, 0, buf + 1, 10, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(r == -EINVAL, "offset 0 with an address 1 into its granule: expected -EINVAL, got %d", r);
	ck_assert_msg(tu_log_count("\n") >= 1, "the refused link was not logged");
	/* Refused without a trace: the same granule links when they agree. */
	link_ok(iova, G + 1, buf + 1, 10, DMASPLIT_TO_DEVICE, 0);
	link_ok(iova, 1, buf + 1, 10, DMASPLIT_TO_DEVICE, 0);
	r = dmasplit_iova_link(iova, 2 * G + 100, buf + G + 99, 10, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(r == -EINVAL, "offset 100 with an address 99 into its granule: expected -EINVAL, got %d", r);
	dmasplit_iova_destroy(iova);

	/* Agreement is modulo the device's granule, not the page. */
	iova16 = window(d16, 4 * 16384);
	r = dmasplit_iova_link(iova16, 0, buf + G, 10, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(r == -EINVAL, "16 KiB granule, offset 0, address 4096 into it: expected -EINVAL, got %d", r);
	link_ok(iova16, G, buf + G, 10, DMASPLIT_TO_DEVICE, 0);
	link_ok(iova16, 16384 + 2 * G + 3, buf + 2 * G + 3, 10, DMASPLIT_TO_DEVICE, 0);
	dmasplit_iova_destroy(iova16);
	dmasplit_dev_close(d);
	dmasplit_dev_close(d16);
	free(buf);
}
END_TEST

START_TEST(untrusted_link_bounces_partial_head_and_tail)
{
	struct dmasplit_dev *d = open_dev("sim:u,untrusted=1");
	uint8_t *buf = buf_new(4 * G), *want = buf_new(3 * G);
	struct dmasplit_iova *iova;
	uint64_t base;

	fill(buf, 4 * G, 8);
	iova = window(d, 4 * G);
	base = dmasplit_iova_addr(iova);
	/* Buffer [100, 2G+300): head granule bounced, middle one direct,
	 * tail granule bounced; outside the buffer the slots are zero. */
	link_ok(iova, 100, buf + 100, 2 * G + 200, DMASPLIT_BIDIRECTIONAL, 0);
	link_ok(iova, 3 * G, buf + 3 * G, G, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 0, 4 * G);
	memcpy(want + 100, buf + 100, 2 * G + 200);
	expect_read(d, base, want, 3 * G, "bounced head and tail, direct middle");
	expect_read(d, base + 3 * G, buf + 3 * G, G, "an aligned link");

	/* Direct granules share the host's bytes; bounced ones do not. */
	buf[G + 5] = 0x11;
	buf[200] = 0x22;
	buf[3 * G + 9] = 0x23;
	ck_assert_msg(read_byte(d, base + G + 5) == 0x11, "a direct granule must show a host write at once");
	ck_assert_msg(read_byte(d, base + 3 * G + 9) == 0x23, "an aligned link must show a host write at once");
	ck_assert_msg(read_byte(d, base + 200) == pat(8, 200),
		      "the bounced head must keep the bytes copied at link");
	write_byte(d, base + G + 7, 0x33);
	ck_assert_msg(buf[G + 7] == 0x33, "a direct granule must pass a device write at once");
	write_byte(d, base + 150, 0x44);
	write_byte(d, base + 50, 0x55);		/* head padding */
	write_byte(d, base + 2 * G + 10, 0x66);
	write_byte(d, base + 2 * G + 400, 0x67);	/* tail padding */
	ck_assert_msg(buf[150] == pat(8, 150) && buf[2 * G + 10] == pat(8, 2 * G + 10),
		      "bounced granules passed a device write before any sync");

	/* sync_for_cpu on the window address copies just its range. */
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, base + 150, 1, DMASPLIT_BIDIRECTIONAL), 0);
	ck_assert_msg(buf[150] == 0x44, "sync_for_cpu of one byte: host 0x%02x, expected 0x44", buf[150]);
	ck_assert_msg(buf[200] == 0x22, "sync_for_cpu copied beyond its range");

	/* A sync is checked to the byte where the link bounces: past the
	 * buffer's first or last byte it is refused, copying nothing. */
	tu_log_clear();
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, base + 50, 150, DMASPLIT_BIDIRECTIONAL), -EINVAL);
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, base + 2 * G + 10, 300, DMASPLIT_BIDIRECTIONAL), -EINVAL);
	ck_assert_int_eq(dmasplit_sync_for_device(d, base + 2 * G + 299, 2, DMASPLIT_BIDIRECTIONAL), -EINVAL);
	ck_assert_msg(tu_log_count("\n") == 3 && tu_log_count("runs past the bytes bounced") == 3,
		      "expected one line per refused sync, log:\n%s", tu_log_text());
	ck_assert_msg(buf[150] == 0x44 && buf[2 * G + 10] == pat(8, 2 * G + 10),
		      "a refused sync copied");
	/* The whole linked range, bounced ends included, still syncs. */
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, base + 2 * G + 10, 290, DMASPLIT_BIDIRECTIONAL), 0);
	ck_assert_msg(buf[2 * G + 10] == 0x66, "sync_for_cpu of the tail: host 0x%02x, expected 0x66",
		      buf[2 * G + 10]);
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, base + 100, 2 * G + 200, DMASPLIT_BIDIRECTIONAL), 0);
	ck_assert_msg(buf[200] == pat(8, 200), "sync_for_cpu of the whole link: host 0x%02x, expected 0x%02x",
		      buf[200], pat(8, 200));

	/* Unlink copies back the buffer's bytes, not the padding. */
	unlink_ok(iova, 100, 2 * G + 200, DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_msg(buf[200] == pat(8, 200), "unlink copies the whole head back: host 0x%02x, expected 0x%02x",
		      buf[200], pat(8, 200));
	ck_assert_msg(buf[2 * G + 10] == 0x66, "unlink copies the tail back: host 0x%02x, expected 0x66",
		      buf[2 * G + 10]);
	ck_assert_msg(buf[50] == pat(8, 50) && buf[2 * G + 400] == pat(8, 2 * G + 400) &&
		      buf[99] == pat(8, 99) && buf[2 * G + 300] == pat(8, 2 * G + 300),
		      "bytes outside the buffer changed at unlink");
	expect_fault(d, base + 100, 1, false, "after unlink");

	/* With SKIP_CPU_SYNC nothing is copied back; padding is zero. */
	link_ok(iova, 100, buf + 100, 2 * G + 200, DMASPLIT_BIDIRECTIONAL,
		DMASPLIT_ATTR_SKIP_CPU_SYNC);
	sync_ok(iova, 100, 2 * G + 200);
	memset(want, 0xff, G);
	memset(want, 0, 100);
	expect_read(d, base, want, 100, "head padding with SKIP_CPU_SYNC");
	write_byte(d, base + 160, 0x88);
	unlink_ok(iova, 100, 2 * G + 200, DMASPLIT_BIDIRECTIONAL, DMASPLIT_ATTR_SKIP_CPU_SYNC);
	ck_assert_msg(buf[160] == pat(8, 160), "unlink with SKIP_CPU_SYNC copied back");
	unlink_ok(iova, 3 * G, G, DMASPLIT_BIDIRECTIONAL, 0);
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
	free(buf);
	free(want);
}
END_TEST

START_TEST(untrusted_link_copies_back_by_direction)
{
	struct dmasplit_dev *d = open_dev("sim:u,untrusted=1");
	uint8_t *buf = buf_new(4 * G);
	struct dmasplit_iova *iova;
	uint64_t base;

	fill(buf, 4 * G, 9);
	iova = window(d, 4 * G);
	base = dmasplit_iova_addr(iova);
	link_ok(iova, 10, buf + 10, 100, DMASPLIT_FROM_DEVICE, 0);
	link_ok(iova, G + 10, buf + G + 10, 100, DMASPLIT_TO_DEVICE, 0);
	sync_ok(iova, 0, 2 * G);
	write_byte(d, base + 20, 0x31);
	expect_fault(d, base + G + 20, 1, true, "write into a bounced TO_DEVICE link");
	expect_fault(d, base + 20, 1, false, "read of a bounced FROM_DEVICE link");
	/* The host changed its TO_DEVICE buffer: unlink must not undo it. */
	buf[G + 30] = 0x32;
	unlink_ok(iova, 10, 100, DMASPLIT_FROM_DEVICE, 0);
	unlink_ok(iova, G + 10, 100, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(buf[20] == 0x31, "FROM_DEVICE unlink copies back: host 0x%02x, expected 0x31", buf[20]);
	ck_assert_msg(buf[G + 30] == 0x32, "TO_DEVICE unlink copied back over a host write");
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

/* A partial granule of an untrusted device is copied at link time: a
 * buffer that is not there, or read-only where the device writes, is
 * refused there, and the window stays as it was. */
START_TEST(untrusted_link_refuses_memory_it_cannot_copy)
{
	struct dmasplit_dev *d = open_dev("sim:u,untrusted=1");
	struct dmasplit_iova *iova;
	uint8_t *none, *ro;
	int r;

	none = mmap(NULL, G, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, G, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(none != MAP_FAILED && ro != MAP_FAILED);
	iova = window(d, 2 * G);
	dmasplit_ctx_set_log_priority(ctx, LOG_ERR);
	tu_log_clear();
	r = dmasplit_iova_link(iova, 8, none + 8, 100, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(r == -EFAULT, "link of PROT_NONE memory: expected -EFAULT, got %d", r);
	r = dmasplit_iova_link(iova, 8, ro + 8, 100, DMASPLIT_FROM_DEVICE, 0);
	ck_assert_msg(r == -EFAULT, "FROM_DEVICE link of read-only memory: expected -EFAULT, got %d", r);
	ck_assert_msg(tu_log_count("\n") == 2, "expected a line for each refusal, log:\n%s",
		      tu_log_text());
	/* Nothing was left linked where the refused links were. */
	link_ok(iova, 8, ro + 8, 100, DMASPLIT_TO_DEVICE, 0);
	sync_ok(iova, 0, G);
	expect_read(d, dmasplit_iova_addr(iova) + 8, ro + 8, 100,
		    "a read-only buffer the device only reads");
	unlink_ok(iova, 8, 100, DMASPLIT_TO_DEVICE, 0);
	dmasplit_iova_destroy(iova);
	munmap(none, G);
	munmap(ro, G);
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(windows_stay_below_mask)
{
	static const size_t sizes[] = { 16u << 20, 64u << 10, 4096 };
	struct dmasplit_dev *d = open_dev("sim:w,mask=28");
	struct dmasplit_iova **w;
	unsigned int n = 0, i, max = 1024;
	uint64_t total = 0;
	int r;

	w = calloc(max, sizeof(*w));
	ck_assert_ptr_nonnull(w);
	for (i = 0; i < 3; i++) {
		for (;;) {
			uint64_t a;

			ck_assert_uint_lt(n, max);
			r = dmasplit_iova_alloc(d, sizes[i], 0, &w[n]);
			if (r == -ENOSPC)
				break;
			ck_assert_msg(r == 0, "window %u of 0x%zx bytes: expected 0 or -ENOSPC, got %d",
				      n, sizes[i], r);
			a = dmasplit_iova_addr(w[n]);
			ck_assert_msg(a != 0 && a % G == 0 && fits_mask(a, sizes[i], 28),
				      "window %u at 0x%" PRIx64 "+0x%zx: expected nonzero, aligned, below 2^28",
				      n, a, sizes[i]);
			total += sizes[i];
			n++;
		}
	}
	/* Exhausted means every granule below the mask but address 0. */
	ck_assert_msg(total == (1ull << 28) - G,
		      "windows covered 0x%" PRIx64 " bytes before -ENOSPC, expected 0x%llx",
		      total, (1ull << 28) - G);
	for (i = 0; i < n; i++)
		dmasplit_iova_destroy(w[i]);
	free(w);
	dmasplit_dev_close(d);

	/* 13 bits: room for exactly one granule, at 0x1000. */
	d = open_dev("sim:w13,mask=13");
	w = calloc(2, sizeof(*w));
	ck_assert_int_eq(dmasplit_iova_alloc(d, G, 0, &w[0]), 0);
	ck_assert_uint_eq(dmasplit_iova_addr(w[0]), 0x1000);
	r = dmasplit_iova_alloc(d, G, 0, &w[1]);
	ck_assert_msg(r == -ENOSPC, "second window under a 13-bit mask: expected -ENOSPC, got %d", r);
	dmasplit_iova_destroy(w[0]);
	free(w);
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(address_zero_never_handed_out)
{
	struct dmasplit_dev *d = open_dev("sim:z,mask=16");
	struct dmasplit_dev *off = open_dev("sim:zo,iommu=off,bounce=force,pool=256K");
	struct dmasplit_iova *w[17];
	uint8_t *buf = buf_new(G);
	unsigned int n = 0, i;
	uint64_t dma, cdma, maps[15], x = 0;
	void *cpu;
	int r;

	/* 16 bits: 0x1000-0xffff, fifteen granules. */
	while ((r = dmasplit_iova_alloc(d, G, 0, &w[n])) == 0) {
		ck_assert_msg(dmasplit_iova_addr(w[n]) != 0, "window %u at address 0", n);
		ck_assert_uint_lt(++n, 17);
	}
	ck_assert_msg(r == -ENOSPC && n == 15, "expected 15 windows then -ENOSPC, got %u then %d", n, r);
	for (i = 0; i < n; i++)
		dmasplit_iova_destroy(w[i]);
	/* A buffer at the start of its granule maps to the start of an IOVA
	 * granule: fifteen fit, none of them at 0 (map_ok checks). */
	for (i = 0; i < 15; i++)
		maps[i] = map_ok(d, buf, 1, DMASPLIT_TO_DEVICE, 0);
	r = dmasplit_map(d, buf, 1, DMASPLIT_TO_DEVICE, DMASPLIT_ATTR_NO_WARN, &x);
	ck_assert_msg(r < 0 && x == 0, "a sixteenth map under a 16-bit mask: got %d at 0x%" PRIx64, r, x);
	for (i = 0; i < 15; i++)
		unmap_ok(d, maps[i], 1, DMASPLIT_TO_DEVICE, 0);
	expect_fault(d, 0, 1, false, "read of device address 0");

	dma = map_ok(off, buf, 1, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(off, dma, 1, DMASPLIT_TO_DEVICE, 0);
	ck_assert_int_eq(dmasplit_alloc_coherent(off, G, 0, &cpu, &cdma), 0);
	ck_assert_msg(cdma != 0, "coherent memory at device address 0");
	ck_assert_int_eq(dmasplit_free_coherent(off, G, cpu, cdma), 0);
	dmasplit_dev_close(d);
	dmasplit_dev_close(off);
	free(buf);
}
END_TEST

START_TEST(stats_count_one_invalidation_per_sync)
{
	struct dmasplit_dev *d = open_dev("sim:s");
	struct dmasplit_dev_stats s0, s1;
	uint8_t *buf = buf_new(16 * G);
	struct dmasplit_iova *iova;
	uint64_t dma[16];
	unsigned int i;

	iova = window(d, 16 * G);
	s0 = stats_of(d);
	for (i = 0; i < 16; i++)
		link_ok(iova, i * G, buf + i * G, G, DMASPLIT_TO_DEVICE, 0);
	s1 = stats_of(d);
	ck_assert_msg(s1.kernel_calls == s0.kernel_calls,
		      "16 links: %" PRIu64 " invalidations, expected none before the sync",
		      s1.kernel_calls - s0.kernel_calls);
	sync_ok(iova, 0, 16 * G);
	s1 = stats_of(d);
	ck_assert_msg(s1.kernel_calls == s0.kernel_calls + 1,
		      "one sync over 16 links: %" PRIu64 " invalidations, expected 1",
		      s1.kernel_calls - s0.kernel_calls);
	ck_assert_uint_eq(s1.links - s0.links, 16);
	ck_assert_uint_eq(s1.syncs - s0.syncs, 1);

	s0 = stats_of(d);
	unlink_ok(iova, 0, 8 * G, DMASPLIT_TO_DEVICE, 0);
	for (i = 8; i < 16; i++)
		unlink_ok(iova, i * G, G, DMASPLIT_TO_DEVICE, 0);
	s1 = stats_of(d);
	ck_assert_msg(s1.kernel_calls == s0.kernel_calls + 9,
		      "nine unlink calls over 16 granules: %" PRIu64 " invalidations, expected 9",
		      s1.kernel_calls - s0.kernel_calls);
	dmasplit_iova_destroy(iova);

	s0 = stats_of(d);
	for (i = 0; i < 16; i++)
		dma[i] = map_ok(d, buf + i * G, G, DMASPLIT_TO_DEVICE, 0);
	s1 = stats_of(d);
	ck_assert_msg(s1.kernel_calls == s0.kernel_calls + 16,
		      "16 maps: %" PRIu64 " invalidations, expected 16", s1.kernel_calls - s0.kernel_calls);
	/* Syncs of a coherent translated mapping have nothing to flush. */
	ck_assert_int_eq(dmasplit_sync_for_device(d, dma[0], G, DMASPLIT_TO_DEVICE), 0);
	for (i = 0; i < 16; i++)
		unmap_ok(d, dma[i], G, DMASPLIT_TO_DEVICE, 0);
	s1 = stats_of(d);
	ck_assert_msg(s1.kernel_calls == s0.kernel_calls + 32,
		      "16 maps and 16 unmaps: %" PRIu64 " invalidations, expected 32",
		      s1.kernel_calls - s0.kernel_calls);
	ck_assert_msg(s1.bytes_bounced == 0, "a trusted translated device bounced %" PRIu64 " bytes",
		      s1.bytes_bounced);
	ck_assert_uint_eq(s1.device_faults, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

/*
 * A destroyed small window's addresses, object and leaf table are kept
 * for the next window of its size: that window is the same addresses
 * with nothing linked, reaches only what it links, and counts its
 * invalidations as any other (destroy flushes only what is still linked).
 */
START_TEST(small_windows_made_again_from_destroyed_ones)
{
	struct dmasplit_dev *d = open_dev("sim:r");
	struct dmasplit_dev_stats s0, s1;
	uint8_t *buf = buf_new(4 * G);
	struct dmasplit_iova *iova;
	uint64_t base, again;
	unsigned int round;

	fill(buf, 4 * G, 7);
	iova = window(d, 2 * G);
	base = dmasplit_iova_addr(iova);
	link_ok(iova, 0, buf, 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 0, 2 * G);
	expect_read(d, base, buf, 2 * G, "the first window");
	/* Destroyed with its links: they go, with one invalidation. */
	s0 = stats_of(d);
	dmasplit_iova_destroy(iova);
	s1 = stats_of(d);
	ck_assert_uint_eq(s1.kernel_calls - s0.kernel_calls, 1);
	expect_fault(d, base, 1, false, "read after destroy");

	for (round = 0; round < 3; round++) {
		iova = window(d, 2 * G);
		again = dmasplit_iova_addr(iova);
		expect_fault(d, again, 1, false, "read of a window made again, before any link");
		expect_fault(d, again + G, 1, true, "write into a window made again, before any link");
		/* Another buffer, at the second granule only. */
		link_ok(iova, G, buf + 2 * G, G, DMASPLIT_TO_DEVICE, 0);
		sync_ok(iova, G, G);
		expect_read(d, again + G, buf + 2 * G, G, "the window made again");
		expect_fault(d, again, 1, false, "its granule never linked");
		s0 = stats_of(d);
		unlink_ok(iova, G, G, DMASPLIT_TO_DEVICE, 0);
		/* Nothing linked is left: the destroy has nothing to flush. */
		dmasplit_iova_destroy(iova);
		s1 = stats_of(d);
		ck_assert_msg(s1.kernel_calls - s0.kernel_calls == 1,
			      "unlink and destroy: %" PRIu64 " invalidations, expected 1",
			      s1.kernel_calls - s0.kernel_calls);
		expect_fault(d, again + G, 1, false, "read after its destroy");
	}
	s1 = stats_of(d);
	ck_assert_uint_eq(s1.windows_live, 0);
	ck_assert_uint_eq(s1.device_faults, 1 + 3 * 4);
	expect_pattern(buf, 4 * G, 7, "after it all");
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

/*
 * Bursts of windows deeper than the spare objects a thread keeps (64),
 * as a deep I/O queue makes: the objects go back to the device's slab
 * and come out again by batches, and every window stays its own, each
 * reaching its own buffer, burst after burst.  Without the checker,
 * whose windows are objects of their own.
 */
START_TEST(bursts_of_windows_deeper_than_the_spares)
{
	enum { BURST = 200, ROUNDS = 4 };
	struct dmasplit_dev *d = open_unchecked("sim:burst");
	static struct dmasplit_iova *iova[BURST];
	uint8_t *buf = buf_new((size_t)BURST * G);
	unsigned int round, i, n = 0;

	for (round = 0; round < ROUNDS; round++) {
		/* A different depth each round, the last beyond two
		 * batches of the spares. */
		n = BURST - 40 * (ROUNDS - 1 - round);
		fill(buf, (size_t)n * G, round);
		for (i = 0; i < n; i++) {
			iova[i] = window(d, G);
			link_ok(iova[i], 0, buf + (size_t)i * G, G,
				DMASPLIT_TO_DEVICE, 0);
			sync_ok(iova[i], 0, G);
		}
		for (i = 0; i < n; i++)
			expect_read(d, dmasplit_iova_addr(iova[i]),
				    buf + (size_t)i * G, G,
				    "a window of the burst");
		for (i = 0; i < n; i++)
			dmasplit_iova_destroy(iova[i]);
		ck_assert_uint_eq(stats_of(d).windows_live, 0);
	}
	ck_assert_uint_eq(n, BURST);
	ck_assert_uint_eq(stats_of(d).windows_allocated,
			  (uint64_t)ROUNDS * BURST - 40 * (0 + 1 + 2 + 3));
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

/*
 * The addresses of destroyed small windows wait in per-CPU caches and in
 * the depot behind them, for the next small windows; a window that needs
 * the whole space gets them back, as the kernel flushes its IOVA caches
 * before it fails an allocation.  A 24-bit space holds 4095 granules.
 */
START_TEST(a_window_of_the_whole_space_after_many_small_ones)
{
	enum { SMALL = 1000, SPACE = (1u << 24) / G - 1 };
	struct dmasplit_dev *d = open_unchecked("sim:whole,mask=24");
	static struct dmasplit_iova *iova[SMALL];
	struct dmasplit_iova *whole;
	unsigned int round, i;

	for (round = 0; round < 2; round++) {
		for (i = 0; i < SMALL; i++)
			iova[i] = window(d, G);
		for (i = 0; i < SMALL; i++)
			dmasplit_iova_destroy(iova[i]);
	}
	whole = window(d, (size_t)SPACE * G);
	ck_assert_uint_eq(dmasplit_iova_addr(whole), G);
	dmasplit_iova_destroy(whole);
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(coherent_zero_keeps_the_data_behaviour)
{
	struct dmasplit_dev *d = open_dev("sim:nc,coherent=0");
	uint8_t *buf = buf_new(2 * G);
	struct dmasplit_iova *iova;
	uint64_t base, dma;

	ck_assert_uint_eq(info_of(d).flags & DMASPLIT_DEV_COHERENT, 0);
	fill(buf, 2 * G, 14);
	iova = window(d, 2 * G);
	base = dmasplit_iova_addr(iova);
	link_ok(iova, 0, buf, G, DMASPLIT_BIDIRECTIONAL, 0);
	expect_fault(d, base, 1, false, "before the sync");
	sync_ok(iova, 0, G);
	expect_read(d, base, buf, G, "after the sync");
	write_byte(d, base + 9, 0x81);
	ck_assert_msg(buf[9] == 0x81, "host memory is coherent within one process");
	dmasplit_iova_destroy(iova);
	dma = map_ok(d, buf + G + 3, 100, DMASPLIT_BIDIRECTIONAL, 0);
	expect_read(d, dma, buf + G + 3, 100, "map");
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma, 100, DMASPLIT_BIDIRECTIONAL), 0);
	unmap_ok(d, dma, 100, DMASPLIT_BIDIRECTIONAL, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim");
	TCase *tc;

	tu_plugin_dir();
	tc = tcase_create("windows");
	tcase_add_checked_fixture(tc, sim_setup, sim_teardown);
	tcase_add_test(tc, link_is_invisible_until_sync);
	tcase_add_test(tc, unlink_faults_immediately);
	tcase_add_test(tc, device_write_into_to_device_link_faults);
	tcase_add_test(tc, access_outside_any_window_faults);
	tcase_add_test(tc, destroy_unlinks_what_is_still_linked);
	tcase_add_test(tc, bytes_land_exactly_where_linked);
	tcase_add_test(tc, trusted_link_reaches_whole_granules);
	tcase_add_test(tc, every_granule_4k_16k_64k);
	tcase_add_test(tc, link_offset_and_address_must_agree_within_granule);
	tcase_add_test(tc, untrusted_link_bounces_partial_head_and_tail);
	tcase_add_test(tc, untrusted_link_copies_back_by_direction);
	tcase_add_test(tc, untrusted_link_refuses_memory_it_cannot_copy);
	tcase_add_test(tc, windows_stay_below_mask);
	tcase_add_test(tc, address_zero_never_handed_out);
	tcase_add_test(tc, stats_count_one_invalidation_per_sync);
	tcase_add_test(tc, small_windows_made_again_from_destroyed_ones);
	tcase_add_test(tc, bursts_of_windows_deeper_than_the_spares);
	tcase_add_test(tc, a_window_of_the_whole_space_after_many_small_ones);
	tcase_add_test(tc, coherent_zero_keeps_the_data_behaviour);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
