// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Window objects without malloc's header.  malloc gives a 48-byte
 * window object a 64-byte chunk; a program holding many small windows
 * pays that per window (dmasplit bench, figure 5).  Here objects lie
 * end to end in pages of SLAB_PAGE bytes aligned to their size, so an
 * object's page is its address rounded down, and the page's first bytes
 * say what in it is free.
 *
 * A page is mapped once; objects never handed out are taken in order
 * from its untouched end, so the memory a page costs is what was
 * used.  A page whose last object is freed is unmapped at once: with
 * every window gone, the memory is back to what it was before.  The
 * per-thread spares in front (iova.c) keep a window made and destroyed
 * per I/O off this lock and off the system.
 */
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include "slab.h"

#define SLAB_PAGE ((size_t)64 << 10)
#define SLAB_LINE ((size_t)64)	/* a cache line */

struct slab_page {
	struct slab_page *prev, *next;	/* in partial, while in it */
	void *free;			/* freed objects, through their
					 * first word */
	uint32_t used;			/* objects handed out */
	uint32_t fresh;			/* objects never handed out start
					 * at this index */
};

/* The first object lies past the page's header, on a cache line of its
 * own, so that groups (slab_alloc_many()) start on one. */
static size_t first_offset(void)
{
	return (sizeof(struct slab_page) + SLAB_LINE - 1) & ~(SLAB_LINE - 1);
}

void slab_init(struct slab *s, size_t obj)
{
	size_t line_share;

	obj = (obj + 7) & ~(size_t)7;
	pthread_mutex_init(&s->lock, NULL);
	s->obj = (uint32_t)obj;
	s->per_page = (uint32_t)((SLAB_PAGE - first_offset()) / obj);
	/* The fewest objects that end on a line's end: a group of that
	 * many, starting on a line, shares no line with another object. */
	for (line_share = SLAB_LINE; obj % line_share; line_share /= 2)
		;
	s->group = (uint32_t)(SLAB_LINE / line_share);
	s->partial = NULL;
	s->pages = 0;
}

/* A page aligned to its size: mapped twice as large, the rest unmapped. */
static struct slab_page *page_map(void)
{
	uintptr_t p, start;
	void *m;

	m = mmap(NULL, 2 * SLAB_PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	p = (uintptr_t)m;
	start = (p + SLAB_PAGE - 1) & ~(uintptr_t)(SLAB_PAGE - 1);
	if (start > p)
		munmap(m, start - p);
	if (p + SLAB_PAGE > start)
		munmap((void *)(start + SLAB_PAGE), p + SLAB_PAGE - start);
	return (struct slab_page *)start;
}

static void partial_add(struct slab *s, struct slab_page *pg)
{
	pg->prev = NULL;
	pg->next = s->partial;
	if (s->partial)
		s->partial->prev = pg;
	s->partial = pg;
}

static void partial_del(struct slab *s, struct slab_page *pg)
{
	if (pg->prev)
		pg->prev->next = pg->next;
	else
		s->partial = pg->next;
	if (pg->next)
		pg->next->prev = pg->prev;
}

/* Lock held: a page with a free object, mapped if none is; NULL on
 * ENOMEM. */
static struct slab_page *page_with_room(struct slab *s)
{
	struct slab_page *pg = s->partial;

	if (!pg) {
		pg = page_map();
		if (!pg)
			return NULL;
		/* A new mapping reads as zeros. */
		partial_add(s, pg);
		s->pages++;
	}
	return pg;
}

/* Lock held: n more objects of pg handed out. */
static void page_take(struct slab *s, struct slab_page *pg, uint32_t n)
{
	pg->used += n;
	if (pg->used == s->per_page)
		partial_del(s, pg);
}

/* Lock held: fresh object idx of pg. */
static void *fresh_at(const struct slab *s, struct slab_page *pg,
		      uint32_t idx)
{
	return (char *)pg + first_offset() + (size_t)idx * s->obj;
}

/* Lock held: one object of pg, a freed one first, so that freed memory
 * is used before fresh. */
static void *take_one(struct slab *s, struct slab_page *pg)
{
	void *p;

	if (pg->free) {
		p = pg->free;
		pg->free = *(void **)p;
	} else {
		p = fresh_at(s, pg, pg->fresh++);
	}
	page_take(s, pg, 1);
	return p;
}

void *slab_alloc(struct slab *s)
{
	struct slab_page *pg;
	void *p;

	pthread_mutex_lock(&s->lock);
	pg = page_with_room(s);
	if (!pg) {
		pthread_mutex_unlock(&s->lock);
		return NULL;
	}
	p = take_one(s, pg);
	pthread_mutex_unlock(&s->lock);
	memset(p, 0, s->obj);
	return p;
}

/* Lock held: pg's fresh objects to the end of the group the next one is
 * in (a whole group unless a single slab_alloc() came between), or of
 * the page, at objs; how many. */
static uint32_t take_group(struct slab *s, struct slab_page *pg, void **objs)
{
	uint32_t n = s->group - pg->fresh % s->group, i;

	if (n > s->per_page - pg->fresh)
		n = s->per_page - pg->fresh;
	for (i = 0; i < n; i++)
		objs[i] = fresh_at(s, pg, pg->fresh + i);
	pg->fresh += n;
	page_take(s, pg, n);
	return n;
}

unsigned int slab_alloc_many(struct slab *s, void **objs, unsigned int max)
{
	struct slab_page *pg;
	unsigned int n = 0, i;

	pthread_mutex_lock(&s->lock);
	while (n < max) {
		/* A new page only for a batch that has nothing yet: one
		 * left unused would stay mapped. */
		pg = n ? s->partial : page_with_room(s);
		if (!pg)
			break;
		if (pg->free)
			/* Where a freed object lies is not this caller's
			 * to choose. */
			objs[n++] = take_one(s, pg);
		else if (n + s->group <= max)
			n += take_group(s, pg, objs + n);
		else
			break;
	}
	pthread_mutex_unlock(&s->lock);
	for (i = 0; i < n; i++)
		memset(objs[i], 0, s->obj);
	return n;
}

/* Lock held: p back in its page; the page, if that emptied it, off every
 * list and returned, for the caller to unmap once the lock is dropped. */
static struct slab_page *give_back(struct slab *s, void *p)
{
	struct slab_page *pg;
	bool was_full;

	pg = (struct slab_page *)((uintptr_t)p & ~(uintptr_t)(SLAB_PAGE - 1));
	was_full = pg->used == s->per_page;
	if (--pg->used == 0) {
		if (!was_full)
			partial_del(s, pg);
		s->pages--;
		return pg;
	}
	*(void **)p = pg->free;
	pg->free = p;
	if (was_full)
		partial_add(s, pg);
	return NULL;
}

void slab_free_chain(struct slab *s, void *chain)
{
	struct slab_page *empty = NULL, *pg;
	void *p, *next;

	pthread_mutex_lock(&s->lock);
	for (p = chain; p; p = next) {
		next = *(void **)p;
		pg = give_back(s, p);
		if (pg) {
			/* Off every list: its header is the caller's. */
			pg->next = empty;
			empty = pg;
		}
	}
	pthread_mutex_unlock(&s->lock);
	while ((pg = empty)) {
		empty = pg->next;
		munmap(pg, SLAB_PAGE);
	}
}

void slab_free(struct slab *s, void *p)
{
	if (!p)
		return;
	*(void **)p = NULL;
	slab_free_chain(s, p);
}

void slab_fini(struct slab *s)
{
	struct slab_page *pg;

	/* Only a page with an object still out is left, and on partial
	 * unless full; the owner frees every object first (a window holds
	 * a reference on its device), so this is belt and braces. */
	while ((pg = s->partial)) {
		s->partial = pg->next;
		munmap(pg, SLAB_PAGE);
		s->pages--;
	}
	pthread_mutex_destroy(&s->lock);
}
