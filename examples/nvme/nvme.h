/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A polled user-space NVMe driver whose every byte of DMA goes through
 * libdmasplit: queues and identify data in coherent memory, data buffers
 * mapped by the caller and handed over as device segments.  One command
 * in flight at a time, on one admin and one I/O queue pair.
 *
 * Register and command layouts follow the NVM Express Base Specification
 * (2.0): controller registers (section 3.1), submission and completion
 * queue entries (4.1, 4.2.1), PRP lists (4.3.1), Identify (5.17) and the
 * NVM command set's Read and Write.
 */
#ifndef NVME_EXAMPLE_NVME_H
#define NVME_EXAMPLE_NVME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmasplit/dmasplit.h>

/* The memory page size the driver sets (CC.MPS = 0): PRP entries point at
 * pages of this size. */
#define NVME_PAGE 4096u

/* One PRP list page, never chained: at most this many pages per command
 * after the first, so at most 2 MiB a command. */
#define NVME_PRP_LIST_ENTRIES (NVME_PAGE / 8)

/* Opcodes used (admin; NVM command set). */
enum {
	NVME_ADMIN_DELETE_SQ = 0x00,
	NVME_ADMIN_CREATE_SQ = 0x01,
	NVME_ADMIN_DELETE_CQ = 0x04,
	NVME_ADMIN_CREATE_CQ = 0x05,
	NVME_ADMIN_IDENTIFY = 0x06,
	NVME_ADMIN_SET_FEATURES = 0x09,
	NVME_CMD_WRITE = 0x01,
	NVME_CMD_READ = 0x02
};

/* Submission queue entry (64 bytes). */
struct nvme_sqe {
	uint8_t opcode;
	uint8_t flags;		/* FUSE, PSDT: 0 (PRPs, not fused) */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint64_t mptr;
	uint64_t prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};

/* Completion queue entry (16 bytes). */
struct nvme_cqe {
	uint32_t dw0;
	uint32_t dw1;
	uint16_t sqhd;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status;	/* bit 0 phase, then SC, SCT, CRD, M, DNR */
};

struct nvme_queue {
	struct nvme_sqe *sq;
	struct nvme_cqe *cq;
	uint64_t sq_dma, cq_dma;
	volatile uint32_t *sq_doorbell, *cq_doorbell;
	uint16_t qid, entries, sq_tail, cq_head, next_cid;
	uint16_t phase;
};

struct nvme_ctrl {
	struct dmasplit_dev *dev;
	char name[64];			/* the PCI address, for messages */
	volatile uint8_t *bar;
	size_t bar_size;
	uint64_t cap;
	uint32_t version;
	unsigned int ready_timeout_ms;	/* CAP.TO */
	unsigned int cmd_timeout_ms;
	bool broken;		/* a command timed out: the queues are unknown */
	/* Not stopped after a command failed that way: it may still reach
	 * the memory of any command, which must stay (nvme_stuck()). */
	bool stuck;
	struct nvme_queue admin, io;
	/* One page each: identify data, and the PRP list of the command in
	 * flight. */
	void *scratch, *prp_list;
	uint64_t scratch_dma, prp_list_dma;
	/* Identify Controller */
	char model[41], serial[21], firmware[9];
	uint16_t vid;
	uint32_t max_transfer;		/* bytes; MDTS, capped by the PRP list */
	uint32_t num_namespaces;
	/* Identify Namespace of nsid */
	uint32_t nsid;
	uint64_t ns_blocks;
	uint32_t lba_size;
	unsigned int lba_format;
	uint16_t lba_metadata;
};

/* Device segments of a data buffer, in order (map_vec's form).  PRPs can
 * express them when every segment but the first starts on a page and
 * every one but the last ends on one. */
struct nvme_data {
	const struct dmasplit_seg *segs;
	unsigned int nsegs;
};

/*
 * Map BAR0 and turn on memory decoding and bus mastering, through the
 * device file the library hands out (vfio) or, where it has none
 * (direct), through sysfs; reset and enable the controller, identify it
 * and namespace nsid, create one I/O queue pair.  0 or a negative errno,
 * after one line on stderr.
 */
int  nvme_open(struct nvme_ctrl *c, struct dmasplit_ctx *ctx,
	       struct dmasplit_dev *dev, const char *spec, uint32_t nsid,
	       unsigned int cmd_timeout_ms);
/* Delete the I/O queues, shut the controller down, release its memory
 * (not a stuck controller's: see nvme_stuck()). */
void nvme_close(struct nvme_ctrl *c);
/* The controller did not stop after a command failed: it may still reach
 * the buffers of any command, which must not be unmapped or freed. */
bool nvme_stuck(const struct nvme_ctrl *c);

/* Read or write nblocks blocks at slba through data; waits for the
 * completion.  0, -EIO (NVMe status, reported), -ETIMEDOUT, -EINVAL.
 * After -ETIMEDOUT the controller is disabled, so that data may be
 * released, unless it is stuck. */
int  nvme_rw(struct nvme_ctrl *c, bool write, uint64_t slba,
	     uint32_t nblocks, const struct nvme_data *data,
	     uint16_t *status);

/* "SCT 0h SC 80h (LBA out of range)" for an NVMe status field. */
const char *nvme_status_str(uint16_t status, char *buf, size_t len);

/* The program's (report.c): one line on stderr in the program's form,
 * its name first.  The driver's lines go there, after the controller's
 * name. */
void error_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
