// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * swiotlb-sim: options, open and close, and dispatch to the translated
 * (iommu*.c) or untranslated (nommu.c) device.  The simulated device is
 * strict: it shows the worst behaviour the contract allows, so that
 * callers who rely on luck are caught in tests rather than on hardware.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

#define SIM_UUID "5d0c7c2e-8a4b-4f3e-9c61-2b7e0d4a9f11"
#define SIM_SCORE 100

/* ------------------------------------------------------------------ */
/* Options (dmasplit_dev_open(3), "Simulated devices")                 */


/* The system's page: 4 KiB on most, 16 or 64 KiB on some arm64,
 * ppc64 and loongarch hosts, where mmap() and munmap() work in those. */
static size_t page_size(void)
{
	static size_t page;

	if (!__atomic_load_n(&page, __ATOMIC_RELAXED)) {
		long p = sysconf(_SC_PAGESIZE);

		__atomic_store_n(&page, p > 0 ? (size_t)p : 4096,
				 __ATOMIC_RELAXED);
	}
	return __atomic_load_n(&page, __ATOMIC_RELAXED);
}

static size_t page_up(size_t x)
{
	return (x + page_size() - 1) & ~(page_size() - 1);
}

size_t sim_align_len(size_t len, size_t align)
{
	size_t extra = align > page_size() ? align - page_size() : 0;
	size_t whole = page_up(len);

	return whole < len || whole + extra < whole ? 0 : whole + extra;
}

/* Zeroed anonymous pages aligned to align (a power of two), trimmed
 * from a larger mapping; NULL when mmap fails. */
void *sim_align_trim(void *m, size_t len, size_t align)
{
	uintptr_t p = (uintptr_t)m, a, end = p + sim_align_len(len, align);

	a = (p + align - 1) & ~(uintptr_t)(align - 1);
	if (a > p)
		munmap(m, a - p);
	if (end > a + page_up(len))
		munmap((void *)(a + page_up(len)), end - (a + page_up(len)));
	return (void *)a;
}

void *sim_mmap_aligned(size_t len, size_t align)
{
	size_t total = sim_align_len(len, align);
	void *m;

	if (!total || !align)
		return NULL;
	m = mmap(NULL, total, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	return sim_align_trim(m, len, align);
}

static const struct sim_opts defaults = {
	.iommu = true,
	.coherent = true,
	.mask_bits = 64,
	.granule = 4096,
	.pool_size = 64ull << 20,
};

static int parse_bool(const char *v, const char *yes, const char *no,
		      bool *out)
{
	if (!strcmp(v, yes))
		*out = true;
	else if (!strcmp(v, no))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* Numbers follow the core's rule for every spec, through the host. */
static int parse_u64(const struct dmasplit_host *host, const char *v,
		     uint32_t flags, uint64_t *out)
{
	if (host->size < offsetof(struct dmasplit_host, spec_number) +
			 sizeof(host->spec_number) || !host->spec_number)
		return -EINVAL;
	return host->spec_number(v, flags, out);
}

/* One option; the message says what the key accepts. */
static int parse_opt(const struct dmasplit_host *host, struct sim_opts *o,
		     const char *key, const char *v, const char **expect)
{
	uint64_t n;
	int r;

	if (!strcmp(key, "iommu")) {
		*expect = "on or off";
		return parse_bool(v, "on", "off", &o->iommu);
	}
	if (!strcmp(key, "coherent")) {
		*expect = "0 or 1";
		return parse_bool(v, "1", "0", &o->coherent);
	}
	if (!strcmp(key, "untrusted")) {
		*expect = "0 or 1";
		return parse_bool(v, "1", "0", &o->untrusted);
	}
	if (!strcmp(key, "bounce")) {
		*expect = "auto or force";
		return parse_bool(v, "force", "auto", &o->force_bounce);
	}
	if (!strcmp(key, "mask")) {
		*expect = "13 to 64 bits";
		r = parse_u64(host, v, 0, &n);
		if (r < 0)
			return r;
		if (n < 13 || n > 64)
			return -EINVAL;
		o->mask_bits = (unsigned int)n;
		return 0;
	}
	if (!strcmp(key, "granule")) {
		*expect = "4096, 16384 or 65536";
		r = parse_u64(host, v, DMASPLIT_SPEC_SIZE, &n);
		if (r < 0)
			return r;
		if (n != 4096 && n != 16384 && n != 65536)
			return -EINVAL;
		o->granule = n;
		return 0;
	}
	if (!strcmp(key, "pool")) {
		*expect = "a size from 256K to 4G";
		r = parse_u64(host, v, DMASPLIT_SPEC_SIZE, &n);
		if (r < 0)
			return r;
		if (n < SEG_SIZE || n > (4ull << 30))
			return -EINVAL;
		/* Whole segments, as the kernel sizes its pools. */
		o->pool_size = (n + SEG_SIZE - 1) / SEG_SIZE * SEG_SIZE;
		return 0;
	}
	if (!strcmp(key, "inval_ns")) {
		*expect = "0 to " SIM_INVAL_NS_MAX_STR " nanoseconds";
		r = parse_u64(host, v, 0, &n);
		if (r < 0)
			return r;
		if (n > SIM_INVAL_NS_MAX)
			return -EINVAL;
		o->inval_ns = n;
		return 0;
	}
	*expect = NULL;
	return -ENOENT;
}

/*
 * What no single key can tell: the mask must leave the device room for
 * what it needs below it, or the open would fail later without naming
 * the key.  Address 0 is never handed out, so a translated device needs
 * its second granule; a bouncing one needs its pool.
 */
static int check_opts(const struct dmasplit_host *host,
		      const struct dmasplit_desc *desc,
		      const struct sim_opts *o)
{
	uint64_t reach = o->mask_bits == 64 ? UINT64_MAX
					    : (1ull << o->mask_bits) - 1;

	if (o->iommu && reach < 2 * o->granule - 1) {
		dmasplit_host_err(host, SIM_NAME ": sim:%s: mask=%u: a translated device with granule=%" PRIu64 " needs at least %u bits",
				  desc->name, o->mask_bits, o->granule,
				  (unsigned int)__builtin_ctzll(o->granule) +
					  1);
		return -EINVAL;
	}
	if (!o->iommu && (reach < LOW_FLOOR ||
			  reach - LOW_FLOOR < pool_map_len(o->pool_size) - 1)) {
		dmasplit_host_err(host, SIM_NAME ": sim:%s: mask=%u: the bounce pool (pool=%" PRIu64 ") does not fit below it, above the lowest %llu MiB",
				  desc->name, o->mask_bits, o->pool_size,
				  LOW_FLOOR >> 20);
		return -EINVAL;
	}
	return 0;
}

static int parse_opts(const struct dmasplit_host *host,
		      const struct dmasplit_desc *desc, struct sim_opts *o)
{
	char *copy, *opt, *rest;
	unsigned int seen = 0;
	int r = 0;

	*o = defaults;
	if (!desc->options[0])
		return 0;
	copy = strdup(desc->options);
	if (!copy)
		return -ENOMEM;
	rest = copy;
	while (!r && (opt = strsep(&rest, ","))) {
		static const char *const keys[] = {
			"iommu", "coherent", "untrusted", "bounce", "mask",
			"granule", "pool", "inval_ns",
		};
		char *value = strchr(opt, '=');
		const char *expect;
		unsigned int i;

		if (!value) {
			dmasplit_host_err(host, SIM_NAME ": sim:%s: option '%s' needs a value",
					  desc->name, opt);
			r = -EINVAL;
			break;
		}
		*value++ = '\0';
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(opt, keys[i]))
				break;
		if (i < sizeof(keys) / sizeof(keys[0]) && (seen & (1u << i))) {
			dmasplit_host_err(host, SIM_NAME ": sim:%s: option '%s' repeated",
					  desc->name, opt);
			r = -EINVAL;
			break;
		}
		seen |= 1u << i;
		r = parse_opt(host, o, opt, value, &expect);
		if (r == -ENOENT)
			dmasplit_host_err(host, SIM_NAME ": sim:%s: unknown option '%s' (known: iommu, mask, granule, coherent, untrusted, bounce, pool, inval_ns)",
					  desc->name, opt);
		else if (r == -ERANGE)
			dmasplit_host_err(host, SIM_NAME ": sim:%s: %s=%s: out of range: expected %s",
					  desc->name, opt, value, expect);
		else if (r < 0)
			dmasplit_host_err(host, SIM_NAME ": sim:%s: %s=%s: expected %s",
					  desc->name, opt, value, expect);
		if (r < 0)
			r = -EINVAL;
	}
	free(copy);
	if (!r)
		r = check_opts(host, desc, o);
	return r;
}

/*
 * The modelled cost of an IOTLB invalidation (inval_ns=): a busy-wait on
 * CLOCK_MONOTONIC, which calibrates itself.  Out of line: it is reached
 * only when the option is set, and invalidate() stays one branch.
 */
void sim_spin(uint64_t ns)
{
	struct timespec ts;
	uint64_t t0, t;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	do {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	} while (t - t0 < ns);
}

/* ------------------------------------------------------------------ */
/* Device                                                               */

void sim_fault(struct dmasplit_bdev *b, uint64_t dma, bool write,
	       const char *why)
{
	stat_add(&b->stats.faults, 1);
	/* Worded like the kernel's DMAR fault report, which is what a
	 * developer will meet on real hardware. */
	sim_err(b, "DMAR: [DMA %s] Request device [sim:%s] fault addr 0x%" PRIx64 " [fault reason: %s]",
		write ? "Write" : "Read", b->name, dma, why);
}

/* process_vm_readv/writev are missing or forbidden here: set once. */
static bool no_vm_rw;

/* A pipe's capacity unless the system is short of pipe pages: a write of
 * this much into an empty pipe usually goes in whole. */
#define PIPE_CHUNK ((size_t)65536)

/*
 * The copy through a pipe, where process_vm_readv/writev are not to be
 * had: write(2) and read(2) report memory that is not there as EFAULT
 * too, one of them where the source ends, the other where the
 * destination does.  A pipe of its own per copy, so that neither other
 * threads nor a child after fork() share it.  False when no pipe can be
 * had (out of descriptors); else *done holds the bytes moved before the
 * first fault.
 */
static bool pipe_rw(uint8_t *buf, const struct iovec *host, unsigned int n,
		    size_t len, bool to_host, size_t *done)
{
	size_t moved = 0;
	unsigned int i;
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return false;
	for (i = 0; i < n && moved < len; i++) {
		uint8_t *at = host[i].iov_base;
		size_t left = host[i].iov_len;

		while (left) {
			size_t chunk = left < PIPE_CHUNK ? left : PIPE_CHUNK;
			ssize_t in, out;

			in = write(p[1], to_host ? buf + moved : at, chunk);
			if (in <= 0)
				goto out;
			out = read(p[0], to_host ? at : buf + moved,
				   (size_t)in);
			if (out > 0) {
				moved += (size_t)out;
				at += out;
				left -= (size_t)out;
			}
			if (out < in)
				goto out;
		}
	}
out:
	close(p[0]);
	close(p[1]);
	*done = moved;
	return true;
}

size_t sim_host_rw(uint8_t *buf, const struct iovec *host, unsigned int n,
		   size_t len, bool write)
{
	struct iovec local = { buf, len };
	unsigned int i;
	ssize_t done;
	size_t piped;

	if (!__atomic_load_n(&no_vm_rw, __ATOMIC_RELAXED)) {
		/* The pid each time: a cached one would, in a child after
		 * fork, be its parent's. */
		done = write ? process_vm_writev(getpid(), &local, 1, host, n, 0)
			     : process_vm_readv(getpid(), &local, 1, host, n, 0);
		if (done >= 0)
			return (size_t)done;
		if (errno != ENOSYS && errno != EPERM)
			return 0;
		__atomic_store_n(&no_vm_rw, true, __ATOMIC_RELAXED);
	}
	if (pipe_rw(buf, host, n, len, write, &piped))
		return piped;
	/* No descriptor for a pipe: a plain copy, unchecked. */
	for (i = 0; i < n; buf += host[i++].iov_len) {
		if (write)
			memcpy(host[i].iov_base, buf, host[i].iov_len);
		else
			memcpy(buf, host[i].iov_base, host[i].iov_len);
	}
	return len;
}

int sim_device_copy(struct dmasplit_bdev *b, uint64_t at, uint8_t *buf,
		    const struct iovec *host, unsigned int n, size_t len,
		    bool write)
{
	size_t done = sim_host_rw(buf, host, n, len, write);

	if (done < len) {
		sim_fault(b, at + done, write,
			  write ? "no writable memory at this address"
				: "no memory at this address");
		return -EFAULT;
	}
	return 0;
}

static int sim_probe(const struct dmasplit_host *host,
		     const struct dmasplit_desc *desc, int *score)
{
	if (desc->bus != DMASPLIT_BUS_SIM)
		return -ENODEV;
	/* Options are checked at open, where a bad one can be reported
	 * to the caller instead of making the device vanish. */
	*score = SIM_SCORE;
	return 0;
}

/* Coherent memory the application never freed goes with the device. */
static void release_held(struct held_entry *e, void *arg)
{
	if ((e->flags & HELD_KIND) == HELD_COHERENT)
		munmap(e->cpu, coh_len(arg, e->len));
}

/* Also for a device whose open failed part way. */
static void sim_close(struct dmasplit_bdev *b)
{
	/* The space first: in a shared one, the entries of this device's
	 * mappings must be gone before the memory behind them. */
	iommu_fini(b);
	held_fini(&b->held, release_held, b);
	pool_fini(&b->pool);
	free(b);
}

/* as=NAME, which the core hands over in the description. */
static const char *desc_as(const struct dmasplit_desc *desc)
{
	if (desc->size < offsetof(struct dmasplit_desc, address_space) +
			 sizeof(desc->address_space))
		return "";
	return desc->address_space;
}

static int sim_open(const struct dmasplit_host *host,
		    const struct dmasplit_desc *desc,
		    struct dmasplit_bdev **out)
{
	struct dmasplit_bdev *b;
	int r;

	/* Forced or named, not probed: only its own bus is a device. */
	if (desc->bus != DMASPLIT_BUS_SIM) {
		dmasplit_host_err(host, "swiotlb-sim: %s: not a simulated device (a sim:NAME spec)",
				  desc->name);
		return -ENODEV;
	}
	b = aligned_alloc(64, (sizeof(*b) + 63) & ~(size_t)63);
	if (!b)
		return -ENOMEM;
	memset(b, 0, sizeof(*b));
	b->host = host;
	snprintf(b->name, sizeof(b->name), "%s", desc->name);
	held_init(&b->held);
	r = parse_opts(host, desc, &b->o);
	if (r < 0)
		goto fail;
	if (desc_as(desc)[0] && !b->o.iommu) {
		sim_err(b, "sim:%s: as=%s: a device with iommu=off has no IOMMU address space to share",
			b->name, desc_as(desc));
		r = -EINVAL;
		goto fail;
	}
	b->limit = b->o.mask_bits == 64 ? UINT64_MAX
					: (1ull << b->o.mask_bits) - 1;
	b->gmask = b->o.granule - 1;
	b->gshift = (unsigned int)__builtin_ctzll(b->o.granule);
	b->lshift = 2 * b->gshift - 3;
	b->lmask = (1ull << b->lshift) - 1;
	b->link_4k = b->gshift == 12 && !b->o.untrusted;
	if (b->o.iommu) {
		r = iommu_init(b, desc_as(desc));
		if (r < 0)
			goto fail;
	}
	/* Translated devices bounce only for untrustworthiness, so their
	 * pool may live anywhere; the others need it below the mask. */
	if (!b->o.iommu || b->o.untrusted) {
		r = pool_init(b, &b->pool, b->o.pool_size,
			      b->o.iommu ? UINT64_MAX : b->limit);
		if (r < 0)
			goto fail;
	}
	sim_dbg(b, "%s: iommu=%s mask=%u granule=%" PRIu64 " coherent=%d untrusted=%d bounce=%s pool=%" PRIu64,
		b->name, b->o.iommu ? "on" : "off", b->o.mask_bits,
		b->o.granule, b->o.coherent, b->o.untrusted,
		b->o.force_bounce ? "force" : "auto", b->o.pool_size);
	*out = b;
	return 0;
fail:
	sim_close(b);
	return r;
}

static int sim_get_info(struct dmasplit_bdev *b, struct dmasplit_dev_info *info)
{
	info->flags = DMASPLIT_DEV_DMA_RW;
	if (b->o.iommu)
		info->flags |= DMASPLIT_DEV_WINDOWS | DMASPLIT_DEV_TRANSLATED;
	if (b->o.coherent)
		info->flags |= DMASPLIT_DEV_COHERENT;
	if (!b->o.iommu || b->o.untrusted)
		info->flags |= DMASPLIT_DEV_BOUNCE;
	if (b->o.untrusted)
		info->flags |= DMASPLIT_DEV_UNTRUSTED;
	info->dma_mask_bits = b->o.mask_bits;
	info->granule = b->o.granule;
	info->num_ranges = 1;
	info->ranges[0].start = b->o.iommu ? b->o.granule : 0x1000;
	info->ranges[0].last = b->o.iommu ? b->iommu_last : b->limit;
	return 0;
}

/* The range as it is now: in a shared space, a member that joined with
 * a smaller DMA mask narrows what every member is handed out. */
static int sim_get_ranges(struct dmasplit_bdev *b, struct dmasplit_range *r,
			  unsigned int *n)
{
	uint64_t last = b->o.iommu ? b->iommu_last : b->limit;

	if (*n < 1) {
		*n = 1;
		return -ENOSPC;
	}
	if (b->o.iommu) {
		pthread_mutex_lock(&b->sp->iova_lock);
		if (b->sp->last < last)
			last = b->sp->last;
		pthread_mutex_unlock(&b->sp->iova_lock);
	}
	r[0].start = b->o.iommu ? b->o.granule : 0x1000;
	r[0].last = last;
	*n = 1;
	return 0;
}

/* Page tables and records alone: the bounce pool is the device's for
 * its lifetime, as the kernel's swiotlb is reserved once. */
static void sim_trim(struct dmasplit_bdev *b)
{
	if (b->o.iommu)
		iommu_trim(b);
}

/* Invalidations are the space's: a map serves every member, so each
 * member reports the space's count. */
static int sim_get_stats(struct dmasplit_bdev *b, struct dmasplit_dev_stats *s)
{
	s->kernel_calls = iommu_invalidations(b);
	s->bytes_bounced = __atomic_load_n(&b->stats.bytes_bounced, __ATOMIC_RELAXED);
	s->device_faults = __atomic_load_n(&b->stats.faults, __ATOMIC_RELAXED);
	return 0;
}

static int sim_iova_init(struct dmasplit_bdev *b, uint64_t size,
			 uint32_t flags, struct dmasplit_bwin *win,
			 uint64_t *addr)
{
	/* Like dma-direct: no address space to reserve without an IOMMU. */
	if (!b->o.iommu)
		return -EOPNOTSUPP;
	(void)flags;
	return win_get(b, win, size, addr);
}

static int sim_map(struct dmasplit_bdev *b, void *vaddr, size_t len,
		   enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma)
{
	return b->o.iommu ? iommu_map(b, vaddr, len, dir, attrs, dma)
			  : nommu_map(b, vaddr, len, dir, attrs, dma);
}

static int sim_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		     enum dmasplit_dir dir, uint32_t attrs)
{
	return b->o.iommu ? iommu_unmap(b, dma, len, dir, attrs)
			  : nommu_unmap(b, dma, len, dir, attrs);
}

static int sim_map_vec(struct dmasplit_bdev *b, const struct iovec *iov,
		       unsigned int n, enum dmasplit_dir dir, uint32_t attrs,
		       struct dmasplit_seg *segs, unsigned int *nsegs)
{
	return b->o.iommu ? iommu_map_vec(b, iov, n, dir, attrs, segs, nsegs)
			  : nommu_map_vec(b, iov, n, dir, attrs, segs, nsegs);
}

static int sim_unmap_vec(struct dmasplit_bdev *b,
			 const struct dmasplit_seg *segs, unsigned int nsegs,
			 enum dmasplit_dir dir, uint32_t attrs)
{
	return b->o.iommu ? iommu_unmap_vec(b, segs, nsegs, dir, attrs)
			  : nommu_unmap_vec(b, segs, nsegs, dir, attrs);
}

/* Ownership to the CPU: what the device wrote into bounce slots.  Checked
 * in every direction: a sync of what the device does not hold is a bug
 * even where it would copy nothing. */
static int sim_sync_for_cpu(struct dmasplit_bdev *b, uint64_t dma, size_t len,
			    enum dmasplit_dir dir)
{
	return b->o.iommu ? iommu_sync(b, dma, len, dir, true)
			  : nommu_sync(b, dma, len, dir, true);
}

/* Ownership to the device: what the CPU wrote, into bounce slots. */
static int sim_sync_for_device(struct dmasplit_bdev *b, uint64_t dma,
			       size_t len, enum dmasplit_dir dir)
{
	return b->o.iommu ? iommu_sync(b, dma, len, dir, false)
			  : nommu_sync(b, dma, len, dir, false);
}

static int sim_alloc_coherent(struct dmasplit_bdev *b, size_t size,
			      uint32_t flags, void **cpu, uint64_t *dma)
{
	return b->o.iommu ? iommu_alloc_coherent(b, size, cpu, dma)
			  : nommu_alloc_coherent(b, size, cpu, dma);
}

static int sim_free_coherent(struct dmasplit_bdev *b, size_t size, void *cpu,
			     uint64_t dma)
{
	return b->o.iommu ? iommu_free_coherent(b, size, cpu, dma)
			  : nommu_free_coherent(b, size, cpu, dma);
}

static int sim_dma_read(struct dmasplit_bdev *b, uint64_t dma, void *buf,
			size_t len)
{
	return b->o.iommu ? iommu_dma_rw(b, dma, buf, len, false)
			  : nommu_dma_rw(b, dma, buf, len, false);
}

static int sim_dma_write(struct dmasplit_bdev *b, uint64_t dma,
			 const void *buf, size_t len)
{
	return b->o.iommu ? iommu_dma_rw(b, dma, (uint8_t *)buf, len, true)
			  : nommu_dma_rw(b, dma, (uint8_t *)buf, len, true);
}

static const struct dmasplit_backend_ops sim_ops = {
	.size = sizeof(struct dmasplit_backend_ops),
	.abi_version = DMASPLIT_BACKEND_ABI_VERSION,
	.name = SIM_NAME,
	.uuid = SIM_UUID,
	.version = PACKAGE_VERSION,
	.description = "simulated device: software IOMMU, swiotlb bounce pool, real DMA engine",
	.probe = sim_probe,
	.open = sim_open,
	.close = sim_close,
	.get_info = sim_get_info,
	.get_stats = sim_get_stats,
	.get_ranges = sim_get_ranges,
	.iova_link = iommu_iova_link,
	.iova_sync = iommu_iova_sync,
	.iova_unlink = iommu_iova_unlink,
	.map = sim_map,
	.unmap = sim_unmap,
	.map_vec = sim_map_vec,
	.unmap_vec = sim_unmap_vec,
	.sync_for_cpu = sim_sync_for_cpu,
	.sync_for_device = sim_sync_for_device,
	.alloc_coherent = sim_alloc_coherent,
	.free_coherent = sim_free_coherent,
	.dma_read = sim_dma_read,
	.dma_write = sim_dma_write,
	.flags = DMASPLIT_BACKEND_SHARES_AS,
	.iova_win_size = sizeof(struct dmasplit_bwin),
	.iova_init = sim_iova_init,
	.iova_fini = iommu_iova_fini,
	.trim = sim_trim,
};

DMASPLIT_BACKEND_EXPORT const struct dmasplit_backend_ops *
DMASPLIT_BACKEND_ENTRY(void)
{
	return &sim_ops;
}
