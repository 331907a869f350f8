// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Devices: description, backend selection, open and close, introspection.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "private.h"

/* A versioned out-struct must hold at least its size field: false, with
 * one line naming the call (and the device, dev_name, where there is
 * one) when out does not. */
static bool versioned_size_ok(struct dmasplit_ctx *ctx, const char *dev_name,
			      const char *fn, const char *field,
			      const void *out)
{
	size_t size = *(const size_t *)out;

	if (size >= sizeof(size))
		return true;
	if (dev_name)
		log_err(ctx, "%s: %s: %s->size %zu is too small", dev_name, fn,
			field, size);
	else
		log_err(ctx, "%s: %s->size %zu is too small", fn, field, size);
	return false;
}

/* Versioned out-structs: fill what the caller's size covers. */
static void copy_versioned(void *dst, const void *src, size_t src_size)
{
	size_t dst_size = *(const size_t *)dst;

	memcpy(dst, src, dst_size < src_size ? dst_size : src_size);
	if (dst_size > src_size)
		memset((char *)dst + src_size, 0, dst_size - src_size);
	*(size_t *)dst = dst_size;
}

DMASPLIT_EXPORT int dmasplit_describe(struct dmasplit_ctx *ctx, const char *spec,
				      struct dmasplit_desc *desc)
{
	CANCEL_DEFERRED;
	struct dmasplit_desc d;
	int r;

	if (!ctx || !spec || !desc)
		return -EINVAL;
	if (!versioned_size_ok(ctx, NULL, "dmasplit_describe", "desc", desc))
		return -EINVAL;
	r = spec_parse(ctx, spec, &d);
	if (r < 0)
		return r;
	if (d.bus == DMASPLIT_BUS_PCI) {
		r = sysfs_describe_pci(ctx, &d);
		if (r < 0)
			return r;
	}
	copy_versioned(desc, &d, sizeof(d));
	return 0;
}

/* Backends see a full-size description whatever the caller passed; one
 * that does not reach past bus and name is refused in one line, for fn. */
static _must_check_ int full_desc(struct dmasplit_ctx *ctx, const char *fn,
				  const struct dmasplit_desc *desc,
				  struct dmasplit_desc *full)
{
	if (!desc)
		return -EINVAL;
	if (desc->size < offsetof(struct dmasplit_desc, options))
		return refuse(ctx, 0, -EINVAL,
			      "%s: a description of %zu bytes, which does not hold the bus and name (%zu)",
			      fn, desc->size,
			      offsetof(struct dmasplit_desc, options));
	memset(full, 0, sizeof(*full));
	memcpy(full, desc,
	       desc->size < sizeof(*full) ? desc->size : sizeof(*full));
	full->size = sizeof(*full);
	full->name[sizeof(full->name) - 1] = '\0';
	full->options[sizeof(full->options) - 1] = '\0';
	full->address_space[sizeof(full->address_space) - 1] = '\0';
	full->driver[sizeof(full->driver) - 1] = '\0';
	full->iommu_group_type[sizeof(full->iommu_group_type) - 1] = '\0';
	full->vfio_dev[sizeof(full->vfio_dev) - 1] = '\0';
	full->iommu_group_name[sizeof(full->iommu_group_name) - 1] = '\0';
	/* A description from a caller built before the class (or one that
	 * left it 0, or set a value this core does not know) would be
	 * refused by every PCI backend: classify it as dmasplit_describe
	 * would have, from its own strings. */
	if (full->iommu_class == DMASPLIT_IOMMU_UNKNOWN ||
	    (unsigned int)full->iommu_class > DMASPLIT_IOMMU_VFIO_NOIOMMU)
		full->iommu_class = iommu_classify(full);
	return 0;
}

DMASPLIT_EXPORT int dmasplit_backend_probe(struct dmasplit_backend *be,
					   const struct dmasplit_desc *desc,
					   int *score)
{
	CANCEL_DEFERRED;
	struct dmasplit_desc full;
	int r, s = 0;

	if (!be || !score)
		return -EINVAL;
	r = full_desc(be->ctx, __func__, desc, &full);
	if (r < 0)
		return r;
	r = be->ops.probe(&be->ctx->host, &full, &s);
	if (r < 0 && is_errno(r))
		return r;
	if (r != 0 || s < 0) {
		/* A broken probe must not win. */
		log_err(be->ctx, "backend %s: probe for %s returned %d with score %d: a broken probe, not used",
			be->ops.name, full.name, r, s);
		return -EPROTO;
	}
	*score = s;
	return 0;
}

static _must_check_ int select_backend(struct dmasplit_ctx *ctx,
				       const struct dmasplit_desc *desc,
				       struct dmasplit_backend **out)
{
	struct dmasplit_backend *be, *best = NULL;
	int r, score, best_score = -1;

	r = loader_load(ctx);
	if (r < 0)
		return r;
	if (ctx->forced_backend) {
		be = loader_find(ctx, ctx->forced_backend);
		if (!be) {
			log_err(ctx, "forced backend '%s' is not loaded",
				ctx->forced_backend);
			return -ENODEV;
		}
		log_dbg(ctx, "selected %s for %s (forced)", be->ops.name,
			desc->name);
		*out = be;
		return 0;
	}
	for (be = ctx->backends; be; be = be->next) {
		r = dmasplit_backend_probe(be, desc, &score);
		if (r < 0) {
			log_dbg(ctx, "probe %s for %s: %s", be->ops.name,
				desc->name, strerror(-r));
			continue;
		}
		log_dbg(ctx, "probe %s for %s: score %d", be->ops.name,
			desc->name, score);
		if (score > best_score) {
			best = be;
			best_score = score;
		}
	}
	if (!best) {
		log_err(ctx, "no backend accepts device %s", desc->name);
		return -ENODEV;
	}
	log_dbg(ctx, "selected %s for %s (score %d)", best->ops.name,
		desc->name, best_score);
	*out = best;
	return 0;
}

DMASPLIT_EXPORT int dmasplit_select(struct dmasplit_ctx *ctx,
				    const struct dmasplit_desc *desc,
				    struct dmasplit_backend **backend)
{
	CANCEL_DEFERRED;
	struct dmasplit_desc full;
	int r;

	if (!ctx || !backend)
		return -EINVAL;
	r = full_desc(ctx, __func__, desc, &full);
	if (r < 0)
		return r;
	return select_backend(ctx, &full, backend);
}

/*
 * as= is refused before the backend touches the device: -EINVAL where
 * there is no IOMMU to share (no group, an identity domain, VFIO's
 * no-IOMMU mode), -EOPNOTSUPP from a backend that cannot share.  A sim
 * device's own IOMMU (iommu=off) is the backend's to judge.
 */
static _must_check_ int check_as(struct dmasplit_ctx *ctx,
				 struct dmasplit_backend *be,
				 const struct dmasplit_desc *desc)
{
	if (!desc->address_space[0])
		return 0;
	if (desc->iommu_class == DMASPLIT_IOMMU_NONE ||
	    desc->iommu_class == DMASPLIT_IOMMU_IDENTITY ||
	    desc->iommu_class == DMASPLIT_IOMMU_VFIO_NOIOMMU) {
		log_err(ctx, "%s: as=%s: the device is not behind an IOMMU (group %d, type %s): it has no address space to share",
			desc->name, desc->address_space, desc->iommu_group,
			desc->iommu_group_type[0] ? desc->iommu_group_type
						  : "none");
		return -EINVAL;
	}
	if (!(be->ops.flags & DMASPLIT_BACKEND_SHARES_AS)) {
		log_err(ctx, "%s: as=%s: backend %s cannot share an IOMMU address space between devices",
			desc->name, desc->address_space, be->ops.name);
		return -EOPNOTSUPP;
	}
	return 0;
}

/* What is wrong with a backend's answer to get_info, or NULL. */
static const char *info_bad(const struct dmasplit_dev_info *info)
{
	unsigned int i;

	if (!info->granule)
		return "granule 0 (get_info left it unset?)";
	if (!is_pow2(info->granule))
		return "a granule that is not a power of two";
	if (!info->dma_mask_bits || info->dma_mask_bits > 64)
		return "a DMA mask not of 1 to 64 bits";
	if (info->num_ranges > DMASPLIT_MAX_RANGES)
		return "more than DMASPLIT_MAX_RANGES ranges";
	for (i = 0; i < info->num_ranges; i++)
		if (info->ranges[i].last < info->ranges[i].start)
			return "a range that ends before it starts";
	return NULL;
}

static _must_check_ int open_with(struct dmasplit_ctx *ctx,
				  struct dmasplit_backend *be,
				  const struct dmasplit_desc *desc,
				  struct dmasplit_dev **out)
{
	struct dmasplit_dev *dev;
	const char *why;
	char ret[48];
	unsigned int logged;
	int r;

	r = check_as(ctx, be, desc);
	if (r < 0)
		return r;
	dev = zalloc_cacheline(sizeof(*dev));
	if (!dev) {
		log_err(ctx, "%s: no memory for the device", desc->name);
		return -ENOMEM;
	}
	dev->ctx = ctx;
	dev->refcount = 1;
	dev->backend = be;
	dev->ops = &be->ops;
	pthread_mutex_init(&dev->lock, NULL);
	pthread_rwlock_init(&dev->regions_lock, NULL);
	snprintf(dev->name, sizeof(dev->name), "%s", desc->name);

	logged = host_errors_logged_tls;
	r = be->ops.open(&ctx->host, desc, &dev->bdev);
	if (r < 0 && is_errno(r)) {
		/* One line per failure: the backend's reason, where it
		 * gave one, says more than this. */
		if (host_errors_logged_tls == logged)
			log_err(ctx, "backend %s cannot open %s: %s",
				be->ops.name, desc->name, strerror(-r));
		goto fail;
	}
	if (r != 0 || !dev->bdev) {
		log_err(ctx, "backend %s returned %d from open of %s%s: a broken backend, refused",
			be->ops.name, r, desc->name,
			dev->bdev ? "" : " and no device");
		/* What it opened, it can still release; a failure (an
		 * errno, handled above) says nothing was. */
		if (dev->bdev)
			be->ops.close(dev->bdev);
		r = -EPROTO;
		goto fail;
	}
	dev->info.size = sizeof(dev->info);
	r = be->ops.get_info(dev->bdev, &dev->info);
	if (r < 0 && is_errno(r)) {
		log_err(ctx, "backend %s gave no device information for %s: %s",
			be->ops.name, desc->name, strerror(-r));
		goto fail_close;
	}
	why = info_bad(&dev->info);
	if (r) {
		snprintf(ret, sizeof(ret), "a return of %d, not 0 or an errno",
			 r);
		why = ret;
	}
	if (why) {
		log_err(ctx, "backend %s gave invalid device information for %s: %s",
			be->ops.name, desc->name, why);
		r = -EPROTO;
		goto fail_close;
	}
	/* What the application may call on the device follows from the
	 * operations the backend has, whatever it says; flags this library
	 * does not know mean nothing to its callers. */
	dev->info.flags &= DMASPLIT_DEV_FLAGS_MASK;
	if (!dev->ops->iova_alloc && !dev->ops->iova_init)
		dev->info.flags &= ~(uint32_t)DMASPLIT_DEV_WINDOWS;
	if (!dev->ops->dma_read || !dev->ops->dma_write)
		dev->info.flags &= ~(uint32_t)DMASPLIT_DEV_DMA_RW;
	dev->info.flags &= ~(uint32_t)(DMASPLIT_DEV_HAS_FD |
				       DMASPLIT_DEV_MORE_RANGES);
	dev->info.size = sizeof(dev->info);
	dev->info.backend = be->ops.name;
	memcpy(dev->info.backend_uuid, be->uuid, sizeof(be->uuid));
	memcpy(dev->info.address_space, desc->address_space,
	       sizeof(dev->info.address_space));
	if (dev->ops->get_fd)
		dev->info.flags |= DMASPLIT_DEV_HAS_FD;
	if (dev->ops->get_ranges) {
		unsigned int total = 0;

		/* The fixed array is the first few: say when there are
		 * more, so that a caller knows to ask for them. */
		if (dev->ops->get_ranges(dev->bdev, NULL, &total) == -ENOSPC &&
		    total > dev->info.num_ranges)
			dev->info.flags |= DMASPLIT_DEV_MORE_RANGES;
	}
	dev->granule = dev->info.granule;
	dev->addr_last = UINT64_MAX;
	if (dev->info.dma_mask_bits && dev->info.dma_mask_bits < 64)
		dev->addr_last = (1ull << dev->info.dma_mask_bits) - 1;
	if (ctx->check) {
		r = check_dev_new(dev);
		if (r < 0)
			goto fail_close;
	}
	dev->bwin_inline = dev->ops->iova_init != NULL;
	dev->link_slow = dev->check || !dev->bwin_inline;
	dev->win_bytes = sizeof(struct dmasplit_iova) +
			 (dev->bwin_inline ? dev->ops->iova_win_size
					   : sizeof(struct dmasplit_bwin *));
	slab_init(&dev->win_slab, dev->win_bytes);

	dmasplit_ctx_ref(ctx);
	pthread_mutex_lock(&ctx->lock);
	dev->next = ctx->devs;
	ctx->devs = dev;
	pthread_mutex_unlock(&ctx->lock);
	log_dbg(ctx, "opened %s with backend %s%s", dev->name, be->ops.name,
		dev->check ? " (checker on)" : "");
	*out = dev;
	return 0;

fail_close:
	be->ops.close(dev->bdev);
fail:
	pthread_rwlock_destroy(&dev->regions_lock);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
	return r;
}

static _must_check_ int open_spec(struct dmasplit_ctx *ctx, const char *spec,
				  const char *name_or_uuid,
				  struct dmasplit_dev **dev)
{
	struct dmasplit_backend *be;
	struct dmasplit_desc desc = { .size = sizeof(desc) };
	int r;

	if (!ctx || !spec || !dev)
		return -EINVAL;
	r = dmasplit_describe(ctx, spec, &desc);
	if (r < 0)
		return r;
	if (name_or_uuid) {
		r = loader_load(ctx);
		if (r < 0)
			return r;
		be = loader_find(ctx, name_or_uuid);
		if (!be) {
			log_err(ctx, "backend '%s' is not loaded", name_or_uuid);
			return -ENODEV;
		}
	} else {
		r = select_backend(ctx, &desc, &be);
		if (r < 0)
			return r;
	}
	return open_with(ctx, be, &desc, dev);
}

DMASPLIT_EXPORT int dmasplit_dev_open(struct dmasplit_ctx *ctx, const char *spec,
				      struct dmasplit_dev **dev)
{
	CANCEL_DEFERRED;

	return open_spec(ctx, spec, NULL, dev);
}

DMASPLIT_EXPORT int dmasplit_dev_open_backend(struct dmasplit_ctx *ctx,
					      const char *spec,
					      const char *name_or_uuid,
					      struct dmasplit_dev **dev)
{
	CANCEL_DEFERRED;

	if (!name_or_uuid)
		return -EINVAL;
	return open_spec(ctx, spec, name_or_uuid, dev);
}

/*
 * A live count from two counters that only ever grow.  A backend that
 * accepts what it does not hold (a double unmap) makes the second pass
 * the first: the count is then 0, not 2^64 - 1, and the backend named.
 */
uint64_t dev_live(struct dmasplit_dev *dev, enum counter up,
		  enum counter down, const char *what)
{
	/* The releases first, as dmasplit_dev_get_stats() reads them. */
	uint64_t b = count_read(dev, down), a = count_read(dev, up);

	if (likely(a >= b))
		return a - b;
	log_err(dev->ctx, "%s: backend %s released %" PRIu64 " more %s than were made: it accepted an operation on something it did not hold",
		dev->name, dev->backend->ops.name, b - a, what);
	return 0;
}

/* The last reference: what is still live is reported and released.
 * Cancellation is deferred here, not only in dmasplit_dev_close(): a
 * window's or batch's destroy may drop the last reference, and the
 * backend's close is where descriptors close. */
static void release(struct dmasplit_dev *dev)
{
	CANCEL_DEFERRED;
	struct dmasplit_ctx *ctx = dev->ctx;
	struct dmasplit_dev **p;

	pthread_mutex_lock(&ctx->lock);
	for (p = &ctx->devs; *p && *p != dev; p = &(*p)->next)
		;
	if (*p)
		*p = dev->next;
	pthread_mutex_unlock(&ctx->lock);
	if (dev->check) {
		check_dev_release(dev);
	} else {
		/* Without the checker the core keeps no per-mapping state:
		 * the backend releases them, the counters say how many. */
		uint64_t live = dev_live(dev, C_MAPS, C_UNMAPS, "mappings");
		uint64_t coherent = __atomic_load_n(&dev->coherent_live,
						    __ATOMIC_RELAXED);

		if (live || coherent)
			log_err(ctx, "%s: %" PRIu64 " mappings and %" PRIu64 " coherent allocations still live at close, released (DMASPLIT_CHECK=1 names them)",
				dev->name, live, coherent);
	}
	dev->ops->close(dev->bdev);
	log_dbg(ctx, "closed %s", dev->name);
	iova_spares_free(dev);
	slab_fini(&dev->win_slab);
	free(dev->regions);
	pthread_rwlock_destroy(&dev->regions_lock);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
	ctx_put(ctx);
}

void dev_get(struct dmasplit_dev *dev)
{
	__atomic_add_fetch(&dev->refcount, 1, __ATOMIC_RELAXED);
}

void dev_put(struct dmasplit_dev *dev)
{
	if (__atomic_sub_fetch(&dev->refcount, 1, __ATOMIC_ACQ_REL) == 0)
		release(dev);
}

/*
 * The windows made while the device was open hold no reference (iova.c's
 * window_op_begin()): once no thread is making or destroying one, those
 * still live get one each.  closed is set: calls that come later take
 * and drop references themselves, once windows_settled says this count
 * is done.  Returns how many there were.
 */
static uint64_t windows_settle(struct dmasplit_dev *dev)
{
	uint64_t live;
	int i;

	for (i = 0; i < COUNT_SLOTS; i++)
		while (__atomic_load_n(&dev->count[i].window_ops,
				       __ATOMIC_SEQ_CST))
			sched_yield();
	live = dev_live(dev, C_WINDOWS_ALLOCATED, C_WINDOWS_DESTROYED,
			"windows");
	__atomic_add_fetch(&dev->refcount, (int)live, __ATOMIC_RELAXED);
	__atomic_store_n(&dev->windows_settled, true, __ATOMIC_RELEASE);
	return live;
}

/*
 * The application's reference.  Windows and batches still live keep the
 * device (and its backend device) for themselves: their calls keep
 * working and the last one to go releases it.  Each is a leak all the
 * same: reported one by one as a finding by the checker, counted without.
 */
DMASPLIT_EXPORT void dmasplit_dev_close(struct dmasplit_dev *dev)
{
	CANCEL_DEFERRED;
	unsigned int windows, batches, regions;
	uint64_t live;

	if (!dev)
		return;
	/* Sequentially consistent: see window_op_begin(). */
	if (__atomic_exchange_n(&dev->closed, true, __ATOMIC_SEQ_CST)) {
		log_err(dev->ctx, "%s: dmasplit_dev_close of a device already closed (its windows or batches keep it): ignored",
			dev->name);
		return;
	}
	live = windows_settle(dev);
	/* Batches and regions hold windows of their own: they are
	 * reported as batches and regions. */
	if (dev->check) {
		windows = check_app_windows(dev);
	} else {
		uint64_t held = __atomic_load_n(&dev->internal_windows,
						__ATOMIC_RELAXED);

		windows = live > held ? (unsigned int)(live - held) : 0;
	}
	batches = __atomic_load_n(&dev->batches, __ATOMIC_RELAXED);
	regions = regions_live(dev);
	/* With the checker, each window is a report of its own. */
	if (windows && dev->check)
		check_dev_close(dev);
	else if (windows)
		log_err(dev->ctx, "%s: closed with %u windows and %u batches live: the device stays until the last is destroyed or freed",
			dev->name, windows, batches);
	if (batches && dev->check)
		check_dev_close_holders(dev, batches, "batch");
	else if (batches && !windows)
		log_err(dev->ctx, "%s: closed with %u batches live: the device stays until the last is freed",
			dev->name, batches);
	if (regions && dev->check)
		check_dev_close_holders(dev, regions, "registered region");
	else if (regions)
		log_err(dev->ctx, "%s: closed with %u registered regions live: the device stays until the last is freed",
			dev->name, regions);
	dev_put(dev);
}

#define S(set) (1u << (set))
#define S_MAPS (S(ERRS_MAP) | S(ERRS_MAP_VEC))

/* The sets an errno belongs to, as bits. */
static unsigned int errno_sets(int e)
{
	switch (e) {
	case EINVAL:
	case EIO:
	case ENOMEM:
		return ~0u;
	case ENOENT:
		return S(ERRS_WSYNC) | S(ERRS_UNMAP) | S(ERRS_SYNC);
	case EFAULT:	/* the caller's memory cannot be reached or pinned */
		return S(ERRS_LINK) | S(ERRS_WSYNC) | S_MAPS | S(ERRS_RW);
	case EAGAIN:	/* pinning failed for now */
		return S(ERRS_LINK) | S(ERRS_WSYNC) | S_MAPS | S(ERRS_COHERENT);
	case ENOSPC:	/* at iova_sync: the kernel's limit on mappings */
		return S(ERRS_ALLOC) | S(ERRS_WSYNC) | S_MAPS | S(ERRS_COHERENT);
	case EOPNOTSUPP:
		return S(ERRS_ALLOC) | S_MAPS | S(ERRS_COHERENT) | S(ERRS_RW);
	case EREMOTEIO:	/* the caller's memory is peer memory */
		return S(ERRS_LINK) | S_MAPS;
	case EEXIST:	/* alloc_coherent: p2pdma's memory under a stale
			 * peer registration; iova_sync: vfio's links that
			 * overlap */
		return S(ERRS_LINK) | S(ERRS_WSYNC) | S(ERRS_COHERENT);
	case EBUSY:
		return S(ERRS_LINK);
	case ERANGE:
	case EPERM:
		return S_MAPS | S(ERRS_COHERENT);
	case EXDEV:	/* map on direct: not physically contiguous */
		return S(ERRS_MAP);
	case EMFILE:	/* map on direct: /proc unreadable for want of a */
	case ENFILE:	/* descriptor, the caller's memory unknown */
		return S_MAPS;
	default:
		return 0;
	}
}

static bool errno_allowed(enum errset set, int e)
{
	return errno_sets(e) & S(set);
}

int backend_error(struct dmasplit_dev *dev, int r, enum errset set,
		  const char *op)
{
	if (likely(r < 0 && is_errno(r) && errno_allowed(set, -r)))
		return r;
	log_err(dev->ctx, "%s: backend %s returned %d (%s) from %s, which that call may not return: reported as EIO",
		dev->name, dev->backend->ops.name, r,
		is_errno(r) ? strerror(-r) : "not an errno", op);
	return -EIO;
}

int backend_bad_dma(struct dmasplit_dev *dev, uint64_t dma, uint64_t len,
		    const char *op)
{
	log_err(dev->ctx, "%s: backend %s returned device address 0x%" PRIx64 "+0x%" PRIx64 " from %s, which the device cannot use (%s): refused",
		dev->name, dev->backend->ops.name, dma, len, op,
		dma == 0 ? "address 0" :
		dma + (len - 1) < dma ? "it wraps past 2^64" :
					"above its DMA mask");
	return -EIO;
}

DMASPLIT_EXPORT const char *dmasplit_dev_backend_name(const struct dmasplit_dev *dev)
{
	return dev ? dev->backend->ops.name : NULL;
}

DMASPLIT_EXPORT int dmasplit_dev_get_fd(struct dmasplit_dev *dev, int *fd)
{
	int r, got = -1;

	if (!dev || !fd)
		return -EINVAL;
	if (!dev->ops->get_fd)
		return -EOPNOTSUPP;
	r = dev->ops->get_fd(dev->bdev, &got);
	if (r == -EOPNOTSUPP)
		return r;
	if (r != 0)
		return backend_error(dev, r, ERRS_QUERY, "get_fd");
	if (got < 0) {
		log_err(dev->ctx, "%s: backend %s returned file descriptor %d from get_fd: reported as EIO",
			dev->name, dev->backend->ops.name, got);
		return -EIO;
	}
	*fd = got;
	return 0;
}

/* Nothing to report: what a backend cannot give back it still needs. */
DMASPLIT_EXPORT int dmasplit_dev_trim(struct dmasplit_dev *dev)
{
	if (!dev)
		return -EINVAL;
	iova_spares_trim(dev);
	if (dev->ops->trim)
		dev->ops->trim(dev->bdev);
	return 0;
}

DMASPLIT_EXPORT int dmasplit_dev_get_info(struct dmasplit_dev *dev,
					  struct dmasplit_dev_info *info)
{
	if (!dev || !info)
		return -EINVAL;
	if (!versioned_size_ok(dev->ctx, dev->name, "dmasplit_dev_get_info",
			       "info", info))
		return -EINVAL;
	copy_versioned(info, &dev->info, sizeof(dev->info));
	return 0;
}

DMASPLIT_EXPORT int dmasplit_dev_get_ranges(struct dmasplit_dev *dev,
					    struct dmasplit_range *ranges,
					    unsigned int *n)
{
	unsigned int have;
	int r;

	if (!dev || !n || (*n && !ranges))
		return -EINVAL;
	if (dev->ops->get_ranges) {
		have = *n;
		r = dev->ops->get_ranges(dev->bdev, ranges, &have);
		if (r != 0 && r != -ENOSPC)
			return backend_error(dev, r, ERRS_QUERY, "get_ranges");
		if (r == -ENOSPC && have <= *n) {
			/* A broken answer, as any other call's: -EIO. */
			log_err(dev->ctx, "%s: backend %s says %u ranges do not fit in %u: reported as EIO",
				dev->name, dev->backend->ops.name, have, *n);
			return -EIO;
		}
		if (r == 0 && have > *n) {
			log_err(dev->ctx, "%s: backend %s gave %u ranges for room for %u: reported as EIO",
				dev->name, dev->backend->ops.name, have, *n);
			return -EIO;
		}
		*n = have;
		return r;
	}
	have = dev->info.num_ranges;
	if (have > *n) {
		*n = have;
		return -ENOSPC;
	}
	/* ranges may be NULL when there is no room: a device with no
	 * range (peer memory) answers that query with 0. */
	if (have)
		memcpy(ranges, dev->info.ranges, have * sizeof(*ranges));
	*n = have;
	return 0;
}

DMASPLIT_EXPORT int dmasplit_dev_get_stats(struct dmasplit_dev *dev,
					   struct dmasplit_dev_stats *stats)
{
	struct dmasplit_dev_stats s = { .size = sizeof(s) };
	uint64_t destroyed;
	int r;

	if (!dev || !stats)
		return -EINVAL;
	if (!versioned_size_ok(dev->ctx, dev->name, "dmasplit_dev_get_stats",
			       "stats", stats))
		return -EINVAL;
	if (dev->ops->get_stats) {
		r = dev->ops->get_stats(dev->bdev, &s);
		if (r != 0)
			return backend_error(dev, r, ERRS_QUERY, "get_stats");
	}
	s.size = sizeof(s);
	/* The fields are read one by one while other threads may make
	 * calls: each count before those of the calls that come before its
	 * own in an object's life (an unmap after its map, a destroy after
	 * its allocation, an unlink after its link), whose later reads can
	 * only be larger.  So a snapshot never shows more unmaps than maps
	 * or more windows destroyed than allocated. */
	destroyed = count_read(dev, C_WINDOWS_DESTROYED);
	s.unlinks = count_read(dev, C_UNLINKS);
	s.unmaps = count_read(dev, C_UNMAPS);
	s.syncs = count_read(dev, C_SYNCS);
	s.links = count_read(dev, C_LINKS);
	s.maps = count_read(dev, C_MAPS);
	s.windows_allocated = count_read(dev, C_WINDOWS_ALLOCATED);
	s.windows_live = s.windows_allocated >= destroyed ?
			 s.windows_allocated - destroyed :
			 dev_live(dev, C_WINDOWS_ALLOCATED, C_WINDOWS_DESTROYED,
				  "windows");
	s.mappings_live = s.maps >= s.unmaps ? s.maps - s.unmaps :
			  dev_live(dev, C_MAPS, C_UNMAPS, "mappings");
	copy_versioned(stats, &s, sizeof(s));
	return 0;
}

int dmasplit_private_dev_ops(struct dmasplit_dev *dev,
			     const struct dmasplit_backend_ops **ops,
			     struct dmasplit_bdev **bdev)
{
	if (!dev || !ops || !bdev)
		return -EINVAL;
	*ops = dev->ops;
	*bdev = dev->bdev;
	return 0;
}
