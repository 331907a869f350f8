// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The two-step path: one window, many links, one sync (the kernel's
 * dma_iova_try_alloc/link/sync/unlink/destroy).  Arguments are validated
 * here, once, so backends check only their own rules; the checker's
 * per-granule state costs one predictable branch when it is off.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* [offset, offset + len) inside the window; no overflow possible. */
static bool outside(const struct dmasplit_iova *iova, uint64_t offset,
		    uint64_t len)
{
	/* len - 1 wraps when len is 0 */
	return offset > iova->size || len - 1 >= iova->size - offset;
}

/*
 * The device of a window an operation may use: NULL for no window, or
 * for one the checker knows is destroyed already (it has logged that).
 */
static inline struct dmasplit_dev *window_dev(struct dmasplit_iova *iova,
					     const void *caller)
{
	if (!iova)
		return NULL;
	if (unlikely(iova->dev->check) && check_window_dead(iova, caller))
		return NULL;
	return iova->dev;
}

/*
 * What link and unlink both ask of their arguments, so that the backends'
 * iova_link and iova_unlink see the same guarantees: a non-empty range
 * inside the window, and a direction and attributes the API defines.
 */
static inline int window_xfer_args(const struct dmasplit_iova *iova,
				   const char *fn, size_t offset, size_t len,
				   enum dmasplit_dir dir, uint32_t attrs)
{
	if (likely(!outside(iova, offset, len) && !xfer_bad(dir, attrs)))
		return 0;
	return refuse(iova->dev->ctx, attrs, -EINVAL,
		      "%s: %s: invalid arguments (offset 0x%zx, len 0x%zx, dir %d, attrs 0x%x) for window 0x%" PRIx64 "+0x%" PRIx64,
		      iova->dev->name, fn, offset, len, (int)dir, attrs,
		      iova->addr, iova->size);
}

/* On top of the n spares of slot.  Each spare's addr holds how many
 * spares it is on top of, itself counted: the top one's is the slot's
 * count, before and after a pop, with no store but the push's. */
static void spare_push(struct dmasplit_dev *dev, int slot,
		       struct dmasplit_iova *iova, uint64_t n)
{
	iova->spare_next = dev->count[slot].spare;
	iova->addr = n + 1;
	dev->count[slot].spare = iova;
}

/*
 * A thread whose slot has no spare takes a batch from the device's slab,
 * under one lock: one to use, the rest its spares.  Fresh objects come
 * in groups that share no cache line with another thread's.  Window
 * objects are written at each alloc, link and destroy; two threads'
 * windows on one line would take it from each other every time, and two
 * threads making windows on one device would go slower than one.
 */
_Static_assert(SLAB_GROUP_MAX <= IOVA_SPARE_BATCH &&
	       IOVA_SPARE_BATCH <= IOVA_SPARE_MAX,
	       "a batch holds a group and fits in a slot");

static __attribute__((noinline)) struct dmasplit_iova *
slab_refill(struct dmasplit_dev *dev, int slot)
{
	void *objs[IOVA_SPARE_BATCH];
	unsigned int n, i;

	n = slab_alloc_many(&dev->win_slab, objs, IOVA_SPARE_BATCH);
	if (!n)
		return NULL;
	/* The slot had none: these are all its spares. */
	for (i = 1; i < n; i++)
		spare_push(dev, slot, objs[i], i - 1);
	return objs[0];
}

/* A full slot gives its top IOVA_SPARE_BATCH spares back to the slab
 * under one lock, then takes iova: a spare's next is its first word, so
 * the spares are a chain the slab frees as it is, and the one below them
 * keeps its count. */
_Static_assert(offsetof(struct dmasplit_iova, spare_next) == 0,
	       "spares chain through their first word");

static __attribute__((noinline)) void slot_spill(struct dmasplit_dev *dev,
						 int slot,
						 struct dmasplit_iova *iova)
{
	struct dmasplit_iova *top = dev->count[slot].spare, *last = top;
	unsigned int i;

	for (i = 1; i < IOVA_SPARE_BATCH; i++)
		last = last->spare_next;
	dev->count[slot].spare = last->spare_next;
	last->spare_next = NULL;
	slab_free_chain(&dev->win_slab, top);
	spare_push(dev, slot, iova, IOVA_SPARE_MAX - IOVA_SPARE_BATCH);
}

/*
 * Window objects come from the calling thread's slot of the device
 * (struct dev_counters), which only that thread touches: the one-page
 * window that is made and destroyed per I/O costs no allocation and no
 * lock.  A slot's owner changes only through count.c's atomic bitmap,
 * which orders the old owner's last use before the new owner's first.
 * Behind the slots, the device's slab (slab.c): no malloc header per
 * window.  A checked window is larger and comes from calloc.
 */
static struct dmasplit_iova *iova_obj_new(struct dmasplit_dev *dev)
{
	int slot = count_slot_tls;
	struct dmasplit_iova *iova;
	struct checked_iova *w;

	if (unlikely(dev->check)) {
		w = calloc(1, sizeof(*w) + dev->win_bytes -
				      sizeof(struct dmasplit_iova));
		return w ? &w->iova : NULL;
	}
	if (unlikely(slot < 0))
		slot = count_slot_assign();
	if (!slot)
		return slab_alloc(&dev->win_slab);
	iova = dev->count[slot].spare;
	if (!iova)
		return slab_refill(dev, slot);
	dev->count[slot].spare = iova->spare_next;
	/* Not cleared: the caller sets the core's part, and iova_init or
	 * iova_alloc the backend's. */
	return iova;
}

/* A window of the checker's comes here only when its alloc fails (it is
 * freed at once); a destroyed one check_quarantine() keeps. */
static void iova_obj_free(struct dmasplit_dev *dev, struct dmasplit_iova *iova)
{
	int slot = count_slot_tls;	/* assigned: this thread counted */
	struct dmasplit_iova *head;
	uint64_t n;

	if (dev->check) {
		free(checked(iova));
		return;
	}
	if (slot <= 0) {
		slab_free(&dev->win_slab, iova);
		return;
	}
	head = dev->count[slot].spare;
	n = head ? head->addr : 0;
	if (unlikely(n == IOVA_SPARE_MAX))
		slot_spill(dev, slot, iova);
	else
		spare_push(dev, slot, iova, n);
}

static void slot_spares_free(struct dmasplit_dev *dev, int slot)
{
	slab_free_chain(&dev->win_slab, dev->count[slot].spare);
	dev->count[slot].spare = NULL;
}

/*
 * dmasplit_dev_trim(): the calling thread's spares go, and those threads
 * that have ended left in their slots, each borrowed meanwhile so that
 * no new thread takes it; threads still running keep theirs (at most
 * IOVA_SPARE_MAX each), as their slots are their own.
 */
void iova_spares_trim(struct dmasplit_dev *dev)
{
	int own = count_slot_tls, slot;

	for (slot = 1; slot < COUNT_SLOTS; slot++) {
		if (slot == own) {
			slot_spares_free(dev, slot);
		} else if (count_slot_take(slot)) {
			slot_spares_free(dev, slot);
			count_slot_return(slot);
		}
	}
}

/* The device is going: no thread uses its slots any more. */
void iova_spares_free(struct dmasplit_dev *dev)
{
	int i;

	for (i = 0; i < COUNT_SLOTS; i++)
		slot_spares_free(dev, i);
}

/* The checker names the windows still live at close: it lists them. */
static void list_add(struct dmasplit_iova *iova)
{
	struct dmasplit_dev *dev = iova->dev;
	struct checked_iova *w = checked(iova);

	pthread_mutex_lock(&dev->lock);
	w->next = dev->windows;
	if (dev->windows)
		dev->windows->prev = w;
	dev->windows = w;
	pthread_mutex_unlock(&dev->lock);
}

/* The backend's part of the window goes; the object stays. */
static inline void window_release(struct dmasplit_dev *dev,
				  struct dmasplit_iova *iova)
{
	/* Not iova_bwin(): one test of bwin_inline, not two. */
	if (likely(dev->bwin_inline))
		dev->ops->iova_fini(iova_area(iova));
	else
		dev->ops->iova_destroy(*(struct dmasplit_bwin **)iova_area(iova));
}

/* The backend operation that makes a window, for error lines. */
static const char *alloc_op(const struct dmasplit_dev *dev)
{
	return dev->bwin_inline ? "iova_init" : "iova_alloc";
}

/* iova_alloc said 0 and gave no window: there is nothing to destroy, and
 * whatever the backend holds for it stays until the device closes. */
static __attribute__((noinline, cold)) int no_window(struct dmasplit_dev *dev,
						     struct dmasplit_iova *iova)
{
	log_err(dev->ctx, "%s: backend %s returned no window from iova_alloc: refused",
		dev->name, dev->backend->ops.name);
	iova_obj_free(dev, iova);
	return -EIO;
}

/*
 * A window of an open device holds no reference on it: the device's
 * window counters say how many there are, and dmasplit_dev_close() gives
 * each one still live a reference then (dev.c's windows_settle()).  Two
 * threads making windows on one device thus write no line in common: a
 * shared count, written at every alloc and destroy, would take its line
 * from one thread to the other each time.
 *
 * Making or destroying a window marks the thread's slot, then reads
 * closed; close sets closed, then waits until no slot is marked.  All
 * four are sequentially consistent, so either close waits for the call
 * or the call sees closed.  A call that sees it waits until close has
 * counted, then takes or drops a reference of its own, as a window of a
 * closed device holds one: window_op_begin() returns NULL.  The mark
 * spans every use of the device in destroy, as the device may be
 * released once no slot is marked.
 */
static __attribute__((noinline)) struct dev_counters *
window_op_closed(struct dmasplit_dev *dev, struct dev_counters *c)
{
	__atomic_sub_fetch(&c->window_ops, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&dev->windows_settled, __ATOMIC_ACQUIRE))
		sched_yield();
	return NULL;
}

static inline struct dev_counters *window_op_mark(struct dmasplit_dev *dev,
						  struct dev_counters *c)
{
	__atomic_add_fetch(&c->window_ops, 1, __ATOMIC_SEQ_CST);
	if (likely(!__atomic_load_n(&dev->closed, __ATOMIC_SEQ_CST)))
		return c;
	return window_op_closed(dev, c);
}

/* A thread that has no slot yet, or shares slot 0. */
static __attribute__((noinline)) struct dev_counters *
window_op_begin_unowned(struct dmasplit_dev *dev)
{
	int slot = count_slot_tls;

	if (slot < 0)
		slot = count_slot_assign();
	return window_op_mark(dev, &dev->count[slot]);
}

static inline struct dev_counters *window_op_begin(struct dmasplit_dev *dev)
{
	size_t off = count_own_slot_offset_tls;

	if (unlikely(!off))
		return window_op_begin_unowned(dev);
	return window_op_mark(dev, (struct dev_counters *)(void *)
					   ((char *)dev->count + off));
}

static inline void window_op_end(struct dmasplit_dev *dev,
				 struct dev_counters *c)
{
	/* The owner's own slot takes a plain store; the shared one, not. */
	if (c != dev->count)
		__atomic_store_n(&c->window_ops, 0, __ATOMIC_RELEASE);
	else
		__atomic_sub_fetch(&c->window_ops, 1, __ATOMIC_RELEASE);
}

DMASPLIT_EXPORT int dmasplit_iova_alloc(struct dmasplit_dev *dev, size_t size,
					uint32_t flags,
					struct dmasplit_iova **out)
{
	struct dmasplit_iova *iova;
	struct dmasplit_ctx *ctx;
	struct dev_counters *open;
	uint64_t rounded;
	int r;

	if (!dev || !out)
		return -EINVAL;
	ctx = dev->ctx;
	if (!size || size > SIZE_MAX - (dev->granule - 1))
		return refuse(ctx, 0, -EINVAL, "%s: %s: invalid size %zu",
			      dev->name, __func__, size);
	if (flags & ~DMASPLIT_IOVA_FLAGS_MASK)
		return refuse(ctx, 0, -EINVAL, "%s: %s: unknown flags 0x%x",
			      dev->name, __func__, flags);
	if (!(dev->info.flags & DMASPLIT_DEV_WINDOWS)) {
		/* Expected on direct and bounce-only devices: the caller
		 * falls back to the per-range path.  The flag the caller
		 * was given decides, not the backend: it is cleared where
		 * the backend has no window operations (dev.c). */
		log_dbg(ctx, "%s: the device has no windows (backend %s)",
			dev->name, dev->backend->ops.name);
		return -EOPNOTSUPP;
	}
	rounded = ((uint64_t)size + dev->granule - 1) & ~(dev->granule - 1);

	iova = iova_obj_new(dev);
	if (!iova)
		return refuse(ctx, 0, -ENOMEM, "%s: %s: no memory for the window",
			      dev->name, __func__);
	iova->dev = dev;
	iova->size = rounded;
	/* A spare object holds its count there: a backend that says 0 and
	 * writes no address must give address 0, which is refused. */
	iova->addr = 0;
	if (likely(dev->bwin_inline)) {
		r = dev->ops->iova_init(dev->bdev, rounded, flags,
					iova_area(iova), &iova->addr);
	} else {
		/* A reused object holds the last window's pointer: a
		 * backend that says 0 and writes none must not pass. */
		*(struct dmasplit_bwin **)iova_area(iova) = NULL;
		r = dev->ops->iova_alloc(dev->bdev, rounded, flags,
					 iova_area(iova), &iova->addr);
		if (unlikely(r == 0 &&
			     !*(struct dmasplit_bwin **)iova_area(iova)))
			return no_window(dev, iova);
	}
	if (r != 0) {
		r = backend_error(dev, r, ERRS_ALLOC, alloc_op(dev));
		log_dbg(ctx, "%s: window of %" PRIu64 " bytes: %s", dev->name,
			rounded, strerror(-r));
		iova_obj_free(dev, iova);
		return r;
	}
	if (dma_bad(dev, iova->addr, rounded))
		r = backend_bad_dma(dev, iova->addr, rounded, alloc_op(dev));
	else if (unlikely(dev->check))
		r = check_window_add(iova, __builtin_return_address(0));
	if (r < 0) {
		window_release(dev, iova);
		iova_obj_free(dev, iova);
		return r;
	}
	if (unlikely(dev->check))
		list_add(iova);
	/* The window keeps its device, even past dmasplit_dev_close(). */
	open = window_op_begin(dev);
	if (!open)
		dev_get(dev);
	count_add(dev, C_WINDOWS_ALLOCATED, 1);
	if (open)
		window_op_end(dev, open);
	*out = iova;
	return 0;
}

DMASPLIT_EXPORT uint64_t dmasplit_iova_addr(const struct dmasplit_iova *iova)
{
	return iova ? iova->addr : 0;
}

DMASPLIT_EXPORT size_t dmasplit_iova_size(const struct dmasplit_iova *iova)
{
	return iova ? (size_t)iova->size : 0;
}

/*
 * Every link that is not the common case: the checker on, an argument
 * refused, or the backend failing.  Apart, so that the common link keeps
 * only its device live across the backend's call.
 */
static __attribute__((noinline, cold)) int
link_full(struct dmasplit_iova *iova, size_t offset, void *vaddr, size_t len,
	  enum dmasplit_dir dir, uint32_t attrs, const void *caller)
{
	struct dmasplit_dev *dev = window_dev(iova, caller);
	int r;

	if (!dev)
		return -EINVAL;
	r = window_xfer_args(iova, "dmasplit_iova_link", offset, len, dir,
			     attrs);
	if (r < 0)
		return r;
	if (unlikely(buf_bad(vaddr, len)))
		return refuse(dev->ctx, attrs, -EINVAL,
			      "%s: dmasplit_iova_link: invalid buffer (vaddr %p, len 0x%zx)",
			      dev->name, vaddr, len);
	if (unlikely(dev->check)) {
		r = check_link(iova, offset, len, dir, attrs, caller);
		if (r < 0)
			return r;
	}
	r = dev->ops->iova_link(iova_bwin(iova), offset, vaddr, len, dir,
				 attrs);
	if (unlikely(r != 0)) {
		if (dev->check)
			check_link_undo(iova, offset, len);
		return backend_error(dev, r, ERRS_LINK, "iova_link");
	}
	count_add(dev, C_LINKS, 1);
	return 0;
}

/* The same tests as link_full()'s, without the checker and the logging,
 * for a backend whose window is in the object: one link per page is the
 * path the split API is judged by. */
DMASPLIT_EXPORT int dmasplit_iova_link(struct dmasplit_iova *iova, size_t offset,
				       void *vaddr, size_t len,
				       enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_dev *dev;
	int r;

	if (unlikely(!iova || iova->dev->link_slow ||
		     outside(iova, offset, len) || xfer_bad(dir, attrs) ||
		     buf_bad(vaddr, len)))
		return link_full(iova, offset, vaddr, len, dir, attrs,
				 __builtin_return_address(0));
	dev = iova->dev;
	r = dev->ops->iova_link(iova_area(iova), offset, vaddr, len, dir,
				attrs);
	if (unlikely(r != 0))
		return backend_error(dev, r, ERRS_LINK, "iova_link");
	count_add(dev, C_LINKS, 1);
	return 0;
}

DMASPLIT_EXPORT int dmasplit_iova_sync(struct dmasplit_iova *iova, size_t offset,
				       size_t len)
{
	struct dmasplit_dev *dev = window_dev(iova, __builtin_return_address(0));
	int r;

	if (!dev)
		return -EINVAL;
	if (unlikely(outside(iova, offset, len)))
		return refuse(dev->ctx, 0, -EINVAL,
			      "%s: %s: range 0x%zx+0x%zx %s window 0x%" PRIx64 "+0x%" PRIx64,
			      dev->name, __func__, offset, len,
			      len ? "outside" : "empty, in", iova->addr,
			      iova->size);
	if (unlikely(dev->check)) {
		r = check_sync(iova, offset, len, __builtin_return_address(0));
		if (r < 0)
			return r;
	}
	if (dev->ops->iova_sync) {
		r = dev->ops->iova_sync(iova_bwin(iova), offset, len);
		if (r != 0)
			return backend_error(dev, r, ERRS_WSYNC, "iova_sync");
	}
	count_add(dev, C_SYNCS, 1);
	return 0;
}

DMASPLIT_EXPORT int dmasplit_iova_unlink(struct dmasplit_iova *iova,
					 size_t offset, size_t len,
					 enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_dev *dev = window_dev(iova, __builtin_return_address(0));
	int r;

	if (!dev)
		return -EINVAL;
	r = window_xfer_args(iova, __func__, offset, len, dir, attrs);
	if (r < 0)
		return r;
	if (unlikely(dev->check)) {
		r = check_unlink(iova, offset, len, dir, attrs,
				 __builtin_return_address(0));
		if (r < 0)
			return r;
	}
	r = dev->ops->iova_unlink(iova_bwin(iova), offset, len, dir,
				  attrs);
	if (unlikely(dev->check))
		check_unlink_done(iova, offset, len, r == 0);
	if (r != 0)
		return backend_error(dev, r, ERRS_UNMAP, "iova_unlink");
	count_add(dev, C_UNLINKS, 1);
	return 0;
}

/*
 * A checked window being destroyed leaves the list of live ones, and the
 * checker forgets its range, before the backend frees it: another
 * thread's window may get the range at once.  Out of line, so that the
 * unchecked destroy keeps few registers.
 */
static __attribute__((noinline)) void unlist(struct dmasplit_iova *iova,
					     const void *caller)
{
	struct dmasplit_dev *dev = iova->dev;
	struct checked_iova *w = checked(iova);

	pthread_mutex_lock(&dev->lock);
	if (w->prev)
		w->prev->next = w->next;
	else
		dev->windows = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	pthread_mutex_unlock(&dev->lock);
	check_window_del(iova, caller);
}

/*
 * The window's hold on its device goes last: destroying the last window
 * of a closed device releases the device.
 */
DMASPLIT_EXPORT void dmasplit_iova_destroy(struct dmasplit_iova *iova)
{
	struct dmasplit_dev *dev = window_dev(iova, __builtin_return_address(0));
	struct dev_counters *open;

	if (!dev)
		return;
	open = window_op_begin(dev);
	if (unlikely(dev->check))
		unlist(iova, __builtin_return_address(0));
	window_release(dev, iova);
	count_add(dev, C_WINDOWS_DESTROYED, 1);
	if (dev->check)
		check_quarantine(iova);
	else
		iova_obj_free(dev, iova);
	if (open)
		window_op_end(dev, open);
	else
		dev_put(dev);
}

int internal_window_alloc(struct dmasplit_dev *dev, size_t size,
			  struct dmasplit_iova **iova)
{
	int r = dmasplit_iova_alloc(dev, size, 0, iova);

	if (r < 0)
		return r;
	if (dev->check)
		check_window_internal(*iova);
	__atomic_add_fetch(&dev->internal_windows, 1, __ATOMIC_RELAXED);
	return 0;
}

void internal_window_destroy(struct dmasplit_iova *iova)
{
	struct dmasplit_dev *dev;

	if (!iova)
		return;
	dev = iova->dev;
	__atomic_sub_fetch(&dev->internal_windows, 1, __ATOMIC_RELAXED);
	dmasplit_iova_destroy(iova);
}
