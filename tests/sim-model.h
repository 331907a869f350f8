/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A reference model of the swiotlb-sim device: what each byte of host
 * memory and of every bounce slot should hold, and what each device
 * access should see or fault on, step by random step, for
 * test-sim-model.  Failures name the seed and step to replay them.
 */
#ifndef DMASPLIT_SIM_MODEL_H
#define DMASPLIT_SIM_MODEL_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "simutil.h"

/*
 * What each byte should hold: the host's memory, each bounce slot.  A byte
 * the contract leaves open (a slot filled with SKIP_CPU_SYNC, say) is
 * unknown until something defined overwrites it.
 */
struct shadow {
	uint8_t *v;	/* expected value */
	uint8_t *k;	/* 1: known */
};

/* Host memory the model tracks: two arenas and coherent allocations. */
struct mregion {
	uint8_t *base;
	size_t len;
	struct shadow s;
	bool live;
};

struct mpiece {
	uint64_t dma;
	size_t len;
	uint8_t *host;
	bool bounced;
	struct shadow slot;	/* len bytes, when bounced */
};

enum mkind { MK_MAP, MK_VEC, MK_COH };

#define M_VEC 4
struct mmapping {
	enum mkind kind;
	enum dmasplit_dir dir;
	unsigned int n;
	struct mpiece p[M_VEC];
	unsigned int nsegs;
	struct dmasplit_seg segs[M_VEC];
	int region;		/* MK_COH */
};

enum { GS_FREE, GS_LINKED, GS_SYNCED };

struct mgran {
	uint8_t state;
	enum dmasplit_dir dir;
	uint8_t *host;		/* the host granule behind it */
	bool bounced;
	struct shadow slot;	/* one granule, when bounced */
	size_t lo, hi;		/* the buffer's bytes in it, when bounced */
};

struct mlink {
	size_t off, len;
	enum dmasplit_dir dir;
};

#define M_LINKS 10
struct mwin {
	struct dmasplit_iova *iova;
	uint64_t base;
	size_t size;
	struct mgran *g;
	unsigned int nl;
	struct mlink l[M_LINKS];
};

#define M_WINS 4
#define M_MAPS 8
#define M_COH 2
#define M_FREED 8
struct mdev {
	const char *spec;
	struct dmasplit_dev *dev;
	bool iommu, untrusted, force;
	unsigned int mask;
	size_t gran;
	size_t maxlen;		/* keeps a bounce-only pool from filling */
	unsigned int nw, nm, ncoh;
	struct mwin w[M_WINS];
	struct mmapping m[M_MAPS];
	struct dmasplit_range freed[M_FREED];	/* device addresses let go */
	unsigned int nfreed;
	/* Opened with the checker off: misuse reaches the device, which
	 * must refuse it on its own. */
	bool unchecked;
	struct {
		uint64_t dma;
		size_t len;
		enum dmasplit_dir dir;
	} gone[M_FREED];		/* dmasplit_map mappings unmapped */
	unsigned int ngone;
	struct dmasplit_dev_stats st;	/* as last read */
	/* 0: an address space of its own; else the devices with this
	 * number share one (as=), and reach one another's mappings. */
	unsigned int space;
};

#define M_DEVS 10
#define M_REGIONS (2 + M_DEVS * M_COH)
#define ARENA (128u * 1024u)
#define M_STEPS 100000
#define M_DIRTY 16

struct model {
	uint64_t seed, rng;
	unsigned int step;
	char what[200];
	struct mdev d[M_DEVS];
	struct mregion r[M_REGIONS];
	struct hostmem mem[2];
	/* Expected change of the counters over this step. */
	uint64_t faults, bounced, kcalls;
	bool bounced_known, kcalls_known;
	/* A shared space's kernel_calls as last read: any member's step
	 * moves every member's count. */
	uint64_t space_kcalls[2];
	struct {
		uint8_t *p;
		size_t len;
	} dirty[M_DIRTY];
	unsigned int ndirty;
	unsigned int accesses, faulted, skipped;
	unsigned int refused;	/* misuse the devices refused */
	unsigned int peer_hits;	/* predictions from another member's maps */
	/* The log: DMAR lines counted, the last lines kept for messages. */
	uint64_t dmar;
	char last[4][200];
	unsigned int nlast;
	char lastbuf[4 * 204];
};

extern struct model M;

/* Every failure names the seed and step, so that it can be replayed. */
#define MASSERT(cond, fmt, ...)                                              \
	FAIL_UNLESS(cond, "DMASPLIT_TEST_SEED=%" PRIu64 " step %u (%s): " fmt \
		    "; last log lines: %s", M.seed, M.step, M.what,            \
		    ##__VA_ARGS__, last_log())

/* sim-model.c: state, shadow memory, predictions, host writes and
 * device accesses */
const char *last_log(void);
void model_log(void *data, int priority, const char *file, int line,
	       const char *fn, const char *format, va_list args)
	__attribute__((format(printf, 6, 0)));
uint64_t rnd(void);
uint64_t below(uint64_t n);
bool chance(unsigned int percent);
void sh_new(struct shadow *s, size_t len, bool known_zero);
void sh_free(struct shadow *s);
struct shadow sh_at(const struct shadow *s, size_t off);
void sh_unknown(struct shadow s, size_t len);
struct shadow host_sh(const uint8_t *p, size_t len);
void dirty(uint8_t *p, size_t len);
void verify_host(const uint8_t *p, size_t len, const char *why);
void verify_all(void);
void host_to_slot(struct shadow slot, const uint8_t *host, size_t len);
void slot_to_host(uint8_t *host, struct shadow slot, size_t len);
uint64_t align_down(uint64_t x, uint64_t a);
bool is_bounced(const struct mdev *d, const uint8_t *p, size_t len);
void push_freed(struct mdev *d, uint64_t dma, uint64_t len);
bool overlaps_direct(const struct mdev *d, const uint8_t *p, size_t len);
bool peers(const struct mdev *d, const struct mdev *e);
bool peer_footprint(const struct mdev *d, uint64_t x);
enum dmasplit_dir rand_dir(void);
uint32_t rand_attrs(void);
const char *dir_str(enum dmasplit_dir dir);
struct mregion *rand_arena(void);
void step_host_write(struct mdev *d);
void step_access(struct mdev *d);

/* sim-model-window.c */
void step_alloc(struct mdev *d);
void step_link(struct mdev *d);
void step_sync(struct mdev *d);
void step_unlink(struct mdev *d);
void destroy_window(struct mdev *d, unsigned int i);
void step_destroy(struct mdev *d);
enum dmasplit_dir sync_dir(enum dmasplit_dir dir, bool for_cpu,
			   bool *copy);
void step_window_sync_for_cpu(struct mdev *d);
void step_window_sync_for_device(struct mdev *d);

/* sim-model-map.c: maps, vectors, coherent memory */
void piece_release(struct mdev *d, struct mpiece *p,
		   enum dmasplit_dir dir, uint32_t attrs);
void step_map(struct mdev *d);
void step_unmap(struct mdev *d);
void step_map_sync_for_cpu(struct mdev *d);
void step_map_sync_for_device(struct mdev *d);
void step_map_vec(struct mdev *d);
void step_unmap_vec(struct mdev *d);
void step_alloc_coherent(struct mdev *d);
void free_coherent(struct mdev *d, struct mmapping *m);
void step_free_coherent(struct mdev *d);

/* sim-model-misuse.c */
void step_misuse(struct mdev *d);

#endif
