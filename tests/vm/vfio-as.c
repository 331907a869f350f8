// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Shared address spaces against a real kernel: two edu devices
 * (DMASPLIT_VM_EDU, DMASPLIT_VM_EDU2, in different IOMMU groups) opened
 * with one as=NAME share one type1 container or one iommufd IOAS, for
 * each kernel interface in turn.  A window made on one is reached by the
 * other at the same address, a mapping made on the other by the first,
 * the kernel map calls are made once for both, and a device outside the
 * space does not reach the window.  Run in the VM by tests/vm/run.
 * Output is TAP.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <syslog.h>
#include <unistd.h>
#include <linux/vfio.h>

#include <dmasplit/dmasplit.h>

#include "vmtest.h"


static int open_mask(struct dmasplit_ctx *ctx, const char *bdf,
		     unsigned int mask, const char *iface, const char *as,
		     struct dmasplit_dev **dev)
{
	char spec[128];

	snprintf(spec, sizeof(spec), "%s,mask=%u,vfio=%s%s%s", bdf, mask,
		 iface, as ? ",as=" : "", as ? as : "");
	return dmasplit_dev_open(ctx, spec, dev);
}

static int open_edu(struct dmasplit_ctx *ctx, const char *bdf,
		    const char *iface, const char *as,
		    struct dmasplit_dev **dev)
{
	return open_mask(ctx, bdf, 28, iface, as, dev);
}

static void space_tests(struct dmasplit_ctx *ctx, const char *bdf_a,
			const char *bdf_b, const char *iface)
{
	const char *other = strcmp(iface, "type1") ? "type1" : "iommufd";
	struct dmasplit_dev *a = NULL, *b = NULL, *lone = NULL;
	struct dmasplit_dev_info ia = { .size = sizeof(ia) };
	struct dmasplit_iova *win = NULL;
	struct edu ea = { 0 }, eb = { 0 }, el = { 0 };
	uint64_t x, a0, b0, a1, b1, mdma = 0, pinned;
	uint8_t *mem;
	int r, want;

	mem = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return;
	for (r = 0; r < (int)EDU_DMA_LEN; r++)
		mem[r] = (uint8_t)(r * 7 + 3);

	r = open_edu(ctx, bdf_a, iface, "pool0", &a);
	ok(r == 0, "%s: open %s with as=pool0 (%d)", iface, bdf_a, r);
	if (r < 0)
		goto out;
	dmasplit_dev_get_info(a, &ia);
	ok(!strcmp(ia.address_space, "pool0"),
	   "%s: dev_info names the space: expected pool0, got '%s'", iface,
	   ia.address_space);
	/* Where iommufd does not answer the process, it is refused for
	 * that before the space is looked at. */
	want = strcmp(other, "iommufd") || iommufd_answers() ? -EINVAL
							     : -EOPNOTSUPP;
	r = open_edu(ctx, bdf_b, other, "pool0", &b);
	ok(r == want, "%s: %s joining with vfio=%s is refused: expected %d, got %d",
	   iface, bdf_b, other, want, r);
	if (r == 0)
		dmasplit_dev_close(b);
	b = NULL;
	r = open_edu(ctx, bdf_b, iface, "pool0", &b);
	ok(r == 0, "%s: open %s into as=pool0 (%d)", iface, bdf_b, r);
	if (r < 0)
		goto out;
	if (edu_open_vfio(a, &ea) < 0 || edu_open_vfio(b, &eb) < 0) {
		ok(false, "%s: edu BAR0 and bus mastering: %s", iface,
		   strerror(errno));
		goto out;
	}

	/* A window on a: page 0 the source, page 1 the destination. */
	r = dmasplit_iova_alloc(a, 2 * PAGE, 0, &win);
	if (r == 0)
		r = dmasplit_iova_link(win, 0, mem, PAGE, DMASPLIT_TO_DEVICE, 0);
	if (r == 0)
		r = dmasplit_iova_link(win, PAGE, mem + PAGE, PAGE,
				       DMASPLIT_FROM_DEVICE, 0);
	a0 = dev_stats(a).kernel_calls;
	b0 = dev_stats(b).kernel_calls;
	if (r == 0)
		r = dmasplit_iova_sync(win, 0, 2 * PAGE);
	a1 = dev_stats(a).kernel_calls;
	b1 = dev_stats(b).kernel_calls;
	ok(r == 0, "%s: window allocated, linked and synced on %s (%d)",
	   iface, bdf_a, r);
	if (r < 0)
		goto out;
	x = dmasplit_iova_addr(win);
	ok(a1 - a0 == 2 && a1 == b1 && b1 - b0 == 2,
	   "%s: the sync's map calls counted once for the space: expected 2 on both members, got %" PRIu64 " on %s and %" PRIu64 " on %s (totals %" PRIu64 ", %" PRIu64 ")",
	   iface, a1 - a0, bdf_a, b1 - b0, bdf_b, a1, b1);

	/* b, which did not make the window, reads it and writes it back. */
	memset(mem + PAGE, 0x5a, EDU_DMA_LEN);
	r = edu_dma(&eb, x, EDU_BUF, EDU_DMA_LEN, false);
	if (r == 0)
		r = edu_dma(&eb, EDU_BUF, x + PAGE, EDU_DMA_LEN, true);
	ok(r == 0 && !memcmp(mem, mem + PAGE, EDU_DMA_LEN),
	   "%s: %s copies 0x%" PRIx64 " (window of %s) to 0x%" PRIx64 " through its memory: bytes %s (%d)",
	   iface, bdf_b, x, bdf_a, x + PAGE,
	   !memcmp(mem, mem + PAGE, EDU_DMA_LEN) ? "match" : "differ", r);

	/* a writes into a mapping made on b. */
	a0 = dev_stats(a).kernel_calls;
	r = dmasplit_map(b, mem + 2 * PAGE, PAGE, DMASPLIT_FROM_DEVICE, 0,
			 &mdma);
	ok(r == 0 && dev_stats(a).kernel_calls - a0 == 1 && dev_stats(a).kernel_calls == dev_stats(b).kernel_calls,
	   "%s: map on %s (%d) is one kernel call, seen by both members (%" PRIu64 " on %s)",
	   iface, bdf_b, r, dev_stats(a).kernel_calls - a0, bdf_a);
	if (r == 0) {
		memset(mem + 2 * PAGE, 0x5a, EDU_DMA_LEN);
		r = edu_dma(&ea, x, EDU_BUF, EDU_DMA_LEN, false);
		if (r == 0)
			r = edu_dma(&ea, EDU_BUF, mdma, EDU_DMA_LEN, true);
		ok(r == 0 && !memcmp(mem, mem + 2 * PAGE, EDU_DMA_LEN),
		   "%s: %s copies its window 0x%" PRIx64 " into %s's mapping 0x%" PRIx64 ": bytes %s (%d)",
		   iface, bdf_a, x, bdf_b, mdma,
		   !memcmp(mem, mem + 2 * PAGE, EDU_DMA_LEN) ? "match" : "differ",
		   r);
		dmasplit_unmap(b, mdma, PAGE, DMASPLIT_FROM_DEVICE, 0);
	}

	/* The vector path on a member: a writes into b's second segment. */
	{
		struct iovec iov[2] = {
			{ mem + 2 * PAGE, 512 },
			{ mem + 2 * PAGE + 2048, 512 },
		};
		struct dmasplit_seg segs[2];
		unsigned int nsegs = 2;

		memset(mem + 2 * PAGE, 0x5a, PAGE);
		r = dmasplit_map_vec(b, iov, 2, DMASPLIT_FROM_DEVICE, 0, segs,
				     &nsegs);
		if (r == 0) {
			r = edu_dma(&ea, EDU_BUF, segs[nsegs - 1].dma, 512,
				    true);
			ok(r == 0 && !memcmp(mem, mem + 2 * PAGE + 2048, 512) &&
			   dev_stats(a).kernel_calls == dev_stats(b).kernel_calls,
			   "%s: %s writes into the second segment 0x%" PRIx64 " of a map_vec on %s: bytes %s (%d), kernel calls %" PRIu64 " and %" PRIu64,
			   iface, bdf_a, segs[nsegs - 1].dma, bdf_b,
			   !memcmp(mem, mem + 2 * PAGE + 2048, 512) ? "match" : "differ",
			   r, dev_stats(a).kernel_calls, dev_stats(b).kernel_calls);
			dmasplit_unmap_vec(b, segs, nsegs, DMASPLIT_FROM_DEVICE,
					   0);
		} else {
			ok(false, "%s: map_vec on %s (%d)", iface, bdf_b, r);
		}
	}

	/* A mapping b leaves behind goes with b, not with the space. */
	r = dmasplit_map(b, mem + 2 * PAGE, PAGE, DMASPLIT_FROM_DEVICE, 0,
			 &mdma);
	pinned = dev_stats(a).bytes_pinned;
	edu_close(&eb);
	dmasplit_dev_close(b);
	b = NULL;
	ok(r == 0 && dev_stats(a).bytes_pinned == pinned - PAGE,
	   "%s: closing %s with a live mapping (%d) unmaps it from the space: %s pinned %" PRIu64 " bytes before, expected %" PRIu64 " after, got %" PRIu64,
	   iface, bdf_b, r, bdf_a, pinned, pinned - PAGE,
	   dev_stats(a).bytes_pinned);
	if (r == 0)
		ok(!edu_reaches(&ea, mdma, mem + 2 * PAGE, EDU_DMA_LEN),
		   "%s: %s no longer reaches 0x%" PRIx64 ", mapped by %s before it closed",
		   iface, bdf_a, mdma, bdf_b);
	/* A late joiner that cannot reach the window: 13 bits end at
	 * 0x1fff, the window's second page is above. */
	r = open_mask(ctx, bdf_b, 13, iface, "pool0", &b);
	ok(r == -ERANGE,
	   "%s: %s with mask=13 joining a space mapped up to 0x%" PRIx64 " is refused: expected %d, got %d",
	   iface, bdf_b, x + 2 * PAGE - 1, -ERANGE, r);
	if (r == 0)
		dmasplit_dev_close(b);
	b = NULL;
	r = open_edu(ctx, bdf_b, iface, NULL, &lone);
	ok(r == 0, "%s: open %s without as= (%d)", iface, bdf_b, r);
	if (r == 0 && edu_open_vfio(lone, &el) == 0) {
		ok(!edu_reaches(&el, x + PAGE, mem + PAGE, EDU_DMA_LEN),
		   "%s: %s without as= does not reach the window at 0x%" PRIx64,
		   iface, bdf_b, x + PAGE);
		ok(edu_reaches(&ea, x + PAGE, mem + PAGE, EDU_DMA_LEN),
		   "%s: %s, the window's maker, still reaches 0x%" PRIx64,
		   iface, bdf_a, x + PAGE);
	}
out:
	if (win)
		dmasplit_iova_destroy(win);
	edu_close(&el);
	edu_close(&eb);
	edu_close(&ea);
	if (lone)
		dmasplit_dev_close(lone);
	if (b)
		dmasplit_dev_close(b);
	if (a)
		dmasplit_dev_close(a);
	munmap(mem, 3 * PAGE);
}

/* Two contiguous two-page links on dev, synced: the kernel calls of
 * the sync, through calls; and the unlink of the first page of the
 * first, through r. */
static void two_links(struct dmasplit_dev *dev, uint8_t *mem,
		      uint64_t *calls, int *r)
{
	struct dmasplit_iova *w = NULL;
	uint64_t before;

	*calls = 0;
	*r = dmasplit_iova_alloc(dev, 4 * PAGE, 0, &w);
	if (*r == 0)
		*r = dmasplit_iova_link(w, 0, mem, 2 * PAGE,
					DMASPLIT_TO_DEVICE, 0);
	if (*r == 0)
		*r = dmasplit_iova_link(w, 2 * PAGE, mem + 2 * PAGE, 2 * PAGE,
					DMASPLIT_TO_DEVICE, 0);
	before = dev_stats(dev).kernel_calls;
	if (*r == 0)
		*r = dmasplit_iova_sync(w, 0, 4 * PAGE);
	*calls = dev_stats(dev).kernel_calls - before;
	if (*r == 0)
		*r = dmasplit_iova_unlink(w, 0, PAGE, DMASPLIT_TO_DEVICE, 0);
	if (w)
		dmasplit_iova_destroy(w);
}

/*
 * unlink=lazy maps at most 256 MiB of a device as runs: a member that
 * has used all of its own does not take another member's.  Past its
 * own, a device maps link by link, and part of a link is refused.
 */
static void lazy_limit_tests(struct dmasplit_ctx *ctx, const char *bdf_a,
			     const char *bdf_b, const char *iface)
{
	const size_t big_len = 256u << 20;
	struct dmasplit_dev *a = NULL, *b = NULL;
	struct dmasplit_iova *big_w = NULL;
	uint8_t *big, *mem;
	uint64_t calls;
	char opts[64];
	int r;

	big = mmap(NULL, big_len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	mem = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	snprintf(opts, sizeof(opts), "%s,unlink=lazy", iface);
	r = big == MAP_FAILED || mem == MAP_FAILED ? -ENOMEM : 0;
	if (r == 0)
		r = open_mask(ctx, bdf_a, 32, opts, "lazy", &a);
	if (r == 0)
		r = open_mask(ctx, bdf_b, 32, opts, "lazy", &b);
	if (r == 0)
		r = dmasplit_iova_alloc(a, big_len, 0, &big_w);
	if (r == 0)
		r = dmasplit_iova_link(big_w, 0, big, big_len,
				       DMASPLIT_TO_DEVICE, 0);
	if (r == 0)
		r = dmasplit_iova_sync(big_w, 0, big_len);
	ok(r == 0, "%s lazy: a member maps 256 MiB as one run (%d)", iface, r);
	if (r == 0) {
		two_links(b, mem, &calls, &r);
		ok(r == 0 && calls == 1,
		   "%s lazy: the other member still maps its run in one call and unlinks part of it (%d, %" PRIu64 " calls)",
		   iface, r, calls);
		dmasplit_ctx_set_log_priority(ctx, LOG_CRIT);
		two_links(a, mem, &calls, &r);
		dmasplit_ctx_set_log_priority(ctx, LOG_ERR);
		ok(r == -EINVAL && calls == 2,
		   "%s lazy: past its own 256 MiB a member maps link by link and refuses part of one (%d, %" PRIu64 " calls)",
		   iface, r, calls);
	}
	if (big_w)
		dmasplit_iova_destroy(big_w);
	if (b)
		dmasplit_dev_close(b);
	if (a)
		dmasplit_dev_close(a);
	if (mem != MAP_FAILED)
		munmap(mem, 4 * PAGE);
	if (big != MAP_FAILED)
		munmap(big, big_len);
}

int main(void)
{
	static const char *const ifaces[] = { "type1", "iommufd" };
	const char *edu = getenv("DMASPLIT_VM_EDU");
	const char *edu2 = getenv("DMASPLIT_VM_EDU2");
	struct dmasplit_ctx *ctx;
	unsigned int i;

	if (!edu || !edu2 || !edu2[0]) {
		printf("1..0 # SKIP needs two edu devices in the VM (DMASPLIT_VM_EDU, DMASPLIT_VM_EDU2)\n");
		return 0;
	}
	if (dmasplit_ctx_new(&ctx) < 0)
		return 1;
	for (i = 0; i < 2; i++)
		if (!iface_skipped(ifaces[i])) {
			space_tests(ctx, edu, edu2, ifaces[i]);
			lazy_limit_tests(ctx, edu, edu2, ifaces[i]);
		}
	dmasplit_ctx_unref(ctx);
	return tap_end();
}
