/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fake kernel the vfio backend's window tests run against: a page
 * table that refuses what type1 v2 refuses (a map over a mapping, an
 * unmap that cuts one), counts calls, fails the call asked for and
 * records every unmap of a page the test still has linked.  The tests
 * link the backend's sources (not its plugin entry).  The kernel itself
 * is exercised in the VM tests (tests/vm/).
 */
#ifndef DMASPLIT_VFIO_FAKE_H
#define DMASPLIT_VFIO_FAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "vfio.h"

#define PG 4096u
#define FK_BASE 0x100000u
#define FK_PAGES 512u
#define FAKE_FD 1000

struct fake_kernel {
	unsigned int id[FK_PAGES];	/* the mapping over each page; 0: none */
	unsigned int next_id;
	unsigned int calls;		/* map and unmap calls */
	unsigned int fail_at;		/* the call that fails; 0: none */
	unsigned int fail_too;		/* a second call that fails; 0: none */
	int free_error;			/* what iovad_free answers */
	uint64_t alloc_at;		/* what iovad_alloc gives; 0: FK_BASE */
	uint64_t freed;			/* bytes iovad_free took back */
	bool linked[FK_PAGES];		/* what the test holds linked */
	unsigned int linked_unmapped;	/* unmaps of such pages: never */
	char log[4096];
};

extern struct fake_kernel fk;
extern struct dmasplit_bdev *fb;
extern struct vspace *fs;	/* fb's address space */
extern uint8_t *mem;		/* 8 pages the tests link */

unsigned int page_of(uint64_t iova);
/* Checked fixture: a device on the fake kernel, in its own space. */
void fake_setup(void);
void fake_teardown(void);
/* An 8-page window at FK_BASE. */
struct dmasplit_bwin *window(void);
/* Pages first..first+n-1 of mem linked at the same window pages, one
 * link each, synced; the test holds them linked. */
void link_pages(struct dmasplit_bwin *w, unsigned int first, unsigned int n);
/* Unlink pages first..first+n-1 (which the test then no longer holds):
 * the result and the kernel calls it cost. */
int  unlink_pages(struct dmasplit_bwin *w, unsigned int first,
		  unsigned int n, unsigned int *calls);
bool mapped(unsigned int page);

#endif
