// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Plugins the loader must refuse, one defect each (selected by a BROKEN_*
 * macro), each with the log line that names the file and the reason.
 */
#include <errno.h>
#include <stddef.h>
#if defined(BROKEN_EDGETEXT)
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <dmasplit/backend.h>

#if !defined(BROKEN_NOPROBE)
static int probe(const struct dmasplit_host *host,
		 const struct dmasplit_desc *desc, int *score)
{
	*score = 1000;	/* would win everything if it were ever loaded */
	return 0;
}
#endif

static int open_dev(const struct dmasplit_host *host,
		    const struct dmasplit_desc *desc,
		    struct dmasplit_bdev **bdev)
{
	return -EIO;
}

static void close_dev(struct dmasplit_bdev *bdev)
{
}

static int get_info(struct dmasplit_bdev *bdev, struct dmasplit_dev_info *info)
{
	return -EIO;
}

#if defined(BROKEN_NOFINI) || defined(BROKEN_WINSIZE)
static int iova_init(struct dmasplit_bdev *bdev, uint64_t size,
		     uint32_t flags, struct dmasplit_bwin *win, uint64_t *addr)
{
	return -EIO;
}

static int iova_link(struct dmasplit_bwin *win, uint64_t offset, void *vaddr,
		     size_t len, enum dmasplit_dir dir, uint32_t attrs)
{
	return -EIO;
}

static int iova_unlink(struct dmasplit_bwin *win, uint64_t offset,
		       uint64_t len, enum dmasplit_dir dir, uint32_t attrs)
{
	return -EIO;
}
#endif

#if defined(BROKEN_WINSIZE)
static void iova_fini(struct dmasplit_bwin *win)
{
}
#endif

#if defined(BROKEN_HALFSET)
static int iova_alloc(struct dmasplit_bdev *bdev, uint64_t size,
		      uint32_t flags, struct dmasplit_bwin **win,
		      uint64_t *addr)
{
	return -EIO;
}
#endif

static const struct dmasplit_backend_ops ops = {
#if defined(BROKEN_SMALL)
	/* A table that ends before the required operations. */
	.size = offsetof(struct dmasplit_backend_ops, open),
#else
	.size = sizeof(struct dmasplit_backend_ops),
#endif
#if defined(BROKEN_BADABI)
	.abi_version = DMASPLIT_BACKEND_ABI_VERSION + 1,
#else
	.abi_version = DMASPLIT_BACKEND_ABI_VERSION,
#endif
#if defined(BROKEN_BADNAME)
	.name = "Bad Name!",
#else
	.name = "broken",
#endif
#if defined(BROKEN_BADUUID)
	.uuid = "not-a-uuid-at-all-not-a-uuid-at-all!",
#else
	.uuid = "3a0e6a52-2b1b-4c53-9d8e-8f3f1b7c4d10",
#endif
#if defined(BROKEN_LONGVER)
	/* 64 characters: one past the limit. */
	.version = "0.0.0-0123456789012345678901234567890123456789012345678901234567",
#elif defined(BROKEN_BADUTF8)
	/* A byte that is in no UTF-8 sequence. */
	.version = "1.0\xff",
#elif defined(BROKEN_C1DESC)
	/* UTF-8 beyond ASCII is text: a beta. */
	.version = "1.0-\xce\xb2",
#else
	.version = "0",
#endif
#if defined(BROKEN_BADDESC)
	/* Two lines, the second starting with an escape sequence. */
	.description = "deliberately broken\n\x1b[2Jcleared",
#elif defined(BROKEN_C1DESC)
	/* U+0085, NEXT LINE: a line break in C1, well-formed UTF-8. */
	.description = "deliberately broken\xc2\x85second line",
#elif defined(BROKEN_LONGDESC)
	/* 256 characters: one past the limit. */
	.description = "deliberately broken: "
		       "0123456789012345678901234567890123456789012345678901234567890123"
		       "0123456789012345678901234567890123456789012345678901234567890123"
		       "0123456789012345678901234567890123456789012345678901234567890123"
		       "0123456789012345678901234567890123456789012",
#else
	.description = "deliberately broken",
#endif
#if !defined(BROKEN_NOPROBE)
	.probe = probe,
#endif
	.open = open_dev,
	.close = close_dev,
	.get_info = get_info,
#if defined(BROKEN_HALFSET)
	/* Windows without links: a set the core cannot use. */
	.iova_alloc = iova_alloc,
#endif
#if defined(BROKEN_NOFINI) || defined(BROKEN_WINSIZE)
	/* Windows in the core's objects: without their teardown, or
	 * asking for more of each object than the core gives. */
	.iova_link = iova_link,
	.iova_unlink = iova_unlink,
	.iova_init = iova_init,
#endif
#if defined(BROKEN_NOFINI)
	.iova_win_size = 16,
#endif
#if defined(BROKEN_WINSIZE)
	.iova_win_size = DMASPLIT_BWIN_SIZE_MAX + 1,
	.iova_fini = iova_fini,
#endif
};

#if defined(BROKEN_UNDEF)
/* Defined nowhere: dlopen(RTLD_NOW) fails as for a missing dependency. */
extern int dmasplit_test_symbol_defined_nowhere(void);
#endif

#if defined(BROKEN_DATAENTRY)
/* The entry's name on a variable: called, it would take the process
 * down. */
DMASPLIT_BACKEND_EXPORT const struct dmasplit_backend_ops *const
	entry_as_data __asm__(DMASPLIT_BACKEND_ENTRY_NAME) = &ops;
#elif defined(BROKEN_NOENTRY)
/* Built for a future ABI: it exports the v2 entry, not the v1 one. */
DMASPLIT_BACKEND_EXPORT const struct dmasplit_backend_ops *
dmasplit_backend_v2(void);
DMASPLIT_BACKEND_EXPORT const struct dmasplit_backend_ops *
dmasplit_backend_v2(void)
{
	return &ops;
}
#elif defined(BROKEN_EDGETEXT)
/*
 * The text of the variable var, without its NUL (with it where
 * TB_EDGE_NUL is set), ending where a page that cannot be read begins:
 * the loader must decide on what is before it.  NULL, for the table's
 * own text, where var is not set.
 */
static const char *at_edge(const char *var)
{
	const char *text = getenv(var);
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len;
	char *m;

	if (!text)
		return NULL;
	len = strlen(text) + (getenv("TB_EDGE_NUL") ? 1 : 0);
	m = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || len > page ||
	    mprotect(m + page, page, PROT_NONE) < 0)
		abort();
	memcpy(m + page - len, text, len);
	return m + page - len;
}

DMASPLIT_BACKEND_EXPORT const struct dmasplit_backend_ops *
DMASPLIT_BACKEND_ENTRY(void)
{
	static struct dmasplit_backend_ops edge;
	const char *s;

	edge = ops;
	if ((s = at_edge("TB_EDGE_VERSION")))
		edge.version = s;
	if ((s = at_edge("TB_EDGE_DESCRIPTION")))
		edge.description = s;
	return &edge;
}
#else
#if defined(BROKEN_TINY)
/* A table that is its size field and nothing else: the loader must not
 * read past it (AddressSanitizer sees the overread). */
static const uint32_t tiny = sizeof(uint32_t);
#endif

DMASPLIT_BACKEND_EXPORT const struct dmasplit_backend_ops *
DMASPLIT_BACKEND_ENTRY(void)
{
#if defined(BROKEN_TINY)
	(void)ops;
	return (const struct dmasplit_backend_ops *)&tiny;
#elif defined(BROKEN_NULLTABLE)
	(void)ops;
	return NULL;
#elif defined(BROKEN_UNDEF)
	return dmasplit_test_symbol_defined_nowhere() ? &ops : NULL;
#else
	return &ops;
#endif
}
#endif
