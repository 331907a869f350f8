// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The direct backend against a real kernel: QEMU's edu device is moved
 * from vfio-pci to uio_pci_generic in an identity (untranslated) IOMMU
 * group, and does DMA at the physical addresses the library hands out.
 * Run in the VM by tests/vm/run (DMASPLIT_VM_EDU names the device).
 * Output is TAP.
 *
 * edu reaches 28 bits of address and silently drops the rest, so the
 * spec says mask=28 and the library must refuse (-ERANGE) what lies above.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <dmasplit/dmasplit.h>

#include "vmtest.h"

#define NPAGES 1024u	/* a chunk: 4 MiB */
#define MAX_CHUNKS 128	/* 512 MiB of the guest's 1 GiB at most */

static int put(const char *path, const char *value)
{
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* vfio-pci -> uio_pci_generic, the group switched to identity on the way
 * (a group's domain type can change while no driver is bound). */
static int rebind(const char *bdf, char *why, size_t len)
{
	char link[256], target[256];
	const char *group;
	ssize_t n;
	int r;

	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/driver/unbind", bdf);
	put(link, bdf);
	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0) {
		snprintf(why, len, "no IOMMU group");
		return -ENOENT;
	}
	target[n] = '\0';
	group = strrchr(target, '/') + 1;
	snprintf(link, sizeof(link), "/sys/kernel/iommu_groups/%s/type", group);
	r = put(link, "identity");
	if (r < 0) {
		snprintf(why, len, "group %s to identity: %s", group, strerror(-r));
		return r;
	}
	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/driver_override", bdf);
	r = put(link, "uio_pci_generic");
	if (r == 0)
		r = put("/sys/bus/pci/drivers_probe", bdf);
	if (r < 0)
		snprintf(why, len, "binding uio_pci_generic: %s", strerror(-r));
	return r;
}

static struct edu edu;

int main(void)
{
	const char *bdf = getenv("DMASPLIT_VM_EDU");
	struct dmasplit_ctx *ctx;
	struct dmasplit_dev *dev = NULL;
	struct dmasplit_batch *batch = NULL;
	const struct dmasplit_seg *segs;
	uint8_t *chunks[MAX_CHUNKS], *lowp[2], *highp = NULL;
	unsigned int i, chunk = 0, nlow = 0, nsegs;
	uint64_t dma[2];
	char spec[96], why[160] = "";
	int r;

	if (!bdf) {
		printf("1..0 # SKIP not in the VM (DMASPLIT_VM_EDU is not set)\n");
		return 0;
	}
	r = rebind(bdf, why, sizeof(why));
	ok(r == 0, "edu moved to uio_pci_generic in an identity group%s%s",
	   r ? ": " : "", why);
	if (r < 0)
		goto done;
	if (dmasplit_ctx_new(&ctx) < 0)
		return 1;
	snprintf(spec, sizeof(spec), "%s,mask=28", bdf);
	r = dmasplit_dev_open(ctx, spec, &dev);
	ok(r == 0 && !strcmp(dmasplit_dev_backend_name(dev), "direct"),
	   "open %s: the direct backend is selected (%d)", spec, r);
	if (r < 0)
		goto out;
	r = edu_open_sysfs(bdf, &edu);
	ok(r == 0 && edu_rd32(&edu, 0) == 0x010000ed,
	   "BAR0 through sysfs: edu answers 0x010000ed");
	if (r < 0)
		goto out;

	/* Pages land anywhere in the guest's RAM: find two below 2^28 (and
	 * one above, if any), then map them; those above must be refused. */
	for (chunk = 0; chunk < MAX_CHUNKS && nlow < 2; chunk++) {
		chunks[chunk] = aligned_alloc(PAGE, NPAGES * PAGE);
		memset(chunks[chunk], 0x11, NPAGES * PAGE);
		for (i = 0; i < NPAGES && nlow < 2; i++) {
			uint8_t *p = chunks[chunk] + i * PAGE;

			if (phys_of(p) < (1u << 28))
				lowp[nlow++] = p;
			else if (!highp)
				highp = p;
		}
	}
	ok(nlow == 2, "two pages below 2^28 found among %u", chunk * NPAGES);
	if (nlow < 2)
		goto out_buf;
	for (i = 0; i < 2; i++) {
		r = dmasplit_map(dev, lowp[i], PAGE, DMASPLIT_BIDIRECTIONAL, 0,
				 &dma[i]);
		ok(r == 0, "a page at physical 0x%" PRIx64 " maps (%d)",
		   phys_of(lowp[i]), r);
		if (r < 0)
			goto out_buf;
	}
	if (highp) {
		uint64_t d = 0;

		r = dmasplit_map(dev, highp, PAGE, DMASPLIT_TO_DEVICE, 0, &d);
		ok(r == -ERANGE && !d,
		   "a page at physical 0x%" PRIx64 ", above the mask, is refused with -ERANGE (%d)",
		   phys_of(highp), r);
	}
	ok(dma[0] == phys_of(lowp[0]) && dma[0] < (1u << 28),
	   "the device address is the physical address (0x%" PRIx64 ")",
	   dma[0]);
	for (i = 0; i < EDU_DMA_LEN; i++)
		lowp[0][i] = (uint8_t)(i * 7 + 3);
	r = edu_dma(&edu, dma[0], EDU_BUF, EDU_DMA_LEN, false);
	if (r == 0)
		r = edu_dma(&edu, EDU_BUF, dma[1], EDU_DMA_LEN, true);
	ok(r == 0 && !memcmp(lowp[0], lowp[1], EDU_DMA_LEN),
	   "edu copies RAM -> device -> RAM at physical addresses, bytes match");
	dmasplit_unmap(dev, dma[0], PAGE, DMASPLIT_BIDIRECTIONAL, 0);
	dmasplit_unmap(dev, dma[1], PAGE, DMASPLIT_BIDIRECTIONAL, 0);

	/* The batch falls back to per-range maps on a device without
	 * windows, and its segments are as good. */
	memset(lowp[1], 0, EDU_DMA_LEN);
	r = dmasplit_batch_new(dev, DMASPLIT_BIDIRECTIONAL, 0, &batch);
	if (r == 0)
		r = dmasplit_batch_add(batch, lowp[1], PAGE);
	if (r == 0)
		r = dmasplit_batch_map(batch, &segs, &nsegs);
	ok(r == 0 && nsegs == 1 && !dmasplit_batch_uses_window(batch),
	   "a batch on the direct device maps per range (%d)", r);
	if (r == 0) {
		r = edu_dma(&edu, EDU_BUF, segs[0].dma, EDU_DMA_LEN, true);
		ok(r == 0 && lowp[1][1] == 10,
		   "the device writes through the batch's segment");
	}
	dmasplit_batch_free(batch);

	/* A narrower mask than the memory: refused, nothing left mapped. */
	{
		struct dmasplit_dev *narrow = NULL;
		uint64_t d = 0;

		snprintf(spec, sizeof(spec), "%s,mask=20", bdf);
		r = dmasplit_dev_open(ctx, spec, &narrow);
		if (r == 0)
			r = dmasplit_map(narrow, lowp[0], PAGE,
					 DMASPLIT_TO_DEVICE, 0, &d);
		ok(r == -ERANGE && !d,
		   "with mask=20, a page at 0x%" PRIx64 " is refused with -ERANGE (%d)",
		   phys_of(lowp[0]), r);
		dmasplit_dev_close(narrow);
	}
out_buf:
	while (chunk--)
		free(chunks[chunk]);
out:
	dmasplit_dev_close(dev);
	dmasplit_ctx_unref(ctx);
done:
	return tap_end();
}
