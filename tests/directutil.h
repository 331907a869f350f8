/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers of the direct backend's test programs (directutil.c).
 */
#ifndef DMASPLIT_DIRECTUTIL_H
#define DMASPLIT_DIRECTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#define ADDR "0000:01:00.0"
#define DEVDIR "devices/pci0000:00/0000:00:01.0/" ADDR

/* A sanitizer's mlock() does nothing (ASan's would lock the shadow
 * memory too), so under one (MLOCK_IS_NOOP) VmLck cannot show the pins. */

#define expect_locked(cmp, kb)                                   \
	do {                                                     \
		if (!MLOCK_IS_NOOP)                              \
			ck_assert_int_##cmp(locked_kb(), (kb));  \
	} while (0)

/* The fixture's: the context, its sysfs root, the page size and
 * /proc/self/pagemap. */
extern struct dmasplit_ctx *ctx;
extern char *root;
extern uint64_t ps;
extern int pagemap;

uint64_t phys_of(const void *p);
bool can_read_phys(void);
long locked_kb(void);
long meminfo(const char *key);
bool can_reserve_huge_pages(void);
void want_huge_pages(long n);
void fake_at(const char *devdir, const char *driver, int group,
	     const char *type, const char *name, const char *mask);
void fake(const char *driver, int group, const char *type,
	  const char *name, const char *mask);
void fake_uio(void);
void direct_setup(void);
void direct_teardown(void);
struct dmasplit_backend *direct(void);
int probe(void);
const char *selected(const char *spec);
struct dmasplit_dev *open_direct(const char *spec);
struct dmasplit_dev_stats stats_of(struct dmasplit_dev *dev);
uint8_t *scattered_pages(size_t n);
size_t find_break(const uint8_t *p, size_t n);

#endif
