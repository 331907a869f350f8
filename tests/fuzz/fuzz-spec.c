// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer harness: device spec strings through dmasplit_describe() and
 * dmasplit_dev_open(), for simulated devices and for PCI devices of a fake
 * sysfs tree (one bound to uio_pci_generic without an IOMMU, one bound to
 * vfio-pci in a translating group).  A spec that describes must name a
 * device in canonical form; one that does not must be refused with an
 * errno by the open as well; an opened device must report sane info, and
 * a simulated one must map and unmap a page.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define SPEC_MAX 512

static struct dmasplit_ctx *ctx;
static char page[4096] __attribute__((aligned(4096)));

static void fail(const char *spec, const char *what, int r)
{
	fprintf(stderr, "fuzz-spec: \"%s\": %s (%d)\n", spec, what, r);
	abort();
}

static bool printable(const char *s, size_t max)
{
	size_t i;

	for (i = 0; i < max && s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return i < max;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ctx = fuzz_ctx_new(0);
	if (dmasplit_ctx_set_sysfs_root(ctx, fuzz_fake_sysfs()))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmasplit_desc desc = { .size = sizeof(desc) };
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_dev *dev = NULL;
	char spec[SPEC_MAX + 1];
	int rd, ro, r;

	if (size > SPEC_MAX)
		size = SPEC_MAX;
	memcpy(spec, data, size);
	spec[size] = '\0';

	rd = dmasplit_describe(ctx, spec, &desc);
	if (rd > 0 || rd < -4095)
		fail(spec, "describe: not 0 or a negative errno", rd);
	if (rd == 0) {
		if (desc.bus != DMASPLIT_BUS_SIM && desc.bus != DMASPLIT_BUS_PCI)
			fail(spec, "describe: unknown bus", (int)desc.bus);
		if (!desc.name[0] || !printable(desc.name, sizeof(desc.name)))
			fail(spec, "describe: empty or unprintable name", 0);
		if (!memchr(desc.options, '\0', sizeof(desc.options)))
			fail(spec, "describe: unterminated options", 0);
		if (desc.spec_mask_bits > 64)
			fail(spec, "describe: mask beyond 64 bits",
			     (int)desc.spec_mask_bits);
	}

	ro = dmasplit_dev_open(ctx, spec, &dev);
	if (ro > 0 || ro < -4095)
		fail(spec, "dev_open: not 0 or a negative errno", ro);
	if (ro == 0 && rd)
		fail(spec, "dev_open succeeded where describe failed", rd);
	if (ro)
		return 0;
	r = dmasplit_dev_get_info(dev, &info);
	if (r)
		fail(spec, "dev_get_info", r);
	if (info.dma_mask_bits < 1 || info.dma_mask_bits > 64 ||
	    !info.granule || (info.granule & (info.granule - 1)) ||
	    info.num_ranges > DMASPLIT_MAX_RANGES)
		fail(spec, "dev_get_info: insane mask, granule or ranges",
		     (int)info.dma_mask_bits);
	if (desc.bus == DMASPLIT_BUS_SIM) {
		uint64_t dma = 0;

		r = dmasplit_map(dev, page, sizeof(page), DMASPLIT_TO_DEVICE,
				 0, &dma);
		if (r == 0) {
			uint8_t b = 0;

			page[7] = (char)size;
			dmasplit_sync_for_device(dev, dma, sizeof(page),
						 DMASPLIT_TO_DEVICE);
			r = dmasplit_dev_dma_read(dev, dma + 7, &b, 1);
			if (r || b != (uint8_t)size)
				fail(spec, "device read of a mapped page", r);
			r = dmasplit_unmap(dev, dma, sizeof(page),
					   DMASPLIT_TO_DEVICE, 0);
			if (r)
				fail(spec, "unmap", r);
		} else if (r != -ENOMEM && r != -ENOSPC && r != -EIO) {
			fail(spec, "map of a page", r);
		}
	}
	dmasplit_dev_close(dev);
	return 0;
}
