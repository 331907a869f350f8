// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * vfio: selection, open and close, and the per-range path.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "uapi.h"
#include "vfio.h"

#define VFIO_UUID "b3f1e0a4-6c2d-4d8e-9f57-0a1b2c3d4e5f"
#define VFIO_SCORE 200

/* ------------------------------------------------------------------ */
/* Selection                                                            */


/*
 * Whether /dev/iommu answers this process's ioctls.  A kernel whose
 * iommufd has no compat_ioctl (6.12 has none) fails every one a 32-bit
 * process makes on a 64-bit kernel with ENOTTY, where the type1
 * container, which has one, still serves.  Asked with IOMMU_DESTROY of
 * object 0, which no iommufd holds: ENOENT where it answers.  Only a
 * 32-bit build can meet this; an open that fails is left to
 * iommufd_open(), which says why.
 */
static bool iommufd_answers(void)
{
#if UINTPTR_MAX > 0xffffffffu
	return true;
#else
	struct iommu_destroy d = { .size = sizeof(d) };
	int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	bool answers;

	if (fd < 0)
		return true;
	answers = ioctl(fd, IOMMU_DESTROY, &d) == 0 || errno != ENOTTY;
	close(fd);
	return answers;
#endif
}

/* The device cdev with iommufd, unless the spec or the kernel says no. */
static bool want_iommufd(const struct dmasplit_desc *desc, const char **why)
{
	char path[64];

	if (desc->spec_vfio == DMASPLIT_VFIO_TYPE1) {
		*why = "vfio=type1 in the spec";
		return false;
	}
	if (!desc->vfio_dev[0]) {
		*why = "no vfio-dev entry in sysfs (kernel without the VFIO device cdev)";
		return false;
	}
	/* sysfs shows vfio-dev even on kernels without the cdev: the
	 * device nodes tell. */
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", desc->vfio_dev);
	if (access(path, F_OK) < 0 || access("/dev/iommu", F_OK) < 0) {
		*why = "no /dev/iommu or device cdev node (kernel without iommufd)";
		return false;
	}
	if (!iommufd_answers()) {
		*why = "this kernel's iommufd does not answer a 32-bit process (it has no compat ioctl)";
		return false;
	}
	*why = desc->spec_vfio == DMASPLIT_VFIO_IOMMUFD ? "vfio=iommufd in the spec"
							: "iommufd and the device cdev are there";
	return true;
}

/* vfio-pci, or one of its variant drivers (mlx5_vfio_pci,
 * hisi_acc_vfio_pci, ...), which are VFIO devices as well; a kernel with
 * VFIO device files says so for any of them (vfio-dev/vfioN). */
static bool vfio_driver(const struct dmasplit_desc *desc)
{
	size_t n = strlen(desc->driver);

	return !strcmp(desc->driver, "vfio-pci") ||
	       (n > 9 && !strcmp(desc->driver + n - 9, "_vfio_pci")) ||
	       desc->vfio_dev[0];
}

/*
 * Whether this backend drives the device: a PCI function bound to
 * vfio-pci (or a variant) whose IOMMU group translates.  Else -ENODEV, with why in
 * one line: debug at a probe, which asks every backend; an error at an
 * open, where the application named or forced this one.
 */
static int vfio_takes(const struct dmasplit_host *host,
		      const struct dmasplit_desc *desc, int priority)
{
	if (desc->bus != DMASPLIT_BUS_PCI) {
		dmasplit_host_log(host, priority, VFIO_NAME ": %s: not a PCI device",
				  desc->name);
		return -ENODEV;
	}
	if (!vfio_driver(desc)) {
		dmasplit_host_log(host, priority, VFIO_NAME ": %s: bound to %s%s%s, not vfio-pci or a variant of it",
				  desc->name, desc->driver[0] ? "driver '" : "no driver",
				  desc->driver, desc->driver[0] ? "'" : "");
		return -ENODEV;
	}
	if (!DMASPLIT_DESC_HAS(desc, iommu_class)) {
		dmasplit_host_log(host, priority, VFIO_NAME ": %s: the library is older than this backend (no IOMMU class in the description)",
				  desc->name);
		return -ENODEV;
	}
	if (desc->iommu_class != DMASPLIT_IOMMU_TRANSLATED) {
		dmasplit_host_log(host, priority, VFIO_NAME ": %s: IOMMU group %d of type '%s' does not translate",
				  desc->name, desc->iommu_group,
				  desc->iommu_group_type);
		return -ENODEV;
	}
	return 0;
}

static int vfio_probe(const struct dmasplit_host *host,
		      const struct dmasplit_desc *desc, int *score)
{
	const char *why;
	bool fd;

	if (vfio_takes(host, desc, LOG_DEBUG) < 0)
		return -ENODEV;
	fd = want_iommufd(desc, &why);
	dmasplit_host_dbg(host, VFIO_NAME ": %s: would use %s: %s", desc->name,
			  fd ? "iommufd" : "type1", why);
	*score = VFIO_SCORE;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Open and close                                                       */

/* The context's named spaces: the backend's state is per process, the
 * host table per context, so (host, name) is the key. */
static pthread_mutex_t space_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vspace *spaces;

/* The registry is the process's: a child of fork(2) opens devices in
 * contexts of its own and may not use the parent's (libdmasplit(3)).
 * So the child forgets the parent's spaces and gets the lock anew, which
 * a thread it does not have may have held.  Not taken around the fork:
 * lines are logged under it, and a log function that forks would wait
 * for itself. */
static void space_registry_forget(void)
{
	pthread_mutex_init(&space_lock, NULL);
	spaces = NULL;
}

/* The process's devices, open or being opened, for devs_forget(); the
 * lock is held for a list update alone, never around a line or a call
 * out, so that fork() may take it. */
static pthread_mutex_t devs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dmasplit_bdev *devs;

static void devs_add(struct dmasplit_bdev *b)
{
	pthread_mutex_lock(&devs_lock);
	b->proc_next = devs;
	devs = b;
	pthread_mutex_unlock(&devs_lock);
}

static void devs_del(struct dmasplit_bdev *b)
{
	struct dmasplit_bdev **p;

	pthread_mutex_lock(&devs_lock);
	for (p = &devs; *p && *p != b; p = &(*p)->proc_next)
		;
	if (*p)
		*p = b->proc_next;
	pthread_mutex_unlock(&devs_lock);
}

static void devs_lock_take(void)
{
	pthread_mutex_lock(&devs_lock);
}

static void devs_lock_give(void)
{
	pthread_mutex_unlock(&devs_lock);
}

/*
 * The child of fork(2) closes its copies of the devices' descriptors
 * (device, group, container, iommufd).  It may not use the parent's
 * devices, but the copies would keep each device, its container or
 * IOAS, and every mapping and pin in them alive after the parent closed
 * them, until the child exits: the parent could not open the device
 * again.  The numbers are forgotten too, so that a close of an
 * inherited device, against the rules, closes nothing of the child's.
 */
static void devs_forget(void)
{
	struct dmasplit_bdev *b;

	for (b = devs; b; b = b->proc_next) {
		if (b->device_fd >= 0)
			close(b->device_fd);
		if (b->group_fd >= 0)
			close(b->group_fd);
		b->device_fd = b->group_fd = -1;
		if (!b->sp)
			continue;
		if (b->sp->container_fd >= 0)
			close(b->sp->container_fd);
		if (b->sp->iommufd >= 0)
			close(b->sp->iommufd);
		b->sp->container_fd = b->sp->iommufd = -1;
	}
	devs = NULL;
	pthread_mutex_unlock(&devs_lock);
}

__attribute__((constructor)) static void space_registry_atfork(void)
{
	pthread_atfork(NULL, NULL, space_registry_forget);
	pthread_atfork(devs_lock_take, devs_lock_give, devs_forget);
}

static void space_free(struct vspace *sp)
{
	win_spares_free(sp);
	if (sp->iovad)
		sp->host->iovad_destroy(sp->iovad);
	if (sp->k)
		sp->k->close(sp);
	else if (sp->container_fd >= 0)
		close(sp->container_fd);
	else if (sp->iommufd >= 0)
		close(sp->iommufd);
	pthread_mutex_destroy(&sp->lock);
	free(sp->ranges);
	free(sp);
}

static struct vspace *space_new(const struct dmasplit_host *host,
				const char *name)
{
	struct vspace *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return NULL;
	sp->host = host;
	snprintf(sp->name, sizeof(sp->name), "%s", name);
	sp->container_fd = sp->iommufd = -1;
	sp->limit = UINT64_MAX;
	pthread_mutex_init(&sp->lock, NULL);
	return sp;
}

/* The smallest mask of the members.  Under space_lock. */
static void space_limit(struct vspace *sp)
{
	struct dmasplit_bdev *o;
	uint64_t limit = UINT64_MAX;

	for (o = sp->members; o; o = o->sp_next)
		if (o->limit < limit)
			limit = o->limit;
	pthread_mutex_lock(&sp->lock);
	sp->limit = limit;
	pthread_mutex_unlock(&sp->lock);
}

/* The device's fds go first: that detaches it from the container or
 * IOAS, which goes with the last member.  Under space_lock for a named
 * space. */
static void space_leave(struct dmasplit_bdev *b)
{
	struct vspace *sp = b->sp, **p;
	struct dmasplit_bdev **m;

	/* Under the space's lock too: an unmap looks through the members'
	 * mappings (own_check) holding that lock alone. */
	pthread_mutex_lock(&sp->lock);
	for (m = &sp->members; *m && *m != b; m = &(*m)->sp_next)
		;
	if (*m) {
		*m = b->sp_next;
		sp->nmembers--;
	}
	pthread_mutex_unlock(&sp->lock);
	b->sp = NULL;
	if (sp->nmembers) {
		/* The others may reach further now. */
		space_limit(sp);
		return;
	}
	for (p = &spaces; *p && *p != sp; p = &(*p)->next)
		;
	if (*p)
		*p = sp->next;
	space_free(sp);
}

static void own_release(struct dmasplit_bdev *b);

static void vfio_close(struct dmasplit_bdev *b)
{
	uint64_t granule = b->sp ? b->sp->granule : 0;

	devs_del(b);
	if (b->sp)
		own_release(b);
	if (b->device_fd >= 0)
		close(b->device_fd);
	if (b->group_fd >= 0)
		close(b->group_fd);
	if (b->sp) {
		pthread_mutex_lock(&space_lock);
		space_leave(b);
		pthread_mutex_unlock(&space_lock);
	}
	/* Out of the members first: the others' unmaps look here.  The
	 * device no longer reaches its coherent memory; the CPU's goes. */
	free(b->owned);
	free(b->own_slot);
	while (b->ncoh--)
		munmap(b->coh[b->ncoh].cpu,
		       (b->coh[b->ncoh].size + granule - 1) & ~(granule - 1));
	free(b->coh);
	free(b);
}

/* Reserved regions (MSI windows and the like) are never handed out,
 * whatever the kernel's usable ranges say, to any member of the space:
 * a region that could not be reserved fails the open. */
static int reserve_regions(struct dmasplit_bdev *b,
			   const struct dmasplit_desc *desc)
{
	char path[96], buf[2048], *line, *save = NULL;
	int r;

	snprintf(path, sizeof(path), "kernel/iommu_groups/%d/reserved_regions",
		 desc->iommu_group);
	r = b->host->sysfs_read(b->host, path, buf, sizeof(buf));
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		vfio_err(b, "%s: cannot read the IOMMU group's reserved regions (%s): %s",
			 b->name, path, strerror(-r));
		return r;
	}
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		uint64_t start, last;

		if (sscanf(line, "%" SCNx64 " %" SCNx64, &start, &last) != 2 ||
		    last < start)
			continue;
		r = b->host->iovad_reserve(b->sp->iovad, start,
					   last - start + 1);
		if (r < 0) {
			vfio_err(b, "%s: cannot keep reserved region 0x%" PRIx64 "-0x%" PRIx64 " out of the IOVA allocator: %s",
				 b->name, start, last, strerror(-r));
			return r;
		}
	}
	return 0;
}

/* What the kernel no longer lets any member use after a join is taken
 * out of the allocator: the gaps between the ranges it now reports. */
static int reserve_gaps(struct vspace *sp)
{
	uint64_t from = 0;
	unsigned int i;
	int r;

	for (i = 0; i < sp->num_ranges; i++) {
		if (sp->ranges[i].start > from) {
			r = sp->host->iovad_reserve(sp->iovad, from,
						    sp->ranges[i].start - from);
			if (r < 0)
				return r;
		}
		if (sp->ranges[i].last == UINT64_MAX)
			return 0;
		from = sp->ranges[i].last + 1;
	}
	return sp->host->iovad_reserve(sp->iovad, from, UINT64_MAX - from + 1);
}

static const char *spec_as(const struct dmasplit_desc *desc)
{
	return DMASPLIT_DESC_HAS(desc, address_space) ? desc->address_space
						       : "";
}

/*
 * b may join sp if it speaks sp's kernel interface and reaches
 * everything mapped there now; from then on nothing is handed out beyond
 * its reach.  Under space_lock.
 */
static int space_check_join(struct dmasplit_bdev *b, struct vspace *sp,
			    const struct kiface *k)
{
	uint64_t used;
	int r = 0;

	if (sp->k != k) {
		vfio_err(b, "%s: as=%s: the device would use %s, but address space %s is a%s %s one: one space has one kernel interface (vfio= in the spec chooses)",
			 b->name, sp->name, k->name, sp->name,
			 sp->k == &iommufd_iface ? "n" : "", sp->k->name);
		return -EINVAL;
	}
	if (!DMASPLIT_HOST_HAS(b->host, iovad_last_used)) {
		vfio_err(b, "%s: as=%s: the library is too old to share address spaces",
			 b->name, sp->name);
		return -EOPNOTSUPP;
	}
	pthread_mutex_lock(&sp->lock);
	if (b->limit < sp->limit &&
	    sp->host->iovad_last_used(sp->iovad, &used) == 0 &&
	    used > b->limit) {
		vfio_err(b, "%s: as=%s: the device reaches 0x%" PRIx64 " (DMA mask %u bits), but address space %s has windows or mappings up to 0x%" PRIx64 ": refused, nothing changed",
			 b->name, sp->name, b->limit, b->mask_bits, sp->name,
			 used);
		r = -ERANGE;
	} else if (b->limit < sp->limit) {
		/* From now on, before the join completes: the members
		 * allocate meanwhile. */
		sp->limit = b->limit;
	}
	pthread_mutex_unlock(&sp->lock);
	return r;
}

static int vfio_open(const struct dmasplit_host *host,
		     const struct dmasplit_desc *desc,
		     struct dmasplit_bdev **out)
{
	struct dmasplit_bdev *b = calloc(1, sizeof(*b));
	const char *why, *as = spec_as(desc);
	const struct kiface *k;
	struct vspace *sp = NULL;
	bool join = false;
	int r;

	r = vfio_takes(host, desc, LOG_ERR);
	if (r < 0 || !b) {
		free(b);
		return r < 0 ? r : -ENOMEM;
	}
	b->host = host;
	b->device_fd = b->group_fd = -1;
	snprintf(b->name, sizeof(b->name), "%s", desc->name);
	b->mask_bits = desc->dma_mask_bits ? desc->dma_mask_bits : 64;
	b->limit = b->mask_bits >= 64 ? UINT64_MAX
				      : (1ull << b->mask_bits) - 1;
	if (want_iommufd(desc, &why)) {
		k = &iommufd_iface;
	} else if (desc->spec_vfio == DMASPLIT_VFIO_IOMMUFD) {
		vfio_err(b, "%s: vfio=iommufd asked, but %s", b->name, why);
		free(b);
		return -EOPNOTSUPP;
	} else {
		k = &type1_iface;
	}
	pthread_mutex_lock(&space_lock);
	if (as[0])
		for (sp = spaces; sp; sp = sp->next)
			if (sp->host == host && !strcmp(sp->name, as))
				break;
	if (sp) {
		r = space_check_join(b, sp, k);
		if (r < 0) {
			pthread_mutex_unlock(&space_lock);
			free(b);
			return r;
		}
		join = true;
	} else {
		sp = space_new(host, as);
		if (!sp) {
			pthread_mutex_unlock(&space_lock);
			free(b);
			return -ENOMEM;
		}
	}
	b->sp = sp;
	/* Listed before any descriptor is open, so that a fork meanwhile
	 * leaves none of them to the child. */
	devs_add(b);
	/* A join re-reads the ranges: the space's lock keeps the members'
	 * allocations off them meanwhile. */
	pthread_mutex_lock(&sp->lock);
	r = k == &iommufd_iface ? iommufd_open(b, desc) : type1_open(b, desc);
	if (join && r == 0) {
		r = reserve_gaps(sp);
		if (r < 0)
			vfio_err(b, "%s: as=%s: cannot keep the IOVA ranges the kernel no longer allows out of the allocator: %s",
				 b->name, as, strerror(-r));
	}
	pthread_mutex_unlock(&sp->lock);
	if (r < 0)
		goto fail;
	if (!join) {
		if (sp->granule < (uint64_t)sysconf(_SC_PAGESIZE))
			sp->granule = (uint64_t)sysconf(_SC_PAGESIZE);
		r = host->iovad_new(host, sp->ranges, sp->num_ranges,
				    sp->granule, &sp->iovad);
		if (r < 0) {
			vfio_err(b, "%s: the kernel reported no usable IOVA range",
				 b->name);
			goto fail;
		}
	}
	pthread_mutex_lock(&sp->lock);
	r = reserve_regions(b, desc);
	if (r == 0) {
		unsigned int usable;

		/* A mask below every usable address would open a device
		 * on which every map fails. */
		(void)ranges_below(sp->ranges, sp->num_ranges, sp->granule,
				   b->limit, NULL, 0, &usable);
		if (!usable) {
			vfio_err(b, "%s: a DMA mask of %u bits leaves no usable IOVA range",
				 b->name, b->mask_bits);
			r = -EINVAL;
		}
	}
	if (r == 0 && b->limit < sp->limit)
		sp->limit = b->limit;
	pthread_mutex_unlock(&sp->lock);
	if (r < 0)
		goto fail;
	/* Listed only once complete: the failure path frees a first
	 * member's space outright. */
	if (!join && as[0]) {
		sp->next = spaces;
		spaces = sp;
	}
	pthread_mutex_lock(&sp->lock);
	b->sp_next = sp->members;
	sp->members = b;
	sp->nmembers++;
	pthread_mutex_unlock(&sp->lock);
	pthread_mutex_unlock(&space_lock);
	b->lazy = win_unlink_lazy(host, desc);
	vfio_dbg(b, "%s: %s, granule %" PRIu64 ", %u IOVA ranges, DMA mask %u bits, %s unlink%s%s%s (%u members)",
		 b->name, sp->k->name, sp->granule, sp->num_ranges,
		 b->mask_bits, b->lazy ? "lazy" : "strict",
		 sp->map_limit ? ", container limit known" : "",
		 as[0] ? ", address space " : "", as, sp->nmembers);
	*out = b;
	return 0;
fail:
	devs_del(b);
	if (b->device_fd >= 0)
		close(b->device_fd);
	if (b->group_fd >= 0)
		close(b->group_fd);
	/* A first member's half-built space goes; a joiner left sp as
	 * it was (its fds closing detached it). */
	b->sp = NULL;
	if (join)
		space_limit(sp);
	else
		space_free(sp);
	pthread_mutex_unlock(&space_lock);
	free(b);
	return r;
}

static int vfio_get_info(struct dmasplit_bdev *b, struct dmasplit_dev_info *info)
{
	unsigned int total;

	info->flags = DMASPLIT_DEV_WINDOWS | DMASPLIT_DEV_TRANSLATED |
		      DMASPLIT_DEV_COHERENT |
		      (b->lazy ? DMASPLIT_DEV_LAZY_UNLINK : 0);
	info->dma_mask_bits = b->mask_bits;
	pthread_mutex_lock(&b->sp->lock);
	info->granule = b->sp->granule;
	info->num_ranges = ranges_below(b->sp->ranges, b->sp->num_ranges,
					b->sp->granule, b->sp->limit,
					info->ranges,
					DMASPLIT_MAX_RANGES, &total);
	pthread_mutex_unlock(&b->sp->lock);
	/* Allocation uses them all; only the report is short. */
	if (total > info->num_ranges)
		vfio_dbg(b, "%s: %u usable IOVA ranges below the DMA mask; dev_info shows the first %u, dmasplit_dev_get_ranges all",
			 b->name, total, info->num_ranges);
	snprintf(info->interface, sizeof(info->interface), "%s", b->sp->k->name);
	return 0;
}

static int vfio_get_stats(struct dmasplit_bdev *b, struct dmasplit_dev_stats *s)
{
	/* Per space: one kernel mapping serves every member. */
	pthread_mutex_lock(&b->sp->lock);
	s->kernel_calls = b->sp->kernel_calls;
	s->bytes_pinned = b->sp->bytes_mapped;
	pthread_mutex_unlock(&b->sp->lock);
	return 0;
}

static int vfio_get_fd(struct dmasplit_bdev *b, int *fd)
{
	*fd = b->device_fd;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Per-range path                                                       */

/*
 * Each per-range mapping is recorded with the device that made it: an
 * unmap is checked against the records before the kernel is asked (the
 * kernel would unmap a window's link, or another member's mapping, for
 * anyone), and in a named space, which outlives its members, what a
 * device leaves is unmapped when it closes.  Lock held.
 */
/*
 * The records are indexed by the address their mapping starts at, which
 * an unmap names, so that it finds its record in constant time however
 * many mappings are live: open addressing with linear probing, at most
 * half full, each slot a record's index + 1 (0: empty), Fibonacci
 * hashing so that granule-aligned addresses spread.  Lock held.
 */
static size_t own_home(const struct dmasplit_bdev *b, uint64_t iova)
{
	return (size_t)((iova * 0x9e3779b97f4a7c15ull) >> (64 - b->own_bits));
}

/* The slot of the record of the mapping that starts at iova, or the
 * empty slot where its probe ends. */
static size_t own_slot_of(const struct dmasplit_bdev *b, uint64_t iova)
{
	size_t mask = ((size_t)1 << b->own_bits) - 1, h = own_home(b, iova);

	while (b->own_slot[h] && b->owned[b->own_slot[h] - 1].iova != iova)
		h = (h + 1) & mask;
	return h;
}

/* Twice the slots, every record put again: also the first index. */
static int own_index_grow(struct dmasplit_bdev *b)
{
	unsigned int bits = b->own_bits ? b->own_bits + 1 : 6;
	uint32_t *slot = calloc((size_t)1 << bits, sizeof(*slot));
	size_t i;

	if (!slot)
		return -ENOMEM;
	free(b->own_slot);
	b->own_slot = slot;
	b->own_bits = bits;
	for (i = 0; i < b->nowned; i++)
		slot[own_slot_of(b, b->owned[i].iova)] = (uint32_t)i + 1;
	return 0;
}

/* Slot h empties: the records after it in its probe run move back, so
 * that no probe stops short of its record (no tombstones). */
static void own_slot_clear(struct dmasplit_bdev *b, size_t h)
{
	size_t mask = ((size_t)1 << b->own_bits) - 1, j = h, home;

	b->own_slot[h] = 0;
	for (;;) {
		j = (j + 1) & mask;
		if (!b->own_slot[j])
			return;
		home = own_home(b, b->owned[b->own_slot[j] - 1].iova);
		/* It may fill h unless its home lies in (h, j]. */
		if (((j - home) & mask) >= ((j - h) & mask)) {
			b->own_slot[h] = b->own_slot[j];
			b->own_slot[j] = 0;
			h = j;
		}
	}
}

/* maps: the kernel mappings, one but for a map_vec vector (one per
 * segment); head and len: the bytes asked for, from iova + head. */
static int own_add(struct dmasplit_bdev *b, enum own_kind kind, uint64_t iova,
		   uint64_t size, uint64_t maps, uint64_t head, uint64_t len)
{
	/* A slot holds index + 1 in 32 bits. */
	if (b->nowned >= UINT32_MAX - 1)
		return -ENOMEM;
	if (b->nowned == b->owned_cap) {
		size_t cap = b->owned_cap ? 2 * b->owned_cap : 16;
		struct owned *o = realloc(b->owned, cap * sizeof(*o));

		if (!o)
			return -ENOMEM;
		b->owned = o;
		b->owned_cap = cap;
	}
	b->owned[b->nowned++] = (struct owned){
		.iova = iova, .size = size, .maps = maps, .len = len,
		.head = head, .kind = kind,
	};
	if (!b->own_slot || 2 * b->nowned > ((size_t)1 << b->own_bits)) {
		if (own_index_grow(b) < 0) {
			b->nowned--;
			return -ENOMEM;
		}
	} else {
		b->own_slot[own_slot_of(b, iova)] = (uint32_t)b->nowned;
	}
	return 0;
}

/* The record of b's mapping holding iova, or -1: where one starts at
 * iova at once, else (a refusal) by looking through them all.  Lock
 * held. */
static long own_find(const struct dmasplit_bdev *b, uint64_t iova)
{
	size_t i;

	if (b->own_slot) {
		i = b->own_slot[own_slot_of(b, iova)];
		if (i)
			return (long)i - 1;
	}
	for (i = b->nowned; i-- > 0;)
		if (iova - b->owned[i].iova < b->owned[i].size)
			return (long)i;
	return -1;
}

/*
 * The record of b's mapping of size bytes at base, for an unmap, or a
 * refusal logged unless NO_WARN: -ENOENT where none of b's mappings
 * starts there (a later page of one, a window's address, nothing),
 * -EINVAL for another length, or where another member of the space
 * holds it (dmasplit_dev_open(3)).  Lock held.
 */
static long own_check(struct dmasplit_bdev *b, uint64_t base, uint64_t size,
		      uint32_t attrs)
{
	const struct dmasplit_bdev *m = NULL;
	long i = own_find(b, base);
	const char *why;
	int r = -ENOENT;

	if (i >= 0 && b->owned[i].iova == base) {
		if (b->owned[i].size == size)
			return i;
		r = -EINVAL;
		why = "mapped with another length";
	} else if (i >= 0) {
		why = "inside a mapping, not at its start";
	} else {
		for (m = b->sp->members; m; m = m->sp_next)
			if (m != b && own_find(m, base) >= 0)
				break;
		r = m ? -EINVAL : -ENOENT;
		why = "no mapping of this device starts there (never mapped, already unmapped, or a window's address)";
	}
	if (attrs & DMASPLIT_ATTR_NO_WARN)
		return r;
	if (m)
		vfio_err(b, "%s: unmap of 0x%" PRIx64 "+0x%" PRIx64 ": another device of address space %s (%s) mapped it; only that one may unmap it",
			 b->name, base, size, b->sp->name, m->name);
	else
		vfio_err(b, "%s: unmap of 0x%" PRIx64 "+0x%" PRIx64 ": %s",
			 b->name, base, size, why);
	return r;
}

/* Record i goes: its mapping is gone.  The last takes its place.  Lock
 * held. */
static void own_del(struct dmasplit_bdev *b, long i)
{
	size_t last = b->nowned - 1;

	own_slot_clear(b, own_slot_of(b, b->owned[i].iova));
	if ((size_t)i != last) {
		b->own_slot[own_slot_of(b, b->owned[last].iova)] =
			(uint32_t)i + 1;
		b->owned[i] = b->owned[last];
	}
	b->nowned--;
}

/* At close, what the device left mapped in a shared space; its own
 * space goes whole. */
static void own_release(struct dmasplit_bdev *b)
{
	size_t i;

	pthread_mutex_lock(&b->sp->lock);
	for (i = 0; b->sp->name[0] && i < b->nowned; i++) {
		const struct owned *o = &b->owned[i];

		if (kunmap(b, o->iova, o->size, o->maps, o->size) == 0)
			iova_put(b, o->iova, o->size);
	}
	b->nowned = 0;
	if (b->own_slot)
		memset(b->own_slot, 0, sizeof(*b->own_slot) << b->own_bits);
	pthread_mutex_unlock(&b->sp->lock);
}

/* Lock held. */
static int map_locked(struct dmasplit_bdev *b, enum own_kind kind,
		      uintptr_t va, size_t len, unsigned int prot,
		      uint32_t attrs, uint64_t align, uint64_t *dma)
{
	uint64_t g = b->sp->granule, va0 = va & ~(g - 1);
	uint64_t size = ((va + len + g - 1) & ~(g - 1)) - va0, iova;
	int r;

	r = align > g ? iova_get_aligned(b, size, align, &iova)
		      : iova_get(b, size, &iova, attrs);
	if (r < 0)
		return r;
	r = kmap(b, iova, va0, size, prot, attrs);
	if (r < 0) {
		iova_put(b, iova, size);
		return r;
	}
	r = own_add(b, kind, iova, size, 1, va - va0, len);
	if (r < 0) {
		if (kunmap(b, iova, size, 1, size) == 0)
			iova_put(b, iova, size);
		return r;
	}
	*dma = iova + (va - va0);
	return 0;
}

/* The granules of [dma, dma + len). */
static void granules(const struct dmasplit_bdev *b, uint64_t dma, uint64_t len,
		     uint64_t *base, uint64_t *size)
{
	uint64_t g = b->sp->granule;

	*base = dma & ~(g - 1);
	*size = ((dma + len + g - 1) & ~(g - 1)) - *base;
}

/* The mapping of record i, of the given number of kernel mappings, at
 * base and size.  Lock held. */
static int unmap_locked(struct dmasplit_bdev *b, long i, uint64_t base,
			uint64_t size, uint64_t mappings)
{
	int r = kunmap(b, base, size, mappings, size);

	if (r == 0) {
		iova_put(b, base, size);
		own_del(b, i);
	}
	return r;
}

static int vfio_map(struct dmasplit_bdev *b, void *vaddr, size_t len,
		    enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma)
{
	int r;

	r = vfio_peer_check(b, vaddr, len, attrs);
	if (r < 0)
		return r;
	pthread_mutex_lock(&b->sp->lock);
	r = map_locked(b, OWN_MAP, (uintptr_t)vaddr, len, dir_prot(dir), attrs,
		       0, dma);
	pthread_mutex_unlock(&b->sp->lock);
	return r;
}

/* The record i found for an unmap (vec: dmasplit_unmap_vec() of nsegs
 * segments) is of that kind, with that many kernel mappings, or the
 * unmap is refused: a vector goes whole, by dmasplit_unmap_vec(), with
 * the segments map_vec gave, a mapping by dmasplit_unmap(), and coherent
 * memory by dmasplit_free_coherent().  Lock held. */
static long own_segments(struct dmasplit_bdev *b, long i, uint64_t base,
			 bool vec, uint64_t nsegs, uint32_t attrs)
{
	enum own_kind want = vec ? OWN_VEC : OWN_MAP;

	if (i < 0 || (b->owned[i].kind == want && b->owned[i].maps == nsegs))
		return i;
	if (attrs & DMASPLIT_ATTR_NO_WARN)
		return -EINVAL;
	if (b->owned[i].kind == OWN_COHERENT)
		vfio_err(b, "%s: %s at 0x%" PRIx64 ": that is coherent memory; free it with dmasplit_free_coherent",
			 b->name, vec ? "unmap_vec" : "unmap", base);
	else if (b->owned[i].kind == OWN_VEC && vec)
		vfio_err(b, "%s: unmap_vec of %" PRIu64 " segments at 0x%" PRIx64 ": that is a dmasplit_map_vec vector of %" PRIu64 ", which goes whole, with its segments",
			 b->name, nsegs, base, b->owned[i].maps);
	else if (b->owned[i].kind == OWN_VEC)
		vfio_err(b, "%s: unmap at 0x%" PRIx64 ": that is a dmasplit_map_vec vector; unmap it with dmasplit_unmap_vec",
			 b->name, base);
	else
		vfio_err(b, "%s: unmap_vec at 0x%" PRIx64 ": that is a dmasplit_map mapping; unmap it with dmasplit_unmap",
			 b->name, base);
	return -EINVAL;
}

/* Record i of a dmasplit_map() mapping holds exactly [dma, dma + len),
 * or the unmap is refused: the granules alone would let another length
 * or a start within the first granule through.  Lock held. */
static long own_exact(struct dmasplit_bdev *b, long i, uint64_t dma,
		      uint64_t len, uint32_t attrs)
{
	const struct owned *o;

	if (i < 0)
		return i;
	o = &b->owned[i];
	if (dma == o->iova + o->head && len == o->len)
		return i;
	if (!(attrs & DMASPLIT_ATTR_NO_WARN))
		vfio_err(b, "%s: unmap of 0x%" PRIx64 "+0x%" PRIx64 ": the mapping there is 0x%" PRIx64 "+0x%" PRIx64,
			 b->name, dma, len, o->iova + o->head, o->len);
	return -EINVAL;
}

static int vfio_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		      enum dmasplit_dir dir, uint32_t attrs)
{
	uint64_t base, size;
	long i;
	int r;

	granules(b, dma, len, &base, &size);
	pthread_mutex_lock(&b->sp->lock);
	i = own_segments(b, own_check(b, base, size, attrs), base, false, 1,
			 attrs);
	i = own_exact(b, i, dma, len, attrs);
	r = i < 0 ? (int)i : unmap_locked(b, i, base, size, 1);
	pthread_mutex_unlock(&b->sp->lock);
	return r;
}

/*
 * One IOVA allocation for all buffers, one kernel mapping per run of
 * buffers contiguous in user memory; each run is one segment, so that
 * unmap_vec knows how many kernel mappings it removes.
 */
static int vfio_map_vec(struct dmasplit_bdev *b, const struct iovec *iov,
			unsigned int n, enum dmasplit_dir dir, uint32_t attrs,
			struct dmasplit_seg *segs, unsigned int *nsegs)
{
	uint64_t g = b->sp->granule, size = 0, iova, at;
	uint64_t run_va = 0, run_len = 0;
	unsigned int i, used = 0, prot = dir_prot(dir);
	bool no_room = false;
	int r;

	for (i = 0; i < n; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base;

		r = vfio_peer_check(b, iov[i].iov_base, iov[i].iov_len, attrs);
		if (r < 0)
			return r;
		/* Past 2^64 is past any device's addresses. */
		if (__builtin_add_overflow(size, ((va + iov[i].iov_len + g - 1) &
						  ~(g - 1)) - (va & ~(g - 1)),
					   &size)) {
			if (!(attrs & DMASPLIT_ATTR_NO_WARN))
				vfio_err(b, "%s: map_vec of %u buffers: more than 2^64 bytes of device addresses",
					 b->name, n);
			return -ENOSPC;
		}
	}
	pthread_mutex_lock(&b->sp->lock);
	r = iova_get(b, size, &iova, attrs);
	if (r < 0)
		goto out;
	at = iova;
	for (i = 0; i <= n; i++) {
		uintptr_t va = i < n ? (uintptr_t)iov[i].iov_base : 0;
		size_t len = i < n ? iov[i].iov_len : 0;

		/* Extend the run while the buffers follow each other in
		 * memory (and so in the device's view, page for page). */
		if (i < n && used && run_len && va == run_va + run_len &&
		    !(va & (g - 1))) {
			segs[used - 1].len += len;
			run_len += len;
			continue;
		}
		if (run_len) {
			uint64_t va0 = run_va & ~(g - 1);
			uint64_t sz = ((run_va + run_len + g - 1) & ~(g - 1)) - va0;

			r = kmap(b, at, va0, sz, prot, attrs);
			if (r < 0)
				goto undo;
			at += sz;
		}
		if (i == n)
			break;
		if (used == *nsegs) {
			r = -ENOSPC;
			no_room = true;
			goto undo;
		}
		segs[used].dma = at + (va & (g - 1));
		segs[used++].len = len;
		run_va = va;
		run_len = len;
	}
	r = own_add(b, OWN_VEC, iova, size, used, 0, 0);
	if (r < 0) {
		/* Every run is mapped: all of them go. */
		if (kunmap(b, iova, at - iova, used, at - iova) == 0)
			iova_put(b, iova, size);
		goto out;
	}
	*nsegs = used;
	goto out;
undo:
	/* Out of segments, every run begun is mapped; else the last one
	 * failed to map (kmap's -ENOSPC is the container's limit, not
	 * this). */
	if (at == iova || kunmap(b, iova, at - iova, used - (no_room ? 0 : 1),
				 at - iova) == 0)
		iova_put(b, iova, size);
out:
	pthread_mutex_unlock(&b->sp->lock);
	if (no_room && !(attrs & DMASPLIT_ATTR_NO_WARN))
		vfio_err(b, "%s: map_vec of %u buffers: they need more than the %u segments given",
			 b->name, n, *nsegs);
	return r;
}

static int vfio_unmap_vec(struct dmasplit_bdev *b,
			  const struct dmasplit_seg *segs, unsigned int nsegs,
			  enum dmasplit_dir dir, uint32_t attrs)
{
	const struct dmasplit_seg *l = &segs[nsegs - 1];
	uint64_t base, size, last_base, last_size;
	long i;
	int r;

	granules(b, segs[0].dma, segs[0].len, &base, &size);
	granules(b, l->dma, l->len, &last_base, &last_size);
	size = last_base + last_size - base;
	pthread_mutex_lock(&b->sp->lock);
	i = own_segments(b, own_check(b, base, size, attrs), base, true,
			 nsegs, attrs);
	r = i < 0 ? (int)i : unmap_locked(b, i, base, size, nsegs);
	pthread_mutex_unlock(&b->sp->lock);
	return r;
}

/*
 * Both addresses aligned to the smallest power-of-two number of pages
 * that holds size, as the kernel's dma_alloc_coherent promises: the CPU
 * pages trimmed from a larger mapping, the IOVA from a larger range.
 */
/* Room for one more coherent record.  Lock held. */
static int coh_room(struct dmasplit_bdev *b)
{
	struct coherent *c;
	size_t cap;

	if (b->ncoh < b->coh_cap)
		return 0;
	cap = b->coh_cap ? 2 * b->coh_cap : 8;
	c = realloc(b->coh, cap * sizeof(*c));
	if (!c)
		return -ENOMEM;
	b->coh = c;
	b->coh_cap = cap;
	return 0;
}

static int vfio_alloc_coherent(struct dmasplit_bdev *b, size_t size,
			       uint32_t flags, void **cpu, uint64_t *dma)
{
	size_t len = (size + b->sp->granule - 1) & ~(b->sp->granule - 1);
	size_t align = 4096, extra;
	uintptr_t m, p;
	int r;

	while (align < size && align <= SIZE_MAX / 4)
		align *= 2;
	if (align < size)
		return -ENOMEM;
	if (align < b->sp->granule)
		align = b->sp->granule;
	extra = align - 4096;
	if (len + extra < len)
		return -ENOMEM;
	m = (uintptr_t)mmap(NULL, len + extra, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == (uintptr_t)MAP_FAILED)
		return -ENOMEM;
	p = (m + align - 1) & ~(uintptr_t)(align - 1);
	if (p > m)
		munmap((void *)m, p - m);
	if (m + len + extra > p + len)
		munmap((void *)(p + len), m + len + extra - (p + len));
	pthread_mutex_lock(&b->sp->lock);
	r = coh_room(b);
	if (r == 0)
		r = map_locked(b, OWN_COHERENT, p, len,
			       PROT_DEV_READ | PROT_DEV_WRITE, 0, align, dma);
	if (r == 0)
		b->coh[b->ncoh++] = (struct coherent){ *dma, (void *)p, size };
	pthread_mutex_unlock(&b->sp->lock);
	if (r < 0) {
		munmap((void *)p, len);
		return r;
	}
	*cpu = (void *)p;
	return 0;
}

static int vfio_free_coherent(struct dmasplit_bdev *b, size_t size, void *cpu,
			      uint64_t dma)
{
	size_t len = (size + b->sp->granule - 1) & ~(b->sp->granule - 1), i;
	int r;

	pthread_mutex_lock(&b->sp->lock);
	for (i = 0; i < b->ncoh && b->coh[i].dma != dma; i++)
		;
	if (i == b->ncoh) {
		r = -ENOENT;
		vfio_err(b, "%s: free_coherent of %p at 0x%" PRIx64 ": no coherent memory there",
			 b->name, cpu, dma);
	} else if (b->coh[i].size != size || b->coh[i].cpu != cpu) {
		r = -EINVAL;
		vfio_err(b, "%s: free_coherent of %p at 0x%" PRIx64 " (%zu bytes): allocated as %p (%zu bytes)",
			 b->name, cpu, dma, size, b->coh[i].cpu,
			 b->coh[i].size);
	} else {
		/* Recorded as any mapping, by map_locked(). */
		long j = own_find(b, dma);

		r = j < 0 ? -EIO : unmap_locked(b, j, dma, len, 1);
		if (r == 0)
			b->coh[i] = b->coh[--b->ncoh];
	}
	pthread_mutex_unlock(&b->sp->lock);
	if (r == 0)
		munmap(cpu, len);
	return r;
}

static const struct dmasplit_backend_ops vfio_ops = {
	.size = sizeof(struct dmasplit_backend_ops),
	.abi_version = DMASPLIT_BACKEND_ABI_VERSION,
	.name = VFIO_NAME,
	.uuid = VFIO_UUID,
	.version = PACKAGE_VERSION,
	.description = "PCI devices bound to vfio-pci behind an IOMMU (iommufd or type1)",
	.flags = DMASPLIT_BACKEND_SHARES_AS,
	.probe = vfio_probe,
	.open = vfio_open,
	.close = vfio_close,
	.get_info = vfio_get_info,
	.get_ranges = vfio_get_ranges,
	.get_stats = vfio_get_stats,
	.get_fd = vfio_get_fd,
	.iova_alloc = win_alloc,
	.iova_link = win_link,
	.iova_sync = win_sync,
	.iova_unlink = win_unlink,
	.iova_destroy = win_destroy,
	.map = vfio_map,
	.unmap = vfio_unmap,
	.map_vec = vfio_map_vec,
	.unmap_vec = vfio_unmap_vec,
	.alloc_coherent = vfio_alloc_coherent,
	.free_coherent = vfio_free_coherent,
};

DMASPLIT_BACKEND_EXPORT const struct dmasplit_backend_ops *
DMASPLIT_BACKEND_ENTRY(void)
{
	return &vfio_ops;
}
