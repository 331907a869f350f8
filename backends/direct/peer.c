// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * direct: peer memory.  Another PCI device's memory (p2pmem, a BAR) is
 * reached without an IOMMU at the address the PCI topology dictates, as
 * the kernel's pci_p2pdma_map_type() decides for dma-direct: below a
 * common switch without ACS redirection, the bus address (the switch
 * routes the request by it and the host never sees it); through the host
 * bridge, the CPU physical address, as for RAM; otherwise nothing, and
 * the map fails rather than hand out an address that does not work.
 * The core's registry says which memory is peer memory and at which
 * addresses; the verdict per provider is computed once per device.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "direct.h"

struct verdict {
	char provider[64];
	int err;		/* 0, or -EREMOTEIO and the like */
	enum dmasplit_p2p_map map;
	char why[256];
};

struct direct_peers {
	pthread_mutex_t lock;
	unsigned int n;
	struct verdict v[8];	/* providers seen; few in any system */
};

void direct_peers_free(struct dmasplit_bdev *b)
{
	if (!b->peers)
		return;
	pthread_mutex_destroy(&b->peers->lock);
	free(b->peers);
	b->peers = NULL;
}

int direct_peers_init(struct dmasplit_bdev *b)
{
	b->peers = calloc(1, sizeof(*b->peers));
	if (!b->peers)
		return -ENOMEM;
	pthread_mutex_init(&b->peers->lock, NULL);
	return 0;
}

static int lookup(struct dmasplit_bdev *b, const char *provider,
		  struct verdict *out)
{
	struct direct_peers *ps = b->peers;
	struct verdict v = { .map = DMASPLIT_P2P_NOT_SUPPORTED };
	unsigned int i;
	int r;

	pthread_mutex_lock(&ps->lock);
	for (i = 0; i < ps->n; i++) {
		if (!strcmp(ps->v[i].provider, provider)) {
			*out = ps->v[i];
			pthread_mutex_unlock(&ps->lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&ps->lock);

	snprintf(v.provider, sizeof(v.provider), "%s", provider);
	r = b->host->p2p_distance(b->host, provider, b->name, &v.map, v.why,
				  sizeof(v.why));
	if (r < 0 && r != -EREMOTEIO)
		return r;	/* sysfs trouble: logged, and asked again */
	v.err = r < 0 ? r : 0;
	pthread_mutex_lock(&ps->lock);
	if (ps->n < sizeof(ps->v) / sizeof(ps->v[0]))
		ps->v[ps->n++] = v;
	pthread_mutex_unlock(&ps->lock);
	*out = v;
	return 0;
}

int direct_peer(struct dmasplit_bdev *b, uintptr_t va, uint32_t attrs,
		uint64_t *addr, bool *is_bus)
{
	struct dmasplit_peer p;
	struct verdict v;
	uint64_t off;
	int r;

	if (!b->peers ||
	    b->host->peer_find(b->host, (const void *)va, 1, &p) < 0)
		return 0;
	r = lookup(b, p.provider, &v);
	if (r < 0)
		return r;
	if (v.err) {
		if (!(attrs & DMASPLIT_ATTR_NO_WARN))
			direct_err(b, "%s: %p is peer memory of %s, which this device cannot reach: %s; stage it through memory the device reaches",
				   b->name, (void *)va, p.provider, v.why);
		return v.err;
	}
	off = va - (uintptr_t)p.cpu;
	*is_bus = v.map == DMASPLIT_P2P_BUS_ADDR;
	*addr = (*is_bus ? p.bus : p.phys) + off;
	return 1;
}

/*
 * Memory the device is to write must be the caller's own, writable
 * pages: mlock() of memory never written maps the kernel's shared zero
 * page read-only, and a device write there would change it for every
 * process.  MADV_POPULATE_WRITE (Linux 5.14) faults them in for
 * writing, and fails where the CPU could not write them, but also for
 * memory it does not fault in (a driver's VM_IO or VM_PFNMAP mapping),
 * so a failure is judged by the mapping's permissions.  A kernel without
 * it answers EINVAL for any memory, so whether it has it is asked, after
 * a failure, of a page that is writable; without it the check is
 * skipped.  Only a clear answer is kept: a probe that fails otherwise
 * (no memory for its page) is made again at the next failure, and
 * meanwhile the memory is judged by its mapping.
 */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static bool lacks_populate_write(void)
{
	static int known;	/* 1: the kernel has it; -1: not */
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
	void *p;

	if (!k) {
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return false;
		if (madvise(p, 4096, MADV_POPULATE_WRITE) == 0)
			k = 1;
		else if (errno == EINVAL)
			k = -1;
		munmap(p, 4096);
		if (k)
			__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	}
	return k < 0;
}

/* Whether [start, end) lies in mappings the process may write, by
 * /proc/self/maps: the answer for memory MADV_POPULATE_WRITE does not
 * fault in (VM_IO, VM_PFNMAP: a driver's DMA memory), which it refuses
 * as it refuses read-only memory.  1 if so, 0 if not; where the file
 * cannot be read, nothing is known and -errno says why (EMFILE: the
 * process is at its limit of descriptors). */
static int maps_writable(uintptr_t start, uintptr_t end)
{
	unsigned long lo, hi;
	char line[512], perms[5];
	uintptr_t at = start;
	bool starts = true;	/* the next read starts a line of the file */
	int cancel, r;
	FILE *f;

	/* A map is not a cancellation point (dmasplit-backend(7)): reading
	 * a file is. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	f = fopen("/proc/self/maps", "re");
	if (!f) {
		r = -errno;
	} else {
		while (at < end && fgets(line, sizeof(line), f)) {
			bool first = starts;

			/* The rest of a longer line (a file's path, which
			 * may read as anything) is no line of its own. */
			starts = strchr(line, '\n') != NULL;
			if (!first ||
			    sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3 ||
			    hi <= at)
				continue;
			if (lo > at || perms[1] != 'w')
				break;
			at = hi;
		}
		r = at < end && ferror(f) ? -EIO : at >= end;
		fclose(f);
	}
	pthread_setcancelstate(cancel, NULL);
	return r;
}

/* A failure to read /proc that says nothing of the caller's memory, as
 * a map may return it: out of descriptors or memory as it is, anything
 * else -EIO (the line gives the cause). */
static int proc_failure(int r)
{
	return r == -EMFILE || r == -ENFILE || r == -ENOMEM ? r : -EIO;
}

static int populate_write(struct dmasplit_bdev *b, uintptr_t addr, size_t len,
			  uint32_t attrs)
{
	uintptr_t start = addr & ~(uintptr_t)(b->page_size - 1);
	uintptr_t end = start + page_span(b, addr, len);
	int r;

	if (madvise((void *)start, end - start, MADV_POPULATE_WRITE) == 0 ||
	    lacks_populate_write())
		return 0;
	r = maps_writable(start, end);
	if (r > 0)
		return 0;
	if (r < 0) {
		/* Unknown is not writable: the device would write
		 * wherever the page is, the zero page included. */
		if (!(attrs & DMASPLIT_ATTR_NO_WARN))
			direct_err(b, "%s: cannot tell whether the %zu bytes at %p, which the device would write, are memory the process can write: reading /proc/self/maps: %s",
				   b->name, len, (void *)addr, strerror(-r));
		return proc_failure(r);
	}
	if (!(attrs & DMASPLIT_ATTR_NO_WARN))
		direct_err(b, "%s: %zu bytes at %p, which the device would write, are not memory the process can write (read-only, or not there)",
			   b->name, len, (void *)addr);
	return -EFAULT;
}

int direct_pin_refused(struct dmasplit_bdev *b, uint32_t attrs,
		       const void *addr, size_t len, int r)
{
	struct rlimit rl = { 0 };

	if (attrs & DMASPLIT_ATTR_NO_WARN)
		return r;
	if (r == -EFAULT) {
		direct_err(b, "%s: cannot pin %zu bytes at %p: no memory the process can reach there (unmapped, or PROT_NONE)",
			   b->name, len, addr);
	} else if (r == -ENOMEM) {
		getrlimit(RLIMIT_MEMLOCK, &rl);
		direct_err(b, "%s: cannot pin %zu bytes at %p: over the locked-memory limit (RLIMIT_MEMLOCK %llu bytes), or out of memory",
			   b->name, len, addr, (unsigned long long)rl.rlim_cur);
	} else {
		direct_err(b, "%s: cannot pin %zu bytes at %p: %s",
			   b->name, len, addr, strerror(-r));
	}
	return r;
}

/*
 * Pin or unpin the RAM of [addr, addr + len), leaving peer memory out:
 * device memory is never swapped, and mlock() of p2pmem fails (the
 * kernel's GUP refuses P2P pages to callers that do not ask for them,
 * and mlock populates through GUP).
 */
static int ram_apply(struct dmasplit_bdev *b, uintptr_t addr, size_t len,
		     bool pin, bool writes, uint32_t attrs, size_t *done)
{
	uintptr_t start = addr, end = addr + len;
	struct dmasplit_peer p;
	int r;

	while (addr < end) {
		uintptr_t stop = end, next = end;

		if (b->peers && b->host->peer_find(b->host, (const void *)addr,
						   end - addr, &p) == 0) {
			uintptr_t ps = (uintptr_t)p.cpu, pe = ps + p.len;

			stop = ps > addr ? ps : addr;
			next = pe < end ? pe : end;
		}
		if (stop > addr) {
			r = pin && writes ? populate_write(b, addr, stop - addr,
							   attrs)
					  : 0;
			if (r == 0 && pin) {
				r = b->host->pin(b->host, (const void *)addr,
						 stop - addr);
				if (r < 0)
					direct_pin_refused(b, attrs,
							   (const void *)addr,
							   stop - addr, r);
			} else if (r == 0) {
				r = b->host->unpin(b->host, (const void *)addr,
						   stop - addr);
			}
			if (r < 0) {
				*done = addr - start;
				return r;
			}
		}
		addr = next;
	}
	*done = len;
	return 0;
}

/*
 * A device without an IOMMU holds the frames read at map time.  With
 * transparent huge pages, khugepaged may later collapse the pages of a
 * mapped buffer into a huge page of other frames, and the device would
 * write to the old ones: the range is marked never to be collapsed
 * (MADV_NOHUGEPAGE; a huge page already there stays).  The mark stays on
 * the caller's memory after unmap (dmasplit_dev_open(3)).  Failure (no
 * THP in the kernel, peer memory) changes nothing that matters.
 *
 * It is given once the range is locked and before its frames are read,
 * which is all it needs to come before: a pin refused (the lock limit,
 * memory that is not there or not writable) leaves the caller's memory
 * as it was, its mappings unsplit.  Locking first makes no huge page
 * that marking first would not: the host locks a page at a time, and a
 * fault in a mapping of one locked page, or beside pages faulted in
 * already, is never a huge page's.
 */
static void keep_frames(const struct dmasplit_bdev *b, uintptr_t addr,
			size_t len)
{
	uintptr_t start = addr & ~(uintptr_t)(b->page_size - 1);

	(void)madvise((void *)start, page_span(b, addr, len), MADV_NOHUGEPAGE);
}

int direct_pin(struct dmasplit_bdev *b, const void *addr, size_t len,
	       enum dmasplit_dir dir, uint32_t attrs)
{
	size_t done, undone;
	int r;

	r = ram_apply(b, (uintptr_t)addr, len, true,
		      dmasplit_dir_device_writes(dir), attrs, &done);
	if (r < 0) {
		if (done)
			ram_apply(b, (uintptr_t)addr, done, false, false, 0,
				  &undone);
		return r;
	}
	keep_frames(b, (uintptr_t)addr, len);
	return 0;
}

/* Callers are undoing or releasing and carry on whatever happens; a
 * refusal means the pin counts are off, which is worth a line. */
int direct_unpin(struct dmasplit_bdev *b, const void *addr, size_t len)
{
	size_t done;
	int r = ram_apply(b, (uintptr_t)addr, len, false, false, 0, &done);

	if (r < 0)
		direct_err(b, "%s: %zu bytes at %p stay pinned: %s", b->name,
			   len - done, (const void *)((uintptr_t)addr + done),
			   strerror(-r));
	return r;
}
