// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake kernel of the vfio backend's window tests; see vfio-fake.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"
#include "uapi.h"
#include "vfio-fake.h"

struct fake_kernel fk;

struct dmasplit_bdev *fb;
struct vspace *fs;	/* fb's address space */
uint8_t *mem;

unsigned int page_of(uint64_t iova)
{
	return (unsigned int)((iova - FK_BASE) / PG);
}

static bool fk_fail(void)
{
	++fk.calls;
	return fk.calls == fk.fail_at || fk.calls == fk.fail_too;
}

static int fk_map(struct dmasplit_bdev *b, uint64_t iova, uintptr_t va,
		  uint64_t len, unsigned int prot)
{
	unsigned int p, first = page_of(iova), n = (unsigned int)(len / PG);

	if (fk_fail())
		return -EIO;
	ck_assert_msg(iova >= FK_BASE && first + n <= FK_PAGES,
		      "map of 0x%" PRIx64 "+0x%" PRIx64 " outside the fake space",
		      iova, len);
	for (p = first; p < first + n; p++)
		if (fk.id[p])
			return -EEXIST;
	fk.next_id++;
	for (p = first; p < first + n; p++)
		fk.id[p] = fk.next_id;
	return 0;
}

static int fk_unmap(struct dmasplit_bdev *b, uint64_t iova, uint64_t len)
{
	unsigned int p, first = page_of(iova), end = page_of(iova + len);
	bool any = false;

	if (fk_fail())
		return -EIO;
	if (end > FK_PAGES)
		end = FK_PAGES;
	/* type1 v2 and iommufd unmap whole mappings only. */
	if ((first > 0 && fk.id[first] && fk.id[first] == fk.id[first - 1]) ||
	    (end < FK_PAGES && fk.id[end] && fk.id[end] == fk.id[end - 1]))
		return -EINVAL;
	for (p = first; p < end; p++) {
		if (!fk.id[p])
			continue;
		any = true;
		fk.id[p] = 0;
		if (fk.linked[p])
			fk.linked_unmapped++;
	}
	return any ? 0 : -ENOENT;
}

static void fk_close(struct vspace *sp)
{
}

static const struct kiface fake_iface = {
	.name = "fake",
	.map_call = "FAKE_MAP",
	.map = fk_map,
	.unmap = fk_unmap,
	.close = fk_close,
};

DMASPLIT_PRINTF(6, 7)
static void fk_log(const struct dmasplit_host *host, int priority,
		   const char *file, int line, const char *fn,
		   const char *format, ...)
{
	size_t used = strlen(fk.log);
	va_list ap;

	va_start(ap, format);
	vsnprintf(fk.log + used, sizeof(fk.log) - used, format, ap);
	va_end(ap);
	used = strlen(fk.log);
	if (used + 1 < sizeof(fk.log))
		strcat(fk.log, "\n");
}

static int fk_iovad_alloc(struct dmasplit_iovad *iovad, uint64_t size,
			  uint64_t limit, uint64_t *addr)
{
	*addr = fk.alloc_at ? fk.alloc_at : FK_BASE;
	return 0;
}

static int fk_iovad_free(struct dmasplit_iovad *iovad, uint64_t addr,
			 uint64_t size)
{
	if (!fk.free_error)
		fk.freed += size;
	return fk.free_error;
}

/* No peer memory is registered. */
static int fk_peer_find(const struct dmasplit_host *host, const void *addr,
			size_t len, struct dmasplit_peer *peer)
{
	(void)host;
	(void)addr;
	(void)len;
	(void)peer;
	return -ENOENT;
}

static const struct dmasplit_host fake_host = {
	.size = sizeof(fake_host),
	.log = fk_log,
	.iovad_alloc = fk_iovad_alloc,
	.iovad_free = fk_iovad_free,
	.peer_find = fk_peer_find,
};

void fake_setup(void)
{
	memset(&fk, 0, sizeof(fk));
	fb = calloc(1, sizeof(*fb));
	fs = calloc(1, sizeof(*fs));
	ck_assert_ptr_nonnull(fb);
	ck_assert_ptr_nonnull(fs);
	fb->host = fs->host = &fake_host;
	fb->sp = fs;
	fs->k = &fake_iface;
	fs->granule = PG;
	fb->limit = fs->limit = UINT64_MAX;
	fs->iommufd = FAKE_FD;
	snprintf(fb->name, sizeof(fb->name), "0000:00:04.0");
	pthread_mutex_init(&fs->lock, NULL);
	mem = aligned_alloc(PG, 8 * PG);
	ck_assert_ptr_nonnull(mem);
}

void fake_teardown(void)
{
	win_spares_free(fs);
	pthread_mutex_destroy(&fs->lock);
	free(fs->ranges);
	free(fs);
	free(fb->coh);
	free(fb->owned);
	free(fb->own_slot);
	free(fb);
	free(mem);
}

struct dmasplit_bwin *window(void)
{
	struct dmasplit_bwin *w;
	uint64_t addr;

	ck_assert_int_eq(win_alloc(fb, 8 * PG, 0, &w, &addr), 0);
	ck_assert_uint_eq(addr, FK_BASE);
	return w;
}

/* Pages first..first+n-1 of mem linked at the same window pages, one
 * link each, synced; the test holds them linked. */
void link_pages(struct dmasplit_bwin *w, unsigned int first,
		       unsigned int n)
{
	unsigned int i;

	for (i = first; i < first + n; i++) {
		ck_assert_int_eq(win_link(w, i * PG, mem + i * PG, PG,
					  DMASPLIT_BIDIRECTIONAL, 0), 0);
		fk.linked[i] = true;
	}
	ck_assert_int_eq(win_sync(w, 0, 8 * PG), 0);
}

/* Unlink pages first..first+n-1 (which the test then no longer holds):
 * the result and the kernel calls it cost. */
int unlink_pages(struct dmasplit_bwin *w, unsigned int first,
			unsigned int n, unsigned int *calls)
{
	unsigned int before = fk.calls, i;
	int r;

	for (i = first; i < first + n; i++)
		fk.linked[i] = false;
	r = win_unlink(w, first * PG, n * PG, DMASPLIT_BIDIRECTIONAL, 0);
	if (r < 0)
		for (i = first; i < first + n; i++)
			fk.linked[i] = true;
	*calls = fk.calls - before;
	return r;
}

bool mapped(unsigned int page)
{
	return fk.id[page] != 0;
}
