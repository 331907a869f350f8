// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The NVMe controller: bring-up, the admin and I/O queue pair, polled
 * commands and PRPs.  See nvme.h.
 */
/* VFIO region offsets are the region's index << 40: a 32-bit off_t would
 * cut that of the configuration space to 0, and its reads and writes
 * would land in BAR0. */
#define _FILE_OFFSET_BITS 64

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "nvme.h"

/* Controller registers (offsets into BAR0). */
#define REG_CAP 0x00
#define REG_VS 0x08
#define REG_INTMS 0x0c
#define REG_CC 0x14
#define REG_CSTS 0x1c
#define REG_AQA 0x24
#define REG_ASQ 0x28
#define REG_ACQ 0x30
#define REG_DOORBELLS 0x1000

#define CC_EN (1u << 0)
#define CC_CSS_NVM (0u << 4)
#define CC_MPS_4K (0u << 7)
#define CC_SHN_NORMAL (1u << 14)
#define CC_IOSQES (6u << 16)	/* 2^6 = sizeof(struct nvme_sqe) */
#define CC_IOCQES (4u << 20)	/* 2^4 = sizeof(struct nvme_cqe) */
#define CSTS_RDY (1u << 0)
#define CSTS_CFS (1u << 1)
#define CSTS_SHST_MASK (3u << 2)
#define CSTS_SHST_DONE (2u << 2)

#define CAP_MQES(cap) ((unsigned int)((cap) & 0xffff))
#define CAP_TO(cap) ((unsigned int)(((cap) >> 24) & 0xff))
#define CAP_DSTRD(cap) ((unsigned int)(((cap) >> 32) & 0xf))
#define CAP_CSS_NVM(cap) (((cap) >> 37) & 1)
#define CAP_MPSMIN(cap) ((unsigned int)(((cap) >> 48) & 0xf))

#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400

/* Queue sizes: a page of submission entries; enough for one command in
 * flight and the admin commands of bring-up. */
#define QUEUE_ENTRIES (NVME_PAGE / sizeof(struct nvme_sqe))

#define CONFIG_FAILED_STATUS 0xffffffffu	/* reads of a vanished device */

static void err(const struct nvme_ctrl *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void err(const struct nvme_ctrl *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_line("%s: %s", c->name, msg);
}

/* ------------------------------------------------------------------ */
/* Registers                                                            */

/* 32-bit accesses only: the specification allows a 64-bit register to be
 * accessed as two, and not every controller takes 8-byte accesses.
 * Registers, like every structure NVMe and PCI define (queue entries,
 * PRP lists, identify data, configuration space), are little-endian: a
 * big-endian host converts each value it reads or writes. */
static uint32_t rd32(const struct nvme_ctrl *c, unsigned int reg)
{
	return le32toh(*(volatile uint32_t *)(c->bar + reg));
}

static void wr32(struct nvme_ctrl *c, unsigned int reg, uint32_t v)
{
	*(volatile uint32_t *)(c->bar + reg) = htole32(v);
}

/* A doorbell, from its pointer into BAR0. */
static void ring(volatile uint32_t *doorbell, uint16_t v)
{
	*doorbell = htole32(v);
}

static uint64_t rd64(const struct nvme_ctrl *c, unsigned int reg)
{
	return rd32(c, reg) | (uint64_t)rd32(c, reg + 4) << 32;
}

static void wr64(struct nvme_ctrl *c, unsigned int reg, uint64_t v)
{
	wr32(c, reg, (uint32_t)v);
	wr32(c, reg + 4, (uint32_t)(v >> 32));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait until CSTS & mask == want, within CAP.TO. */
static int wait_csts(struct nvme_ctrl *c, uint32_t mask, uint32_t want,
		     const char *what)
{
	uint64_t deadline = now_ms() + c->ready_timeout_ms;
	uint32_t csts;

	for (;;) {
		csts = rd32(c, REG_CSTS);
		if (csts == CONFIG_FAILED_STATUS) {
			err(c, "registers read all ones while waiting for %s: the device is gone",
			    what);
			return -ENODEV;
		}
		if ((csts & mask) == want)
			return 0;
		if (want & CSTS_RDY && csts & CSTS_CFS) {
			err(c, "controller fatal status while waiting for %s (CSTS 0x%x)",
			    what, csts);
			return -EIO;
		}
		if (now_ms() > deadline) {
			err(c, "%s: not within %u ms (CSTS 0x%x)", what,
			    c->ready_timeout_ms, csts);
			return -ETIMEDOUT;
		}
		usleep(1000);
	}
}

/* ------------------------------------------------------------------ */
/* BAR0 and the PCI command register                                    */

static int command_on(struct nvme_ctrl *c, int fd, off_t cfg)
{
	uint16_t cmd;

	if (pread(fd, &cmd, 2, cfg + PCI_COMMAND) != 2)
		goto fail;
	cmd = htole16(le16toh(cmd) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
		      PCI_COMMAND_INTX_DISABLE);
	if (pwrite(fd, &cmd, 2, cfg + PCI_COMMAND) != 2)
		goto fail;
	return 0;
fail:
	err(c, "PCI command register: %s", strerror(errno ? errno : EIO));
	return errno ? -errno : -EIO;
}

static int map_bar_vfio(struct nvme_ctrl *c, int fd)
{
	struct vfio_region_info bar = { .argsz = sizeof(bar),
					.index = VFIO_PCI_BAR0_REGION_INDEX };
	struct vfio_region_info cfg = { .argsz = sizeof(cfg),
					.index = VFIO_PCI_CONFIG_REGION_INDEX };
	void *p;

	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &bar) < 0 ||
	    ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0) {
		err(c, "VFIO region info: %s", strerror(errno));
		return -errno;
	}
	if (!(bar.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		err(c, "BAR0 cannot be mapped through VFIO");
		return -ENOTSUP;
	}
	p = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)bar.offset);
	if (p == MAP_FAILED) {
		err(c, "mapping BAR0: %s", strerror(errno));
		return -errno;
	}
	c->bar = p;
	c->bar_size = bar.size;
	return command_on(c, fd, (off_t)cfg.offset);
}

/* Without a device file (uio_pci_generic), BAR0 and the configuration
 * space are sysfs files. */
static int map_bar_sysfs(struct nvme_ctrl *c, const char *root)
{
	char path[512];
	struct stat st;
	void *p;
	int fd, r;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/resource0", root,
		 c->name);
	fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		err(c, "%s: %s", path, strerror(-r));
		if (fd >= 0)
			close(fd);
		return r;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	r = -errno;
	close(fd);
	if (p == MAP_FAILED) {
		err(c, "mapping %s: %s", path, strerror(-r));
		return r;
	}
	c->bar = p;
	c->bar_size = (size_t)st.st_size;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/config", root,
		 c->name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		err(c, "%s: %s", path, strerror(-r));
		return r;
	}
	r = command_on(c, fd, 0);
	close(fd);
	return r;
}

/* ------------------------------------------------------------------ */
/* Commands                                                             */

static const char *status_name(unsigned int sct, unsigned int sc)
{
	if (sct == 0) {
		switch (sc) {
		case 0x00: return "successful completion";
		case 0x01: return "invalid command opcode";
		case 0x02: return "invalid field in command";
		case 0x04: return "data transfer error";
		case 0x06: return "internal error";
		case 0x0b: return "invalid namespace or format";
		case 0x13: return "invalid PRP offset";
		case 0x80: return "LBA out of range";
		case 0x81: return "capacity exceeded";
		case 0x82: return "namespace not ready";
		}
	} else if (sct == 1) {
		switch (sc) {
		case 0x00: return "completion queue invalid";
		case 0x01: return "invalid queue identifier";
		case 0x02: return "invalid queue size";
		}
	} else if (sct == 2) {
		switch (sc) {
		case 0x80: return "write fault";
		case 0x81: return "unrecovered read error";
		case 0x86: return "access denied";
		}
	}
	return "unknown";
}

const char *nvme_status_str(uint16_t status, char *buf, size_t len)
{
	unsigned int sc = status & 0xff, sct = (status >> 8) & 0x7;

	snprintf(buf, len, "SCT %xh SC %02xh (%s)%s", sct, sc,
		 status_name(sct, sc), status & (1u << 14) ? ", do not retry" : "");
	return buf;
}

/* cmd as the controller reads it. */
static struct nvme_sqe sqe_le(const struct nvme_sqe *cmd)
{
	return (struct nvme_sqe){
		.opcode = cmd->opcode,
		.flags = cmd->flags,
		.cid = htole16(cmd->cid),
		.nsid = htole32(cmd->nsid),
		.cdw2 = htole32(cmd->cdw2),
		.cdw3 = htole32(cmd->cdw3),
		.mptr = htole64(cmd->mptr),
		.prp1 = htole64(cmd->prp1),
		.prp2 = htole64(cmd->prp2),
		.cdw10 = htole32(cmd->cdw10),
		.cdw11 = htole32(cmd->cdw11),
		.cdw12 = htole32(cmd->cdw12),
		.cdw13 = htole32(cmd->cdw13),
		.cdw14 = htole32(cmd->cdw14),
		.cdw15 = htole32(cmd->cdw15),
	};
}

/*
 * A command the controller may still complete (it timed out, or its
 * completion was not its own): the controller is disabled at once, so
 * that it no longer reaches the command's buffers, which the caller is
 * about to unmap or free, and marked broken, since only a reset could
 * make its queues trustworthy again.  One that does not stop within
 * CAP.TO is stuck: nothing it may reach is given back.
 */
static void halt(struct nvme_ctrl *c)
{
	c->broken = true;
	wr32(c, REG_CC, rd32(c, REG_CC) & ~CC_EN);
	if (wait_csts(c, CSTS_RDY, 0, "controller disable after a failed command") < 0) {
		c->stuck = true;
		err(c, "the controller did not stop: the memory of its commands stays mapped until the program exits");
	}
}

bool nvme_stuck(const struct nvme_ctrl *c)
{
	return c->stuck;
}

/*
 * Submit cmd on q and poll its completion.  *status is the completion's
 * status field without the phase bit.  A timeout halts the controller
 * (halt()).
 */
static int submit(struct nvme_ctrl *c, struct nvme_queue *q,
		  struct nvme_sqe *cmd, uint32_t *dw0, uint16_t *status)
{
	volatile struct nvme_cqe *cqe;
	uint64_t deadline;
	uint16_t st;
	unsigned int spins = 0;

	if (c->broken)
		return -EIO;
	cmd->cid = q->next_cid++;
	q->sq[q->sq_tail] = sqe_le(cmd);
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % q->entries);
	/* The entry is in memory before the controller learns of it. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ring(q->sq_doorbell, q->sq_tail);

	cqe = &q->cq[q->cq_head];
	deadline = now_ms() + c->cmd_timeout_ms;
	while (((st = le16toh(cqe->status)) & 1) != q->phase) {
		if (++spins % 1024 == 0 && now_ms() > deadline) {
			err(c, "%s command 0x%02x (cid %u) did not complete within %u ms (CSTS 0x%x)",
			    q->qid ? "I/O" : "admin", cmd->opcode, cmd->cid,
			    c->cmd_timeout_ms, rd32(c, REG_CSTS));
			halt(c);
			return -ETIMEDOUT;
		}
	}
	/* Nothing of the entry is read before its phase says it is new. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (le16toh(cqe->cid) != cmd->cid || le16toh(cqe->sqid) != q->qid) {
		err(c, "completion for cid %u on queue %u, expected cid %u on %u",
		    le16toh(cqe->cid), le16toh(cqe->sqid), cmd->cid, q->qid);
		halt(c);
		return -EIO;
	}
	if (dw0)
		*dw0 = le32toh(cqe->dw0);
	if (++q->cq_head == q->entries) {
		q->cq_head = 0;
		q->phase ^= 1;
	}
	ring(q->cq_doorbell, q->cq_head);
	st >>= 1;
	if (status)
		*status = st;
	if (st) {
		char why[96];

		err(c, "%s command 0x%02x failed: %s", q->qid ? "I/O" : "admin",
		    cmd->opcode, nvme_status_str(st, why, sizeof(why)));
		return -EIO;
	}
	return 0;
}

static int queue_alloc(struct nvme_ctrl *c, struct nvme_queue *q,
		       uint16_t qid, uint16_t entries)
{
	void *sq, *cq;
	int r;

	r = dmasplit_alloc_coherent(c->dev, NVME_PAGE, 0, &sq, &q->sq_dma);
	if (r < 0) {
		err(c, "submission queue memory: %s", strerror(-r));
		return r;
	}
	r = dmasplit_alloc_coherent(c->dev, NVME_PAGE, 0, &cq, &q->cq_dma);
	if (r < 0) {
		err(c, "completion queue memory: %s", strerror(-r));
		dmasplit_free_coherent(c->dev, NVME_PAGE, sq, q->sq_dma);
		return r;
	}
	q->sq = sq;
	q->cq = cq;
	memset(sq, 0, NVME_PAGE);
	memset(cq, 0, NVME_PAGE);
	q->qid = qid;
	q->entries = entries;
	q->sq_tail = q->cq_head = 0;
	q->phase = 1;
	q->sq_doorbell = (volatile uint32_t *)(c->bar + REG_DOORBELLS +
					       (2u * qid) * (4u << CAP_DSTRD(c->cap)));
	q->cq_doorbell = (volatile uint32_t *)(c->bar + REG_DOORBELLS +
					       (2u * qid + 1) * (4u << CAP_DSTRD(c->cap)));
	/* Queues must be page-aligned with physically contiguous pages
	 * (PC = 1); a page from the library is both. */
	if ((q->sq_dma | q->cq_dma) & (NVME_PAGE - 1)) {
		err(c, "coherent memory at 0x%" PRIx64 "/0x%" PRIx64 " is not page-aligned",
		    q->sq_dma, q->cq_dma);
		return -EINVAL;
	}
	return 0;
}

static void queue_free(struct nvme_ctrl *c, struct nvme_queue *q)
{
	if (q->sq)
		dmasplit_free_coherent(c->dev, NVME_PAGE, q->sq, q->sq_dma);
	if (q->cq)
		dmasplit_free_coherent(c->dev, NVME_PAGE, q->cq, q->cq_dma);
	q->sq = NULL;
	q->cq = NULL;
}

/* ------------------------------------------------------------------ */
/* Bring-up                                                             */

static int reset(struct nvme_ctrl *c)
{
	uint32_t cc = rd32(c, REG_CC);

	if (cc & CC_EN) {
		wr32(c, REG_CC, cc & ~CC_EN);
		return wait_csts(c, CSTS_RDY, 0, "controller disable");
	}
	return wait_csts(c, CSTS_RDY, 0, "controller ready to be enabled");
}

static int enable(struct nvme_ctrl *c)
{
	uint16_t entries = (uint16_t)QUEUE_ENTRIES;
	int r;

	if (CAP_MQES(c->cap) + 1u < entries)
		entries = (uint16_t)(CAP_MQES(c->cap) + 1);
	r = queue_alloc(c, &c->admin, 0, entries);
	if (r < 0)
		return r;
	wr32(c, REG_INTMS, 0xffffffffu);	/* polled */
	wr32(c, REG_AQA, (uint32_t)(entries - 1) << 16 | (entries - 1u));
	wr64(c, REG_ASQ, c->admin.sq_dma);
	wr64(c, REG_ACQ, c->admin.cq_dma);
	wr32(c, REG_CC, CC_IOCQES | CC_IOSQES | CC_MPS_4K | CC_CSS_NVM | CC_EN);
	return wait_csts(c, CSTS_RDY, CSTS_RDY, "controller enable");
}

/* Identify strings are space-padded ASCII. */
/* The specification makes identify strings printable ASCII padded with
 * blanks; what the device put there reaches a terminal, so any other
 * byte is shown as '?'. */
static void copy_id_string(char *dst, const uint8_t *src, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		dst[i] = !src[i] ? '\0' : src[i] >= 0x20 && src[i] <= 0x7e
			 ? (char)src[i] : '?';
	dst[len] = '\0';
	while (len && (dst[len - 1] == ' ' || dst[len - 1] == '\0'))
		dst[--len] = '\0';
}

static int identify(struct nvme_ctrl *c, uint32_t cns, uint32_t nsid)
{
	struct nvme_sqe cmd = {
		.opcode = NVME_ADMIN_IDENTIFY,
		.nsid = nsid,
		.prp1 = c->scratch_dma,
		.cdw10 = cns,
	};

	memset(c->scratch, 0, NVME_PAGE);
	return submit(c, &c->admin, &cmd, NULL, NULL);
}

static int identify_controller(struct nvme_ctrl *c)
{
	const uint8_t *id = c->scratch;
	unsigned int mdts, mpsmin;
	uint64_t max;
	int r;

	r = identify(c, 1, 0);
	if (r < 0)
		return r;
	c->vid = (uint16_t)(id[0] | id[1] << 8);
	copy_id_string(c->serial, id + 4, 20);
	copy_id_string(c->model, id + 24, 40);
	copy_id_string(c->firmware, id + 64, 8);
	mdts = id[77];
	memcpy(&c->num_namespaces, id + 516, 4);
	c->num_namespaces = le32toh(c->num_namespaces);

	/* MDTS is a power of two in units of the minimum page size; 0 means
	 * no limit.  Our own limit is one PRP list page. */
	mpsmin = CAP_MPSMIN(c->cap);
	max = (uint64_t)NVME_PRP_LIST_ENTRIES * NVME_PAGE;
	if (mdts && mdts + 12 + mpsmin < 63 &&
	    (1ull << (mdts + 12 + mpsmin)) < max)
		max = 1ull << (mdts + 12 + mpsmin);
	c->max_transfer = (uint32_t)max;
	return 0;
}

static int identify_namespace(struct nvme_ctrl *c)
{
	const uint8_t *id = c->scratch;
	uint32_t lbaf;
	int r;

	if (c->nsid == 0 || c->nsid > c->num_namespaces) {
		err(c, "namespace %u does not exist (the controller has %u)",
		    c->nsid, c->num_namespaces);
		return -ENOENT;
	}
	r = identify(c, 0, c->nsid);
	if (r < 0)
		return r;
	memcpy(&c->ns_blocks, id, 8);
	c->ns_blocks = le64toh(c->ns_blocks);
	if (!c->ns_blocks) {
		err(c, "namespace %u is not active", c->nsid);
		return -ENOENT;
	}
	c->lba_format = id[26] & 0xf;
	memcpy(&lbaf, id + 128 + 4 * c->lba_format, 4);
	lbaf = le32toh(lbaf);
	c->lba_metadata = (uint16_t)(lbaf & 0xffff);
	c->lba_size = 1u << ((lbaf >> 16) & 0xff);
	if (c->lba_size < 512 || c->lba_size > NVME_PAGE) {
		err(c, "namespace %u: LBA size %u is not supported here",
		    c->nsid, c->lba_size);
		return -ENOTSUP;
	}
	if (c->lba_metadata && id[26] & 0x10) {
		err(c, "namespace %u: metadata interleaved with data (extended LBAs) is not supported here",
		    c->nsid);
		return -ENOTSUP;
	}
	return 0;
}

static int create_io_queues(struct nvme_ctrl *c)
{
	uint16_t entries = c->admin.entries;
	struct nvme_sqe cmd;
	int r;

	/* Number of Queues: one submission and one completion queue. */
	cmd = (struct nvme_sqe){ .opcode = NVME_ADMIN_SET_FEATURES,
				 .cdw10 = 0x07, .cdw11 = 0 };
	r = submit(c, &c->admin, &cmd, NULL, NULL);
	if (r < 0)
		return r;

	r = queue_alloc(c, &c->io, 1, entries);
	if (r < 0)
		return r;
	cmd = (struct nvme_sqe){ .opcode = NVME_ADMIN_CREATE_CQ,
				 .prp1 = c->io.cq_dma,
				 .cdw10 = (uint32_t)(entries - 1) << 16 | 1,
				 .cdw11 = 1 /* physically contiguous, no IRQ */ };
	r = submit(c, &c->admin, &cmd, NULL, NULL);
	if (r < 0)
		return r;
	cmd = (struct nvme_sqe){ .opcode = NVME_ADMIN_CREATE_SQ,
				 .prp1 = c->io.sq_dma,
				 .cdw10 = (uint32_t)(entries - 1) << 16 | 1,
				 .cdw11 = 1u << 16 /* CQ 1 */ | 1 };
	return submit(c, &c->admin, &cmd, NULL, NULL);
}

int nvme_open(struct nvme_ctrl *c, struct dmasplit_ctx *ctx,
	      struct dmasplit_dev *dev, const char *spec, uint32_t nsid,
	      unsigned int cmd_timeout_ms)
{
	struct dmasplit_desc desc = { .size = sizeof(desc) };
	int fd, r;

	memset(c, 0, sizeof(*c));
	c->dev = dev;
	c->nsid = nsid;
	c->cmd_timeout_ms = cmd_timeout_ms;
	snprintf(c->name, sizeof(c->name), "%s", spec);
	r = dmasplit_describe(ctx, spec, &desc);
	if (r < 0) {
		err(c, "describing the device: %s", strerror(-r));
		return r;
	}
	snprintf(c->name, sizeof(c->name), "%s", desc.name);
	if (desc.bus != DMASPLIT_BUS_PCI || desc.pci_class != 0x010802) {
		err(c, "not an NVMe controller (class 0x%06x)", desc.pci_class);
		return -ENODEV;
	}

	r = dmasplit_dev_get_fd(dev, &fd);
	if (r == 0) {
		r = map_bar_vfio(c, fd);
	} else if (r == -EOPNOTSUPP &&
		   strcmp(dmasplit_dev_backend_name(dev), "direct")) {
		/* BAR0 through sysfs works whatever the driver: resetting a
		 * controller that a kernel driver runs (the backend that
		 * took it then is p2pdma) would take it away from under
		 * that driver's I/O.  The direct backend takes only the
		 * drivers that leave a device to user space. */
		err(c, "the controller is driven by the kernel's %s (backend %s): bind it to vfio-pci or uio_pci_generic (see --help)",
		    desc.driver[0] ? desc.driver : "driver",
		    dmasplit_dev_backend_name(dev));
		r = -EBUSY;
	} else if (r == -EOPNOTSUPP) {
		r = map_bar_sysfs(c, dmasplit_ctx_get_sysfs_root(ctx));
	} else {
		err(c, "device file: %s", strerror(-r));
	}
	if (r < 0)
		goto fail;
	if (c->bar_size < REG_DOORBELLS + 4 * (4u << 0)) {
		err(c, "BAR0 is only %zu bytes", c->bar_size);
		r = -ENODEV;
		goto fail;
	}

	c->cap = rd64(c, REG_CAP);
	c->version = rd32(c, REG_VS);
	c->ready_timeout_ms = (CAP_TO(c->cap) ? CAP_TO(c->cap) : 1) * 500u;
	if (!CAP_CSS_NVM(c->cap) || CAP_MPSMIN(c->cap) != 0) {
		err(c, "needs the NVM command set and 4 KiB pages (CAP 0x%016" PRIx64 ")",
		    c->cap);
		r = -ENOTSUP;
		goto fail;
	}
	if (REG_DOORBELLS + 4 * (4u << CAP_DSTRD(c->cap)) > c->bar_size) {
		err(c, "doorbells beyond BAR0 (stride %u)", 4u << CAP_DSTRD(c->cap));
		r = -ENODEV;
		goto fail;
	}

	r = dmasplit_alloc_coherent(dev, NVME_PAGE, 0, &c->scratch,
				    &c->scratch_dma);
	if (r == 0)
		r = dmasplit_alloc_coherent(dev, NVME_PAGE, 0, &c->prp_list,
					    &c->prp_list_dma);
	if (r < 0) {
		err(c, "coherent memory: %s", strerror(-r));
		goto fail;
	}
	r = reset(c);
	if (r == 0)
		r = enable(c);
	if (r == 0)
		r = identify_controller(c);
	if (r == 0)
		r = identify_namespace(c);
	if (r == 0)
		r = create_io_queues(c);
	if (r == 0)
		return 0;
fail:
	nvme_close(c);
	return r;
}

void nvme_close(struct nvme_ctrl *c)
{
	struct nvme_sqe cmd;

	if (c->bar && !c->broken && c->io.sq) {
		cmd = (struct nvme_sqe){ .opcode = NVME_ADMIN_DELETE_SQ, .cdw10 = 1 };
		if (submit(c, &c->admin, &cmd, NULL, NULL) == 0) {
			cmd = (struct nvme_sqe){ .opcode = NVME_ADMIN_DELETE_CQ,
						 .cdw10 = 1 };
			submit(c, &c->admin, &cmd, NULL, NULL);
		}
	}
	if (c->bar && rd32(c, REG_CC) & CC_EN) {
		wr32(c, REG_CC, (rd32(c, REG_CC) & ~(3u << 14)) | CC_SHN_NORMAL);
		wait_csts(c, CSTS_SHST_MASK, CSTS_SHST_DONE, "controller shutdown");
		/* Disabled, the controller no longer touches the queue memory
		 * that is about to go back to the library. */
		wr32(c, REG_CC, rd32(c, REG_CC) & ~CC_EN);
		wait_csts(c, CSTS_RDY, 0, "controller disable");
	}
	if (c->stuck)
		return;
	queue_free(c, &c->io);
	queue_free(c, &c->admin);
	if (c->scratch)
		dmasplit_free_coherent(c->dev, NVME_PAGE, c->scratch,
				       c->scratch_dma);
	if (c->prp_list)
		dmasplit_free_coherent(c->dev, NVME_PAGE, c->prp_list,
				       c->prp_list_dma);
	c->scratch = c->prp_list = NULL;
	if (c->bar)
		munmap((void *)c->bar, c->bar_size);
	c->bar = NULL;
}

/* ------------------------------------------------------------------ */
/* I/O                                                                  */

/* PRP1, and PRP2 as the second page or as the list of the pages after
 * the first.  -EINVAL where a segment breaks the page rule, -E2BIG
 * beyond one list page. */
static int build_prps(struct nvme_ctrl *c, const struct nvme_data *data,
		      uint64_t *prp1, uint64_t *prp2)
{
	uint64_t *list = c->prp_list, second = 0;
	unsigned int i, n = 0;

	for (i = 0; i < data->nsegs; i++) {
		uint64_t a = data->segs[i].dma, end = a + data->segs[i].len;

		if ((i > 0 && a & (NVME_PAGE - 1)) ||
		    (i + 1 < data->nsegs && end & (NVME_PAGE - 1)) ||
		    a & 3 || !data->segs[i].len) {
			err(c, "segment %u (0x%" PRIx64 ", %" PRIu64 " bytes) cannot be described by PRPs",
			    i, a, data->segs[i].len);
			return -EINVAL;
		}
		while (a < end) {
			if (n == 0)
				*prp1 = a;
			else if (n - 1 < NVME_PRP_LIST_ENTRIES)
				list[n - 1] = htole64(a);
			else {
				err(c, "more than %u pages in one command",
				    NVME_PRP_LIST_ENTRIES + 1);
				return -E2BIG;
			}
			if (n == 1)
				second = a;
			n++;
			a = (a | (NVME_PAGE - 1)) + 1;
		}
	}
	if (n == 0)
		return -EINVAL;
	*prp2 = n == 1 ? 0 : n == 2 ? second : c->prp_list_dma;
	return 0;
}

int nvme_rw(struct nvme_ctrl *c, bool write, uint64_t slba, uint32_t nblocks,
	    const struct nvme_data *data, uint16_t *status)
{
	struct nvme_sqe cmd = {
		.opcode = write ? NVME_CMD_WRITE : NVME_CMD_READ,
		.nsid = c->nsid,
		.cdw10 = (uint32_t)slba,
		.cdw11 = (uint32_t)(slba >> 32),
		.cdw12 = nblocks - 1,
	};
	uint64_t bytes = 0;
	unsigned int i;
	int r;

	for (i = 0; i < data->nsegs; i++)
		bytes += data->segs[i].len;
	if (!nblocks || nblocks > 0x10000 ||
	    bytes != (uint64_t)nblocks * c->lba_size ||
	    bytes > c->max_transfer || slba + nblocks > c->ns_blocks) {
		err(c, "%s of %u blocks at LBA %" PRIu64 " with %" PRIu64 " bytes of buffer: outside the namespace (%" PRIu64 " blocks of %u bytes) or the transfer limit (%u bytes)",
		    write ? "write" : "read", nblocks, slba, bytes,
		    c->ns_blocks, c->lba_size, c->max_transfer);
		return -EINVAL;
	}
	r = build_prps(c, data, &cmd.prp1, &cmd.prp2);
	if (r < 0)
		return r;
	return submit(c, &c->io, &cmd, NULL, status);
}
