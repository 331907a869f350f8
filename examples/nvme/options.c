// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * nvme-rw: the command line, its help text and its numbers.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvme-rw.h"

/* Decimal digits first: strtoull() would take leading blanks and a
 * minus sign (" -8" is 2^64 - 8). */
static bool digits_first(const char *s)
{
	return *s >= '0' && *s <= '9';
}

static int parse_size(const char *s, size_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!digits_first(s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (v > (ULLONG_MAX >> shift))
		return -EINVAL;
	v <<= shift;
	/* 4KiB and 4kB as people write them, both 4096: "iB" only after a
	 * unit ("4iB" is a typo). */
	if (shift && *end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || !v || v > SIZE_MAX / 2)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

/* Decimal, or hexadecimal after 0x; a leading 0 is a digit, not octal. */
static int parse_u64(const char *s, uint64_t *out)
{
	bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	char *end;

	if (hex ? !isxdigit((unsigned char)s[2]) : !digits_first(s))
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, hex ? 16 : 10);
	return errno || *end ? -EINVAL : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: %s [OPTIONS] SPEC\n"
"\n"
"Drive the NVMe controller SPEC (a PCI address with libdmasplit options,\n"
"e.g. 0000:01:00.0,vfio=iommufd) from user space, with every byte of DMA\n"
"mapped through libdmasplit.  The controller must be bound to vfio-pci\n"
"(the vfio backend) or to uio_pci_generic in an identity IOMMU group (the\n"
"direct backend).  Without --write: identify the controller and the\n"
"namespace only.\n"
"\n"
"  -w, --write           write a pattern from LBA --lba on, read it back and\n"
"                        compare, for each strategy and I/O size.  This\n"
"                        DESTROYS the data in that range of the namespace.\n"
"  -s, --strategy LIST   map, window, registered or all (default: all):\n"
"                          map         dmasplit_map_vec + unmap_vec per I/O\n"
"                          window      per I/O: a window, each chunk linked,\n"
"                                      one sync, unlink after completion\n"
"                          registered  both pools linked into one window once;\n"
"                                      per I/O an address computation\n"
"                        Where the device has no windows (direct), window and\n"
"                        registered use the per-range path and say so.\n"
"  -b, --io-size LIST    I/O sizes, e.g. 4k,64k,256k (default: 4k,16k,64k,256k)\n"
"  -t, --total SIZE      bytes written and read back per run (default: 4M)\n"
"  -c, --chunk SIZE      buffers are made of chunks of SIZE (pages, at least)\n"
"                        from shuffled places in memory (default: 4k); a\n"
"                        chunk as large as the I/O makes buffers contiguous\n"
"  -l, --lba N           first LBA (default: 0)\n"
"  -n, --nsid N          namespace (default: 1)\n"
"      --bench           print I/Os per second, kernel and library calls per\n"
"                        I/O and the throughput ratio to map, per run\n"
"      --json            print the results as one JSON object; on a failure,\n"
"                        with \"error\", the first error line (only that when\n"
"                        it came before the results); none on a usage error\n"
"      --unlinked-read   read into a buffer whose window was unlinked before\n"
"                        the command (a use-after-unlink bug): succeeds when\n"
"                        the buffer stays untouched; writes one I/O first\n"
"      --timeout MS      time limit of each command, at most 3600000 (an\n"
"                        hour; default: 10000)\n"
"      --backend NAME    open SPEC with this backend instead of the selected one\n"
"      --seed N          seed of the data pattern and layout (default: 1)\n"
"  -q, --quiet           no output on success\n"
"  -h, --help            this text\n"
"  -V, --version         the libdmasplit it was built with and the one in use\n"
"\n"
"Numbers are decimal, or hexadecimal after 0x.  A SIZE is decimal bytes,\n"
"or with k, m or g (either case) for KiB, MiB or GiB, then optionally B\n"
"or iB: 4k, 4kB and 4KiB are all 4096 bytes.  A LIST has at most 16 items.\n"
"\n"
"Exit status: 0 on success; 1 on a mismatch, an NVMe error, a timeout or a\n"
"library error, each reported in one line on stderr; 2 on a usage error.\n",
		prog);
}

/* The items of a LIST, each given to item(); -E2BIG past MAX_LIST of
 * them, -EINVAL for an empty one ("map,,window" is a typo), one longer
 * than any item can be, or one item() refuses. */
static int parse_list(const char *s, struct options *o,
		      int (*item)(const char *tok, struct options *o))
{
	unsigned int n = 0;
	char tok[32];

	for (;;) {
		size_t len = strcspn(s, ",");

		if (++n > MAX_LIST)
			return -E2BIG;
		if (!len || len >= sizeof(tok))
			return -EINVAL;
		memcpy(tok, s, len);
		tok[len] = '\0';
		if (item(tok, o) < 0)
			return -EINVAL;
		if (!s[len])
			return 0;
		s += len + 1;
	}
}

static int strategy_item(const char *tok, struct options *o)
{
	int i;

	if (!strcmp(tok, "all")) {
		for (i = 0; i < NUM_STRATEGIES; i++)
			o->strategy[i] = true;
		return 0;
	}
	for (i = 0; i < NUM_STRATEGIES; i++)
		if (!strcmp(tok, strategy_names[i])) {
			o->strategy[i] = true;
			return 0;
		}
	return -EINVAL;
}

static int parse_strategies(const char *s, struct options *o)
{
	memset(o->strategy, 0, sizeof(o->strategy));
	return parse_list(s, o, strategy_item);
}

static int size_item(const char *tok, struct options *o)
{
	return parse_size(tok, &o->io_size[o->num_sizes++]);
}

static int parse_sizes(const char *s, struct options *o)
{
	o->num_sizes = 0;
	return parse_list(s, o, size_item);
}

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad_usage(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_line("%s (see --help)", msg);
	return 2;
}

/* What the sizes must be whatever the controller: a usage error before
 * the device is touched.  Its own limits are checked once it is known. */
static int check_layout(const struct options *o)
{
	unsigned int i;
	size_t io;

	if (!o->total || !o->chunk || o->total % NVME_PAGE ||
	    o->chunk % NVME_PAGE)
		return bad_usage("--total and --chunk must be non-zero multiples of %u", NVME_PAGE);
	for (i = 0; i < o->num_sizes; i++) {
		io = o->io_size[i];
		if (!io || io % NVME_PAGE || o->total % io ||
		    (io > o->chunk && io % o->chunk))
			return bad_usage("I/O size %zu must be a multiple of %u and of the chunk, and divide --total",
					 io, NVME_PAGE);
	}
	return 0;
}

int parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_BENCH = 256, OPT_JSON, OPT_UNLINKED, OPT_TIMEOUT,
	       OPT_BACKEND, OPT_SEED };
	static const struct option longopts[] = {
		{ "write", no_argument, NULL, 'w' },
		{ "strategy", required_argument, NULL, 's' },
		{ "io-size", required_argument, NULL, 'b' },
		{ "total", required_argument, NULL, 't' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "lba", required_argument, NULL, 'l' },
		{ "nsid", required_argument, NULL, 'n' },
		{ "bench", no_argument, NULL, OPT_BENCH },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "unlinked-read", no_argument, NULL, OPT_UNLINKED },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "backend", required_argument, NULL, OPT_BACKEND },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0, 0, 0, 0 }
	};
	uint64_t v;
	int opt, r;

	*o = (struct options){ .total = 4u << 20, .chunk = NVME_PAGE,
			       .nsid = 1, .timeout_ms = 10000, .seed = 1 };
	parse_strategies("all", o);
	parse_sizes("4k,16k,64k,256k", o);
	opterr = 0;	/* its errors are ours, in bad_usage()'s form */
	while ((opt = getopt_long(argc, argv, ":ws:b:t:c:l:n:qhV", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'w': o->write = true; break;
		case 's':
			r = parse_strategies(optarg, o);
			if (r == -E2BIG)
				return bad_usage("--strategy: '%s' has more than %d items", optarg, MAX_LIST);
			if (r < 0)
				return bad_usage("--strategy: '%s' is not map, window, registered or all", optarg);
			break;
		case 'b':
			r = parse_sizes(optarg, o);
			if (r == -E2BIG)
				return bad_usage("--io-size: '%s' has more than %d sizes", optarg, MAX_LIST);
			if (r < 0)
				return bad_usage("--io-size: '%s' is not a list of sizes", optarg);
			break;
		case 't':
			if (parse_size(optarg, &o->total) < 0)
				return bad_usage("--total: '%s' is not a size", optarg);
			break;
		case 'c':
			if (parse_size(optarg, &o->chunk) < 0)
				return bad_usage("--chunk: '%s' is not a size", optarg);
			break;
		case 'l':
			if (parse_u64(optarg, &o->lba) < 0)
				return bad_usage("--lba: '%s' is not a number", optarg);
			break;
		case 'n':
			if (parse_u64(optarg, &v) < 0 || !v || v > UINT32_MAX)
				return bad_usage("--nsid: '%s' is not a namespace ID", optarg);
			o->nsid = (uint32_t)v;
			break;
		case OPT_BENCH: o->bench = true; break;
		case OPT_JSON: o->json = true; break;
		case OPT_UNLINKED: o->unlinked_read = true; break;
		case OPT_TIMEOUT:
			if (parse_u64(optarg, &v) < 0)
				return bad_usage("--timeout: '%s' is not a number of milliseconds", optarg);
			if (!v)
				return bad_usage("--timeout: '%s': the timeout is at least 1 ms", optarg);
			if (v > 3600000)
				return bad_usage("--timeout: '%s': the timeout is at most 3600000 ms", optarg);
			o->timeout_ms = (unsigned int)v;
			break;
		case OPT_BACKEND: o->backend = optarg; break;
		case OPT_SEED:
			if (parse_u64(optarg, &o->seed) < 0)
				return bad_usage("--seed: '%s' is not a number", optarg);
			break;
		case 'q': o->quiet = true; break;
		case 'h': usage(stdout); exit(flush_stdout(0));
		case 'V':
			printf("%s (built with libdmasplit %d.%d, running with %s)\n",
			       prog, DMASPLIT_VERSION_MAJOR,
			       DMASPLIT_VERSION_MINOR, dmasplit_version());
			exit(flush_stdout(0));
		case ':':
			/* A short one may come among others (-qt): optopt
			 * names it alone. */
			if (strncmp(argv[optind - 1], "--", 2) == 0)
				return bad_usage("option '%s' needs an argument",
						 argv[optind - 1]);
			return bad_usage("option '-%c' needs an argument",
					 optopt);
		default:
			/* A long option given a value it does not take
			 * leaves its val in optopt. */
			for (const struct option *lo = longopts;
			     optopt && lo->name; lo++)
				if (lo->val == optopt &&
				    lo->has_arg == no_argument)
					return bad_usage("option '--%s' takes no value",
							 lo->name);
			if (optopt)
				return bad_usage("invalid option '-%c'",
						 optopt);
			return bad_usage("unrecognized option '%s'",
					 argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return bad_usage("%s", optind < argc ? "one SPEC, not more" :
				 "missing SPEC");
	o->spec = argv[optind];
	/* It reads into one buffer and says whether it stayed untouched:
	 * no runs to write, time or put in JSON. */
	if (o->unlinked_read && (o->write || o->bench || o->json))
		return bad_usage("--unlinked-read takes neither --write, --bench nor --json");
	return check_layout(o);
}
