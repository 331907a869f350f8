// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * swiotlb-sim devices sharing one IOMMU address space (as=NAME): what any
 * member maps every member reaches at one address, below the narrowest
 * mask, and only its creator takes it back.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "simutil.h"

/* ------------------------------------------------------------------ */
/* Shared address spaces (as=NAME)                                      */

static void expect_open_fails(const char *spec, int err, const char *needle)
{
	struct dmasplit_dev *d = NULL;
	int r;

	tu_log_clear();
	r = dmasplit_dev_open(ctx, spec, &d);
	ck_assert_msg(r == err, "open %s: expected %d, got %d; log:\n%s", spec,
		      err, r, tu_log_text());
	ck_assert_ptr_null(d);
	ck_assert_msg(tu_log_count(needle) == 1,
		      "open %s: expected one line naming '%s'; log:\n%s", spec,
		      needle, tu_log_text());
	tu_log_clear();
}

START_TEST(members_report_their_space_and_others_none)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=pool0,mask=40");
	struct dmasplit_dev *b = open_dev("sim:b,as=pool0");
	struct dmasplit_dev *c = open_dev("sim:c,mask=40");

	ck_assert_str_eq(info_of(a).address_space, "pool0");
	ck_assert_str_eq(info_of(b).address_space, "pool0");
	ck_assert_str_eq(info_of(c).address_space, "");
	/* as= is the core's: the backend's own options stay as they were. */
	ck_assert_uint_eq(info_of(a).dma_mask_bits, 40);
	dmasplit_dev_close(c);
	dmasplit_dev_close(b);
	dmasplit_dev_close(a);
}
END_TEST

START_TEST(window_linked_on_one_member_is_read_and_written_by_another)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=pool0");
	struct dmasplit_dev *b = open_dev("sim:b,as=pool0");
	struct dmasplit_dev *out = open_dev("sim:out");
	uint8_t *buf = buf_new(4 * G), *data = buf_new(G);
	struct dmasplit_iova *w = window(a, 4 * G);
	uint64_t addr = dmasplit_iova_addr(w);

	fill(buf, 4 * G, 21);
	link_ok(w, 0, buf, 4 * G, DMASPLIT_BIDIRECTIONAL, 0);
	expect_fault(b, addr, 1, false, "linked on a, not synced yet");
	sync_ok(w, 0, 4 * G);
	expect_read(b, addr, buf, 4 * G, "member b reads a's window");
	fill(data, G, 22);
	expect_write(b, addr + G, data, G, "member b writes a's window");
	expect_pattern(buf + G, G, 22, "host after b's write");
	expect_read(a, addr + G, data, G, "a sees b's write");
	/* One page table for the space, none for the device outside. */
	expect_fault(out, addr, 1, false, "a device outside the space");
	unlink_ok(w, 0, 4 * G, DMASPLIT_BIDIRECTIONAL, 0);
	expect_fault(b, addr, 1, false, "after a's unlink");
	dmasplit_iova_destroy(w);
	dmasplit_dev_close(out);
	dmasplit_dev_close(b);
	dmasplit_dev_close(a);
	free(data);
	free(buf);
}
END_TEST

START_TEST(three_members_reach_every_map_at_one_address)
{
	static const char *const specs[] = {
		"sim:m0,as=tri", "sim:m1,as=tri,untrusted=1", "sim:m2,as=tri",
	};
	struct dmasplit_dev *d[3];
	uint8_t *buf[3];
	uint64_t dma[3];
	unsigned int i, j;

	for (i = 0; i < 3; i++)
		d[i] = open_dev(specs[i]);
	for (i = 0; i < 3; i++) {
		buf[i] = buf_new(2 * G);
		fill(buf[i], 2 * G, 30 + i);
		dma[i] = map_ok(d[i], buf[i], 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
		for (j = 0; j < i; j++)
			ck_assert_msg(dma[i] != dma[j], "members %u and %u got one address 0x%" PRIx64,
				      i, j, dma[i]);
	}
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++)
			expect_read(d[j], dma[i], buf[i], 2 * G,
				    "a member reads another's map");
	/* A map_vec and coherent memory are the space's too. */
	{
		struct iovec iov[2] = { { buf[0], G }, { buf[1] + G, G } };
		struct dmasplit_seg segs[2];
		unsigned int n = 2;
		void *cpu;
		uint64_t cdma;

		ck_assert_int_eq(dmasplit_map_vec(d[2], iov, 2,
						  DMASPLIT_TO_DEVICE, 0, segs,
						  &n), 0);
		expect_read(d[0], segs[0].dma, buf[0], G, "vector seg 0 from m0");
		expect_read(d[1], segs[n - 1].dma + segs[n - 1].len - G,
			    buf[1] + G, G, "vector's last granule from m1");
		ck_assert_int_eq(dmasplit_unmap_vec(d[2], segs, n,
						    DMASPLIT_TO_DEVICE, 0), 0);
		ck_assert_int_eq(dmasplit_alloc_coherent(d[1], G, 0, &cpu,
							 &cdma), 0);
		memset(cpu, 0x5c, G);
		ck_assert_msg(read_byte(d[0], cdma + 7) == 0x5c,
			      "m0 reads m1's coherent memory");
		ck_assert_int_eq(dmasplit_free_coherent(d[1], G, cpu, cdma), 0);
	}
	for (i = 0; i < 3; i++) {
		unmap_ok(d[i], dma[i], 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
		for (j = 0; j < 3; j++)
			expect_fault(d[j], dma[i], 1, false, "after the unmap");
	}
	for (i = 0; i < 3; i++) {
		dmasplit_dev_close(d[i]);
		free(buf[i]);
	}
}
END_TEST

START_TEST(only_the_member_that_mapped_unmaps_or_syncs)
{
	struct dmasplit_dev *a, *b;
	uint8_t *buf = buf_new(G);
	uint64_t dma;
	int r;

	/* The library's checker would refuse first: the device must, on
	 * its own. */
	dmasplit_ctx_set_check(ctx, 0);
	a = open_dev("sim:a,as=own");
	b = open_dev("sim:b,as=own");
	dma = map_ok(a, buf, G, DMASPLIT_TO_DEVICE, 0);
	r = dmasplit_unmap(b, dma, G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(r == -EINVAL, "b unmaps a's map: expected -EINVAL, got %d", r);
	ck_assert_msg(tu_log_count("another device of address space own mapped it") == 1,
		      "expected one line naming the owner's space; log:\n%s",
		      tu_log_text());
	fill(buf, G, 40);
	expect_read(b, dma, buf, G, "a's map after b's refused unmap");
	tu_log_clear();
	r = dmasplit_sync_for_cpu(b, dma, G, DMASPLIT_TO_DEVICE);
	ck_assert_msg(r == -EINVAL, "b syncs a's map: expected -EINVAL, got %d", r);
	ck_assert_msg(tu_log_count("another device of address space own mapped it") == 1,
		      "expected one line naming the owner's space; log:\n%s",
		      tu_log_text());
	unmap_ok(a, dma, G, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(b);
	dmasplit_dev_close(a);
	free(buf);
}
END_TEST

/* b's sync of [at, at + len), past the first granule of what a mapped:
 * refused as the owner's, in one line, and nothing copied into buf. */
static void foreign_sync_refused(struct dmasplit_dev *b, uint64_t at,
				 size_t len, const uint8_t *buf, const char *what)
{
	uint8_t before[16];
	int r;

	memcpy(before, buf, sizeof(before));
	tu_log_clear();
	r = dmasplit_sync_for_cpu(b, at, len, DMASPLIT_FROM_DEVICE);
	ck_assert_msg(r == -EINVAL, "b syncs %s: expected -EINVAL, got %d",
		      what, r);
	ck_assert_msg(tu_log_count("another device of address space") == 1,
		      "b syncs %s: expected one line naming the owner's space; log:\n%s",
		      what, tu_log_text());
	ck_assert_mem_eq(buf, before, sizeof(before));
}

/* The owner is known in every granule of a mapping, not only in its
 * first: a sync that starts further in, of a bounced map, a map or a
 * vector's second buffer, is the owner's alone.  A window's links keep
 * no owner, and another member's sync of one that does not bounce
 * passes, as at its first granule. */
START_TEST(another_member_cannot_sync_past_the_first_granule_of_a_mapping)
{
	struct dmasplit_dev *u, *a, *b;
	uint8_t *bounced = buf_new(4 * G), *mapped = buf_new(3 * G);
	uint8_t *v0 = buf_new(G), *v1 = buf_new(G), *linked = buf_new(3 * G);
	const size_t big_len = 5u << 20;
	uint8_t *big = buf_new(big_len);
	/* The first buffer ends inside its granule: the second has one of
	 * its own, as a segment of its own. */
	struct iovec iov[2] = { { v0, G - 100 }, { v1, G } };
	struct dmasplit_seg segs[2];
	unsigned int nsegs = 2;
	struct dmasplit_iova *w;
	uint64_t d, e;

	dmasplit_ctx_set_check(ctx, 0);
	u = open_dev("sim:u,as=mid,untrusted=1");
	a = open_dev("sim:a,as=mid");
	b = open_dev("sim:b,as=mid");

	memset(bounced, 'Z', 4 * G);
	d = map_ok(u, bounced + 16, 3 * G, DMASPLIT_FROM_DEVICE, 0);
	ck_assert_int_eq(dmasplit_dev_dma_write(u, d + G, "DEVDATA", 7), 0);
	foreign_sync_refused(b, d + G, G, bounced + 16 + G,
			     "the second granule of u's bounced map");
	foreign_sync_refused(b, d + 3 * G - 16, 16, bounced + 3 * G,
			     "the last granule of u's bounced map");
	ck_assert_int_eq(dmasplit_sync_for_cpu(u, d + G, G,
					       DMASPLIT_FROM_DEVICE), 0);
	ck_assert_mem_eq(bounced + 16 + G, "DEVDATA", 7);
	unmap_ok(u, d, 3 * G, DMASPLIT_FROM_DEVICE, 0);

	e = map_ok(a, mapped, 3 * G, DMASPLIT_FROM_DEVICE, 0);
	foreign_sync_refused(b, e + G, G, mapped + G,
			     "the middle granule of a's map");
	ck_assert_int_eq(dmasplit_sync_for_cpu(a, e + G, G,
					       DMASPLIT_FROM_DEVICE), 0);
	unmap_ok(a, e, 3 * G, DMASPLIT_FROM_DEVICE, 0);

	/* Across leaf tables (one spans 2 MiB of addresses at 4 KiB). */
	e = map_ok(a, big, big_len, DMASPLIT_FROM_DEVICE, 0);
	foreign_sync_refused(b, e + big_len - 2 * G, G, big + big_len - 2 * G,
			     "a granule near the end of a's 5 MiB map");
	ck_assert_int_eq(dmasplit_sync_for_cpu(a, e + big_len - 2 * G, G,
					       DMASPLIT_FROM_DEVICE), 0);
	unmap_ok(a, e, big_len, DMASPLIT_FROM_DEVICE, 0);

	ck_assert_int_eq(dmasplit_map_vec(a, iov, 2, DMASPLIT_FROM_DEVICE, 0,
					  segs, &nsegs), 0);
	ck_assert_uint_eq(nsegs, 2);
	foreign_sync_refused(b, segs[1].dma, G, v1,
			     "the second buffer of a's vector");
	ck_assert_int_eq(dmasplit_unmap_vec(a, segs, nsegs,
					    DMASPLIT_FROM_DEVICE, 0), 0);

	w = window(a, 3 * G);
	link_ok(w, 0, linked, 3 * G, DMASPLIT_FROM_DEVICE, 0);
	sync_ok(w, 0, 3 * G);
	ck_assert_int_eq(dmasplit_sync_for_cpu(b, dmasplit_iova_addr(w) + G, G,
					       DMASPLIT_FROM_DEVICE), 0);
	unlink_ok(w, 0, 3 * G, DMASPLIT_FROM_DEVICE, 0);
	dmasplit_iova_destroy(w);

	dmasplit_dev_close(b);
	dmasplit_dev_close(a);
	dmasplit_dev_close(u);
	free(big);
	free(linked);
	free(v1);
	free(v0);
	free(mapped);
	free(bounced);
}
END_TEST

/* A window keeps no record per link: another member's sync by address
 * of a bounced link is known by its slot, in the linking device's pool,
 * and refused, since the data would not move; the owner's goes through. */
START_TEST(another_member_cannot_sync_a_bounced_window_link)
{
	struct dmasplit_dev *a, *b;
	struct dmasplit_iova *w;
	uint8_t *buf = buf_new(2 * G);
	uint64_t at;
	int r;

	dmasplit_ctx_set_check(ctx, 0);
	a = open_dev("sim:a,as=bw,untrusted=1");
	b = open_dev("sim:b,as=bw,untrusted=1");
	w = window(a, 2 * G);
	memset(buf, '.', 2 * G);
	link_ok(w, 100, buf + 100, 200, DMASPLIT_FROM_DEVICE, 0);
	sync_ok(w, 0, 2 * G);
	at = dmasplit_iova_addr(w) + 100;
	ck_assert_int_eq(dmasplit_dev_dma_write(a, at, "WINW", 4), 0);
	tu_log_clear();
	r = dmasplit_sync_for_cpu(b, at, 200, DMASPLIT_FROM_DEVICE);
	ck_assert_msg(r == -EINVAL, "b syncs a's bounced link: expected -EINVAL, got %d", r);
	ck_assert_msg(tu_log_count("another device of address space bw linked") == 1,
		      "log:\n%s", tu_log_text());
	ck_assert_mem_eq(buf + 100, "....", 4);
	ck_assert_int_eq(dmasplit_sync_for_cpu(a, at, 200, DMASPLIT_FROM_DEVICE), 0);
	ck_assert_mem_eq(buf + 100, "WINW", 4);
	unlink_ok(w, 100, 200, DMASPLIT_FROM_DEVICE, 0);
	dmasplit_iova_destroy(w);
	dmasplit_dev_close(b);
	dmasplit_dev_close(a);
	free(buf);
}
END_TEST

/* A member that closes with a vector of its own still mapped takes the
 * vector's records with it, the first segment's end included: the next
 * mapping at those addresses is synced as itself. */
START_TEST(a_closed_member_leaves_no_record_of_where_its_mappings_ended)
{
	struct dmasplit_dev *a, *b;
	uint8_t *buf = buf_new(4 * G);
	struct iovec iov = { buf, 5000 };
	struct dmasplit_seg seg;
	unsigned int nsegs = 1;
	uint64_t dma;

	dmasplit_ctx_set_check(ctx, 0);
	a = open_dev("sim:a,as=gone,untrusted=1");
	b = open_dev("sim:b,as=gone");
	ck_assert_int_eq(dmasplit_map_vec(a, &iov, 1, DMASPLIT_TO_DEVICE, 0, &seg,
					  &nsegs), 0);
	dmasplit_dev_close(a);
	dma = map_ok(b, buf, 2 * G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_uint_eq(dma, seg.dma);
	tu_log_clear();
	ck_assert_msg(dmasplit_sync_for_device(b, dma + G, G, DMASPLIT_TO_DEVICE) == 0,
		      "log:\n%s", tu_log_text());
	unmap_ok(b, dma, 2 * G, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(b);
	free(buf);
}
END_TEST

START_TEST(addresses_fit_the_smallest_mask_of_the_members)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=m");
	struct dmasplit_dev *b;
	struct dmasplit_iova *w = NULL, *w2, *wb;
	struct dmasplit_range rg[2];
	unsigned int n = 2;
	int r;

	ck_assert_int_eq(dmasplit_dev_get_ranges(a, rg, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(rg[0].last, (1ull << 48) - 1);
	b = open_dev("sim:b,as=m,mask=24");
	/* The ranges are a's as they are now: b's mask narrows them. */
	n = 2;
	ck_assert_int_eq(dmasplit_dev_get_ranges(a, rg, &n), 0);
	ck_assert_msg(n == 1 && rg[0].last == (1u << 24) - 1,
		      "a's range after b joined ends at 0x%" PRIx64, rg[0].last);
	/* 16 MiB of addresses below b's mask, less the first granule. */
	w2 = window(a, 8u << 20);
	ck_assert_msg(dmasplit_iova_addr(w2) + (8u << 20) - 1 < (1u << 24),
		      "window 0x%" PRIx64 " of a member beyond b's 24-bit mask",
		      dmasplit_iova_addr(w2));
	tu_log_clear();
	r = dmasplit_iova_alloc(a, 8u << 20, 0, &w);
	ck_assert_msg(r == -ENOSPC, "a second 8 MiB window below 2^24: expected -ENOSPC, got %d", r);
	ck_assert_msg(tu_log_count("left below 0x1000000, the narrowest mask of the members of address space m") == 1,
		      "the refusal names the space's limit, b's; log:\n%s",
		      tu_log_text());
	/* Closed, b still counts while a window of its keeps it. */
	wb = window(b, G);
	dmasplit_dev_close(b);
	n = 2;
	ck_assert_int_eq(dmasplit_dev_get_ranges(a, rg, &n), 0);
	ck_assert_msg(rg[0].last == (1u << 24) - 1,
		      "a's range with closed b kept by its window ends at 0x%" PRIx64,
		      rg[0].last);
	r = dmasplit_iova_alloc(a, 8u << 20, 0, &w);
	ck_assert_msg(r == -ENOSPC, "8 MiB more while b is kept: expected -ENOSPC, got %d", r);
	dmasplit_iova_destroy(wb);
	n = 2;
	ck_assert_int_eq(dmasplit_dev_get_ranges(a, rg, &n), 0);
	ck_assert_uint_eq(rg[0].last, (1ull << 48) - 1);
	/* The narrow member gone, a reaches its whole width again. */
	w = window(a, 8u << 20);
	ck_assert_msg(dmasplit_iova_addr(w) + (8u << 20) - 1 >= (1u << 24),
		      "second window at 0x%" PRIx64 ", expected beyond 2^24",
		      dmasplit_iova_addr(w));
	dmasplit_iova_destroy(w);
	dmasplit_iova_destroy(w2);
	dmasplit_dev_close(a);
}
END_TEST

START_TEST(late_joiner_that_cannot_reach_a_mapping_is_refused)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=late");
	struct dmasplit_dev *c;
	uint8_t *buf = buf_new(G);
	struct dmasplit_iova *w = window(a, 2u << 20);
	uint64_t dma;

	fill(buf, G, 50);
	dma = map_ok(a, buf, G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(dma >= (1u << 20), "map at 0x%" PRIx64 ", above the window", dma);
	expect_open_fails("sim:b,as=late,mask=20", -ERANGE,
			  "as=late: the device reaches 0xfffff (mask=20), but address space late has windows or mappings up to 0x");
	/* Nothing changed for the space. */
	expect_read(a, dma, buf, G, "a's map after the refused join");
	/* One that reaches everything mapped joins, and sees it. */
	c = open_dev("sim:c,as=late,mask=32");
	expect_read(c, dma, buf, G, "the later member reads the map");
	unmap_ok(a, dma, G, DMASPLIT_TO_DEVICE, 0);
	dmasplit_iova_destroy(w);
	/* Nothing is mapped now beyond 2^20: the narrow device may join. */
	dmasplit_dev_close(open_dev("sim:b,as=late,mask=20"));
	dmasplit_dev_close(c);
	dmasplit_dev_close(a);
	free(buf);
}
END_TEST

START_TEST(as_is_refused_where_it_cannot_hold)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=g,granule=16384");

	expect_open_fails("sim:b,as=g", -EINVAL, "one page table has one granule");
	expect_open_fails("sim:c,iommu=off,as=h", -EINVAL, "as=h");
	expect_open_fails("sim:d,as=", -EINVAL, "as=: expected a name");
	expect_open_fails("sim:e,as=x,as=y", -EINVAL, "'as' repeated");
	expect_open_fails("sim:f,as=a/b", -EINVAL, "as=a/b: expected a name");
	dmasplit_dev_close(a);
}
END_TEST

START_TEST(closing_the_creator_removes_its_windows_and_maps_for_all)
{
	struct dmasplit_dev *a, *b;
	uint8_t *buf = buf_new(2 * G);
	struct dmasplit_iova *w;
	uint64_t addr, dma;

	/* Without the checker, so that the device itself must take what
	 * a closing member left. */
	dmasplit_ctx_set_check(ctx, 0);
	a = open_dev("sim:a,as=cl");
	b = open_dev("sim:b,as=cl");
	fill(buf, 2 * G, 60);
	w = window(a, G);
	addr = dmasplit_iova_addr(w);
	link_ok(w, 0, buf, G, DMASPLIT_TO_DEVICE, 0);
	sync_ok(w, 0, G);
	dma = map_ok(a, buf + G, G, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(a);
	/* The window keeps a: all of it stays until the window goes. */
	expect_read(b, addr, buf, G, "a's window after a's close");
	expect_read(b, dma, buf + G, G, "a's map while its window keeps a");
	dmasplit_iova_destroy(w);
	expect_fault(b, addr, 1, false, "a's window once destroyed");
	expect_fault(b, dma, 1, false, "a's map, gone with a");
	/* The space lives on with b: b maps and reads as before. */
	dma = map_ok(b, buf, G, DMASPLIT_TO_DEVICE, 0);
	expect_read(b, dma, buf, G, "b after a is gone");
	unmap_ok(b, dma, G, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(b);
	free(buf);
}
END_TEST

START_TEST(spaces_are_per_context_and_vanish_with_their_last_member)
{
	struct dmasplit_ctx *other = NULL;
	struct dmasplit_dev *a = open_dev("sim:a,as=p"), *x = NULL, *a2;
	uint8_t *buf = buf_new(G);
	uint64_t dma;

	ck_assert_int_eq(dmasplit_ctx_new(&other), 0);
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(other,
			 getenv("DMASPLIT_TEST_BACKENDS")), 0);
	ck_assert_int_eq(dmasplit_dev_open(other, "sim:x,as=p", &x), 0);
	fill(buf, G, 70);
	dma = map_ok(a, buf, G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_int_eq(dmasplit_dev_dma_read(x, dma, &(uint8_t){ 0 }, 1),
			 -EFAULT);
	unmap_ok(a, dma, G, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(a);
	/* A new space of the same name: a granule the old one refused. */
	a2 = open_dev("sim:a2,as=p,granule=65536");
	dmasplit_dev_close(a2);
	dmasplit_dev_close(x);
	dmasplit_ctx_unref(other);
	free(buf);
}
END_TEST

START_TEST(stats_count_an_invalidation_once_for_the_space)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=st");
	struct dmasplit_dev *b = open_dev("sim:b,as=st");
	uint8_t *buf = buf_new(G);
	uint64_t before = stats_of(b).kernel_calls, dma;

	dma = map_ok(a, buf, G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(stats_of(b).kernel_calls == before + 1,
		      "b's space count after a's map: expected %" PRIu64 ", got %" PRIu64,
		      before + 1, stats_of(b).kernel_calls);
	ck_assert_uint_eq(stats_of(a).kernel_calls, stats_of(b).kernel_calls);
	unmap_ok(a, dma, G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_uint_eq(stats_of(b).kernel_calls, before + 2);
	/* The library's own counts stay the device's. */
	ck_assert_uint_eq(stats_of(b).maps, 0);
	ck_assert_uint_eq(stats_of(a).maps, 1);
	dmasplit_dev_close(b);
	dmasplit_dev_close(a);
	free(buf);
}
END_TEST

START_TEST(batch_on_one_member_is_read_by_another)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=bt");
	struct dmasplit_dev *b = open_dev("sim:b,as=bt");
	uint8_t *buf = buf_new(4 * G), *want = buf_new(3 * G);
	const struct dmasplit_seg *segs;
	struct dmasplit_batch *bt = NULL;
	unsigned int n, i;
	size_t off = 0;
	uint64_t first;

	fill(buf, 4 * G, 80);
	ck_assert_int_eq(dmasplit_batch_new(a, DMASPLIT_TO_DEVICE, 0, &bt), 0);
	ck_assert_int_eq(dmasplit_batch_add(bt, buf, G), 0);
	ck_assert_int_eq(dmasplit_batch_add(bt, buf + 2 * G, 2 * G), 0);
	ck_assert_int_eq(dmasplit_batch_map(bt, &segs, &n), 0);
	ck_assert_int_eq(dmasplit_batch_uses_window(bt), 1);
	/* The segments, in order, carry the buffers in order. */
	memcpy(want, buf, G);
	memcpy(want + G, buf + 2 * G, 2 * G);
	for (i = 0; i < n; i++) {
		expect_read(b, segs[i].dma, want + off, segs[i].len,
			    "b reads a's batch");
		off += segs[i].len;
	}
	ck_assert_uint_eq(off, 3 * G);
	/* The segments are the batch's: gone with its unmap. */
	first = segs[0].dma;
	ck_assert_int_eq(dmasplit_batch_unmap(bt), 0);
	expect_fault(b, first, 1, false, "after the batch's unmap");
	dmasplit_batch_free(bt);
	dmasplit_dev_close(b);
	dmasplit_dev_close(a);
	free(want);
	free(buf);
}
END_TEST

struct member_thread {
	struct dmasplit_dev *self, *peer;
	unsigned int seed;
	int failures;
};

/* Each thread maps on its own member and reads through the other:
 * one allocator, one table, two devices at once. */
static void *member_thread(void *arg)
{
	struct member_thread *t = arg;
	uint8_t *buf = aligned_alloc(G, 4 * G), got[64];
	unsigned int i;

	if (!buf)
		return NULL;
	for (i = 0; i < 2000; i++) {
		size_t len = G * (1 + (i + t->seed) % 4);
		uint64_t dma;

		memset(buf, (int)(t->seed + i), len);
		if (dmasplit_map(t->self, buf, len, DMASPLIT_TO_DEVICE, 0,
				 &dma) < 0) {
			t->failures++;
			continue;
		}
		if (dmasplit_dev_dma_read(t->peer, dma + len - sizeof(got),
					  got, sizeof(got)) < 0 ||
		    got[0] != (uint8_t)(t->seed + i) ||
		    got[sizeof(got) - 1] != (uint8_t)(t->seed + i))
			t->failures++;
		if (dmasplit_unmap(t->self, dma, len, DMASPLIT_TO_DEVICE,
				   0) < 0)
			t->failures++;
	}
	free(buf);
	return NULL;
}

START_TEST(members_map_from_two_threads_at_once)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=thr");
	struct dmasplit_dev *b = open_dev("sim:b,as=thr,mask=32");
	struct member_thread t[2] = {
		{ .self = a, .peer = b, .seed = 1 },
		{ .self = b, .peer = a, .seed = 101 },
	};
	pthread_t th[2];
	unsigned int i;

	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, member_thread,
						&t[i]), 0);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 2; i++)
		ck_assert_msg(t[i].failures == 0, "thread %u: %d failed steps; log:\n%s",
			      i, t[i].failures, tu_log_text());
	ck_assert_uint_eq(stats_of(a).mappings_live, 0);
	dmasplit_dev_close(b);
	dmasplit_dev_close(a);
}
END_TEST

static int hammer_stop;

/* A context that loads its backends from dir. */
static struct dmasplit_ctx *ctx_loading(const char *dir)
{
	struct dmasplit_ctx *c = NULL;

	if (dmasplit_ctx_new(&c) != 0)
		return NULL;
	if (dmasplit_ctx_set_backend_path(c, dir) != 0) {
		dmasplit_ctx_unref(c);
		return NULL;
	}
	return c;
}

/* A context on the tree's backends, as the file's others: an installed
 * plugin would replace the built-in simulated device. */
static struct dmasplit_ctx *tree_ctx(void)
{
	return ctx_loading(getenv("DMASPLIT_TEST_BACKENDS"));
}

/* A child of fork() that dies of SIGALRM after s seconds: Check's own
 * handler, inherited, would kill the whole test's process group. */
static void child_alarm(unsigned int s)
{
	signal(SIGALRM, SIG_DFL);
	alarm(s);
}

/* Ends a child of fork() without exit handlers or valgrind's leak check
 * of what the parent's threads held. */
static __attribute__((noreturn)) void child_end(void)
{
	kill(getpid(), SIGKILL);
	_exit(5);
}

/*
 * fn(arg) in a child of fork(), which has 10 s: 'y' if it said true, 'n'
 * if false, 0 if the child died first (*status says how).  The answer
 * comes through a pipe, as the child ends by SIGKILL (child_end()).
 */
static char in_child(bool (*fn)(void *), void *arg, int *status)
{
	char said = 0;
	int fds[2];
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char ok;

		close(fds[0]);
		child_alarm(10);
		ok = fn(arg) ? 'y' : 'n';
		if (write(fds[1], &ok, 1) != 1)
			_exit(4);
		child_end();
	}
	close(fds[1]);
	if (read(fds[0], &said, 1) != 1)
		said = 0;
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, status, 0), pid);
	return said;
}

/* Copies of the sim plugin, FRESH_COPIES for each hammer thread: a file
 * the process has not loaded is a real dlopen(), with the backend's
 * constructor, where a file loaded before (and never unloaded) is only
 * a reference more. */
#define FRESH_COPIES 16
static char *fresh_dirs[2][FRESH_COPIES];

/* Opens and closes a shared-space member in a context of its own, so
 * that the registry of spaces is busy whenever the main thread forks:
 * first through fresh copies of the plugin, a context each, so that
 * forks come while backends are loaded, then in one context. */
static void *hammer_spaces(void *arg)
{
	char **dirs = arg;
	struct dmasplit_ctx *c;
	struct dmasplit_dev *d;
	unsigned int i;

	for (i = 0; i < FRESH_COPIES; i++) {
		c = ctx_loading(dirs[i]);
		if (!c)
			return NULL;
		if (dmasplit_dev_open(c, "sim:h,as=busy", &d) == 0)
			dmasplit_dev_close(d);
		dmasplit_ctx_unref(c);
	}
	c = tree_ctx();
	if (!c)
		return NULL;
	while (!__atomic_load_n(&hammer_stop, __ATOMIC_RELAXED))
		if (dmasplit_dev_open(c, "sim:h,as=busy", &d) == 0)
			dmasplit_dev_close(d);
	dmasplit_ctx_unref(c);
	return NULL;
}

/* In a child: a shared-space member in a context of the child's own. */
static bool open_a_member(void *arg)
{
	struct dmasplit_ctx *c = tree_ctx();
	struct dmasplit_dev *d;

	(void)arg;
	if (!c || dmasplit_dev_open(c, "sim:child,as=mine", &d) != 0)
		return false;
	dmasplit_dev_close(d);
	return true;
}

/* libdmasplit(3): after fork(), the child makes a context of its own.
 * It must be able to open shared-space members there, whatever the
 * parent's threads were doing with theirs at the fork.  The child says
 * how it went through a pipe and ends by SIGKILL: an exit would run a
 * leak check under valgrind, to which the parent's threads' contexts,
 * which the child has no threads for, are lost. */
START_TEST(a_child_of_fork_opens_shared_spaces_while_parent_threads_do)
{
	pthread_t th[2];
	unsigned int t, i, n;
	int status = 0;
	char said = 'y', how[64] = "";

	for (t = 0; t < 2; t++)
		for (i = 0; i < FRESH_COPIES; i++) {
			fresh_dirs[t][i] = tu_mkdtemp();
			tu_copy_plugin(fresh_dirs[t][i], "swiotlb-sim");
		}
	__atomic_store_n(&hammer_stop, 0, __ATOMIC_RELAXED);
	for (t = 0; t < 2; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, hammer_spaces,
						fresh_dirs[t]), 0);
	for (n = 1; n <= 40 && said == 'y'; n++)
		said = in_child(open_a_member, NULL, &status);
	__atomic_store_n(&hammer_stop, 1, __ATOMIC_RELAXED);
	for (t = 0; t < 2; t++) {
		pthread_join(th[t], NULL);
		for (i = 0; i < FRESH_COPIES; i++) {
			tu_rm_rf(fresh_dirs[t][i]);
			free(fresh_dirs[t][i]);
		}
	}
	if (said == 'n')
		snprintf(how, sizeof(how), "could not open a device");
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		snprintf(how, sizeof(how), "hung in dmasplit_dev_open");
	else if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "died of signal %d", WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "exited with status %d",
			 WEXITSTATUS(status));
	ck_assert_msg(said == 'y', "child %u of 40 %s", n - 1, how);
}
END_TEST

static unsigned int log_forks;

/* Forks, and waits for the child, from inside a line: the library must
 * not hold what a child needs (fork handlers that take its locks). */
static void forking_log(void *data, int priority, const char *file, int line,
			const char *fn, const char *format, va_list args)
{
	pid_t pid;

	(void)data; (void)priority; (void)file; (void)line; (void)fn;
	(void)format; (void)args;
	pid = fork();
	if (pid == 0)
		child_end();
	if (pid > 0 && waitpid(pid, NULL, 0) == pid)
		log_forks++;
}

/* A line logged while the registry of spaces is locked (a joiner of
 * another granule is refused under it), by a log function that forks. */
START_TEST(a_log_function_may_fork_while_a_space_is_joined)
{
	struct dmasplit_ctx *c = tree_ctx();
	struct dmasplit_dev *a, *b = NULL;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(dmasplit_dev_open(c, "sim:a,as=x", &a), 0);
	dmasplit_ctx_set_log_fn(c, forking_log, NULL);
	log_forks = 0;
	alarm(20);
	ck_assert_int_eq(dmasplit_dev_open(c, "sim:b,as=x,granule=16384", &b), -EINVAL);
	alarm(0);
	ck_assert_uint_ge(log_forks, 1);
	dmasplit_dev_close(a);
	dmasplit_ctx_unref(c);
}
END_TEST

static bool close_both(void *arg)
{
	struct dmasplit_dev **devs = arg;

	dmasplit_dev_close(devs[0]);
	dmasplit_dev_close(devs[1]);
	return true;
}

/* A child of fork() that closes devices it inherited, against the
 * rules (an exit handler, a destructor), does not crash on the spaces
 * it forgot. */
START_TEST(a_child_closing_inherited_space_members_does_not_crash)
{
	struct dmasplit_ctx *c = tree_ctx();
	struct dmasplit_dev *devs[2];
	int status = 0;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(dmasplit_dev_open(c, "sim:a,as=foo", &devs[0]), 0);
	ck_assert_int_eq(dmasplit_dev_open(c, "sim:b,as=foo", &devs[1]), 0);
	ck_assert_msg(in_child(close_both, devs, &status) == 'y',
		      "the child closing its inherited devices: status 0x%x",
		      status);
	dmasplit_dev_close(devs[0]);
	dmasplit_dev_close(devs[1]);
	dmasplit_ctx_unref(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim");
	TCase *tc;

	tu_plugin_dir();
	tc = tcase_create("address spaces");
	tcase_add_checked_fixture(tc, sim_setup, sim_teardown);
	tcase_add_test(tc, members_report_their_space_and_others_none);
	tcase_add_test(tc, window_linked_on_one_member_is_read_and_written_by_another);
	tcase_add_test(tc, three_members_reach_every_map_at_one_address);
	tcase_add_test(tc, only_the_member_that_mapped_unmaps_or_syncs);
	tcase_add_test(tc, another_member_cannot_sync_a_bounced_window_link);
	tcase_add_test(tc, another_member_cannot_sync_past_the_first_granule_of_a_mapping);
	tcase_add_test(tc, a_closed_member_leaves_no_record_of_where_its_mappings_ended);
	tcase_add_test(tc, addresses_fit_the_smallest_mask_of_the_members);
	tcase_add_test(tc, late_joiner_that_cannot_reach_a_mapping_is_refused);
	tcase_add_test(tc, as_is_refused_where_it_cannot_hold);
	tcase_add_test(tc, closing_the_creator_removes_its_windows_and_maps_for_all);
	tcase_add_test(tc, spaces_are_per_context_and_vanish_with_their_last_member);
	tcase_add_test(tc, stats_count_an_invalidation_once_for_the_space);
	tcase_add_test(tc, batch_on_one_member_is_read_by_another);
	tcase_add_test(tc, members_map_from_two_threads_at_once);
	/* Under valgrind (CK_FORK=no) its serial scheduler lets the busy
	 * threads starve the forking one, and no timeout would end it;
	 * AddressSanitizer's allocator, locked by a busy thread at the
	 * fork, stays locked in the child; so does ThreadSanitizer's
	 * dlopen() interceptor, which records the object loaded
	 * (LibIgnore::OnLibraryLoaded) after the real dlopen() returns. */
	tu_add_test_if(tc, a_child_of_fork_opens_shared_spaces_while_parent_threads_do,
		       !UNDER_ASAN && !UNDER_TSAN &&
		       (!getenv("CK_FORK") || strcmp(getenv("CK_FORK"), "no")),
		       UNDER_ASAN ? "AddressSanitizer's allocator is not fork-safe under busy threads: a child's malloc waits for good" :
		       UNDER_TSAN ? "ThreadSanitizer's dlopen() is not fork-safe under busy threads: a child's dlopen() waits for good" :
				    "needs Check's fork mode (not valgrind's run): busy threads starve the forking one under a serial scheduler");
	tcase_add_test(tc, a_log_function_may_fork_while_a_space_is_joined);
	tcase_add_test(tc, a_child_closing_inherited_space_members_does_not_crash);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
