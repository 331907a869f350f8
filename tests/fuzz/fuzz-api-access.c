// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuzz-api's accesses: the CPU writing host memory behind the device's
 * back, and the device reading and writing through its mappings, each
 * read compared with what the model says the device must see.  Apart
 * because they map nothing: they test what the mapping operations made.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz-api.h"

static bool host_shared(const struct rec *r)
{
	unsigned int i;

	for (i = 0; i < MAX_RECS; i++)
		if (s.r[i].used && &s.r[i] != r && s.r[i].kind != K_COH &&
		    overlaps((uintptr_t)s.r[i].host, s.r[i].len,
			     (uintptr_t)r->host, r->len))
			return true;
	return false;
}

void op_cpu_write(void)
{
	uint8_t *p;
	size_t len;
	uint8_t v = (uint8_t)take(1);

	pick_buf(&p, &len, 4096);
	memset(p, v, len);
	cpu_wrote(p, len);
}

void op_dev_read(void)
{
	static uint8_t buf[MAX_LEN];
	unsigned int v = (unsigned int)take(1);
	struct rec *r = pick_rec(v >> 2, -1);
	size_t off, len;
	int ret;

	if (v % 4 == 0 && s.iommu) {
		/* Anywhere near what is mapped: reachable or a fault. */
		uint64_t dma;

		if (r)
			dma = r->dma + (int16_t)take(2) * 16;
		else
			dma = take(4) << 8;
		len = 1 + take(1) % 32;
		if (dma + len < dma)
			return;
		ret = dmasplit_dev_dma_read(s.dev, dma, buf, len);
		if (reachable(dma, len, false))
			want_ok(ret, false, "device read of a reachable address");
		else if (ret != -EFAULT)
			fatal("device read of unreachable 0x%" PRIx64 "+0x%zx: expected -EFAULT, got %d",
			      dma, len, ret);
		return;
	}
	if (!r)
		return;
	sub_range(r, &off, &len);
	ret = dmasplit_dev_dma_read(s.dev, r->dma + off, buf, len);
	if (s.iommu && (!r->valid || !dmasplit_dir_device_reads(dev_dir(r)))) {
		if (ret != -EFAULT)
			fatal("device read of %s 0x%" PRIx64 ": expected -EFAULT, got %d",
			      r->valid ? "a FROM_DEVICE mapping" : "an unsynced link",
			      r->dma + off, ret);
		return;
	}
	want_ok(ret, false, "device read");
	if (r->kind == K_COH) {
		if (memcmp(buf, r->host + off, len))
			fatal("device read of coherent 0x%" PRIx64 ": differs from the CPU's view",
			      r->dma + off);
		return;
	}
	check_dev_read(r, off, buf, len);
}

void op_dev_write(void)
{
	static uint8_t buf[MAX_LEN];
	struct rec *r = pick_rec((unsigned int)take(1), -1);
	size_t off, len;
	int ret;

	if (!r)
		return;
	sub_range(r, &off, &len);
	memset(buf, (int)take(1), len);
	if (s.iommu && (!r->valid || !dmasplit_dir_device_writes(dev_dir(r)))) {
		ret = dmasplit_dev_dma_write(s.dev, r->dma + off, buf, len);
		if (ret != -EFAULT)
			fatal("device write to %s 0x%" PRIx64 ": expected -EFAULT, got %d",
			      r->valid ? "a TO_DEVICE mapping" : "an unsynced link",
			      r->dma + off, ret);
		return;
	}
	/* A write through one of two mappings of the same bytes, or into
	 * a buffer the device may only read, has no single right answer. */
	if (!dmasplit_dir_device_writes(r->dir) ||
	    (r->kind != K_COH && host_shared(r)))
		return;
	ret = dmasplit_dev_dma_write(s.dev, r->dma + off, buf, len);
	want_ok(ret, false, "device write");
	if (r->kind == K_COH) {
		if (memcmp(buf, r->host + off, len))
			fatal("device write to coherent 0x%" PRIx64 ": the CPU does not see it",
			      r->dma + off);
		return;
	}
	memcpy(r->dv + off, buf, len);
	memset(r->fl + off, B_KNOWN | B_WRITTEN, len);
}
