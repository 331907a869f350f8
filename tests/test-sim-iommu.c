// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * swiotlb-sim behind its IOMMU: the per-range path (dmasplit_map and
 * dmasplit_map_vec) translates at once, enforces the direction, bounces
 * what an untrusted device must not see, and stays below the DMA mask.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "simutil.h"

/* ------------------------------------------------------------------ */
/* iommu=on: the per-range path                                         */

START_TEST(map_is_visible_at_once_and_faults_after_unmap)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(3 * G);
	uint64_t dma, dma2;

	fill(buf, 3 * G, 10);
	dma = map_ok(d, buf + 100, 5000, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(dma % G == 100, "map keeps the offset in the granule: 0x%" PRIx64, dma);
	expect_read(d, dma, buf + 100, 5000, "right after map");
	buf[200] = 0xab;
	ck_assert_msg(read_byte(d, dma + 100) == 0xab, "a translated map shows host writes at once");
	/* A new device range per call, even for the same buffer. */
	dma2 = map_ok(d, buf + 100, 5000, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(dma2 != dma, "two maps of one buffer got one address 0x%" PRIx64, dma);
	unmap_ok(d, dma, 5000, DMASPLIT_TO_DEVICE, 0);
	expect_fault(d, dma, 1, false, "after unmap");
	expect_fault(d, dma + 4999, 1, false, "last byte after unmap");
	expect_read(d, dma2, buf + 100, 5000, "the other mapping");
	unmap_ok(d, dma2, 5000, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(map_direction_is_enforced)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(3 * G);
	uint64_t to, from, bidi;

	fill(buf, 3 * G, 11);
	to = map_ok(d, buf, 100, DMASPLIT_TO_DEVICE, 0);
	from = map_ok(d, buf + G, 100, DMASPLIT_FROM_DEVICE, 0);
	bidi = map_ok(d, buf + 2 * G, 100, DMASPLIT_BIDIRECTIONAL, 0);
	expect_fault(d, to, 4, true, "write into a TO_DEVICE map");
	expect_read(d, to, buf, 100, "read of a TO_DEVICE map");
	expect_fault(d, from, 4, false, "read of a FROM_DEVICE map");
	write_byte(d, from + 1, 0x12);
	write_byte(d, bidi + 2, 0x13);
	ck_assert_msg(buf[G + 1] == 0x12 && buf[2 * G + 2] == 0x13,
		      "device writes: host 0x%02x 0x%02x, expected 0x12 0x13",
		      buf[G + 1], buf[2 * G + 2]);
	ck_assert_msg(read_byte(d, bidi + 2) == 0x13, "read of a BIDIRECTIONAL map");
	expect_pattern(buf, 100, 11, "TO_DEVICE buffer after the faulting write");
	unmap_ok(d, to, 100, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, from, 100, DMASPLIT_FROM_DEVICE, 0);
	unmap_ok(d, bidi, 100, DMASPLIT_BIDIRECTIONAL, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(untrusted_map_bounces_unaligned_buffer)
{
	struct dmasplit_dev *d = open_dev("sim:u,untrusted=1");
	struct dmasplit_dev_stats s0, s1;
	uint8_t *buf = buf_new(4 * G);
	uint64_t dma;

	fill(buf, 4 * G, 12);
	dma = map_ok(d, buf + 10, 3000, DMASPLIT_BIDIRECTIONAL, 0);
	expect_read(d, dma, buf + 10, 3000, "copied in at map");
	buf[20] = 0x01;
	ck_assert_msg(read_byte(d, dma + 10) == pat(12, 20),
		      "a bounced map showed a host write before sync_for_device");
	write_byte(d, dma + 30, 0x02);
	ck_assert_msg(buf[40] == pat(12, 40), "a bounced map passed a device write before sync_for_cpu");
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma + 30, 1, DMASPLIT_FROM_DEVICE), 0);
	ck_assert_msg(buf[40] == 0x02, "sync_for_cpu: host 0x%02x, expected 0x02", buf[40]);
	ck_assert_int_eq(dmasplit_sync_for_device(d, dma + 10, 1, DMASPLIT_TO_DEVICE), 0);
	ck_assert_msg(read_byte(d, dma + 10) == 0x01, "sync_for_device did not copy the host write");
	write_byte(d, dma + 2999, 0x03);
	unmap_ok(d, dma, 3000, DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_msg(buf[3009] == 0x03, "unmap copies back: host 0x%02x, expected 0x03", buf[3009]);
	ck_assert_msg(buf[9] == pat(12, 9) && buf[3010] == pat(12, 3010),
		      "bytes beside the buffer changed at unmap");

	/* Aligned at one end only: still bounced. */
	dma = map_ok(d, buf, G + 1, DMASPLIT_TO_DEVICE, 0);
	buf[5] = 0x04;
	ck_assert_msg(read_byte(d, dma + 5) != 0x04, "a buffer ending inside a granule must be bounced");
	unmap_ok(d, dma, G + 1, DMASPLIT_TO_DEVICE, 0);

	/* Whole granules are mapped in place. */
	s0 = stats_of(d);
	dma = map_ok(d, buf + G, 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_msg(dma % G == 0, "an aligned map gave 0x%" PRIx64, dma);
	buf[G + 6] = 0x05;
	ck_assert_msg(read_byte(d, dma + 6) == 0x05, "an aligned map must show host writes at once");
	write_byte(d, dma + 7, 0x06);
	ck_assert_msg(buf[G + 7] == 0x06, "an aligned map must pass device writes at once");
	unmap_ok(d, dma, 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
	s1 = stats_of(d);
	ck_assert_msg(s1.bytes_bounced == s0.bytes_bounced,
		      "an aligned map bounced %" PRIu64 " bytes", s1.bytes_bounced - s0.bytes_bounced);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(maps_stay_below_mask)
{
	struct dmasplit_dev *d = open_dev("sim:m,mask=28");
	uint8_t *buf = buf_new(16 * G);
	uint64_t dma[20], cdma;
	void *cpu;
	unsigned int i;

	for (i = 0; i < 20; i++) {
		dma[i] = map_ok(d, buf + i * 501, 1 + i * 777, DMASPLIT_TO_DEVICE, 0);
		ck_assert_msg(fits_mask(dma[i], 1 + i * 777, 28),
			      "map %u at 0x%" PRIx64 "+0x%x is beyond the 28-bit mask", i, dma[i], 1 + i * 777);
	}
	ck_assert_int_eq(dmasplit_alloc_coherent(d, 3 * G, 0, &cpu, &cdma), 0);
	ck_assert_msg(cdma != 0 && fits_mask(cdma, 3 * G, 28), "coherent memory at 0x%" PRIx64, cdma);
	ck_assert_int_eq(dmasplit_free_coherent(d, 3 * G, cpu, cdma), 0);
	for (i = 0; i < 20; i++)
		unmap_ok(d, dma[i], 1 + i * 777, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(map_vec_merges_aligned_buffers)
{
	struct dmasplit_dev *d = open_dev("sim:v");
	struct dmasplit_dev *u = open_dev("sim:vu,untrusted=1");
	uint8_t *buf = buf_new(8 * G), *want = buf_new(4 * G);
	struct iovec iov[4] = {
		{ buf, G },			/* ends on a boundary */
		{ buf + 4 * G, 2 * G },		/* starts on one: merges */
		{ buf + 2 * G + 100, 50 },	/* starts inside a granule */
		{ buf + 7 * G, G },		/* previous ends inside one */
	};
	struct dmasplit_seg segs[4];
	unsigned int nsegs = 4, i;

	fill(buf, 8 * G, 13);
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 4, DMASPLIT_BIDIRECTIONAL, 0, segs, &nsegs), 0);
	ck_assert_msg(nsegs == 3 && segs[0].len == 3 * G && segs[1].len == 50 && segs[2].len == G,
		      "trusted: %u segments (0x%" PRIx64 ", 0x%" PRIx64 ", 0x%" PRIx64 "), expected 3 (0x3000, 0x32, 0x1000)",
		      nsegs, segs[0].len, nsegs > 1 ? segs[1].len : 0, nsegs > 2 ? segs[2].len : 0);
	ck_assert_msg(segs[1].dma % G == 100, "unmerged buffer keeps its offset: 0x%" PRIx64, segs[1].dma);
	memcpy(want, buf, G);
	memcpy(want + G, buf + 4 * G, 2 * G);
	expect_read(d, segs[0].dma, want, 3 * G, "merged segment");
	expect_read(d, segs[1].dma, buf + 2 * G + 100, 50, "second segment");
	expect_read(d, segs[2].dma, buf + 7 * G, G, "third segment");
	write_byte(d, segs[0].dma + G + 1, 0x71);
	ck_assert_msg(buf[4 * G + 1] == 0x71, "write through the merged segment landed elsewhere");
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs, nsegs, DMASPLIT_BIDIRECTIONAL, 0), 0);
	for (i = 0; i < nsegs; i++)
		expect_fault(d, segs[i].dma, 1, false, "after unmap_vec");

	/* Untrusted: each buffer on its own, the unaligned one bounced. */
	nsegs = 4;
	ck_assert_int_eq(dmasplit_map_vec(u, iov, 4, DMASPLIT_BIDIRECTIONAL, 0, segs, &nsegs), 0);
	ck_assert_msg(nsegs == 4, "untrusted: %u segments, expected one per buffer", nsegs);
	for (i = 0; i < 4; i++) {
		ck_assert_uint_eq(segs[i].len, iov[i].iov_len);
		expect_read(u, segs[i].dma, iov[i].iov_base, iov[i].iov_len, "untrusted segment");
	}
	buf[2 * G + 101] = 0x72;
	buf[7 * G + 1] = 0x73;
	ck_assert_msg(read_byte(u, segs[2].dma + 1) == pat(13, 2 * G + 101),
		      "the unaligned buffer must be bounced");
	ck_assert_msg(read_byte(u, segs[3].dma + 1) == 0x73, "an aligned buffer must be mapped in place");
	write_byte(u, segs[2].dma + 2, 0x74);
	ck_assert_int_eq(dmasplit_unmap_vec(u, segs, nsegs, DMASPLIT_BIDIRECTIONAL, 0), 0);
	ck_assert_msg(buf[2 * G + 102] == 0x74, "unmap_vec copies a bounced buffer back");
	dmasplit_dev_close(d);
	dmasplit_dev_close(u);
	free(buf);
	free(want);
}
END_TEST

START_TEST(bounce_force_needs_iommu_off)
{
	struct dmasplit_dev *d = open_dev("sim:bf,bounce=force");
	struct dmasplit_dev_stats s;
	uint8_t *buf = buf_new(G);
	uint64_t dma;

	ck_assert_uint_eq(info_of(d).flags & DMASPLIT_DEV_BOUNCE, 0);
	dma = map_ok(d, buf + 5, 100, DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_msg(dma % G == 5, "a trusted translated map gave 0x%" PRIx64, dma);
	buf[6] = 0x21;
	ck_assert_msg(read_byte(d, dma + 1) == 0x21, "bounce=force bounced behind an IOMMU");
	unmap_ok(d, dma, 100, DMASPLIT_BIDIRECTIONAL, 0);
	s = stats_of(d);
	ck_assert_uint_eq(s.bytes_bounced, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

/* Host memory that went from under a live mapping, or a mapping longer
 * than its buffer: the device faults where the memory ends, as an IOMMU
 * fault would stop it, and the process goes on. */
static void gone_memory_faults(void)
{
	static const char *const specs[] = {
		"sim:a", "sim:u,untrusted=1", "sim:d,iommu=off",
	};
	unsigned int i;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct dmasplit_dev *d = open_dev(specs[i]);
		struct dmasplit_iova *w = NULL;
		uint8_t *m, tmp[16] = { 0 };
		uint64_t dma;

		/* Two pages of memory and two of nothing after them. */
		m = mmap(NULL, 4 * G, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ck_assert_ptr_ne(m, MAP_FAILED);
		ck_assert_int_eq(mprotect(m + 2 * G, 2 * G, PROT_NONE), 0);
		fill(m, 2 * G, 4);
		dma = map_ok(d, m, 4 * G, DMASPLIT_BIDIRECTIONAL, 0);
		expect_read(d, dma, m, 2 * G, "the memory there is");
		expect_fault(d, dma + 2 * G - 8, 16, false, "read across its end");
		expect_fault(d, dma + 3 * G, 8, true, "write past its end");
		if (dmasplit_iova_alloc(d, 4 * G, 0, &w) == 0) {
			link_ok(w, 0, m, 4 * G, DMASPLIT_BIDIRECTIONAL, 0);
			sync_ok(w, 0, 4 * G);
			expect_read(d, dmasplit_iova_addr(w), m, 2 * G,
				    "the memory there is, in a window");
			expect_fault(d, dmasplit_iova_addr(w) + 3 * G, 8, false,
				     "read past it in a window");
			unlink_ok(w, 0, 4 * G, DMASPLIT_BIDIRECTIONAL, 0);
			dmasplit_iova_destroy(w);
		}
		unmap_ok(d, dma, 4 * G, DMASPLIT_BIDIRECTIONAL, 0);
		munmap(m, 4 * G);

		/* Unmapped by the program while the device still maps it. */
		m = mmap(NULL, 2 * G, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ck_assert_ptr_ne(m, MAP_FAILED);
		dma = map_ok(d, m, 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
		munmap(m, 2 * G);
		expect_fault(d, dma, sizeof(tmp), false, "read of memory unmapped");
		expect_fault(d, dma + G, sizeof(tmp), true, "write to memory unmapped");
		unmap_ok(d, dma, 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
		dmasplit_dev_close(d);
	}
}

START_TEST(device_access_where_host_memory_is_gone_faults)
{
	gone_memory_faults();
}
END_TEST

/* The same where a seccomp filter (a container's) forbids the calls the
 * device reaches host memory with: dmasplit_dev_open(3) promises the
 * fault all the same. */
START_TEST(device_access_faults_without_process_vm_calls)
{
	ck_assert_msg(forbid_vm_rw(), "seccomp filter: %s", strerror(errno));
	ck_assert(!vm_rw_works());
	gone_memory_faults();
}
END_TEST

/* Coherent memory is aligned, at its CPU and its device address, to the
 * smallest power-of-two number of pages that holds it, as the kernel's
 * dma_alloc_coherent is; a page mapped before each keeps the addresses
 * from lining up by luck. */
START_TEST(coherent_memory_is_aligned_to_its_size_order)
{
	static const char *const specs[] = {
		"sim:a", "sim:g,granule=65536", "sim:u,untrusted=1",
		"sim:d,iommu=off", "sim:m,iommu=off,mask=40",
	};
	static const size_t sizes[] = {
		1, 4096, 4097, 10000, 65536, 65537, 1 << 20,
	};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
	uint8_t *buf = buf_new(NSIZES * G);
	unsigned int i, j;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct dmasplit_dev *d = open_dev(specs[i]);
		uint64_t dma[NSIZES], mdma[NSIZES], align;
		void *cpu[NSIZES];

		for (j = 0; j < NSIZES; j++) {
			mdma[j] = map_ok(d, buf + j * G, G, DMASPLIT_TO_DEVICE, 0);
			ck_assert_int_eq(dmasplit_alloc_coherent(d, sizes[j], 0, &cpu[j],
								 &dma[j]), 0);
			for (align = G; align < sizes[j]; align *= 2)
				;
			ck_assert_msg(!(dma[j] & (align - 1)) &&
				      !((uintptr_t)cpu[j] & (align - 1)),
				      "%s: %zu bytes of coherent memory at dma 0x%" PRIx64 ", cpu %p: not aligned to 0x%" PRIx64,
				      specs[i], sizes[j], dma[j], cpu[j], align);
			memset(cpu[j], 0x33, sizes[j]);
			ck_assert_int_eq(read_byte(d, dma[j] + sizes[j] - 1), 0x33);
		}
		for (j = 0; j < NSIZES; j++) {
			ck_assert_int_eq(dmasplit_free_coherent(d, sizes[j], cpu[j], dma[j]), 0);
			unmap_ok(d, mdma[j], G, DMASPLIT_TO_DEVICE, 0);
		}
		dmasplit_dev_close(d);
	}
	free(buf);
#undef NSIZES
}
END_TEST

/* Aligned coherent memory needs room of its size, aligned, below the
 * mask: not size + alignment, which would leave half a space unusable. */
START_TEST(coherent_memory_aligned_fills_its_aligned_half)
{
	struct dmasplit_dev *d = open_dev("sim:h,mask=28");
	void *small, *big;
	uint64_t sdma, bdma;

	ck_assert_int_eq(dmasplit_alloc_coherent(d, G, 0, &small, &sdma), 0);
	ck_assert_int_eq(dmasplit_alloc_coherent(d, 1u << 27, 0, &big, &bdma), 0);
	ck_assert_uint_eq(bdma, 1u << 27);
	ck_assert_uint_eq((uintptr_t)big & ((1u << 27) - 1), 0);
	ck_assert_int_eq(dmasplit_free_coherent(d, 1u << 27, big, bdma), 0);
	ck_assert_int_eq(dmasplit_free_coherent(d, G, small, sdma), 0);
	dmasplit_dev_close(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim");
	TCase *tc;

	tu_plugin_dir();
	tc = tcase_create("translated maps");
	tcase_add_checked_fixture(tc, sim_setup, sim_teardown);
	tcase_add_test(tc, map_is_visible_at_once_and_faults_after_unmap);
	tcase_add_test(tc, map_direction_is_enforced);
	tcase_add_test(tc, untrusted_map_bounces_unaligned_buffer);
	tcase_add_test(tc, maps_stay_below_mask);
	tcase_add_test(tc, map_vec_merges_aligned_buffers);
	tcase_add_test(tc, bounce_force_needs_iommu_off);
	tcase_add_test(tc, device_access_where_host_memory_is_gone_faults);
	tcase_add_test(tc, coherent_memory_is_aligned_to_its_size_order);
	tcase_add_test(tc, coherent_memory_aligned_fills_its_aligned_half);
	/* Last: with CK_FORK=no its filter stays for the tests after it. */
	tu_add_test_if(tc, device_access_faults_without_process_vm_calls,
		       can_forbid_vm_rw(),
		       "no seccomp filter can be set in this process");
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
