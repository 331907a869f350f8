// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuzz-api's mapping batch, checked whole within one operation: buffers
 * added, mapped, read and written by the device, synced, unmapped.
 * Apart because it keeps no records in the model: a batch lives and dies
 * inside the operation.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz-api.h"

/* A batch, whole: add, map, check every segment from the device, sync,
 * unmap, free. */
void op_batch(void)
{
	static uint8_t buf[4 * MAX_LEN];
	enum dmasplit_dir dir = (enum dmasplit_dir)(take(1) % 3);
	unsigned int n = 1 + (unsigned int)take(1) % 4, i, j, nsegs = 0;
	struct dmasplit_batch *b = NULL;
	const struct dmasplit_seg *segs = NULL;
	struct { uint8_t *p; size_t len; } bufs[4];
	size_t total = 0, pos;
	bool shared = false;
	int ret;

	for (i = 0; i < n; i++) {
		pick_buf(&bufs[i].p, &bufs[i].len, 16384);
		if (take(1) % 8 == 0 && i)	/* the same buffer again */
			bufs[i] = bufs[i - 1];
		total += bufs[i].len;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			shared |= overlaps((uintptr_t)bufs[i].p, bufs[i].len,
					   (uintptr_t)bufs[j].p, bufs[j].len);
		for (j = 0; j < MAX_RECS; j++)
			shared |= s.r[j].used && s.r[j].kind != K_COH &&
				  overlaps((uintptr_t)bufs[i].p, bufs[i].len,
					   (uintptr_t)s.r[j].host, s.r[j].len);
	}
	ret = dmasplit_batch_new(s.dev, dir, 0, &b);
	want_ok(ret, true, "batch_new");
	if (ret)
		return;
	for (i = 0; i < n; i++) {
		ret = dmasplit_batch_add(b, bufs[i].p, bufs[i].len);
		want_ok(ret, true, "batch_add");
		if (ret)
			goto out;
	}
	ret = dmasplit_batch_map(b, &segs, &nsegs);
	want_ok(ret, true, "batch_map");
	if (ret)
		goto out;
	for (i = 0, pos = 0; i < nsegs; pos += segs[i++].len)
		if (pos + segs[i].len > total)
			fatal("batch_map: segments exceed the %zu bytes added", total);
	if (pos != total)
		fatal("batch_map: segments cover %zu bytes of %zu", pos, total);
	if (dmasplit_dir_device_reads(dir)) {
		for (i = 0, pos = 0; i < nsegs; pos += segs[i++].len)
			want_ok(dmasplit_dev_dma_read(s.dev, segs[i].dma,
						      buf + pos, segs[i].len),
				false, "device read of a batch segment");
		for (i = 0, pos = 0; i < n; pos += bufs[i++].len)
			if (memcmp(buf + pos, bufs[i].p, bufs[i].len))
				fatal("batch: the device reads buffer %u wrong", i);
	}
	if (dmasplit_dir_device_writes(dir) && !shared) {
		memset(buf, (int)take(1) ^ 0x5a, total);
		for (i = 0, pos = 0; i < nsegs; pos += segs[i++].len)
			want_ok(dmasplit_dev_dma_write(s.dev, segs[i].dma,
						       buf + pos, segs[i].len),
				false, "device write of a batch segment");
		want_ok(dmasplit_batch_sync_for_cpu(b), false,
			"batch_sync_for_cpu");
		for (i = 0, pos = 0; i < n; pos += bufs[i++].len)
			if (memcmp(buf + pos, bufs[i].p, bufs[i].len))
				fatal("batch: the CPU does not see the device's writes to buffer %u",
				      i);
		cpu_wrote(arena, ARENA);
	}
	want_ok(dmasplit_batch_unmap(b), false, "batch_unmap");
out:
	dmasplit_batch_free(b);
}
