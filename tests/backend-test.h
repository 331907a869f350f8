/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the two files of the test backend share: its device, window and
 * mapping records.  backend-test.c has the operations, backend-test-dma.c
 * the device's own reads and writes through them.
 */
#ifndef DMASPLIT_BACKEND_TEST_H
#define DMASPLIT_BACKEND_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dmasplit/backend.h>

#ifndef TB_SCORE
#define TB_SCORE 10
#endif

#define TB_MASK_BITS 48

struct tb_map {
	struct tb_map *next;
	uint64_t dma;		/* what the caller got */
	uint64_t len;
	uint8_t *cpu;
	uint64_t base;		/* the IOVA allocation */
	uint64_t size;
	bool coherent;
	struct tb_region *region;	/* map_vec: shared allocation */
};

struct tb_region {
	uint64_t base, size;
	unsigned int refs;
};

struct dmasplit_bwin {
	struct dmasplit_bwin *next;
	struct dmasplit_bdev *bdev;
	uint64_t addr, size;
	uint64_t base;		/* the IOVA allocation (addr unless badaddr) */
	bool borrowed;		/* addresses of another window (overlap bug) */
	uint8_t **page;		/* host address of each granule, or NULL */
	uint32_t *valid;	/* bytes of the granule that are linked */
	bool *synced;
};

struct dmasplit_bdev {
	const struct dmasplit_host *host;
	pthread_mutex_t lock;
	struct dmasplit_iovad *iovad;
	uint64_t granule;
	bool nowin;
	bool win_lie;
	bool overlap;
	bool lax, phys, alias;
	unsigned int nranges;	/* NAME.ranges, 0 when not given */
	bool ranges_nofit;	/* NAME.rangesnofit */
	bool ranges_over;	/* NAME.rangesover */
	uint32_t extra_flags;	/* NAME.flags */
	bool coh_null, win_null;	/* NAME.cohnull, NAME.winnull */
	bool no_fill;			/* NAME.nofill */
	unsigned int win_allocs;
	enum { BAD_NONE, BAD_ZERO, BAD_WRAP, BAD_MASK } badaddr;
	/* A wrong answer from get_info (NAME.badinfo=mask0|mask65|range). */
	enum { BADINFO_NONE, BADINFO_MASK0, BADINFO_MASK65,
	       BADINFO_RANGE, BADINFO_GRANULE0 } bad_info;
	char fail_op[16];
	int fail_skip;		/* calls of fail_op to let through; -1 done */
	int fail_skip0;		/* failskip, for each failure */
	int fail_again;		/* failures still to come after this one */
	int fail_errno;
	int fd;
	struct dmasplit_bwin *wins;
	struct tb_map *maps;
	uint64_t calls;
};

#define tb_log(host, ...) dmasplit_host_dbg(host, TB_NAME ": " __VA_ARGS__)

/* backend-test-dma.c */
int tb_dma_read(struct dmasplit_bdev *b, uint64_t dma, void *buf,
		size_t len);
int tb_dma_write(struct dmasplit_bdev *b, uint64_t dma, const void *buf,
		 size_t len);

#endif
