/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fake PCIe hierarchy of the peer-to-peer tests (p2ptree.c).
 */
#ifndef DMASPLIT_P2PTREE_H
#define DMASPLIT_P2PTREE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* pci_regs.h */
#define ACS_SV	0x0001
#define ACS_RR	0x0004
#define ACS_CR	0x0008
#define ACS_EC	0x0020

enum port { ENDPOINT = 0x0, ROOT_PORT = 0x4, UPSTREAM = 0x5,
	    DOWNSTREAM = 0x6 };

/* tree_base holds the sysfs root tree_root and proc/cpuinfo. */
extern char *tree_base;
extern char tree_root[PATH_MAX];

void tree_new(void);
void tree_free(void);

void cpu(const char *vendor, unsigned int family);
void put32(uint8_t *cfg, size_t off, uint32_t v);
void config(const char *path, unsigned int vendor, unsigned int device,
	    enum port type, int acs_ctrl);
void pci_dev(const char *path, unsigned int vendor,
	     unsigned int device, enum port type, int acs_ctrl);
void switch_tree(int acs_usp, int acs_dsp1, int acs_dsp2);

#define HOST "pci0000:00"
#define RP1 HOST "/0000:00:01.0"
#define USP RP1 "/0000:01:00.0"
#define DSP1 USP "/0000:02:01.0"
#define DSP2 USP "/0000:02:02.0"
#define EP_A DSP1 "/0000:03:00.0"
#define EP_B DSP2 "/0000:04:00.0"
#define A "0000:03:00.0"
#define B "0000:04:00.0"

#endif
