// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer harness: a fake sysfs tree written from the input (files,
 * links, directories at the places the library and the backends read)
 * through dmasplit_describe(), every backend's probe, selection, and the
 * opens of the direct and vfio backends.  Whatever the tree holds, every
 * call returns 0 or a negative errno, a description is terminated and
 * within its ranges, and nothing leaks, crashes or blocks (a FIFO where
 * an attribute should be).
 *
 * Input: records of (kind, place, length, bytes); kind 0 writes a file,
 * 1 a link to the bytes or (with an empty target) to the usual target of
 * that place, 2 a directory, 3 a FIFO.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define D FUZZ_DEVDIR
#define DT "firmware/devicetree/base"

static const struct {
	const char *rel, *target;
} places[] = {
	{ "bus/pci/devices/0000:01:00.0", "../../../" D },
	{ D "/vendor", NULL },
	{ D "/device", NULL },
	{ D "/class", NULL },
	{ D "/dma_mask_bits", NULL },
	{ D "/numa_node", NULL },
	{ D "/resource", NULL },
	{ D "/driver", "../../../../bus/pci/drivers/uio_pci_generic" },
	{ D "/iommu_group", "../../../../kernel/iommu_groups/3" },
	{ "kernel/iommu_groups/3/type", NULL },
	{ "kernel/iommu_groups/3/name", NULL },
	{ D "/vfio-dev/vfio0", NULL },
	{ D "/of_node", "../../../../" DT "/pci/dev" },
	{ DT "/pci/dma-ranges", NULL },
	{ DT "/pci/#address-cells", NULL },
	{ DT "/pci/#size-cells", NULL },
	{ DT "/dma-ranges", NULL },
	{ DT "/pci/dev/dma-ranges", NULL },
	{ DT "/#address-cells", NULL },
	{ DT "/#size-cells", NULL },
	{ "devices/pci0000:00/0000:00:01.0/of_node", "../../../" DT "/pci" },
	{ D "/driver", "../../../../bus/pci/drivers/vfio-pci" },
	{ "bus/pci/drivers/uio_pci_generic/new_id", NULL },
	{ "bus/pci/drivers/vfio-pci/new_id", NULL },
	{ "bus/pci/drivers/igb_uio/new_id", NULL },
	{ D "/driver", "../../../../bus/pci/drivers/igb_uio" },
	{ D "/iommu_group", "../../../../kernel/iommu_groups/vfio-noiommu" },
	{ D "/iommu_group", "../../../../kernel/iommu_groups/-1" },
};

#define NPLACES (sizeof(places) / sizeof(places[0]))

static struct dmasplit_ctx *ctx;
static const char *root;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ctx = fuzz_ctx_new(0);
	root = fuzz_tmpdir();
	if (dmasplit_ctx_set_sysfs_root(ctx, root))
		abort();
	return 0;
}

static void fail(const char *what, int r)
{
	fprintf(stderr, "fuzz-sysfs: %s (%d)\n", what, r);
	abort();
}

static void errno_or_0(int r, const char *what)
{
	if (r > 0 || r < -4095)
		fail(what, r);
}

static void build(const uint8_t *p, size_t n)
{
	char buf[256];

	while (n >= 3) {
		unsigned int kind = p[0] % 4, place = p[1] % NPLACES;
		size_t len = p[2];

		p += 3;
		n -= 3;
		if (len > n)
			len = n;
		switch (kind) {
		case 0:
			fuzz_put(root, places[place].rel, p, len);
			break;
		case 1:
			if (len || !places[place].target) {
				memcpy(buf, p, len < sizeof(buf) ? len : sizeof(buf) - 1);
				buf[len < sizeof(buf) ? len : sizeof(buf) - 1] = '\0';
				if (!buf[0] || memchr(p, '\0', len))
					break;
				fuzz_link(root, places[place].rel, buf);
			} else {
				fuzz_link(root, places[place].rel,
					  places[place].target);
			}
			break;
		case 2:
			fuzz_mkdir(root, places[place].rel);
			break;
		default:
			fuzz_fifo(root, places[place].rel);
			break;
		}
		p += len;
		n -= len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmasplit_desc desc = { .size = sizeof(desc) };
	struct dmasplit_backend *b, *chosen = NULL;
	struct dmasplit_dev *dev = NULL;
	static const char *const names[] = { "direct", "vfio" };
	unsigned int i;
	int r, score;

	fuzz_clear(root);
	build(data, size);

	r = dmasplit_describe(ctx, "0000:01:00.0", &desc);
	errno_or_0(r, "describe");
	if (r == 0) {
		if (desc.bus != DMASPLIT_BUS_PCI ||
		    strcmp(desc.name, "0000:01:00.0"))
			fail("describe: wrong bus or name", (int)desc.bus);
		if (!memchr(desc.driver, '\0', sizeof(desc.driver)) ||
		    !memchr(desc.iommu_group_type, '\0',
			    sizeof(desc.iommu_group_type)) ||
		    !memchr(desc.vfio_dev, '\0', sizeof(desc.vfio_dev)) ||
		    !memchr(desc.iommu_group_name, '\0',
			    sizeof(desc.iommu_group_name)))
			fail("describe: unterminated string", 0);
		if ((unsigned int)desc.iommu_class >
			    DMASPLIT_IOMMU_VFIO_NOIOMMU ||
		    (desc.iommu_class == DMASPLIT_IOMMU_NONE) !=
			    (desc.iommu_group < 0))
			fail("describe: IOMMU class unlike the group",
			     (int)desc.iommu_class);
		if (desc.num_resources > DMASPLIT_PCI_NUM_RESOURCES)
			fail("describe: too many resources",
			     (int)desc.num_resources);
		for (b = dmasplit_backend_next(ctx, NULL); b;
		     b = dmasplit_backend_next(ctx, b)) {
			score = 0;
			errno_or_0(dmasplit_backend_probe(b, &desc, &score),
				   "probe");
		}
		errno_or_0(dmasplit_select(ctx, &desc, &chosen), "select");
	}
	r = dmasplit_dev_open(ctx, "0000:01:00.0", &dev);
	errno_or_0(r, "dev_open");
	if (r == 0)
		dmasplit_dev_close(dev);
	for (i = 0; i < 2; i++) {
		dev = NULL;
		r = dmasplit_dev_open_backend(ctx, "0000:01:00.0", names[i],
					      &dev);
		errno_or_0(r, "dev_open_backend");
		if (r == 0)
			dmasplit_dev_close(dev);
	}
	return 0;
}
