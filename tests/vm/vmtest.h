/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the VM test programs share: TAP output, and QEMU's edu device
 * driven from user space (BAR0 through VFIO or sysfs, its DMA engine).
 */
#ifndef DMASPLIT_VMTEST_H
#define DMASPLIT_VMTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/vfio.h>
#include <dmasplit/dmasplit.h>

#define PAGE 4096u

/* TAP: one line per result; tap_end prints the plan and gives the exit
 * status (1 if any failed). */
void ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void skip(const char *what, const char *why);
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int  tap_end(void);

/* 0, or -errno. */
int  vfio_region(int fd, unsigned int index, struct vfio_region_info *info);
/* The physical address behind p (pagemap; root), 0 if unknown. */
uint64_t phys_of(const void *p);
struct dmasplit_dev_stats dev_stats(struct dmasplit_dev *dev);
/* The kB of memory pinned or locked for the process (VmPin and VmLck of
 * /proc/self/status: iommufd and type1 count their pins in one or the
 * other), or -1. */
long pinned_kb(void);
/* Whether /dev/iommu answers this process's ioctls, asked apart from the
 * library: a 32-bit process on a 64-bit kernel whose iommufd has no
 * compat ioctl gets ENOTTY from each, and the vfio backend refuses
 * vfio=iommufd there with -EOPNOTSUPP.  True without /dev/iommu. */
bool iommufd_answers(void);
/* The tests of one vfio interface that cannot run in this process: the
 * reason printed as a skip. */
bool iface_skipped(const char *iface);

/* edu (QEMU hw/misc/edu.c): 1 MiB BAR0, a 4 KiB buffer at 0x40000. */
#define EDU_BAR_SIZE (1u << 20)
#define EDU_BUF 0x40000u
/* Transfers stay strictly inside the 4 KiB buffer: QEMU 7.2's edu stops
 * the machine on one that ends exactly at its end. */
#define EDU_DMA_LEN 1024u

struct edu {
	volatile uint8_t *bar;
	size_t size;
};

/* BAR0 mapped and memory decoding and bus mastering on (edu does DMA
 * only as a bus master): through the device file of a device the library
 * opened with vfio, or through sysfs (uio, or no driver).  0 or -errno. */
int  edu_open_vfio(struct dmasplit_dev *dev, struct edu *e);
int  edu_open_sysfs(const char *bdf, struct edu *e);
/* A BAR mapping left behind keeps the device busy for the next
 * interface's bind. */
void edu_close(struct edu *e);
/* Registers below 0x80 take 4-byte accesses only. */
uint32_t edu_rd32(struct edu *e, unsigned int reg);
uint64_t edu_rd64(struct edu *e, unsigned int reg);
void edu_wr64(struct edu *e, unsigned int reg, uint64_t v);
/* One transfer between device address src/dst and edu's buffer; 0 when
 * the device reports it done, -ETIMEDOUT. */
int  edu_dma(struct edu *e, uint64_t src, uint64_t dst, uint32_t len,
	     bool to_ram);
/* Whether edu, asked to write len bytes of its buffer to RAM at dma,
 * changes buf, filled with 0x5a first: does dma reach buf? */
bool edu_reaches(struct edu *e, uint64_t dma, uint8_t *buf, uint32_t len);

#endif
