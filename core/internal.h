/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the core's files only; never installed, never seen by plugins. */
#ifndef DMASPLIT_INTERNAL_H
#define DMASPLIT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <dmasplit/backend.h>
#include <dmasplit/dmasplit.h>

#include "itree.h"
#include "slab.h"

#define DMASPLIT_EXPORT __attribute__((visibility("default")))

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define CACHELINE 64

/* Zeroed memory that shares no cache line with any other allocation:
 * for objects that threads write on every call. */
static inline void *zalloc_cacheline(size_t size)
{
	size_t len = (size + CACHELINE - 1) & ~(size_t)(CACHELINE - 1);
	void *p = aligned_alloc(CACHELINE, len);

	if (p)
		memset(p, 0, len);
	return p;
}

/*
 * No call of the library acts on a cancellation request (libdmasplit(3),
 * Thread safety): one that arrives during a call waits for the caller's
 * next cancellation point, so that no thread ends inside the library
 * with one of its locks held, a descriptor open or an object half made.
 * The calls that open devices, read sysfs or free what holds descriptors
 * defer cancellation for their whole length: CANCEL_DEFERRED, first in
 * their body.  The per-call paths (map, link, sync and the rest) reach a
 * cancellation point only through the log function and the host services
 * that pin memory or read files, which defer it there; deferring it on
 * every call would cost them more than the call.
 */
static inline int cancel_defer(void)
{
	int state;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	return state;
}

static inline void cancel_restore(const int *state)
{
	pthread_setcancelstate(*state, NULL);
}

/* unused: clang counts neither the cleanup nor the initializer as a use. */
#define CANCEL_DEFERRED \
	int cancel_state_ __attribute__((cleanup(cancel_restore), unused)) = \
		cancel_defer()

/* On every internal function whose error a caller could drop: dropping
 * it is a compile error with -Werror, as kmod's _must_check_. */
#define _must_check_ __attribute__((warn_unused_result))

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------------ */
/* Logging                                                              */

void dmasplit_log(struct dmasplit_ctx *ctx, int priority, const char *file,
		  int line, const char *fn, const char *format, ...)
	DMASPLIT_PRINTF(6, 7);
void dmasplit_vlog(struct dmasplit_ctx *ctx, int priority, const char *file,
		   int line, const char *fn, const char *format, va_list args)
	DMASPLIT_PRINTF(6, 0);

#define log_cond(ctx, prio, ...)                                              \
	do {                                                                  \
		if (dmasplit_ctx_get_log_priority(ctx) >= (prio))             \
			dmasplit_log(ctx, prio, __FILE__, __LINE__, __func__, \
				     __VA_ARGS__);                            \
	} while (0)
#define log_err(ctx, ...) log_cond(ctx, LOG_ERR, __VA_ARGS__)
#define log_info(ctx, ...) log_cond(ctx, LOG_INFO, __VA_ARGS__)
#define log_dbg(ctx, ...) log_cond(ctx, LOG_DEBUG, __VA_ARGS__)

/*
 * The one rule of logging: the application's log function is never called
 * with a lock of the library held (a device's, the pin or peer table's).
 * The function is the application's code and may call back into the
 * library, on the device the line is about even (an unmap, a window to
 * look at what was mapped), and no lock here is recursive: a line logged
 * under one would deadlock that call.  A line due while a lock is held is
 * kept in a struct log_later and logged after the unlock; the checker's
 * reports work the same way (struct check_report, checker.h).  Where a
 * lock is held across many lines (loading the plugins, loader.c), the
 * thread holds its lines back in a struct log_queue instead.
 */
struct log_later {
	bool due;
	int priority;
	const char *file;
	int line;
	const char *fn;
	char msg[512];
};

struct log_queue {
	struct queued_line *head, **tail;
	unsigned int lost;
};

/* From begin to end, every line this thread logs is kept in q; end logs
 * them, in order, and must be called with no lock held. */
void log_queue_begin(struct log_queue *q);
void log_queue_end(struct dmasplit_ctx *ctx, struct log_queue *q);

void log_later_set(struct dmasplit_ctx *ctx, struct log_later *l,
		   int priority, const char *file, int line, const char *fn,
		   const char *format, ...) DMASPLIT_PRINTF(7, 8);
/* No lock held. */
void log_later_flush(struct dmasplit_ctx *ctx, struct log_later *l);
#define log_later_err(ctx, l, ...) \
	log_later_set(ctx, l, LOG_ERR, __FILE__, __LINE__, __func__, __VA_ARGS__)

/*
 * Every line of the checker starts so: a log can be searched for misuse
 * apart from the errors a correct program meets too.
 */
#define CHECK_PREFIX "dmasplit-check: "

/* A refused call: one log line, unless the caller expects failures. */
#define refuse(ctx, attrs, err, ...)                               \
	({                                                         \
		if (!((attrs) & DMASPLIT_ATTR_NO_WARN))            \
			log_err(ctx, __VA_ARGS__);                 \
		(err);                                             \
	})

static inline bool dir_bad(enum dmasplit_dir dir)
{
	return (unsigned int)dir > DMASPLIT_FROM_DEVICE;
}

/* Every call that moves data takes a direction and attributes; backends
 * rely on both being ones the API defines. */
static inline bool xfer_bad(enum dmasplit_dir dir, uint32_t attrs)
{
	return dir_bad(dir) || (attrs & ~DMASPLIT_ATTR_MASK);
}

/* ------------------------------------------------------------------ */
/* Objects                                                              */

struct pin_table {
	pthread_mutex_t lock;
	uint64_t *pages;	/* page address, 0 = empty slot */
	uint32_t *counts;
	size_t cap;		/* power of two, or 0 */
	size_t used;
	int pagemap_fd;		/* -1 until first use */
	int flags_fd;		/* pagemap for its flags alone, which
				 * it shows without CAP_SYS_ADMIN: -1
				 * until opened, -2 unreadable for good */
};

struct peer_table {
	pthread_mutex_t lock;
	struct dmasplit_peer *v;	/* sorted by cpu, disjoint */
	size_t n, cap;			/* n is read without the lock */
};

/* Destroyed windows the checker still knows, oldest first, bounded
 * (check-window.c). */
struct quarantine {
	struct checked_iova *head, *tail;
	unsigned int n;
};

struct dmasplit_ctx {
	int refcount;
	dmasplit_log_fn log_fn;
	void *log_data;
	int log_priority;
	void *userdata;

	char *backend_path;	/* NULL: BACKENDDIR */
	bool no_builtin;	/* DMASPLIT_BUILTIN_BACKENDS=0 */
	char *forced_backend;	/* name or UUID, or NULL */
	char *sysfs_root;
	bool check;
	uint64_t check_findings;	/* atomic */

	bool loaded;
	struct dmasplit_backend *backends;	/* load order */

	pthread_mutex_t lock;	/* devs, and the two below */
	struct dmasplit_dev *devs;
	/* With the checker: windows destroyed after their device's close,
	 * still reported when used (check-window.c), and the device they
	 * point at instead of theirs. */
	struct quarantine graveyard;
	struct dmasplit_dev *gone_dev;

	struct dmasplit_host host;
	struct pin_table pins;
	struct peer_table peers;
};

struct dmasplit_backend {
	struct dmasplit_backend *next;
	struct dmasplit_ctx *ctx;
	void *dl;
	char *path;
	char uuid[37];
	/* The plugin's table, zero-extended to the size this core knows. */
	struct dmasplit_backend_ops ops;
};

/*
 * Counters the core keeps; the rest of dmasplit_dev_stats is the backend's.
 * Every call counts, so counting must cost next to nothing and threads
 * must not share cache lines: each thread owns a slot of every device's
 * counters (count.c) and adds with a plain store; threads beyond the
 * slots share slot 0 and add atomically.  Readers sum the slots.
 */
enum counter {
	C_WINDOWS_ALLOCATED,
	C_WINDOWS_DESTROYED,
	C_LINKS,
	C_SYNCS,
	C_UNLINKS,
	C_MAPS,
	C_UNMAPS,
	C_NUM
};

#define COUNT_SLOTS 64

/* A thread's slot of a device: its counters and, beside them, the window
 * objects it destroyed lately, for its next windows, and the mark of a
 * window it is making or destroying (iova.c).  Only the slot's owner
 * touches spare; slot 0, which threads share, keeps none and marks with
 * atomic adds. */
struct dev_counters {
	uint64_t v[C_NUM];
	struct dmasplit_iova *spare;	/* through next; the first's addr
					 * holds how many */
	unsigned int window_ops;	/* windows_settle() waits for 0 */
} __attribute__((aligned(CACHELINE)));

/* Window objects a slot keeps at most: a thread's windows in flight on
 * one device, as an I/O queue's depth.  A slot trades with the device's
 * slab a batch at a time, under one lock: it takes one when it has no
 * spare, and gives one back when it has the most (iova.c). */
#define IOVA_SPARE_MAX 64
#define IOVA_SPARE_BATCH 32

struct check_dev;
struct check_entry;

/*
 * Lifetimes, as libkmod's: a device holds a reference on its context, a
 * batch and a region each hold one on their device.  The application's
 * reference goes with dmasplit_dev_close(); the device is released with
 * the last one.  A window made while the device is open holds none: the
 * window counters say how many there are, and close gives each one still
 * live a reference (iova.c's window_op_begin() tells why).
 */
struct dmasplit_dev {
	struct dmasplit_dev *next;	/* ctx->devs */
	struct dmasplit_ctx *ctx;
	bool closed;		/* the application dropped its reference */
	bool windows_settled;	/* and its live windows got theirs */
	unsigned int batches;		/* live batches (atomic) */
	uint64_t addr_last;		/* the DMA mask: last address */
	struct dmasplit_backend *backend;
	const struct dmasplit_backend_ops *ops;
	struct dmasplit_bdev *bdev;
	char name[64];
	struct dmasplit_dev_info info;
	uint64_t granule;

	pthread_mutex_t lock;		/* windows, checker state */
	/* Live windows, doubly linked, for the checker's report of leaks
	 * at close: kept only when it is on.  Without it, close counts
	 * them (C_WINDOWS_ALLOCATED - C_WINDOWS_DESTROYED). */
	struct checked_iova *windows;
	struct check_dev *check;	/* NULL: checker off */
	/* The backend's window state lies in the window object (iova_init)
	 * rather than behind a pointer in it (iova_alloc). */
	bool bwin_inline;
	/* A link must take the full path: the checker is on, or the
	 * backend's window is behind a pointer.  One test for the common
	 * link. */
	bool link_slow;
	size_t win_bytes;		/* a window object, the backend's part
					 * included */
	struct slab win_slab;		/* window objects, checker off */

	/* Registered regions (region.c): nregions is read without the lock
	 * to skip them all when there are none. */
	pthread_rwlock_t regions_lock;
	struct dmasplit_region **regions;
	unsigned int nregions;

	/* Coherent allocations live, for the leak report at release, and
	 * the windows batches and regions hold, which dmasplit_dev_close()
	 * reports as those: few and slow, so shared counters. */
	uint64_t coherent_live;
	uint64_t internal_windows;

	struct dev_counters count[COUNT_SLOTS];

	/* Atomic.  On a line of its own, away from the fields every call
	 * reads (ops, bdev, addr_last): batches and regions write it, and
	 * windows once the device is closed. */
	int refcount __attribute__((aligned(CACHELINE)));
};

/*
 * A window: what every link and sync reads, and no more, as a program
 * may hold many small ones (the checker's part is struct checked_iova).
 * The backend's bytes follow it (iova_bwin()): its window state itself
 * when it has iova_init, else the pointer iova_alloc returned.  addr
 * and size are the struct dmasplit_bwin_header such a backend reads.
 */
struct dmasplit_iova {
	union {
		struct dmasplit_dev *dev;
		struct dmasplit_iova *spare_next;	/* iova.c's spares */
	};
	uint64_t addr;
	uint64_t size;
};

/* A window of a device with the checker on. */
struct checked_iova {
	/* dev->windows while live, then the device's quarantine */
	struct checked_iova *prev, *next;
	/* The callers of dmasplit_iova_alloc and of dmasplit_iova_destroy,
	 * for its reports. */
	const void *made_at;
	const void *gone_at;
	struct check_entry *check;	/* its state */
	bool gone;			/* destroyed: in quarantine */
	bool internal;			/* a batch's or a region's, which
					 * reports itself: not a leak */
	struct dmasplit_iova iova;	/* last: the backend's bytes follow */
};

static inline struct checked_iova *checked(struct dmasplit_iova *iova)
{
	return (struct checked_iova *)(void *)((char *)iova -
					       offsetof(struct checked_iova,
							iova));
}

/* The backend's bytes of a window: its state (iova_init), or where
 * iova_alloc put the pointer to it. */
static inline void *iova_area(struct dmasplit_iova *iova)
{
	return iova + 1;
}

/* The backend's window. */
static inline struct dmasplit_bwin *iova_bwin(struct dmasplit_iova *iova)
{
	return likely(iova->dev->bwin_inline)
		       ? (struct dmasplit_bwin *)iova_area(iova)
		       : *(struct dmasplit_bwin **)iova_area(iova);
}

/* count.c */
extern __thread int count_slot_tls __attribute__((tls_model("initial-exec")));
/* The byte offset of the thread's own slot in dev->count; 0 while it has
 * none (slot 0 is shared, so no owned slot is at offset 0). */
extern __thread size_t count_own_slot_offset_tls
	__attribute__((tls_model("initial-exec")));
int count_slot_assign(void);
/* slot, if no thread owns it, for the caller until it is returned: a
 * new thread's, or one borrowed for what its last owner left in it
 * (dmasplit_dev_trim()); false when it is taken. */
bool count_slot_take(int slot);
void count_slot_return(int slot);
void count_add_unowned(struct dmasplit_dev *dev, enum counter c, uint64_t n);
uint64_t count_read(const struct dmasplit_dev *dev, enum counter c);

/* A thread that owns a slot adds to it with a plain store; the others
 * (count.c) take one first or share slot 0. */
static inline void count_add(struct dmasplit_dev *dev, enum counter c,
			     uint64_t n)
{
	size_t off = count_own_slot_offset_tls;
	uint64_t *p;

	if (unlikely(!off)) {
		count_add_unowned(dev, c, n);
		return;
	}
	p = (uint64_t *)(void *)((char *)dev->count + off) + c;
#if defined(__x86_64__)
	/* One add to memory, not locked, as the kernel's this_cpu_add():
	 * only this thread writes the slot, and readers never see an
	 * aligned 8-byte store torn.  (C atomics cannot say "a plain
	 * read-modify-write no other thread writes"; a load and a store
	 * take three instructions.)  x86 makes stores visible in the order
	 * they are made, and the count is made before the call returns: a
	 * reader whose acquire load sees a later call's count (an unmap's)
	 * sees this one too (dmasplit_dev_get_stats()). */
	__asm__("addq %1, %0" : "+m"(*p) : "er"(n));
#else
	/* Release: seen no earlier than what the call did before it. */
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELEASE);
#endif
}

/* [start, start + len) is empty or wraps around. */
static inline bool range_bad(uint64_t start, uint64_t len)
{
	return len == 0 || start + (len - 1) < start;
}

/* A buffer at NULL, empty, or running past the end of the address space:
 * range_bad() and a NULL test in one comparison, as the address before a
 * buffer at NULL wraps to the top. */
static inline bool buf_bad(const void *vaddr, size_t len)
{
	uintptr_t before = (uintptr_t)vaddr - 1;

	return before + len <= before;
}

/* A negative errno, as a backend's operations return on failure: the
 * kernel's range, so that no other value is taken for one (or negated
 * past INT_MAX). */
static inline bool is_errno(int r)
{
	return r < 0 && r >= -4095;
}

static inline bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* ------------------------------------------------------------------ */
/* Between core files                                                   */

/* ctx.c */
struct dmasplit_ctx *ctx_from_host(const struct dmasplit_host *host);
void ctx_put(struct dmasplit_ctx *ctx);

/* loader.c */
/* The path a built-in backend reports instead of a file. */
#define BUILTIN_PATH "(built-in)"
typedef const struct dmasplit_backend_ops *(*builtin_entry_fn)(void);
/* NULL-terminated, in registration order (builtin.c). */
extern const builtin_entry_fn builtin_backends[];

int  loader_load(struct dmasplit_ctx *ctx) _must_check_;
void loader_unload(struct dmasplit_ctx *ctx);
struct dmasplit_backend *loader_find(struct dmasplit_ctx *ctx,
				     const char *name_or_uuid) _must_check_;

/* spec.c */
int  spec_parse(struct dmasplit_ctx *ctx, const char *spec,
		struct dmasplit_desc *desc) _must_check_;
int  spec_number(const char *s, uint32_t flags, uint64_t *out) _must_check_;

/* sysfs.c */
int  sysfs_describe_pci(struct dmasplit_ctx *ctx, struct dmasplit_desc *desc)
	_must_check_;
int  sysfs_read(const struct dmasplit_host *host, const char *path, char *buf,
		size_t len) _must_check_;
int  sysfs_readlink(const struct dmasplit_host *host, const char *path,
		    char *buf, size_t len) _must_check_;
int  sysfs_open(const struct dmasplit_host *host, const char *path, int flags,
		int *fd) _must_check_;
/* The same for a full path: -EINVAL for anything but a regular file,
 * without waiting on it (a FIFO would block a read forever). */
int  sysfs_open_file(const char *full, int flags, int *fd) _must_check_;
/* From the strings of desc alone, for descriptions the core did not fill. */
enum dmasplit_iommu_class iommu_classify(const struct dmasplit_desc *desc);

/* p2p.c: the verdict and, in why, what it rests on (one phrase). */
int  p2p_calc(struct dmasplit_ctx *ctx, const char *provider,
	      const char *client, int *dist, enum dmasplit_p2p_map *map,
	      char *why, size_t why_len) _must_check_;

int  p2p_bar_bus(const struct dmasplit_host *host, const char *name,
		 unsigned int bar, uint64_t *bus) _must_check_;

/* peer.c */
void peer_init(struct peer_table *t);
void peer_fini(struct peer_table *t);
void peer_host_init(struct dmasplit_host *host);
int  peer_add(const struct dmasplit_host *host, const struct dmasplit_peer *p)
	_must_check_;
int  peer_del(const struct dmasplit_host *host, const void *cpu) _must_check_;
int  peer_find(const struct dmasplit_host *host, const void *addr,
	       size_t len, struct dmasplit_peer *out) _must_check_;

/* dev.c */
void dev_get(struct dmasplit_dev *dev);
void dev_put(struct dmasplit_dev *dev);
uint64_t dev_live(struct dmasplit_dev *dev, enum counter up,
		  enum counter down, const char *what);

/*
 * The error contract: what a backend operation may return is what the
 * man pages document for the call (one set per call, or per calls that
 * share their ERRORS list).  Anything else becomes -EIO, logged with the
 * backend's name and its original error; so does a positive return,
 * which no operation has.  Called only when r != 0.  ERRS_QUERY is
 * get_stats, get_fd and get_ranges (-EOPNOTSUPP is get_fd's own).
 */
enum errset {
	ERRS_ALLOC,	/* iova_alloc, iova_init */
	ERRS_LINK,	/* iova_link */
	ERRS_WSYNC,	/* iova_sync: vfio maps, and pins, here */
	ERRS_MAP,	/* map */
	ERRS_MAP_VEC,	/* map_vec: never EXDEV, which is map's alone */
	ERRS_COHERENT,	/* alloc_coherent: nothing of the caller's memory */
	ERRS_UNMAP,	/* unmap, unmap_vec, free_coherent, iova_unlink */
	ERRS_SYNC,	/* sync_for_cpu, sync_for_device */
	ERRS_RW,	/* dma_read, dma_write */
	ERRS_QUERY,
};
int  backend_error(struct dmasplit_dev *dev, int r, enum errset set,
		   const char *op) _must_check_;

/* A device address range from a backend that the device cannot use: at
 * 0, wrapping past 2^64, or above the DMA mask.  One branch when good. */
static inline bool dma_bad(const struct dmasplit_dev *dev, uint64_t dma,
			   uint64_t len)
{
	uint64_t end;

	return unlikely((dma == 0) |
			__builtin_add_overflow(dma, len - 1, &end) |
			(end > dev->addr_last));
}
int  backend_bad_dma(struct dmasplit_dev *dev, uint64_t dma, uint64_t len,
		     const char *op) _must_check_;

/* region.c: REGION_NONE when no region holds the range (the backend's
 * then), else what a mapping through the region gives. */
#define REGION_NONE 1
int region_map(struct dmasplit_dev *dev, const void *vaddr, size_t len,
	       enum dmasplit_dir dir, uint64_t *dma);
int region_unmap(struct dmasplit_dev *dev, uint64_t dma, size_t len,
		 enum dmasplit_dir dir, uint32_t attrs);
int region_sync(struct dmasplit_dev *dev, uint64_t dma, size_t len,
		enum dmasplit_dir dir);
/* Whether a region holds [dma, dma + len). */
bool region_holds(struct dmasplit_dev *dev, uint64_t dma, size_t len);
int region_map_vec(struct dmasplit_dev *dev, const struct iovec *iov,
		   unsigned int n, enum dmasplit_dir dir,
		   struct dmasplit_seg *segs, unsigned int *nsegs);
/* map.c: dmasplit_map() and dmasplit_unmap() of a region's own mapping
 * on a device without windows.  Always the backend's: two threads may
 * register the same memory at once, and on such a device a region's
 * addresses are the memory's, so the other's region would otherwise
 * serve the map, or take the unmap, of the one that loses the race. */
int map_region_own(struct dmasplit_dev *dev, void *vaddr, size_t len,
		   enum dmasplit_dir dir, uint64_t *dma) _must_check_;
int unmap_region_own(struct dmasplit_dev *dev, uint64_t dma, size_t len,
		     enum dmasplit_dir dir, uint32_t attrs);
/* map.c: dmasplit_unmap_vec(), saying in *done how many segments were
 * released, so that a batch keeps the rest after a failure. */
int unmap_vec_counted(struct dmasplit_dev *dev,
		      const struct dmasplit_seg *segs, unsigned int nsegs,
		      enum dmasplit_dir dir, uint32_t attrs, unsigned int *done,
		      const void *caller) _must_check_;

int region_unmap_vec(struct dmasplit_dev *dev, const struct dmasplit_seg *segs,
		     unsigned int nsegs, enum dmasplit_dir dir,
		     uint32_t attrs);
/* Read without the lock, by every map, unmap and sync: 0 skips the
 * regions (a region made meanwhile is not missed by anything that needed
 * it, since its maker had not returned yet). */
static inline unsigned int regions_live(const struct dmasplit_dev *dev)
{
	return __atomic_load_n(&dev->nregions, __ATOMIC_RELAXED);
}

/* iova.c: a window for a batch or a region, which reports itself when
 * its device is closed (dmasplit_dev_close() leaves it out of the leaked
 * windows), and its destruction. */
int  internal_window_alloc(struct dmasplit_dev *dev, size_t size,
			   struct dmasplit_iova **iova) _must_check_;
void internal_window_destroy(struct dmasplit_iova *iova);
/* iova.c: the spare window objects of every slot go (device release) */
void iova_spares_free(struct dmasplit_dev *dev);
/* iova.c: the calling thread's spare window objects go (dmasplit_dev_trim) */
void iova_spares_trim(struct dmasplit_dev *dev);

/* host.c */
void host_init(struct dmasplit_host *host);
/* Error lines this thread's backend calls have logged through the host
 * table, so that the core does not add a second line of its own for
 * a failure the backend has already explained. */
extern __thread unsigned int host_errors_logged_tls;

/* iovad.c */
int  iovad_new(const struct dmasplit_host *host,
	       const struct dmasplit_range *ranges, unsigned int n,
	       uint64_t granule, struct dmasplit_iovad **iovad) _must_check_;
void iovad_destroy(struct dmasplit_iovad *iovad);
int  iovad_alloc(struct dmasplit_iovad *iovad, uint64_t size, uint64_t limit,
		 uint64_t *addr) _must_check_;
int  iovad_reserve(struct dmasplit_iovad *iovad, uint64_t addr, uint64_t size)
	_must_check_;
int  iovad_alloc_aligned(struct dmasplit_iovad *iovad, uint64_t size,
			 uint64_t align, uint64_t limit, uint64_t *addr)
	_must_check_;
int  iovad_free(struct dmasplit_iovad *iovad, uint64_t addr, uint64_t size)
	_must_check_;
int  iovad_last_used(struct dmasplit_iovad *iovad, uint64_t *last)
	_must_check_;
int  iovad_in_use(struct dmasplit_iovad *iovad, uint64_t addr, uint64_t size)
	_must_check_;
void iovad_trim(struct dmasplit_iovad *iovad);

/* pin.c */
void pin_init(struct pin_table *pins);
void pin_fini(struct pin_table *pins);
int  pin_pages(const struct dmasplit_host *host, const void *addr, size_t len)
	_must_check_;
int  unpin_pages(const struct dmasplit_host *host, const void *addr,
		 size_t len) _must_check_;
int  virt_to_phys(const struct dmasplit_host *host, const void *addr,
		  uint64_t *phys) _must_check_;

/*
 * The API misuse checker (libdmasplit(3), DMASPLIT_CHECK): check.c keeps
 * a device's records, check-window.c those of windows and their links,
 * check-map.c those of per-range mappings, check-report.c says what it
 * found.  caller: the return address of the application's call, to name
 * in reports (where a window or mapping was made, or who made the call).
 */
enum check_kind { CHECK_WINDOW, CHECK_MAP, CHECK_VEC, CHECK_COHERENT };

int  check_dev_new(struct dmasplit_dev *dev) _must_check_;
void check_dev_release(struct dmasplit_dev *dev);
/* The windows destroyed after their device's close (check_quarantine()),
 * which the context keeps. */
void check_ctx_release(struct dmasplit_ctx *ctx);
/* Windows still live when the application closes the device, but for
 * those of batches and regions; check_app_windows() counts them. */
void check_dev_close(struct dmasplit_dev *dev);
/* n batches or registered regions (what) still live at that close. */
void check_dev_close_holders(struct dmasplit_dev *dev, unsigned int n,
			     const char *what);
unsigned int check_app_windows(struct dmasplit_dev *dev);
void check_window_internal(struct dmasplit_iova *iova);
int  check_window_add(struct dmasplit_iova *iova, const void *caller)
	_must_check_;
void check_window_del(struct dmasplit_iova *iova, const void *caller);
void check_quarantine(struct dmasplit_iova *iova);
bool check_window_dead(struct dmasplit_iova *iova, const void *caller);
int  check_link(struct dmasplit_iova *iova, uint64_t offset, uint64_t len,
		enum dmasplit_dir dir, uint32_t attrs, const void *caller)
	_must_check_;
void check_link_undo(struct dmasplit_iova *iova, uint64_t offset,
		     uint64_t len);
int  check_sync(struct dmasplit_iova *iova, uint64_t offset, uint64_t len,
		const void *caller) _must_check_;
int  check_unlink(struct dmasplit_iova *iova, uint64_t offset, uint64_t len,
		  enum dmasplit_dir dir, uint32_t attrs, const void *caller)
	_must_check_;
void check_unlink_done(struct dmasplit_iova *iova, uint64_t offset,
		       uint64_t len, bool unlinked);
/* host: the mapped buffer (CHECK_MAP), the CPU address (CHECK_COHERENT);
 * iov: the buffers of a CHECK_VEC.  in_region: made through a registered
 * region, inside its window, where mappings of the same bytes share
 * addresses: the core computed them, so no backend can have given out
 * an address twice. */
int  check_map_add(struct dmasplit_dev *dev, enum check_kind kind,
		   const struct dmasplit_seg *segs, unsigned int nsegs,
		   enum dmasplit_dir dir, const void *host,
		   const struct iovec *iov, unsigned int niov,
		   const void *caller, bool in_region) _must_check_;
/* Validate an unmap and hold its state aside; check_map_done() with how
 * many segments the backend released puts back the rest. */
int  check_map_take(struct dmasplit_dev *dev, enum check_kind kind,
		    const struct dmasplit_seg *segs, unsigned int nsegs,
		    enum dmasplit_dir dir, uint32_t attrs, void *cpu,
		    const void *caller, struct check_entry **taken)
	_must_check_;
/* Whether the mapping check_map_take() holds was made through a region. */
bool check_taken_in_region(const struct check_entry *taken);
void check_map_done(struct dmasplit_dev *dev, struct check_entry *taken,
		    unsigned int done);
/* The mappings made through a region freed after its device's close,
 * [dma, dma + len): each reported as a leak now, and forgotten. */
void check_region_leaks(struct dmasplit_dev *dev, uint64_t dma,
			uint64_t len);
/* in_region: the range lies in a registered region, where only the
 * mappings made through it count, not the region's own window. */
int  check_map_sync(struct dmasplit_dev *dev, uint64_t dma, uint64_t len,
		    enum dmasplit_dir dir, bool for_cpu, bool in_region,
		    const void *caller) _must_check_;
void check_device_access(struct dmasplit_dev *dev, uint64_t dma,
			 uint64_t len, bool write, const void *caller);

#endif
