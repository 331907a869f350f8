/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers of the swiotlb-sim test programs, which prove the backend's
 * contract (dmasplit_dev_open(3)) from the device side with
 * dmasplit_dev_dma_read/_write.
 */
#ifndef DMASPLIT_SIMUTIL_H
#define DMASPLIT_SIMUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#define G 4096u
#define K64 65536u
#define SEG (256u * 1024u)	/* one bounce pool segment */

/* Check records a checkpoint for every assertion that holds; checks in
 * loops over bytes or steps assert only when they fail. */
#define FAIL_UNLESS(cond, ...)                  \
	do {                                    \
		if (!(cond))                    \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

#define FOUR_GIB (1ull << 32)
#define USER_TOP (1ull << 47)

/*
 * Anonymous memory placed at a chosen height in the address space, for
 * buffers above or below a DMA mask.  64 KiB aligned, so every granule
 * lines up with it.
 */
struct hostmem {
	void *raw;
	size_t rawlen;
	uint8_t *p;
};

/* The fixture's context: only swiotlb-sim loads, the log is captured. */
extern struct dmasplit_ctx *ctx;

void sim_setup(void);
void sim_teardown(void);

struct dmasplit_dev *open_dev(const char *spec);
struct dmasplit_dev_info info_of(struct dmasplit_dev *d);
struct dmasplit_dev_stats stats_of(struct dmasplit_dev *d);
uint8_t *buf_new(size_t len);
uint8_t pat(unsigned int seed, size_t i);
void fill(uint8_t *p, size_t len, unsigned int seed);
size_t first_diff(const uint8_t *a, const uint8_t *b, size_t len);
void expect_pattern(const uint8_t *p, size_t len, unsigned int seed,
		    const char *what);
void expect_read(struct dmasplit_dev *d, uint64_t dma,
		 const void *want, size_t len, const char *what);
void expect_write(struct dmasplit_dev *d, uint64_t dma,
		  const void *data, size_t len, const char *what);
uint8_t read_byte(struct dmasplit_dev *d, uint64_t dma);
void write_byte(struct dmasplit_dev *d, uint64_t dma, uint8_t b);
bool is_dmar(const char *line);
unsigned int lines_with(const char *needle);
void expect_fault(struct dmasplit_dev *d, uint64_t dma, size_t len,
		  bool write, const char *what);
uint64_t map_ok(struct dmasplit_dev *d, void *vaddr, size_t len,
		enum dmasplit_dir dir, uint32_t attrs);
void unmap_ok(struct dmasplit_dev *d, uint64_t dma, size_t len,
	      enum dmasplit_dir dir, uint32_t attrs);
struct dmasplit_iova *window(struct dmasplit_dev *d, size_t size);
void link_ok(struct dmasplit_iova *iova, size_t off, void *vaddr,
	     size_t len, enum dmasplit_dir dir, uint32_t attrs);
void sync_ok(struct dmasplit_iova *iova, size_t off, size_t len);
void unlink_ok(struct dmasplit_iova *iova, size_t off, size_t len,
	       enum dmasplit_dir dir, uint32_t attrs);
bool fits_mask(uint64_t start, uint64_t len, unsigned int mask);
bool hostmem_at(struct hostmem *m, size_t len, uint64_t lo,
		uint64_t hi);
void hostmem_any(struct hostmem *m, size_t len);
void hostmem_free(struct hostmem *m);
bool high_memory_available(void);
struct dmasplit_dev *open_unchecked(const char *spec);

/*
 * A seccomp filter on this process that fails process_vm_readv(2) and
 * process_vm_writev(2) with EPERM, as a container's may: the device's
 * accesses then take the way around them.  It lasts as long as the
 * process: for a test of a case of its own, which Check runs in a
 * process of its own unless CK_FORK=no.  False, errno set, where the
 * filter cannot be set.
 */
bool forbid_vm_rw(void);
/* Whether forbid_vm_rw() can work here, asked in a child of its own. */
bool can_forbid_vm_rw(void);
/* Whether process_vm_readv(2) reads this process's memory. */
bool vm_rw_works(void);

#endif
