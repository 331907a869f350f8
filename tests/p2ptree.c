// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A fake PCIe hierarchy for the peer-to-peer tests: functions with a
 * binary config space (a PCIe capability with the port type, and an ACS
 * extended capability where a test wants one), the switch both
 * test-p2p and test-p2p-peer build on, and proc/cpuinfo beside the
 * sysfs root.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fakesys.h"
#include "p2ptree.h"
#include "testutil.h"

char *tree_base;
char tree_root[PATH_MAX];

void tree_new(void)
{
	tree_base = tu_mkdtemp();
	snprintf(tree_root, sizeof(tree_root), "%s/sys", tree_base);
	tu_mkdir_p(tree_root);
	fakesys_root(tree_root);
}

void tree_free(void)
{
	tu_rm_rf(tree_base);
	free(tree_base);
	tree_base = NULL;
}

void cpu(const char *vendor, unsigned int family)
{
	char path[PATH_MAX], text[256];

	snprintf(path, sizeof(path), "%s/proc/cpuinfo", tree_base);
	snprintf(text, sizeof(text),
		 "processor\t: 0\nvendor_id\t: %s\ncpu family\t: %u\n"
		 "model\t\t: 1\n\nprocessor\t: 1\nvendor_id\t: Other\n"
		 "cpu family\t: 99\n", vendor, family);
	tu_write_file(path, text);
}

static void put16(uint8_t *cfg, size_t off, unsigned int v)
{
	cfg[off] = (uint8_t)v;
	cfg[off + 1] = (uint8_t)(v >> 8);
}

void put32(uint8_t *cfg, size_t off, uint32_t v)
{
	put16(cfg, off, v & 0xffff);
	put16(cfg, off + 2, v >> 16);
}

/*
 * A PCIe function at devices/PATH (its last component is its address):
 * 4 KiB of configuration space with a PCIe capability of the given port
 * type, and, when acs_ctrl >= 0, an ACS capability with that control
 * word, placed second in the extended list so that the walk is exercised.
 */
void config(const char *path, unsigned int vendor, unsigned int device,
	    enum port type, int acs_ctrl)
{
	uint8_t cfg[4096] = { 0 };
	char rel[PATH_MAX];

	put16(cfg, 0x00, vendor);
	put16(cfg, 0x02, device);
	put16(cfg, 0x06, 0x0010);		/* capability list */
	cfg[0x34] = 0x40;
	cfg[0x40] = 0x10;			/* PCI Express */
	cfg[0x41] = 0x00;
	put16(cfg, 0x42, 0x0002 | type << 4);
	if (acs_ctrl >= 0) {
		put32(cfg, 0x100, 0x0001 | 1u << 16 | 0x148u << 20); /* AER */
		put32(cfg, 0x148, 0x000d | 1u << 16);		/* ACS */
		put16(cfg, 0x14c, 0x005f);
		put16(cfg, 0x14e, (unsigned int)acs_ctrl);
	}
	snprintf(rel, sizeof(rel), "devices/%s/config", path);
	fakesys_put_bytes(rel, cfg, sizeof(cfg));
}

void pci_dev(const char *path, unsigned int vendor,
	     unsigned int device, enum port type, int acs_ctrl)
{
	char devdir[PATH_MAX], ven[16], dev[16];
	const struct fakesys_pci pci = { .vendor = ven, .device = dev };

	config(path, vendor, device, type, acs_ctrl);
	snprintf(ven, sizeof(ven), "0x%04x\n", vendor);
	snprintf(dev, sizeof(dev), "0x%04x\n", device);
	snprintf(devdir, sizeof(devdir), "devices/%s", path);
	fakesys_pci(devdir, &pci);
}

/* q35's host bridge, on no allow-list; a TCG CPU below family 17h. */
void switch_tree(int acs_usp, int acs_dsp1, int acs_dsp2)
{
	cpu("AuthenticAMD", 15);
	pci_dev(HOST "/0000:00:00.0", 0x8086, 0x29c0, ENDPOINT, -1);
	pci_dev(RP1, 0x1b36, 0x000c, ROOT_PORT, ACS_SV);
	pci_dev(USP, 0x104c, 0x8232, UPSTREAM, acs_usp);
	pci_dev(DSP1, 0x104c, 0x8233, DOWNSTREAM, acs_dsp1);
	pci_dev(DSP2, 0x104c, 0x8233, DOWNSTREAM, acs_dsp2);
	pci_dev(EP_A, 0x1b36, 0x0010, ENDPOINT, -1);
	pci_dev(EP_B, 0x1234, 0x11e8, ENDPOINT, -1);
}

