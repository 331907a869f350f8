// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The plugin ABI's layout: every struct a backend and the core hand each
 * other, member by member, against abi/plugin-abi-ARCH.txt.  A plugin
 * built for DMASPLIT_BACKEND_ABI_VERSION must keep working with every
 * later core of that version and the other way round, so a recorded
 * member may never move or change size.  A struct that starts with its
 * size may grow at its end, past the recorded size (the reader checks
 * the size, DMASPLIT_HOST_HAS); the others never change.
 *
 *   test-plugin-abi --dump   the table for this build, as recorded
 *   test-plugin-abi --arch   the ARCH of the file it reads
 *
 * make plugin-abi-update rewrites the file: only when the header changed
 * on purpose, as above.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmasplit/backend.h>
#include <dmasplit/dmasplit.h>

#include "testutil.h"

/* One name per ABI: the layout differs between ILP32 and LP64 on one
 * CPU family. */
#if defined(__x86_64__) && defined(__ILP32__)
#define ABI_ARCH "x32"
#elif defined(__x86_64__)
#define ABI_ARCH "x86_64"
#elif defined(__i386__)
#define ABI_ARCH "i386"
#elif defined(__aarch64__)
#define ABI_ARCH "aarch64"
#elif defined(__arm__)
#define ABI_ARCH "arm"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ABI_ARCH "ppc64le"
#elif defined(__s390x__)
#define ABI_ARCH "s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define ABI_ARCH "riscv64"
#else
#define ABI_ARCH NULL
#endif
static const char *const abi_arch = ABI_ARCH;

struct row {
	const char *type;
	const char *member;	/* NULL: the struct itself */
	size_t offset;		/* the struct: its size */
	size_t size;		/* the struct: its alignment */
	size_t align;		/* of the member, to tell padding from a gap */
};

#define S(t) { #t, NULL, sizeof(struct t), _Alignof(struct t), 0 }
#define M(t, m) { #t, #m, offsetof(struct t, m), \
		  sizeof(((struct t *)0)->m), __alignof__(((struct t *)0)->m) }

/* In declaration order: a member missing here shows as a gap. */
static const struct row rows[] = {
	S(dmasplit_backend_ops),
	M(dmasplit_backend_ops, size),
	M(dmasplit_backend_ops, abi_version),
	M(dmasplit_backend_ops, name),
	M(dmasplit_backend_ops, uuid),
	M(dmasplit_backend_ops, version),
	M(dmasplit_backend_ops, description),
	M(dmasplit_backend_ops, probe),
	M(dmasplit_backend_ops, open),
	M(dmasplit_backend_ops, close),
	M(dmasplit_backend_ops, get_info),
	M(dmasplit_backend_ops, get_stats),
	M(dmasplit_backend_ops, get_fd),
	M(dmasplit_backend_ops, iova_alloc),
	M(dmasplit_backend_ops, iova_link),
	M(dmasplit_backend_ops, iova_sync),
	M(dmasplit_backend_ops, iova_unlink),
	M(dmasplit_backend_ops, iova_destroy),
	M(dmasplit_backend_ops, map),
	M(dmasplit_backend_ops, unmap),
	M(dmasplit_backend_ops, map_vec),
	M(dmasplit_backend_ops, unmap_vec),
	M(dmasplit_backend_ops, sync_for_cpu),
	M(dmasplit_backend_ops, sync_for_device),
	M(dmasplit_backend_ops, alloc_coherent),
	M(dmasplit_backend_ops, free_coherent),
	M(dmasplit_backend_ops, dma_read),
	M(dmasplit_backend_ops, dma_write),
	M(dmasplit_backend_ops, flags),
	M(dmasplit_backend_ops, get_ranges),
	M(dmasplit_backend_ops, iova_win_size),
	M(dmasplit_backend_ops, iova_init),
	M(dmasplit_backend_ops, iova_fini),
	M(dmasplit_backend_ops, trim),

	S(dmasplit_bwin_header),
	M(dmasplit_bwin_header, addr),
	M(dmasplit_bwin_header, size),

	S(dmasplit_host),
	M(dmasplit_host, size),
	M(dmasplit_host, abi_version),
	M(dmasplit_host, log),
	M(dmasplit_host, sysfs_read),
	M(dmasplit_host, sysfs_readlink),
	M(dmasplit_host, sysfs_open),
	M(dmasplit_host, iovad_new),
	M(dmasplit_host, iovad_destroy),
	M(dmasplit_host, iovad_alloc),
	M(dmasplit_host, iovad_reserve),
	M(dmasplit_host, iovad_free),
	M(dmasplit_host, pin),
	M(dmasplit_host, unpin),
	M(dmasplit_host, virt_to_phys),
	M(dmasplit_host, spec_number),
	M(dmasplit_host, peer_add),
	M(dmasplit_host, peer_del),
	M(dmasplit_host, peer_find),
	M(dmasplit_host, p2p_distance),
	M(dmasplit_host, pci_bar_bus),
	M(dmasplit_host, iovad_last_used),
	M(dmasplit_host, iovad_alloc_aligned),
	M(dmasplit_host, iovad_in_use),
	M(dmasplit_host, iovad_trim),

	S(dmasplit_peer),
	M(dmasplit_peer, cpu),
	M(dmasplit_peer, len),
	M(dmasplit_peer, phys),
	M(dmasplit_peer, bus),
	M(dmasplit_peer, kind),
	M(dmasplit_peer, provider),

	S(dmasplit_desc),
	M(dmasplit_desc, size),
	M(dmasplit_desc, bus),
	M(dmasplit_desc, name),
	M(dmasplit_desc, options),
	M(dmasplit_desc, spec_mask_bits),
	M(dmasplit_desc, spec_vfio),
	M(dmasplit_desc, vendor),
	M(dmasplit_desc, device),
	M(dmasplit_desc, pci_class),
	M(dmasplit_desc, driver),
	M(dmasplit_desc, iommu_group),
	M(dmasplit_desc, iommu_group_type),
	M(dmasplit_desc, vfio_dev),
	M(dmasplit_desc, dma_mask_bits),
	M(dmasplit_desc, numa_node),
	M(dmasplit_desc, has_p2pmem),
	M(dmasplit_desc, p2pmem_size),
	M(dmasplit_desc, p2pmem_available),
	M(dmasplit_desc, p2pmem_published),
	M(dmasplit_desc, num_resources),
	M(dmasplit_desc, resource),
	M(dmasplit_desc, iommu_group_name),
	M(dmasplit_desc, spec_unlink),
	M(dmasplit_desc, address_space),
	M(dmasplit_desc, iommu_class),

	S(dmasplit_pci_resource),
	M(dmasplit_pci_resource, start),
	M(dmasplit_pci_resource, end),
	M(dmasplit_pci_resource, flags),

	S(dmasplit_dev_info),
	M(dmasplit_dev_info, size),
	M(dmasplit_dev_info, backend),
	M(dmasplit_dev_info, backend_uuid),
	M(dmasplit_dev_info, flags),
	M(dmasplit_dev_info, dma_mask_bits),
	M(dmasplit_dev_info, granule),
	M(dmasplit_dev_info, num_ranges),
	M(dmasplit_dev_info, ranges),
	M(dmasplit_dev_info, interface),
	M(dmasplit_dev_info, address_space),

	S(dmasplit_range),
	M(dmasplit_range, start),
	M(dmasplit_range, last),

	S(dmasplit_dev_stats),
	M(dmasplit_dev_stats, size),
	M(dmasplit_dev_stats, windows_allocated),
	M(dmasplit_dev_stats, links),
	M(dmasplit_dev_stats, syncs),
	M(dmasplit_dev_stats, unlinks),
	M(dmasplit_dev_stats, maps),
	M(dmasplit_dev_stats, unmaps),
	M(dmasplit_dev_stats, windows_live),
	M(dmasplit_dev_stats, mappings_live),
	M(dmasplit_dev_stats, kernel_calls),
	M(dmasplit_dev_stats, bytes_bounced),
	M(dmasplit_dev_stats, bytes_pinned),
	M(dmasplit_dev_stats, device_faults),

	S(dmasplit_seg),
	M(dmasplit_seg, dma),
	M(dmasplit_seg, len),
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))
#define STRUCT_MARK "(struct)"

static void dump(FILE *out)
{
	size_t i;

	fprintf(out, "# The plugin ABI on %s (tests/test-plugin-abi.c): "
		"STRUCT MEMBER OFFSET SIZE,\n", abi_arch);
	fprintf(out, "# in declaration order; on a " STRUCT_MARK " line, "
		"the struct's size and alignment.\n");
	fprintf(out, "# Changed on purpose only: see abi/README.\n");
	for (i = 0; i < NROWS; i++)
		fprintf(out, "%s %s %zu %zu\n", rows[i].type,
			rows[i].member ? rows[i].member : STRUCT_MARK,
			rows[i].offset, rows[i].size);
}

/* ------------------------------------------------------------------ */
/* The recorded file                                                   */

struct rec {
	char type[64];
	char member[64];	/* STRUCT_MARK for the struct itself */
	size_t offset, size;
	unsigned int line;
};

static char path[4096];
static struct rec *recs;
static size_t nrecs;

static void load(void)
{
	const char *top = getenv("top_srcdir");
	char buf[256];
	unsigned int line = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/abi/plugin-abi-%s.txt",
		 top && *top ? top : ".", abi_arch);
	f = fopen(path, "r");
	if (!f) {
		if (errno != ENOENT) {
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
			exit(1);
		}
		snprintf(buf, sizeof(buf), "no plugin ABI recorded for %s "
			 "(make plugin-abi-update records it)", abi_arch);
		tu_skip_all(buf);
	}
	while (fgets(buf, sizeof(buf), f)) {
		struct rec r = { .line = ++line };

		if (buf[0] == '#' || buf[0] == '\n')
			continue;
		if (sscanf(buf, "%63s %63s %zu %zu", r.type, r.member,
			   &r.offset, &r.size) != 4) {
			fprintf(stderr, "%s:%u: not STRUCT MEMBER OFFSET SIZE\n",
				path, line);
			exit(1);
		}
		recs = realloc(recs, (nrecs + 1) * sizeof(*recs));
		if (!recs)
			abort();
		recs[nrecs++] = r;
	}
	fclose(f);
}

/* ------------------------------------------------------------------ */
/* The comparison                                                      */

static char report[8192];
static size_t report_len;

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
	size_t room = sizeof(report) - report_len;
	va_list ap;
	int r;

	/* Room for at least one character and the newline. */
	if (room < 3)
		return;
	va_start(ap, fmt);
	r = vsnprintf(report + report_len, room - 1, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	report_len += (size_t)r < room - 2 ? (size_t)r : room - 2;
	report[report_len++] = '\n';
	report[report_len] = '\0';
}

/* The rows of type t, in order: *n of them from the returned one. */
static const struct row *current(const char *t, size_t *n)
{
	size_t i, first = NROWS;

	*n = 0;
	for (i = 0; i < NROWS; i++) {
		if (strcmp(rows[i].type, t) != 0)
			continue;
		if (first == NROWS)
			first = i;
		++*n;
	}
	return first < NROWS ? &rows[first] : NULL;
}

/* Only padding between members: any other gap is a member this file
 * does not list. */
static void check_cover(const struct row *cur, size_t n)
{
	size_t i, end = 0;

	for (i = 1; i < n; i++) {
		if (cur[i].offset < end)
			problem("%s.%s: at offset %zu, inside the member listed "
				"before it: list members in declaration order",
				cur->type, cur[i].member, cur[i].offset);
		else if (cur[i].offset - end >= cur[i].align)
			problem("%s: bytes %zu to %zu hold no listed member (list "
				"every member in tests/test-plugin-abi.c)",
				cur->type, end, cur[i].offset);
		end = cur[i].offset + cur[i].size;
	}
	if (cur->offset - end >= cur->size)
		problem("%s: bytes %zu to %zu hold no listed member (list every "
			"member in tests/test-plugin-abi.c)", cur->type, end,
			cur->offset);
}

static void compare(const char *t)
{
	const struct rec *rec = NULL;
	const struct row *cur;
	size_t i, n, nrec = 0;
	int growable;

	report_len = 0;
	report[0] = '\0';
	cur = current(t, &n);
	ck_assert_ptr_nonnull(cur);
	check_cover(cur, n);
	/* The struct's rows are together; a row elsewhere is a mistake. */
	for (i = 0; i < nrecs; i++) {
		if (strcmp(recs[i].type, t) != 0)
			continue;
		if (!rec)
			rec = &recs[i];
		if (&recs[i] == rec + nrec)
			nrec++;
		else
			problem("%s:%u: %s apart from its struct's other lines",
				path, recs[i].line, t);
	}
	if (!rec || strcmp(rec->member, STRUCT_MARK) != 0) {
		problem("%s: not in %s, or without its " STRUCT_MARK " line first "
			"(a new struct: make plugin-abi-update)", t, path);
		goto out;
	}
	/* Recorded with its size first: readers check that size. */
	growable = nrec > 1 && strcmp(rec[1].member, "size") == 0;
	if (cur->size != rec->size)
		problem("%s: alignment %zu, recorded %zu (line %u)", t,
			cur->size, rec->size, rec->line);
	if (cur->offset < rec->offset || (cur->offset > rec->offset && !growable))
		problem("%s: size %zu, recorded %zu (line %u)%s", t, cur->offset,
			rec->offset, rec->line,
			growable ? "" : ": it has no size field, and never grows");
	for (i = 1; i < n || i < nrec; i++) {
		if (i >= n) {
			problem("%s.%s: recorded (line %u), no longer listed", t,
				rec[i].member, rec[i].line);
		} else if (i >= nrec) {
			if (!growable)
				problem("%s.%s: new, in a struct that cannot grow "
					"(no size field)", t, cur[i].member);
			else if (cur[i].offset < rec->offset)
				problem("%s.%s: new at offset %zu, inside the "
					"recorded size %zu: new members go at the end",
					t, cur[i].member, cur[i].offset, rec->offset);
		} else if (strcmp(cur[i].member, rec[i].member) != 0) {
			problem("%s.%s: in the place of %s (line %u): a member "
				"inserted, removed, renamed or moved", t,
				cur[i].member, rec[i].member, rec[i].line);
		} else {
			if (cur[i].offset != rec[i].offset)
				problem("%s.%s: offset %zu, recorded %zu (line %u)",
					t, cur[i].member, cur[i].offset,
					rec[i].offset, rec[i].line);
			if (cur[i].size != rec[i].size)
				problem("%s.%s: size %zu, recorded %zu (line %u)",
					t, cur[i].member, cur[i].size,
					rec[i].size, rec[i].line);
		}
	}
out:
	ck_assert_msg(report_len == 0, "%s", report);
}

#define LAYOUT_TEST(t) \
	START_TEST(t##_layout) { compare(#t); } END_TEST

LAYOUT_TEST(dmasplit_backend_ops)
LAYOUT_TEST(dmasplit_host)
LAYOUT_TEST(dmasplit_peer)
LAYOUT_TEST(dmasplit_desc)
LAYOUT_TEST(dmasplit_pci_resource)
LAYOUT_TEST(dmasplit_dev_info)
LAYOUT_TEST(dmasplit_range)
LAYOUT_TEST(dmasplit_dev_stats)
LAYOUT_TEST(dmasplit_seg)

/* A struct recorded but no longer checked would go unseen. */
START_TEST(every_recorded_struct_is_checked)
{
	size_t i, n;

	report_len = 0;
	report[0] = '\0';
	for (i = 0; i < nrecs; i++)
		if (strcmp(recs[i].member, STRUCT_MARK) == 0 &&
		    !current(recs[i].type, &n))
			problem("%s: recorded (%s:%u), not checked", recs[i].type,
				path, recs[i].line);
	ck_assert_msg(report_len == 0, "%s", report);
}
END_TEST

static void usage(FILE *out)
{
	fprintf(out, "usage: test-plugin-abi [--dump | --arch | --help]\n"
		"  (no option)  compare with $top_srcdir/abi/plugin-abi-ARCH.txt (TAP)\n"
		"  --dump       print this build's table in that file's format\n"
		"  --arch       print ARCH\n");
}

int main(int argc, char **argv)
{
	Suite *s;
	TCase *tc;

	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (argc == 2 && (strcmp(argv[1], "--arch") == 0 ||
			  strcmp(argv[1], "--dump") == 0)) {
		if (!abi_arch) {
			fprintf(stderr, "test-plugin-abi: no name for this "
				"architecture in tests/test-plugin-abi.c\n");
			return 1;
		}
		if (argv[1][2] == 'a')
			puts(abi_arch);
		else
			dump(stdout);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (argc > 1) {
		usage(stderr);
		return 2;
	}
	if (!abi_arch)
		tu_skip_all("no name for this architecture in tests/test-plugin-abi.c");
	load();

	s = suite_create("plugin-abi");
	tc = tcase_create("layout");
	tcase_add_test(tc, dmasplit_backend_ops_layout);
	tcase_add_test(tc, dmasplit_host_layout);
	tcase_add_test(tc, dmasplit_peer_layout);
	tcase_add_test(tc, dmasplit_desc_layout);
	tcase_add_test(tc, dmasplit_pci_resource_layout);
	tcase_add_test(tc, dmasplit_dev_info_layout);
	tcase_add_test(tc, dmasplit_range_layout);
	tcase_add_test(tc, dmasplit_dev_stats_layout);
	tcase_add_test(tc, dmasplit_seg_layout);
	tcase_add_test(tc, every_recorded_struct_is_checked);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
