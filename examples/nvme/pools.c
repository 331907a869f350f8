// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * nvme-rw: the two data pools (written from, read into), the shuffled
 * order their chunks take in the data stream, and the pattern that is
 * written and checked.  Chunks of a page or more from shuffled places
 * make a buffer contiguous neither virtually nor, in general,
 * physically: the layout that costs most to map.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "nvme-rw.h"

/* splitmix64: the pattern of the data stream, from the seed and the
 * 8-byte word's position, so a stale block from an earlier run never
 * matches. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* ------------------------------------------------------------------ */
/* Pools                                                                */

int pool_new(struct pool *p, size_t size)
{
	p->size = size;
	p->mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p->mem == MAP_FAILED) {
		p->mem = NULL;
		return -errno;
	}
	p->where = calloc(size / NVME_PAGE, sizeof(*p->where));
	p->page_dma = calloc(size / NVME_PAGE, sizeof(*p->page_dma));
	return p->where && p->page_dma ? 0 : -ENOMEM;
}

void pool_free(struct pool *p)
{
	if (p->mem)
		munmap(p->mem, p->size);
	free(p->where);
	free(p->page_dma);
	memset(p, 0, sizeof(*p));
}

/* Logical chunk k of the stream lives at where[k]: a shuffle of the
 * pool's chunks. */
void pool_shuffle(struct pool *p, size_t chunk, uint64_t seed)
{
	size_t n = p->size / chunk, i, j, t;

	for (i = 0; i < n; i++)
		p->where[i] = i * chunk;
	for (i = n; i > 1; i--) {
		j = (size_t)(mix(seed ^ i) % i);
		t = p->where[i - 1];
		p->where[i - 1] = p->where[j];
		p->where[j] = t;
	}
}

uint8_t *stream_at(const struct pool *p, size_t chunk, size_t off)
{
	return p->mem + p->where[off / chunk] + off % chunk;
}

void fill_pattern(struct run *r, uint64_t seed)
{
	size_t off;

	for (off = 0; off < r->out.size; off += 8) {
		uint64_t v = mix(seed ^ (r->o->lba * 512 + off));

		memcpy(stream_at(&r->out, r->chunk, off), &v, 8);
	}
	memset(r->in.mem, 0, r->in.size);
}

/* The first difference between what was written and what came back. */
bool verify(struct run *r, const char *what)
{
	size_t off, bad = 0, first = 0;

	for (off = 0; off < r->out.size; off += r->chunk)
		if (memcmp(stream_at(&r->out, r->chunk, off),
			   stream_at(&r->in, r->chunk, off), r->chunk)) {
			size_t b;

			for (b = 0; b < r->chunk; b++)
				if (stream_at(&r->out, r->chunk, off + b)[0] !=
				    stream_at(&r->in, r->chunk, off + b)[0])
					break;
			if (!bad++)
				first = off + b;
		}
	if (bad)
		error_line("%s: data read back differs from what was written: first at byte %zu (LBA %" PRIu64 "), %zu of %zu chunks differ",
			   what, first, r->o->lba + first / r->c->lba_size,
			   bad, r->out.size / r->chunk);
	return !bad;
}
