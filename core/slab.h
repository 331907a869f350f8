/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Objects of one size with no per-object header, in slabs that go back
 * to the system as soon as they are empty (slab.c).
 */
#ifndef DMASPLIT_SLAB_H
#define DMASPLIT_SLAB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct slab_page;

/* Objects are multiples of 8 bytes: 8 of them end on a 64-byte line. */
#define SLAB_GROUP_MAX 8

struct slab {
	pthread_mutex_t lock;
	uint32_t obj;			/* bytes per object, a multiple of 8 */
	uint32_t per_page;		/* objects per slab page */
	uint32_t group;			/* objects that fill whole cache
					 * lines: at most SLAB_GROUP_MAX */
	struct slab_page *partial;	/* pages with a free object */
	uint32_t pages;			/* mapped */
};

void slab_init(struct slab *s, size_t obj);
/* Every object has been freed (pages go when empty): the lock goes. */
void slab_fini(struct slab *s);
/* An object, zeroed; NULL on ENOMEM. */
void *slab_alloc(struct slab *s);
/*
 * For one thread's use, under one lock: up to max objects, zeroed, at
 * objs (max at least the slab's group), freed ones first, then fresh
 * ones (never handed out before) in groups that share their cache lines
 * with no other object; how many, 0 on ENOMEM.  Two threads' objects on
 * one line would take it from each other at each write.
 */
unsigned int slab_alloc_many(struct slab *s, void **objs, unsigned int max);
void slab_free(struct slab *s, void *p);
/* Objects chained through their first word, up to a NULL: freed under
 * one lock. */
void slab_free_chain(struct slab *s, void *chain);

#endif /* DMASPLIT_SLAB_H */
