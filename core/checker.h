/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the checker's files only (check*.c).  Per device the checker
 * keeps every live window and mapping in one address-ordered tree, and per
 * window a tree of its linked runs, so its memory follows what is linked,
 * not the window's size.  It is fixed at device open, so its state is
 * always complete; its records are guarded by dev->lock.
 */
#ifndef DMASPLIT_CHECKER_H
#define DMASPLIT_CHECKER_H

#include "internal.h"

struct check_report;

/*
 * A linked run of a window, in granules [node.start, node.last].  A
 * window's state is a tree of these, so it costs what is linked, not what
 * the window spans: a 2^47-byte window with one link is one node.  Runs
 * are split only where an unlink or a CPU sync ends inside one.
 */
struct check_link {
	struct itree_node node;
	enum dmasplit_dir dir;
	bool unlinking;		/* its unlink is at the backend */
	const void *made_at;	/* caller of dmasplit_iova_link */
};

/* The segments of one dmasplit_map_vec, which unmap as that group only. */
struct check_group {
	unsigned int n;
	unsigned int live;	/* entries not yet freed */
	bool released;
	bool reported;		/* leaked: one report for the vector */
	struct dmasplit_seg *segs;
	struct check_entry **ent;
};

struct check_owned {
	uint64_t first, last;
};

struct check_entry {
	struct itree_node node;
	enum check_kind kind;
	enum dmasplit_dir dir;
	struct dmasplit_iova *iova;	/* CHECK_WINDOW */
	struct itree links;		/* CHECK_WINDOW: struct check_link */
	struct check_group *group;	/* CHECK_VEC */
	void *cpu;			/* CHECK_COHERENT */
	uintptr_t host;		/* host address at node.start, or 0 */
	bool in_region;			/* made through a registered region */
	/* Mappings: the byte ranges the CPU owns (synced for the CPU and
	 * not yet for the device), disjoint, in order, none adjacent. */
	struct check_owned *owned;
	unsigned int nowned;
	const void *made_at;		/* caller of the call that made it */
	const void *gone_at;		/* caller of the unmap that took it */
};

/* A mapping unmapped lately, to name at a second unmap of it. */
struct check_gone {
	uint64_t dma;
	uint64_t len;
	enum check_kind kind;
	const void *made_at;
	const void *gone_at;
};

struct check_dev {
	struct itree ranges;
	struct quarantine quarantine;
	struct check_gone *gone;	/* a ring of CHECK_GONE_MAX */
	unsigned int gone_next;
};

/* Bounded, like KASAN's quarantine, so that a long-running program does
 * not grow without limit. */
#define CHECK_QUARANTINE_MAX 1024
#define CHECK_GONE_MAX 1024

static inline struct check_link *link_of(struct itree_node *n)
{
	return n ? container_of(n, struct check_link, node) : NULL;
}

static inline struct check_entry *entry_of(struct itree_node *n)
{
	return n ? container_of(n, struct check_entry, node) : NULL;
}

/* Granules [first, last] that [offset, offset + len) of a window touches. */
static inline void granules(const struct dmasplit_iova *iova, uint64_t offset,
			    uint64_t len, uint64_t *first, uint64_t *last)
{
	*first = offset / iova->dev->granule;
	*last = (offset + len - 1) / iova->dev->granule;
}

/* check.c */
struct check_entry *check_entry_new(uint64_t start, uint64_t len,
				    enum check_kind kind,
				    enum dmasplit_dir dir, const void *made_at);
/* An entry already out of the tree. */
void check_entry_drop(struct check_entry *e);
/* Lock held.  A range a backend handed out that overlaps a live one. */
int  check_overlap(struct dmasplit_dev *dev, uint64_t start, uint64_t len,
		   uintptr_t host, struct check_report *rep) _must_check_;

/* check-window.c */
void check_links_free(struct itree *links);
/* Lock held. */
int  check_window_sync(struct dmasplit_dev *dev, struct check_entry *e,
		       uint64_t dma, uint64_t len, enum dmasplit_dir dir,
		       struct check_report *rep) _must_check_;
/* check.c.  Lock held: [first, last] of e is the device's again. */
int  owned_give(struct check_entry *e, uint64_t first, uint64_t last);
struct check_link *check_links_spare(struct check_link **spare);

/* check-map.c */
void check_group_put(struct check_group *g);
/* A leaked mapping, reported (a vector once, whole) and undone the way
 * its owner should have; when says what released it: "as the device
 * went", "with its region".  No lock held. */
void check_map_release_leak(struct dmasplit_dev *dev, struct check_entry *e,
			    const char *when);

/* ------------------------------------------------------------------ */
/* check-report.c                                                      */

/*
 * What the checker found, made while dev->lock is held and reported after
 * it is released (see struct log_later): the message, and the code to
 * blame, as return addresses that are named only at the report, outside
 * the lock.  Every report is a finding, counted on the context, logged
 * unless the call carried DMASPLIT_ATTR_NO_WARN.
 */
#define CHECK_CULPRITS 3

struct check_report {
	bool found;
	bool quiet;
	const char *file;
	int line;
	const char *fn;
	char msg[400];
	unsigned int n;
	struct {
		const char *what;	/* "mapped at", "called from"... */
		const void *at;
	} culprit[CHECK_CULPRITS];
};

extern const char *const check_kind_name[];
extern const char *const check_dir_name[];

void check_found(struct check_report *rep, uint32_t attrs, const char *file,
		 int line, const char *fn, const char *format, ...)
	DMASPLIT_PRINTF(6, 7);
#define check_misuse(rep, attrs, ...) \
	check_found(rep, attrs, __FILE__, __LINE__, __func__, __VA_ARGS__)
/* Name at (if known) in the report, after what. */
void check_culprit(struct check_report *rep, const char *what,
		   const void *at);
/* No lock held: count and log what rep holds, if anything; returns r. */
int  check_report(struct dmasplit_dev *dev, struct check_report *rep, int r);

#endif
