// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The bounce pool, with the rules of the kernel's swiotlb
 * (kernel/dma/swiotlb.c): 2 KiB slots grouped in segments of 128, a
 * mapping never crosses a segment (so no mapping exceeds 256 KiB), each
 * slot knows the host address it stands for, and free_run counts the free
 * slots from a slot to the end of its segment, so that a fit is seen at
 * the first slot of a run.  Mappings of a page or more start on a page
 * boundary, as the kernel's do.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "sim.h"


/* Mappings of a page or more start on a page boundary. */
#define POOL_PAGE_SHIFT 12

int pool_init(struct dmasplit_bdev *b, struct pool *pool, uint64_t size,
	      uint64_t limit)
{
	uint32_t i;

	memset(pool, 0, sizeof(*pool));
	pool->map_len = pool_map_len(size);
	pool->map = low_mmap(pool->map_len, limit);
	if (!pool->map && errno == ERANGE) {
		sim_err(b, "%s: cannot place a bounce pool of %llu bytes below the DMA mask (last address 0x%llx)",
			b->name, (unsigned long long)size,
			(unsigned long long)limit);
		return -ENOMEM;
	}
	if (!pool->map) {
		sim_err(b, "%s: no memory for a bounce pool of %llu bytes: %s",
			b->name, (unsigned long long)size, strerror(errno));
		return -ENOMEM;
	}
	pool->base = (uint8_t *)(((uintptr_t)pool->map + POOL_ALIGN - 1) &
				 ~(uintptr_t)(POOL_ALIGN - 1));
	pool->nslots = (uint32_t)(size >> SLOT_SHIFT);
	pool->slots = calloc(pool->nslots, sizeof(*pool->slots));
	if (!pool->slots) {
		munmap(pool->map, pool->map_len);
		pool->base = NULL;
		return -ENOMEM;
	}
	for (i = 0; i < pool->nslots; i++)
		pool->slots[i].free_run = SEG_SLOTS - i % SEG_SLOTS;
	pthread_mutex_init(&pool->lock, NULL);
	return 0;
}

void pool_fini(struct pool *pool)
{
	if (!pool->base)
		return;
	free(pool->slots);
	munmap(pool->map, pool->map_len);
	pthread_mutex_destroy(&pool->lock);
	pool->base = NULL;
}

/* Lock held.  First slot of a free run of n slots aligned to stride,
 * searching from the last position onwards and wrapping once. */
/* The first byte of slot idx. */
static inline uint8_t *slot_at(const struct pool *pool, uint32_t idx)
{
	return pool->base + ((uintptr_t)idx << SLOT_SHIFT);
}

static int64_t find_slots(struct pool *pool, uint32_t n, uint32_t stride)
{
	uint32_t start = (pool->index + stride - 1) / stride * stride, i;
	uint32_t tried;

	if (start >= pool->nslots)
		start = 0;
	i = start;
	for (tried = 0; tried < pool->nslots; tried += stride) {
		if (pool->slots[i].free_run >= n)
			return i;
		i += stride;
		if (i >= pool->nslots)
			i = 0;
	}
	return -1;
}

/* Lock held.  The free_run counts of the free slots just before slot
 * `end` in its segment, recounted from count. */
static void recount_before(struct pool *pool, uint32_t end, uint32_t count)
{
	uint32_t i;

	for (i = end; i-- > 0 && i % SEG_SLOTS != SEG_SLOTS - 1 &&
		      pool->slots[i].free_run;)
		pool->slots[i].free_run = ++count;
}

/*
 * The buffer's copy into its slots, at map time, where a buffer that is
 * not the caller's memory is refused like a real backend's pinning
 * refuses it (-EFAULT), rather than left to crash the copies later: it
 * must be readable, and writable when the device writes it, for the copy
 * back.  The write check puts back the bytes just read: a buffer handed
 * to the device is not the CPU's to change meanwhile.
 */
static int take_buffer(struct dmasplit_bdev *b, uint8_t *tlb, uintptr_t orig,
		       size_t len, enum dmasplit_dir dir, uint32_t attrs)
{
	struct iovec host = { (void *)orig, len };
	size_t copied = sim_host_rw(tlb, &host, 1, len, false);

	/* Copied, whether the map then stands or not (bytes_bounced in
	 * dmasplit_dev_open(3)); the write check's copy back is not. */
	stat_add(&b->stats.bytes_bounced, copied);
	if (copied < len)
		return sim_refuse(b, attrs, -EFAULT, "%s: bounce of %p+0x%zx: the buffer is not readable memory",
				  b->name, (void *)orig, len);
	if (dmasplit_dir_device_writes(dir) &&
	    sim_host_rw(tlb, &host, 1, len, true) < len)
		return sim_refuse(b, attrs, -EFAULT, "%s: bounce of %p+0x%zx: the device writes the buffer, which is not writable memory",
				  b->name, (void *)orig, len);
	return 0;
}

int pool_map(struct dmasplit_bdev *b, struct pool *pool, uintptr_t orig,
	     size_t len, uint64_t align, uint64_t keep, uintptr_t lo,
	     uintptr_t hi, enum dmasplit_dir dir, uint32_t attrs, uint8_t **tlb)
{
	uint64_t offset = orig & (keep - 1);
	uint32_t n, stride, i;
	int64_t first;
	int r;

	if (len >= (1u << POOL_PAGE_SHIFT) && align < (1u << POOL_PAGE_SHIFT))
		align = 1u << POOL_PAGE_SHIFT;
	if (align < SLOT_SIZE)
		align = SLOT_SIZE;
	if (len > SEG_SIZE)
		return sim_refuse(b, attrs, -EINVAL, "%s: bounce of %zu bytes exceeds the %u-byte limit of one swiotlb mapping",
				  b->name, len, SEG_SIZE);
	/* A translated device maps whole granules of the pool: they must
	 * all be this mapping's, or it would reach another one's data. */
	n = (uint32_t)((offset + len + SLOT_SIZE - 1) >> SLOT_SHIFT);
	if (keep > SLOT_SIZE) {
		uint32_t per = (uint32_t)(keep >> SLOT_SHIFT);

		n = (n + per - 1) / per * per;
	}
	if (n > SEG_SLOTS) {
		/* What exceeds it is the slots the buffer's granules take,
		 * more than its bytes. */
		return sim_refuse(b, attrs, -EINVAL, "%s: bounce of %zu bytes (%" PRIu64 " in whole slots) exceeds the %u-byte limit of one swiotlb mapping",
				  b->name, len, (uint64_t)n << SLOT_SHIFT,
				  SEG_SIZE);
	}
	stride = (uint32_t)(align >> SLOT_SHIFT);

	pthread_mutex_lock(&pool->lock);
	first = find_slots(pool, n, stride);
	if (first < 0) {
		uint32_t used = pool->used;

		pthread_mutex_unlock(&pool->lock);
		return sim_refuse(b, attrs, -ENOMEM, "%s: swiotlb buffer is full (sz: %zu bytes), total %u (slots), used %u (slots)",
				  b->name, len, pool->nslots, used);
	}
	for (i = (uint32_t)first; i < first + n; i++) {
		pool->slots[i].free_run = 0;
		pool->slots[i].first = (uint32_t)first;
		pool->slots[i].orig = orig - offset +
				      ((uintptr_t)(i - first) << SLOT_SHIFT);
	}
	pool->slots[first].nslots = n;
	pool->slots[first].lo = lo;
	pool->slots[first].hi = hi;
	pool->slots[first].off = (uint32_t)offset;
	pool->slots[first].dir = (uint8_t)dir;
	pool->slots[first].dying = false;
	pool->slots[first].vec = false;
	recount_before(pool, (uint32_t)first, 0);
	pool->used += n;
	pool->index = (uint32_t)first + n;
	pthread_mutex_unlock(&pool->lock);

	*tlb = slot_at(pool, (uint32_t)first) + offset;
	/* Every direction: the device must never see what an earlier
	 * mapping left in the slots. */
	memset(slot_at(pool, (uint32_t)first), 0, offset);
	r = take_buffer(b, *tlb, orig, len, dir, attrs);
	if (r < 0) {
		pool_unmap(pool, *tlb);
		return r;
	}
	memset(*tlb + len, 0, ((uint64_t)n << SLOT_SHIFT) - offset - len);
	return 0;
}

void pool_unmap(struct pool *pool, const uint8_t *tlb)
{
	uint32_t idx = (uint32_t)((uintptr_t)(tlb - pool->base) >> SLOT_SHIFT);
	uint32_t first, n, count, i, end;

	pthread_mutex_lock(&pool->lock);
	first = pool->slots[idx].first;
	n = pool->slots[first].nslots;
	end = first + n;
	/* The run after the freed slots, if it is in the same segment. */
	count = end % SEG_SLOTS && end < pool->nslots ? pool->slots[end].free_run
						       : 0;
	for (i = end; i-- > first;) {
		pool->slots[i].free_run = ++count;
		pool->slots[i].orig = 0;
		pool->slots[i].nslots = 0;
	}
	pool->slots[first].dying = false;
	recount_before(pool, first, count);
	pool->used -= n;
	pthread_mutex_unlock(&pool->lock);
}

/* Lock held.  The first slot of the live allocation holding addr, or
 * NULL: a free slot has a free run, an allocated one none. */
static struct slot *live_head(struct pool *pool, uintptr_t addr)
{
	uint32_t idx = (uint32_t)((addr - (uintptr_t)pool->base) >> SLOT_SHIFT);
	struct slot *head;

	if (pool->slots[idx].free_run)
		return NULL;
	head = &pool->slots[pool->slots[idx].first];
	return head->nslots && !head->dying ? head : NULL;
}

static uintptr_t head_addr(const struct pool *pool, const struct slot *head)
{
	return (uintptr_t)slot_at(pool, (uint32_t)(head - pool->slots)) +
	       head->off;
}

int pool_claim(struct pool *pool, uintptr_t tlb, size_t len,
	       enum dmasplit_dir dir, bool vec)
{
	struct slot *head;
	int r = -ENOENT;

	pthread_mutex_lock(&pool->lock);
	head = live_head(pool, tlb);
	if (head) {
		uintptr_t start = head_addr(pool, head);

		/* A later page of a mapping is where none starts. */
		r = (tlb ^ start) >> POOL_PAGE_SHIFT ? -ENOENT : -EINVAL;
		if (start == tlb && head->hi - head->lo == len &&
		    head->dir == dir && head->vec == vec) {
			head->dying = true;
			r = 0;
		}
	}
	pthread_mutex_unlock(&pool->lock);
	return r;
}

void pool_set_vec(struct pool *pool, uintptr_t tlb)
{
	uint32_t idx = (uint32_t)((tlb - (uintptr_t)pool->base) >> SLOT_SHIFT);

	pthread_mutex_lock(&pool->lock);
	pool->slots[pool->slots[idx].first].vec = true;
	pthread_mutex_unlock(&pool->lock);
}

void pool_unclaim(struct pool *pool, uintptr_t tlb)
{
	uint32_t idx = (uint32_t)((tlb - (uintptr_t)pool->base) >> SLOT_SHIFT);

	pthread_mutex_lock(&pool->lock);
	pool->slots[pool->slots[idx].first].dying = false;
	pthread_mutex_unlock(&pool->lock);
}

/* The copy of [tlb, tlb + len), which lies in the mapping whose first
 * slot starts at slot0 and stands for host address orig, to or from the
 * caller's buffer, clipped to the bytes that are the caller's: [lo, hi). */
static void copy_slots(struct dmasplit_bdev *b, const uint8_t *slot0,
		       uintptr_t orig, uintptr_t lo, uintptr_t hi,
		       const uint8_t *tlb, size_t len, bool to_host)
{
	uintptr_t host = orig + (uintptr_t)(tlb - slot0);
	uintptr_t start = host < lo ? lo : host;
	uintptr_t end = host + len > hi ? hi : host + len;
	uint8_t *bounce;

	if (start >= end)
		return;
	stat_add(&b->stats.bytes_bounced, end - start);
	bounce = (uint8_t *)tlb + (start - host);
	if (to_host)
		memcpy((void *)start, bounce, end - start);
	else
		memcpy(bounce, (const void *)start, end - start);
}

void pool_bounce(struct dmasplit_bdev *b, struct pool *pool,
		 const uint8_t *tlb, size_t len, bool to_host)
{
	uint32_t idx = (uint32_t)((uintptr_t)(tlb - pool->base) >> SLOT_SHIFT);
	uint32_t first = pool->slots[idx].first;
	const struct slot *head = &pool->slots[first];

	copy_slots(b, slot_at(pool, first), head->orig, head->lo, head->hi,
		   tlb, len, to_host);
}

bool pool_holds(const struct pool *pool, const uint8_t *tlb, size_t len)
{
	uint32_t idx = (uint32_t)((uintptr_t)(tlb - pool->base) >> SLOT_SHIFT);
	uint32_t first = __atomic_load_n(&pool->slots[idx].first,
					 __ATOMIC_RELAXED);
	const struct slot *head = &pool->slots[first];
	uintptr_t host = __atomic_load_n(&head->orig, __ATOMIC_RELAXED) +
			 (uintptr_t)(tlb - slot_at(pool, first));

	return host >= __atomic_load_n(&head->lo, __ATOMIC_RELAXED) &&
	       host + len <= __atomic_load_n(&head->hi, __ATOMIC_RELAXED);
}

/* A sync pool_sync() refuses: its log line, and r. */
static __attribute__((noinline)) int sync_refused(struct dmasplit_bdev *b,
						  uintptr_t addr, size_t len,
						  int r)
{
	return sim_refuse(b, 0, r, "%s: sync of bounce address 0x%" PRIxPTR "+0x%zx: %s",
			  b->name, addr, len,
			  r == -ENOENT ? "no live mapping there"
				       : "not inside one mapping made in that direction");
}

/*
 * Without the pool's lock: a sync reads only its own mapping's slots,
 * which no map or unmap of another mapping writes.  Only a caller that
 * syncs a mapping while unmapping it races, as it would with the kernel's
 * swiotlb (kernel/dma/swiotlb.c takes no lock to sync either); the loads
 * are atomic so that the race gives a wrong answer, not a torn value, and
 * the copy stays inside the pool and the caller's buffer of the mapping
 * that was read.
 */
int pool_sync(struct dmasplit_bdev *b, struct pool *pool, uintptr_t addr,
	      size_t len, enum dmasplit_dir dir, bool to_host)
{
	uint32_t idx = (uint32_t)((addr - (uintptr_t)pool->base) >> SLOT_SHIFT);
	const struct slot *head;
	const uint8_t *slot0;
	uintptr_t start, lo, hi;
	uint32_t first;
	uint8_t head_dir;

	if (__atomic_load_n(&pool->slots[idx].free_run, __ATOMIC_RELAXED))
		return sync_refused(b, addr, len, -ENOENT);
	first = __atomic_load_n(&pool->slots[idx].first, __ATOMIC_RELAXED);
	head = &pool->slots[first];
	if (!__atomic_load_n(&head->nslots, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&head->dying, __ATOMIC_RELAXED))
		return sync_refused(b, addr, len, -ENOENT);
	/* As head_addr(), from the index already at hand. */
	slot0 = slot_at(pool, first);
	start = (uintptr_t)slot0 + __atomic_load_n(&head->off, __ATOMIC_RELAXED);
	lo = __atomic_load_n(&head->lo, __ATOMIC_RELAXED);
	hi = __atomic_load_n(&head->hi, __ATOMIC_RELAXED);
	head_dir = __atomic_load_n(&head->dir, __ATOMIC_RELAXED);
	if (addr < start || len > hi - lo || addr - start > hi - lo - len ||
	    (head_dir != dir && head_dir != DMASPLIT_BIDIRECTIONAL))
		return sync_refused(b, addr, len, -EINVAL);
	if (to_host ? dmasplit_dir_device_writes(dir)
		    : dmasplit_dir_device_reads(dir))
		copy_slots(b, slot0,
			   __atomic_load_n(&head->orig, __ATOMIC_RELAXED), lo,
			   hi, (const uint8_t *)addr, len, to_host);
	return 0;
}
