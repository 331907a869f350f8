// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The reference model's state and shadow memory, its prediction of a
 * device access, and the steps that write host memory and access it from
 * the device.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim-model.h"

struct model M;

const char *last_log(void)
{
	unsigned int i, n = M.nlast < 4 ? M.nlast : 4;
	size_t pos = 0;

	M.lastbuf[0] = '\0';
	for (i = 0; i < n; i++) {
		int w = snprintf(M.lastbuf + pos, sizeof(M.lastbuf) - pos, "%s%s",
				 i ? " | " : "", M.last[(M.nlast - n + i) % 4]);

		if (w < 0 || (size_t)w >= sizeof(M.lastbuf) - pos)
			break;
		pos += (size_t)w;
	}
	return M.lastbuf;
}

void model_log(void *data, int priority, const char *file, int line,
	       const char *fn, const char *format, va_list args)
{
	char *msg = M.last[M.nlast++ % 4];

	vsnprintf(msg, sizeof(M.last[0]), format, args);
	if (is_dmar(msg))
		M.dmar++;
}

uint64_t rnd(void)
{
	uint64_t z = (M.rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

bool chance(unsigned int percent)
{
	return below(100) < percent;
}

void sh_new(struct shadow *s, size_t len, bool known_zero)
{
	s->v = calloc(len ? len : 1, 1);
	s->k = malloc(len ? len : 1);
	ck_assert(s->v && s->k);
	memset(s->k, known_zero, len);
}

void sh_free(struct shadow *s)
{
	free(s->v);
	free(s->k);
	s->v = s->k = NULL;
}

struct shadow sh_at(const struct shadow *s, size_t off)
{
	struct shadow r = { s->v + off, s->k + off };

	return r;
}

static void sh_copy(struct shadow dst, struct shadow src, size_t len)
{
	memmove(dst.v, src.v, len);
	memmove(dst.k, src.k, len);
}

void sh_unknown(struct shadow s, size_t len)
{
	memset(s.k, 0, len);
}

/* The shadow of host bytes [p, p + len), or false when untracked. */
static bool host_shadow(const uint8_t *p, size_t len, struct shadow *out)
{
	unsigned int i;

	for (i = 0; i < M_REGIONS; i++) {
		struct mregion *r = &M.r[i];

		if (r->live && p >= r->base && len <= r->len &&
		    (size_t)(p - r->base) <= r->len - len) {
			*out = sh_at(&r->s, (size_t)(p - r->base));
			return true;
		}
	}
	return false;
}

struct shadow host_sh(const uint8_t *p, size_t len)
{
	struct shadow s = { NULL, NULL };

	MASSERT(host_shadow(p, len, &s), "host %p+0x%zx is not tracked", (void *)p, len);
	return s;
}

void dirty(uint8_t *p, size_t len)
{
	if (M.ndirty < M_DIRTY) {
		M.dirty[M.ndirty].p = p;
		M.dirty[M.ndirty].len = len;
	}
	M.ndirty++;
}

void verify_host(const uint8_t *p, size_t len, const char *why)
{
	struct shadow s = host_sh(p, len);
	size_t i;

	for (i = 0; i < len; i++)
		MASSERT(!s.k[i] || p[i] == s.v[i],
			"%s: host byte %p is 0x%02x, expected 0x%02x", why,
			(const void *)(p + i), p[i], s.v[i]);
}

void verify_all(void)
{
	unsigned int i;

	for (i = 0; i < M_REGIONS; i++)
		if (M.r[i].live)
			verify_host(M.r[i].base, M.r[i].len, "host memory");
}

void host_to_slot(struct shadow slot, const uint8_t *host, size_t len)
{
	sh_copy(slot, host_sh(host, len), len);
}

void slot_to_host(uint8_t *host, struct shadow slot, size_t len)
{
	sh_copy(host_sh(host, len), slot, len);
	dirty(host, len);
}

uint64_t align_down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

static bool dir_allows(enum dmasplit_dir dir, bool write)
{
	return write ? dir != DMASPLIT_TO_DEVICE : dir != DMASPLIT_FROM_DEVICE;
}

bool is_bounced(const struct mdev *d, const uint8_t *p, size_t len)
{
	if (d->iommu)
		return d->untrusted && (((uintptr_t)p | (uintptr_t)(p + len)) & (d->gran - 1));
	return d->force || !fits_mask((uintptr_t)p, len, d->mask);
}

void push_freed(struct mdev *d, uint64_t dma, uint64_t len)
{
	struct dmasplit_range *f = &d->freed[d->nfreed++ % M_FREED];

	f->start = align_down(dma, d->gran);
	f->last = align_down(dma + len - 1, d->gran) + d->gran - 1;
}

/* Whether [p, p + len) overlaps a live mapping made in place: on a
 * device without an IOMMU the checker refuses two live owners of one
 * device address. */
bool overlaps_direct(const struct mdev *d, const uint8_t *p, size_t len)
{
	unsigned int i, j;

	for (i = 0; i < d->nm; i++) {
		const struct mmapping *m = &d->m[i];

		for (j = 0; j < m->n; j++)
			if (!m->p[j].bounced && p < m->p[j].host + m->p[j].len &&
			    m->p[j].host < p + len)
				return true;
	}
	return false;
}

/* ---- Predicting a device access ---- */

enum { C_OK, C_FAULT, C_AMBIG };

struct chunk {
	struct shadow s;
	uint8_t *host;		/* host bytes, or NULL for a slot */
	size_t len;
	int st;
};

#define M_CHUNKS 32

static const struct mpiece *piece_at(const struct mdev *d, uint64_t x,
				     const struct mmapping **mm)
{
	unsigned int i, j;

	for (i = 0; i < d->nm; i++)
		for (j = 0; j < d->m[i].n; j++) {
			const struct mpiece *p = &d->m[i].p[j];

			if (x >= p->dma && x - p->dma < p->len) {
				*mm = &d->m[i];
				return p;
			}
		}
	return NULL;
}

/* Inside the granules a live mapping occupies, outside its bytes: the
 * contract does not say what a device finds there. */
static bool in_footprint(const struct mdev *d, uint64_t x)
{
	unsigned int i, j;

	for (i = 0; i < d->nm; i++)
		for (j = 0; j < d->m[i].n; j++) {
			const struct mpiece *p = &d->m[i].p[j];
			uint64_t s = align_down(p->dma, d->gran);
			uint64_t l = align_down(p->dma + p->len - 1, d->gran) + d->gran - 1;

			if (x >= s && x <= l)
				return true;
		}
	return false;
}

static void chunk_host(struct chunk *c, uint8_t *host)
{
	c->host = host;
	if (!host_shadow(host, c->len, &c->s))
		c->st = C_AMBIG;
}

/* e and d translate through one page table: d itself, or a member of
 * its space. */
bool peers(const struct mdev *d, const struct mdev *e)
{
	return e == d || (d->space && e->space == d->space && e->dev);
}

bool peer_footprint(const struct mdev *d, uint64_t x)
{
	unsigned int i;

	for (i = 0; i < M_DEVS; i++)
		if (peers(d, &M.d[i]) && in_footprint(&M.d[i], x))
			return true;
	return false;
}

/* What a window or mapping of d holds at [x, y), if one does. */
static bool predict_in(const struct mdev *d, uint64_t x, uint64_t y,
		       bool write, struct chunk *c)
{
	const struct mmapping *m = NULL;
	const struct mpiece *p;
	unsigned int i;

	c->len = y - x;
	c->st = C_OK;
	c->host = NULL;
	for (i = 0; i < d->nw; i++) {
		const struct mwin *w = &d->w[i];
		const struct mgran *g;
		size_t in;

		if (x < w->base || x - w->base >= w->size)
			continue;
		g = &w->g[(x - w->base) / d->gran];
		in = (x - w->base) % d->gran;
		if (g->state != GS_SYNCED || !dir_allows(g->dir, write))
			c->st = C_FAULT;
		else if (g->bounced)
			c->s = sh_at(&g->slot, in);
		else
			chunk_host(c, g->host + in);
		return true;
	}
	p = piece_at(d, x, &m);
	if (p) {
		if (y - p->dma > p->len)
			c->st = C_AMBIG;
		else if (!dir_allows(m->dir, write))
			c->st = C_FAULT;
		else if (p->bounced)
			c->s = sh_at(&p->slot, x - p->dma);
		else
			chunk_host(c, p->host + (x - p->dma));
		return true;
	}
	return false;
}

/* Every member of a space reaches what any member mapped. */
static void predict_on(const struct mdev *d, uint64_t x, uint64_t y,
		       bool write, struct chunk *c)
{
	unsigned int i;

	for (i = 0; i < M_DEVS; i++)
		if (peers(d, &M.d[i]) && predict_in(&M.d[i], x, y, write, c)) {
			M.peer_hits += &M.d[i] != d;
			return;
		}
	c->st = peer_footprint(d, x) ? C_AMBIG : C_FAULT;
}

static void predict_off(const struct mdev *d, uint64_t x, uint64_t end,
			struct chunk *c)
{
	const struct mmapping *m = NULL;
	const struct mpiece *p = piece_at(d, x, &m);
	unsigned int i;

	c->st = C_OK;
	c->host = NULL;
	if (p && p->bounced) {
		c->len = end - x < p->dma + p->len - x ? end - x : p->dma + p->len - x;
		c->s = sh_at(&p->slot, x - p->dma);
		return;
	}
	/* Without an IOMMU the device reaches host memory in place. */
	for (i = 0; i < M_REGIONS; i++) {
		const struct mregion *r = &M.r[i];
		uint64_t b = (uintptr_t)r->base;

		if (r->live && x >= b && x - b < r->len) {
			c->len = end - x < b + r->len - x ? end - x : b + r->len - x;
			chunk_host(c, (uint8_t *)(uintptr_t)x);
			return;
		}
	}
	c->len = end - x;
	c->st = C_AMBIG;
}

/* The outcome of an access of [a, a + n): chunks up to and including
 * the first that does not simply succeed. */
static int predict(const struct mdev *d, uint64_t a, size_t n, bool write,
		   struct chunk *c, unsigned int *nc)
{
	uint64_t x = a, end = a + n;

	*nc = 0;
	if (!d->iommu && !fits_mask(a, n, d->mask)) {
		c[0].len = n;
		c[0].st = C_FAULT;
		*nc = 1;
		return C_FAULT;
	}
	while (x < end) {
		struct chunk *ck = &c[(*nc)++];

		MASSERT(*nc <= M_CHUNKS, "access of 0x%zx bytes split too far", n);
		if (d->iommu) {
			uint64_t y = align_down(x, d->gran) + d->gran;

			predict_on(d, x, y < end ? y : end, write, ck);
		} else {
			predict_off(d, x, end, ck);
		}
		if (ck->st != C_OK)
			return ck->st;
		x += ck->len;
	}
	return C_OK;
}

/* ---- Steps that touch memory ---- */

enum dmasplit_dir rand_dir(void)
{
	return (enum dmasplit_dir)below(3);
}

uint32_t rand_attrs(void)
{
	return (chance(25) ? DMASPLIT_ATTR_SKIP_CPU_SYNC : 0) |
	       (chance(10) ? DMASPLIT_ATTR_NO_WARN : 0);
}

const char *dir_str(enum dmasplit_dir dir)
{
	return dir == DMASPLIT_TO_DEVICE ? "TO" : dir == DMASPLIT_FROM_DEVICE ? "FROM" : "BIDI";
}

struct mregion *rand_arena(void)
{
	return &M.r[below(2)];
}

static uint8_t scratch_a[2 * K64], scratch_b[2 * K64];

void step_host_write(struct mdev *d)
{
	struct mregion *r;
	size_t off, n, i;

	do
		r = &M.r[below(M_REGIONS)];
	while (!r->live);
	off = below(r->len);
	n = 1 + below(r->len - off < 2 * G ? r->len - off : 2 * G);
	snprintf(M.what, sizeof(M.what), "host write %p+0x%zx", (void *)(r->base + off), n);
	for (i = 0; i < n; i++)
		r->base[off + i] = r->s.v[off + i] = (uint8_t)rnd();
	memset(r->s.k + off, 1, n);
	dirty(r->base + off, n);
}

void step_access(struct mdev *d)
{
	const struct mdev *src = d;
	struct chunk c[M_CHUNKS];
	unsigned int nc, i, t = (unsigned int)below(100);
	bool write = chance(45);
	uint64_t a = 0;
	size_t n = 0, pos;
	int st, r;

	/* A member of a space reaches for its peers' windows and maps as
	 * often as for its own. */
	if (d->space && chance(50)) {
		const struct mdev *e = &M.d[below(M_DEVS)];

		if (peers(d, e))
			src = e;
	}
	if (t < 35 && src->nw) {
		const struct mwin *w = &src->w[below(src->nw)];

		a = w->base + below(w->size);
		n = 1 + below(2 * d->gran);
	} else if (t < 70 && src->nm) {
		const struct mmapping *m = &src->m[below(src->nm)];
		const struct mpiece *p = &m->p[below(m->n)];
		uint64_t in = below(p->len);

		a = p->dma + in;
		n = 1 + below(p->len - in);
	} else if (t < 85 && d->iommu && d->nfreed) {
		const struct dmasplit_range *f =
			&d->freed[below(d->nfreed < M_FREED ? d->nfreed : M_FREED)];

		a = f->start + below(f->last - f->start + 1);
		n = 1 + below(64);
	} else if (!d->iommu) {
		const struct mregion *ar = rand_arena();
		size_t off = below(ar->len);

		a = (uintptr_t)ar->base + off;
		n = 1 + below(ar->len - off < 2 * G ? ar->len - off : 2 * G);
	} else {
		a = below(1ull << 30);
		n = 1 + below(64);
	}
	/* Drawn whatever the prediction, so that the steps a seed gives do
	 * not depend on the addresses the backend chose. */
	for (i = 0; i < n; i++)
		scratch_a[i] = (uint8_t)rnd();
	st = predict(d, a, n, write, c, &nc);
	if (st == C_AMBIG) {
		M.skipped++;
		return;
	}
	/* A write that would fault part-way: how much of it lands first is
	 * the backend's choice, so write only what is sure to land. */
	if (write && st == C_FAULT && c[0].st == C_OK) {
		n = c[0].len;
		st = predict(d, a, n, write, c, &nc);
	}
	snprintf(M.what, sizeof(M.what), "device %s 0x%" PRIx64 "+0x%zx, predicted %s",
		 write ? "write" : "read", a, n, st == C_OK ? "success" : "fault");
	if (write) {
		r = dmasplit_dev_dma_write(d->dev, a, scratch_a, n);
	} else {
		memset(scratch_b, 0xa5, n);
		r = dmasplit_dev_dma_read(d->dev, a, scratch_b, n);
	}
	M.accesses++;
	if (st == C_FAULT) {
		MASSERT(r == -EFAULT, "expected -EFAULT, got %d", r);
		M.faults = 1;
		M.faulted++;
		return;
	}
	MASSERT(r == 0, "expected 0, got %d", r);
	for (i = 0, pos = 0; i < nc; pos += c[i].len, i++) {
		size_t j;

		if (write) {
			memcpy(c[i].s.v, scratch_a + pos, c[i].len);
			memset(c[i].s.k, 1, c[i].len);
			if (c[i].host)
				dirty(c[i].host, c[i].len);
			continue;
		}
		for (j = 0; j < c[i].len; j++)
			MASSERT(!c[i].s.k[j] || scratch_b[pos + j] == c[i].s.v[j],
				"byte 0x%zx read 0x%02x, expected 0x%02x (%s)", pos + j,
				scratch_b[pos + j], c[i].s.v[j],
				c[i].host ? "host memory" : "a bounce slot");
	}
}

/* -- windows -- */

