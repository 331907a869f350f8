// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Page pinning for backends that hand physical or pinned addresses to a
 * device.  mlock() does not nest (one munlock undoes any number of mlocks),
 * so overlapping buffers pinned by different mappings need a per-page
 * count: an open-addressing table of page addresses, one slot per pinned
 * page and no heap node per page.
 *
 * mlock() does not keep a page through fork(): private memory becomes
 * copy-on-write, and the first of the two processes to write a page gets
 * a new one.  Were that the parent, the device would go on with the
 * child's.  A pinned page of private memory is therefore not inherited
 * (MADV_DONTFORK, as rdma-core's ibv_fork_init() does for registered
 * memory) until its last unpin; the kernel's own early copy at fork
 * covers only pages pinned through FOLL_PIN, which no system call here
 * takes.  Shared memory (a file, shmem) is not copied at fork, so it
 * stays the child's too; nor is a device's memory (VM_IO), which the
 * kernel would not let go back to being inherited.  Which is which,
 * pagemap's flags say of the locked page; where they cannot be read at
 * the time, either guess breaks a promise (the device's pages, or the
 * child's shared memory), and the pin fails instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

static uint64_t page_size(void)
{
	static uint64_t size;

	if (!size)
		size = (uint64_t)sysconf(_SC_PAGESIZE);
	return size;
}

void pin_init(struct pin_table *pins)
{
	memset(pins, 0, sizeof(*pins));
	pthread_mutex_init(&pins->lock, NULL);
	pins->pagemap_fd = -1;
	pins->flags_fd = -1;
}

#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_FILE_OR_SHARED (1ull << 61)
#define PAGEMAP_EXCLUSIVE (1ull << 56)
#define PAGEMAP_PFN_MASK ((1ull << 55) - 1)

/* The failures to open pagemap that will not pass: no such file (no
 * /proc, or a kernel without it) or not allowed. */
static bool for_good(int e)
{
	return e == ENOENT || e == EACCES || e == EPERM;
}

/* Whether locked page p is private memory of this process alone, which
 * fork() would share copy-on-write: a page with a struct page of its own
 * (not a device's), anonymous or copied.  1 if so, 0 if not.  Read where
 * the context has pagemap open already (for frame numbers), else from a
 * file of its own, opened for the flags alone, which pagemap shows
 * without CAP_SYS_ADMIN.  Where pagemap cannot be had for good, every
 * page is taken as private: a child loses shared memory rather than the
 * device its pages.  Where it cannot be opened or read now (no
 * descriptor or no memory left), neither answer is known, nothing is
 * kept, and -errno says why.  Lock held. */
static int private_page(struct pin_table *pins, uint64_t p)
{
	CANCEL_DEFERRED;
	uint64_t entry;
	ssize_t n;
	int fd = pins->pagemap_fd >= 0 ? pins->pagemap_fd : pins->flags_fd;

	if (fd == -1) {
		fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (fd < 0 && !for_good(errno))
			return errno == EMFILE || errno == ENFILE ||
			       errno == ENOMEM ? -errno : -EIO;
		pins->flags_fd = fd < 0 ? -2 : fd;
	}
	if (fd < 0)
		return 1;
	n = pread(fd, &entry, sizeof(entry),
		  (off_t)(p / page_size() * sizeof(entry)));
	if (n != (ssize_t)sizeof(entry))
		return n < 0 && errno == ENOMEM ? -ENOMEM : -EIO;
	return (entry & PAGEMAP_PRESENT) && !(entry & PAGEMAP_FILE_OR_SHARED) &&
	       (entry & PAGEMAP_EXCLUSIVE);
}

/* Page p is pinned no more: locked and kept from children no longer (a
 * page that was not kept takes the DOFORK as a no-op). */
static void page_unpin(uint64_t p)
{
	munlock((void *)(uintptr_t)p, page_size());
	(void)madvise((void *)(uintptr_t)p, page_size(), MADV_DOFORK);
}

void pin_fini(struct pin_table *pins)
{
	size_t i;

	for (i = 0; i < pins->cap; i++)
		if (pins->pages[i])
			page_unpin(pins->pages[i]);
	free(pins->pages);
	free(pins->counts);
	if (pins->pagemap_fd >= 0)
		close(pins->pagemap_fd);
	if (pins->flags_fd >= 0)
		close(pins->flags_fd);
	pthread_mutex_destroy(&pins->lock);
}

static size_t slot_of(const struct pin_table *pins, uint64_t page)
{
	/* Fibonacci hashing of the page number. */
	return (size_t)(((page / page_size()) * 0x9e3779b97f4a7c15ull) >>
			32) & (pins->cap - 1);
}

static size_t find(const struct pin_table *pins, uint64_t page)
{
	size_t i = slot_of(pins, page);

	while (pins->pages[i] && pins->pages[i] != page)
		i = (i + 1) & (pins->cap - 1);
	return i;
}

static _must_check_ int grow(struct pin_table *pins)
{
	size_t cap = pins->cap ? pins->cap * 2 : 1024, i;
	struct pin_table bigger = { .cap = cap };

	bigger.pages = calloc(cap, sizeof(*bigger.pages));
	bigger.counts = calloc(cap, sizeof(*bigger.counts));
	if (!bigger.pages || !bigger.counts) {
		free(bigger.pages);
		free(bigger.counts);
		return -ENOMEM;
	}
	for (i = 0; i < pins->cap; i++) {
		if (pins->pages[i]) {
			size_t j = find(&bigger, pins->pages[i]);

			bigger.pages[j] = pins->pages[i];
			bigger.counts[j] = pins->counts[i];
		}
	}
	free(pins->pages);
	free(pins->counts);
	pins->pages = bigger.pages;
	pins->counts = bigger.counts;
	pins->cap = cap;
	return 0;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void erase(struct pin_table *pins, size_t i)
{
	size_t j = i, home;

	for (;;) {
		j = (j + 1) & (pins->cap - 1);
		if (!pins->pages[j])
			break;
		home = slot_of(pins, pins->pages[j]);
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			pins->pages[i] = pins->pages[j];
			pins->counts[i] = pins->counts[j];
			i = j;
		}
	}
	pins->pages[i] = 0;
	pins->counts[i] = 0;
	pins->used--;
}

static void page_range(const void *addr, size_t len, uint64_t *first,
		       uint64_t *end)
{
	uint64_t ps = page_size();

	*first = (uintptr_t)addr & ~(ps - 1);
	*end = ((uintptr_t)addr + len + ps - 1) & ~(ps - 1);
}

static void unpin_locked(struct pin_table *pins, uint64_t first, uint64_t end)
{
	uint64_t p;

	for (p = first; p < end; p += page_size()) {
		size_t i = find(pins, p);

		if (!pins->pages[i])
			continue;
		if (--pins->counts[i] == 0) {
			page_unpin(p);
			erase(pins, i);
		}
	}
}

/* Whether page p is memory the process can read: positive evidence
 * only, for the one error mlock() gives both for absent memory and for
 * its limit.  process_vm_readv(2) of one byte says so (EFAULT for
 * unmapped and PROT_NONE alike); where it is forbidden, mincore(2) knows
 * at least unmapped memory. */
static bool readable(uint64_t p)
{
	char c;
	struct iovec local = { &c, 1 }, remote = { (void *)(uintptr_t)p, 1 };
	unsigned char in;

	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == 1)
		return true;
	if (errno == EFAULT)
		return false;
	return !(mincore((void *)(uintptr_t)p, page_size(), &in) < 0 &&
		 errno == ENOMEM);
}

/*
 * mlock(2) of page p failed with e.  ENOMEM is both memory that is not
 * there (unmapped, or PROT_NONE), which the device cannot reach either
 * (-EFAULT), and the limit or the number of mappings (-ENOMEM); EPERM
 * is a limit of 0 (-ENOMEM).  Not logged: the backend says why, with its
 * device and the call's DMASPLIT_ATTR_NO_WARN (dmasplit-backend(7)).  A
 * PROT_NONE page mlock() marked locked all the same is unlocked again.
 */
static int pin_failed(uint64_t p, int e)
{
	munlock((void *)(uintptr_t)p, page_size());
	if (e == ENOMEM && !readable(p))
		return -EFAULT;
	return e == ENOMEM || e == EPERM ? -ENOMEM : -e;
}

int pin_pages(const struct dmasplit_host *host, const void *addr, size_t len)
{
	struct pin_table *pins = &ctx_from_host(host)->pins;
	uint64_t first, end, p;
	int r = 0;

	if (buf_bad(addr, len))
		return -EINVAL;
	page_range(addr, len, &first, &end);
	pthread_mutex_lock(&pins->lock);
	for (p = first; p < end; p += page_size()) {
		size_t i;

		if ((pins->used + 1) * 2 > pins->cap && (r = grow(pins)) < 0)
			break;
		i = find(pins, p);
		if (pins->pages[i]) {
			pins->counts[i]++;
			continue;
		}
		if (mlock((void *)(uintptr_t)p, page_size()) < 0) {
			r = pin_failed(p, errno);
			break;
		}
		r = private_page(pins, p);
		if (r < 0) {
			munlock((void *)(uintptr_t)p, page_size());
			break;
		}
		if (r)
			(void)madvise((void *)(uintptr_t)p, page_size(),
				      MADV_DONTFORK);
		r = 0;
		pins->pages[i] = p;
		pins->counts[i] = 1;
		pins->used++;
	}
	if (r < 0)
		unpin_locked(pins, first, p);
	pthread_mutex_unlock(&pins->lock);
	return r;
}

int unpin_pages(const struct dmasplit_host *host, const void *addr,
		size_t len)
{
	struct pin_table *pins = &ctx_from_host(host)->pins;
	uint64_t first, end, p;

	if (buf_bad(addr, len))
		return -EINVAL;
	page_range(addr, len, &first, &end);
	pthread_mutex_lock(&pins->lock);
	for (p = first; p < end; p += page_size()) {
		if (!pins->cap || !pins->pages[find(pins, p)]) {
			pthread_mutex_unlock(&pins->lock);
			return -ENOENT;
		}
	}
	unpin_locked(pins, first, end);
	pthread_mutex_unlock(&pins->lock);
	return 0;
}

int virt_to_phys(const struct dmasplit_host *host, const void *addr,
		 uint64_t *phys)
{
	CANCEL_DEFERRED;
	struct pin_table *pins = &ctx_from_host(host)->pins;
	uint64_t entry, ps = page_size();
	int fd, r = 0;

	if (!addr || !phys)
		return -EINVAL;
	pthread_mutex_lock(&pins->lock);
	fd = pins->pagemap_fd;
	if (fd < 0) {
		/* Kept for the context only where it shows frame numbers:
		 * the kernel decides that by the opener's capabilities, so
		 * a file opened without CAP_SYS_ADMIN never will.  Asked of
		 * a page that is there, this stack's. */
		fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			r = -errno;
		else if (pread(fd, &entry, sizeof(entry),
			       (off_t)((uintptr_t)&entry / ps * sizeof(entry))) !=
			 (ssize_t)sizeof(entry))
			r = -EIO;
		else if (!(entry & PAGEMAP_PFN_MASK))
			r = -EPERM;
		if (r == 0)
			pins->pagemap_fd = fd;
		else if (fd >= 0)
			close(fd);
	}
	pthread_mutex_unlock(&pins->lock);
	if (r < 0)
		return r;
	if (pread(fd, &entry, sizeof(entry),
		  (off_t)((uintptr_t)addr / ps * sizeof(entry))) !=
	    (ssize_t)sizeof(entry))
		return -EIO;
	if (!(entry & PAGEMAP_PRESENT))
		return -ENOENT;
	/* Since Linux 4.0 the frame number reads as 0 without
	 * CAP_SYS_ADMIN. */
	if (!(entry & PAGEMAP_PFN_MASK))
		return -EPERM;
	*phys = (entry & PAGEMAP_PFN_MASK) * ps + (uintptr_t)addr % ps;
	return 0;
}
