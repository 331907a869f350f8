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

struct slab {
	pthread_mutex_t lock;
	uint32_t obj;			/* bytes per object, a multiple of 8 */
	uint32_t per_page;		/* objects per slab page */
	struct slab_page *partial;	/* pages with a free object */
	uint32_t pages;			/* mapped */
};

void slab_init(struct slab *s, size_t obj);
/* Every object has been freed (pages go when empty): the lock goes. */
void slab_fini(struct slab *s);
/* An object, zeroed; NULL on ENOMEM. */
void *slab_alloc(struct slab *s);
void slab_free(struct slab *s, void *p);

#endif /* DMASPLIT_SLAB_H */
