// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The context's registry of peer memory: which CPU ranges of this process
 * are another PCI device's memory, and at which physical and bus address.
 * A backend mapping memory for a client device asks here first, because
 * neither pagemap nor pinning says the right thing about device memory:
 * a client below the same switch must use the bus address, VFIO cannot
 * pin p2pmem pages, and nothing may ever bounce it.
 *
 * Few entries (one per peer allocation or BAR mapping), kept sorted by
 * address; the count is read without the lock so that the common case,
 * no peer memory at all, costs one load per lookup.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

void peer_init(struct peer_table *t)
{
	pthread_mutex_init(&t->lock, NULL);
	t->v = NULL;
	t->n = t->cap = 0;
}

void peer_fini(struct peer_table *t)
{
	free(t->v);
	pthread_mutex_destroy(&t->lock);
}

/* The first entry that ends after addr. */
static size_t lower(const struct peer_table *t, uintptr_t addr)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uintptr_t end = (uintptr_t)t->v[mid].cpu + t->v[mid].len;

		if (end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int peer_add(const struct dmasplit_host *host, const struct dmasplit_peer *p)
{
	struct dmasplit_ctx *ctx;
	struct peer_table *t;
	uintptr_t start;
	size_t i;

	if (!host || !p)
		return -EINVAL;
	ctx = ctx_from_host(host);
	t = &ctx->peers;
	start = (uintptr_t)p->cpu;
	if (!p->cpu || range_bad(start, p->len) || !p->provider[0] ||
	    (p->kind != DMASPLIT_PEER_P2PMEM && p->kind != DMASPLIT_PEER_BAR))
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	i = lower(t, start);
	if (i < t->n && (uintptr_t)t->v[i].cpu < start + p->len) {
		pthread_mutex_unlock(&t->lock);
		log_err(ctx, "peer memory %p+0x%zx of %s overlaps %p+0x%zx of %s",
			p->cpu, p->len, p->provider, t->v[i].cpu, t->v[i].len,
			t->v[i].provider);
		return -EEXIST;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct dmasplit_peer *v = realloc(t->v, cap * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&t->lock);
			log_err(ctx, "peer memory %p+0x%zx of %s: no memory for %zu registrations",
				p->cpu, p->len, p->provider, cap);
			return -ENOMEM;
		}
		t->v = v;
		t->cap = cap;
	}
	memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
	t->v[i] = *p;
	t->v[i].provider[sizeof(t->v[i].provider) - 1] = '\0';
	__atomic_store_n(&t->n, t->n + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&t->lock);
	log_dbg(ctx, "peer memory of %s: %p+0x%zx, physical 0x%" PRIx64 ", bus 0x%" PRIx64,
		p->provider, p->cpu, p->len, p->phys, p->bus);
	return 0;
}

/* The registration starting at cpu goes, if it is of one of the kinds
 * in the mask (1 << kind); -EBUSY if it is of another, kept in *other. */
static int peer_del_kinds(const struct dmasplit_host *host, const void *cpu,
			  unsigned int kinds, struct dmasplit_peer *other)
{
	struct peer_table *t;
	size_t i;
	int r = -ENOENT;

	if (!host || !cpu)
		return -EINVAL;
	t = &ctx_from_host(host)->peers;
	pthread_mutex_lock(&t->lock);
	i = lower(t, (uintptr_t)cpu);
	if (i < t->n && t->v[i].cpu == cpu) {
		if (kinds & (1u << t->v[i].kind)) {
			memmove(&t->v[i], &t->v[i + 1],
				(t->n - i - 1) * sizeof(*t->v));
			__atomic_store_n(&t->n, t->n - 1, __ATOMIC_RELEASE);
			r = 0;
		} else {
			*other = t->v[i];
			r = -EBUSY;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

int peer_del(const struct dmasplit_host *host, const void *cpu)
{
	struct dmasplit_peer unused;

	return peer_del_kinds(host, cpu, ~0u, &unused);
}

int peer_find(const struct dmasplit_host *host, const void *addr, size_t len,
	      struct dmasplit_peer *out)
{
	struct peer_table *t;
	uintptr_t start = (uintptr_t)addr;
	size_t i;
	int r = -ENOENT;

	if (unlikely(!host || !out))
		return -EINVAL;
	t = &ctx_from_host(host)->peers;
	if (likely(!__atomic_load_n(&t->n, __ATOMIC_ACQUIRE)))
		return -ENOENT;
	if (!len)
		len = 1;
	pthread_mutex_lock(&t->lock);
	i = lower(t, start);
	/* It ends after start; it overlaps if it begins before the end. */
	if (i < t->n && ((uintptr_t)t->v[i].cpu <= start ||
			 (uintptr_t)t->v[i].cpu - start < len)) {
		*out = t->v[i];
		r = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

static int host_p2p_distance(const struct dmasplit_host *host,
			     const char *provider, const char *client,
			     enum dmasplit_p2p_map *map, char *why,
			     size_t why_len)
{
	CANCEL_DEFERRED;
	enum dmasplit_p2p_map m = DMASPLIT_P2P_NOT_SUPPORTED;
	int dist = 0, r;

	if (!host || !map)
		return -EINVAL;
	r = p2p_calc(ctx_from_host(host), provider, client, &dist, &m, why,
		     why_len);
	if (r < 0)
		return r;
	*map = m;
	return m == DMASPLIT_P2P_NOT_SUPPORTED ? -EREMOTEIO : dist;
}

void peer_host_init(struct dmasplit_host *host)
{
	host->peer_add = peer_add;
	host->peer_del = peer_del;
	host->peer_find = peer_find;
	host->p2p_distance = host_p2p_distance;
	host->pci_bar_bus = p2p_bar_bus;
}

/* ------------------------------------------------------------------ */
/* The application's BAR mappings                                       */

DMASPLIT_EXPORT int dmasplit_peer_add(struct dmasplit_ctx *ctx,
				      const char *provider, unsigned int bar,
				      uint64_t offset, void *cpu, size_t len)
{
	CANCEL_DEFERRED;
	struct dmasplit_desc d;
	struct dmasplit_peer p = { .cpu = cpu, .len = len,
				   .kind = DMASPLIT_PEER_BAR };
	const struct dmasplit_pci_resource *res;
	uint64_t size, bus;
	int r;

	if (!ctx)
		return -EINVAL;
	if (!provider || buf_bad(cpu, len))
		return refuse(ctx, 0, -EINVAL,
			      "dmasplit_peer_add: invalid arguments (provider %s, cpu %p, len 0x%zx)",
			      provider ? provider : "NULL", cpu, len);
	d.size = sizeof(d);
	r = dmasplit_describe(ctx, provider, &d);
	if (r < 0)
		return r;
	if (d.bus != DMASPLIT_BUS_PCI) {
		log_err(ctx, "dmasplit_peer_add: '%s' is not a PCI device",
			provider);
		return -EINVAL;
	}
	/* BARs 0-5: the expansion ROM is not peer memory. */
	res = bar < 6 && bar < d.num_resources ? &d.resource[bar] : NULL;
	if (!res || !res->end || !(res->flags & 0x200)) {
		log_err(ctx, "dmasplit_peer_add: %s has no memory BAR %u",
			d.name, bar);
		return -EINVAL;
	}
	size = res->end - res->start + 1;
	if (offset >= size || len > size - offset) {
		log_err(ctx, "dmasplit_peer_add: 0x%zx bytes at offset 0x%" PRIx64 " do not fit in BAR %u of %s (0x%" PRIx64 " bytes)",
			len, offset, bar, d.name, size);
		return -ERANGE;
	}
	r = p2p_bar_bus(&ctx->host, d.name, bar, &bus);
	if (r < 0)
		return r;
	p.phys = res->start + offset;
	p.bus = bus + offset;
	snprintf(p.provider, sizeof(p.provider), "%s", d.name);
	return peer_add(&ctx->host, &p);
}

DMASPLIT_EXPORT int dmasplit_peer_remove(struct dmasplit_ctx *ctx, void *cpu)
{
	CANCEL_DEFERRED;
	struct dmasplit_peer other;
	int r;

	if (!ctx)
		return -EINVAL;
	if (!cpu)
		return refuse(ctx, 0, -EINVAL,
			      "dmasplit_peer_remove: no memory given (cpu NULL)");
	/* What a backend handed out goes with its free: removed here, the
	 * free would find its registration gone. */
	r = peer_del_kinds(&ctx->host, cpu, 1u << DMASPLIT_PEER_BAR, &other);
	if (r == -EBUSY)
		return refuse(ctx, 0, -EINVAL,
			      "dmasplit_peer_remove: %p is peer memory of %s from dmasplit_alloc_coherent(): free it with dmasplit_free_coherent()",
			      cpu, other.provider);
	if (r < 0)
		log_err(ctx, "dmasplit_peer_remove: no peer memory starts at %p",
			cpu);
	return r;
}
