// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit - show which backends libdmasplit loads (list.c), the PCI
 * devices and the backend each would get (devices.c) and what it makes of
 * a device (info.c), walk through the two-step API (demo.c) and measure it
 * (bench/).  This file holds the command table and the command line.
 *
 * Only the public API is used, so what this prints is exactly what any
 * application linked against the library would get; the benchmark alone
 * also calls one backend operation directly, to price the dispatch.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <dmasplit/dmasplit.h>

#include "tool.h"

/* The options a command takes besides the global ones. */
enum {
	TAKES_JSON = 1u << 0,
	TAKES_QUICK = 1u << 1,
	TAKES_PEER = 1u << 2,
	TAKES_BENCH = 1u << 3,
	TAKES_WIDE = 1u << 4
};

struct command {
	const char *name;
	const char *args;
	const char *summary;
	const char *help;
	int min_args;
	int max_args;
	unsigned int takes;
	/* For a command that opens SPEC, this one when given none, without
	 * checking a forced backend's probe itself (bench): run() checks,
	 * and with --json that the device opens. */
	const char *check_spec_default;
	int (*run)(struct dmasplit_ctx *ctx, const struct options *opts,
		   char **args);
};

enum { OPT_JSON = 0x100, OPT_QUICK, OPT_PEER, OPT_INVAL_NS, OPT_CALLGRIND };

static const struct option long_options[] = {
	{ "backend", required_argument, NULL, 'b' },
	{ "wide", no_argument, NULL, 'w' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quick", no_argument, NULL, OPT_QUICK },
	{ "peer", required_argument, NULL, OPT_PEER },
	{ "inval-ns", required_argument, NULL, OPT_INVAL_NS },
	{ "callgrind", no_argument, NULL, OPT_CALLGRIND },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static int usage_error(const char *fmt, ...) PRINTF_LIKE(1, 2);
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	fputs("Try '" PROG " --help' for more information.\n", stderr);
	return EXIT_USAGE;
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */

static int cmd_help(struct dmasplit_ctx *ctx, const struct options *opts,
		    char **args);

static const struct command commands[] = {
	{
		.name = "list",
		.args = "",
		.summary = "show the backends that load, and from where",
		.help = "Show every backend that loads: name, version, file and description,\n"
			"squeezed to the terminal's width ($COLUMNS, or 80 when the output\n"
			"is not a terminal), and cut there when too narrow even so; with -w,\n"
			"whole lines and the UUID.  Plugins that are refused are logged on\n"
			"stderr.  Exits 1 when every backend directory searched was refused.\n",
		.min_args = 0,
		.max_args = 0,
		.takes = TAKES_JSON | TAKES_WIDE,
		.run = cmd_list,
	},
	{
		.name = "devices",
		.args = "",
		.summary = "list PCI devices and the backend each would get",
		.help = "List every PCI device under the sysfs root, by address: vendor and\n"
			"device ID, driver, IOMMU group and its type (DMA, DMA-FQ, identity,\n"
			"blocked, or none without a group), DMA mask in bits, peer memory\n"
			"(size in bytes / published: yes, no, or - when sysfs does not say),\n"
			"and the backend that would open it (- when none would).  Lines fit\n"
			"the terminal, as for list, unless -w.  Exits 1 if the sysfs\n"
			"directory cannot be read or a device cannot be described.\n",
		.min_args = 0,
		.max_args = 0,
		.takes = TAKES_JSON | TAKES_WIDE,
		.run = cmd_devices,
	},
	{
		.name = "info",
		.args = " SPEC",
		.summary = "describe a device, probe every backend, open it",
		.help = "Describe the device SPEC, show every backend's probe result and\n"
			"the one chosen, then open the device and show what the backend\n"
			"reports: flags, DMA mask, granule and device-address ranges.\n"
			"Exits 1 if the device cannot be described, selected or opened.\n"
			"\n"
			"With --peer CLIENT: also how the PCI device CLIENT reaches the peer\n"
			"memory of SPEC, as the kernel decides it (bus-address,\n"
			"through-host-bridge or not-supported, with the reason logged), and\n"
			"the distance; exits 1 if the verdict cannot be reached.\n"
			"\n"
			"SPEC is sim:NAME[,key=value...] for a simulated device, or a PCI\n"
			"address [pci:][DDDD:]BB:DD.F[,mask=BITS][,vfio=iommufd|type1]\n"
			"[,unlink=strict|lazy][,as=NAME].  as=NAME, on either bus, puts the\n"
			"device in the IOMMU address space NAME, shared by the devices that\n"
			"name it in one context; see dmasplit_dev_open(3).\n",
		.min_args = 1,
		.max_args = 1,
		.takes = TAKES_JSON | TAKES_PEER,
		.run = cmd_info,
	},
	{
		.name = "demo",
		.args = " [SPEC]",
		.summary = "walk through the two-step API and its fallback",
		.help = "Walk through the two-step API on a simulated device, each step\n"
			"proven by what the device itself reads or writes: reserve a window,\n"
			"link a buffer (the device faults until the sync), sync, let the\n"
			"device read and write, unlink (it faults again).  Then the fallback\n"
			"on a device without an IOMMU: no window (-EOPNOTSUPP), a per-range\n"
			"mapping through the bounce pool, visible to the host only after\n"
			"dmasplit_sync_for_cpu.  Exits 1, naming the step, if any check fails.\n"
			"\n"
			"SPEC is the simulated device of the two-step part (default sim:demo);\n"
			"it needs windows and device-side access.\n",
		.min_args = 0,
		.max_args = 1,
		.takes = 0,
		.run = cmd_demo,
	},
	{
		.name = "bench",
		.args = " [SPEC]",
		.summary = "measure the split path, bounce copies, dispatch",
		.help = "Measure the performance model on the device SPEC (default sim:bench,\n"
			"a simulated device behind an IOMMU), with the checker off.  Each\n"
			"figure is a ratio of two things timed side by side in alternating\n"
			"samples, medians taken, shown beside its target.  Missed targets do\n"
			"not change the exit status; a measurement that cannot run exits 1.\n"
			"With --quick: at most 65536 pages and fewer samples, for tests.\n"
			"--inval-ns N: the modelled cost of an IOTLB invalidation (default 1000).\n"
			"--callgrind: under valgrind --tool=callgrind, run the per-call figures\n"
			"in loops whose instructions callgrind dumps (" CALLGRIND_SH ").\n",
		.min_args = 0,
		.max_args = 1,
		.takes = TAKES_JSON | TAKES_QUICK | TAKES_BENCH,
		/* bench's own default, which it does not export */
		.check_spec_default = "sim:bench",
		.run = cmd_bench,
	},
	{
		.name = "help",
		.args = " [COMMAND]",
		.summary = "show this help, or the help of COMMAND",
		.help = "Show the usage of dmasplit, or of COMMAND as COMMAND --help does.\n",
		.min_args = 0,
		.max_args = 1,
		.takes = 0,
		.run = cmd_help,
	},
};

/* Global options apply to every command (takes 0), -b among them, even
 * where no device is opened; the others to the commands whose takes has
 * their bit. */
static const struct option_help {
	unsigned int takes;
	const char *text;
} option_help[] = {
	{ 0, "  -b, --backend=NAME|UUID  use this backend instead of the best-scoring one" },
	{ TAKES_WIDE, "  -w, --wide               whole lines, wider than the terminal if need be" },
	{ TAKES_JSON, "      --json               print one JSON object" },
	{ TAKES_QUICK, "      --quick              bench: fewer pages and samples" },
	{ TAKES_BENCH, "      --inval-ns=N         bench: modelled IOTLB invalidation cost, ns" },
	{ TAKES_BENCH, "      --callgrind          bench: instruction counts, under callgrind" },
	{ TAKES_PEER, "      --peer=CLIENT        info: how CLIENT reaches the device's peer memory" },
	{ 0, "  -v, --verbose            log backend loading and selection on stderr" },
	{ 0, "  -h, --help               show this help and exit" },
};

/* Every option, or those of one command (cmd->takes). */
static void print_options(const struct command *cmd)
{
	size_t i;

	puts("Options:");
	for (i = 0; i < ARRAY_SIZE(option_help); i++)
		if (!cmd || !option_help[i].takes ||
		    (cmd->takes & option_help[i].takes))
			puts(option_help[i].text);
	if (!cmd)
		puts("  -V, --version            show the version and exit");
}

static void print_usage(void)
{
	size_t i;
	char left[32];

	puts("Usage: " PROG " [OPTIONS] COMMAND [ARGS]\n"
	     "\n"
	     "Show the DMA backends libdmasplit loads, the PCI devices and the backend\n"
	     "each would get, and what it makes of a device; demonstrate the two-step\n"
	     "API, and measure it.\n"
	     "\n"
	     "Commands:");
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		snprintf(left, sizeof(left), "%s%s", commands[i].name,
			 commands[i].args);
		printf("  %-15s %s\n", left, commands[i].summary);
	}
	putchar('\n');
	print_options(NULL);
	puts("\n"
	     "Environment: DMASPLIT_BACKEND_PATH, DMASPLIT_BUILTIN_BACKENDS,\n"
	     "DMASPLIT_BACKEND, DMASPLIT_LOG, DMASPLIT_CHECK and DMASPLIT_SYSFS_ROOT,\n"
	     "as in libdmasplit(3).  The installed backend directory is\n"
	     BACKENDDIR "; swiotlb-sim is also built into the library.");
}

static void print_command_usage(const struct command *cmd)
{
	printf("Usage: " PROG " [OPTIONS] %s%s\n\n%s\n", cmd->name, cmd->args,
	       cmd->help);
	print_options(cmd);
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int cmd_help(struct dmasplit_ctx *ctx UNUSED,
		    const struct options *opts UNUSED, char **args)
{
	const struct command *cmd;

	if (!args[0]) {
		print_usage();
		return EXIT_SUCCESS;
	}
	cmd = find_command(args[0]);
	if (!cmd)
		return usage_error("help: unknown command '%s'", args[0]);
	print_command_usage(cmd);
	return EXIT_SUCCESS;
}

static int bad_option(char **argv, int c)
{
	const struct option *o;

	if (c == ':')
		return usage_error("option '%s' needs an argument",
				   argv[optind - 1]);
	/* A long option given a value it does not take leaves its val in
	 * optopt, which is no character for those without a short form;
	 * the short forms themselves never fail, so the val names it. */
	for (o = long_options; optopt && o->name; o++)
		if (o->val == optopt && o->has_arg == no_argument)
			return usage_error("option '--%s' takes no value",
					   o->name);
	if (optopt)
		return usage_error("invalid option '-%c'", optopt);
	return usage_error("unrecognized option '%s'", argv[optind - 1]);
}

/*
 * Options are accepted both before and after the command.  Returns -1 to
 * go on, or the exit status.  cmd is NULL for the global options.
 */
static int parse_options(int argc, char **argv, const char *optstring,
			 const struct command *cmd, struct options *opts)
{
	int c;

	while ((c = getopt_long(argc, argv, optstring, long_options,
				NULL)) != -1) {
		switch (c) {
		case 'b':
			if (!*optarg)
				return usage_error("--backend needs a name or UUID");
			opts->backend = optarg;
			break;
		case OPT_JSON:
			opts->json = true;
			break;
		case OPT_QUICK:
			opts->quick = true;
			break;
		case OPT_PEER:
			if (!*optarg)
				return usage_error("--peer needs a device");
			opts->peer = optarg;
			break;
		case OPT_INVAL_NS: {
			char *end;
			unsigned long n;

			errno = 0;
			n = strtoul(optarg, &end, 10);
			/* strtoul would pass over blanks and take a sign. */
			if (*optarg < '0' || *optarg > '9' || *end || errno ||
			    n > 1000000)
				return usage_error("--inval-ns needs a number of nanoseconds from 0 to 1000000");
			opts->inval_ns = (long)n;
			break;
		}
		case OPT_CALLGRIND:
			opts->callgrind = true;
			break;
		case 'w':
			opts->wide = true;
			break;
		case 'v':
			opts->verbose = true;
			break;
		case 'h':
			if (cmd)
				print_command_usage(cmd);
			else
				print_usage();
			return EXIT_SUCCESS;
		case 'V':
			puts(PROG " (" PACKAGE_NAME ") " PACKAGE_VERSION);
			return EXIT_SUCCESS;
		default:
			return bad_option(argv, c);
		}
	}
	return -1;
}

static int run(const struct command *cmd, const struct options *opts,
	       char **args)
{
	struct dmasplit_ctx *ctx;
	const char *spec;
	int r, status;

	r = dmasplit_ctx_new(&ctx);
	if (r < 0)
		return fail("creating a library context", r);
	if (opts->verbose)
		dmasplit_ctx_set_log_priority(ctx, LOG_DEBUG);
	if (opts->backend) {
		r = dmasplit_ctx_set_backend(ctx, opts->backend);
		if (r < 0) {
			dmasplit_ctx_unref(ctx);
			return fail(opts->backend, r);
		}
	}
	spec = args[0] ? args[0] : cmd->check_spec_default;
	/* bench prints its object only once it has measured: a device it
	 * cannot open is reported here, as info reports it, so that --json
	 * still gives one object.  --callgrind --json is bench's to refuse. */
	if (cmd->check_spec_default && opts->json && !opts->callgrind)
		r = json_check_open(ctx, opts, spec);
	else if (cmd->check_spec_default)
		r = check_forced_backend(ctx, opts, spec);
	else
		r = 0;
	status = r < 0 ? EXIT_FAILURE : cmd->run(ctx, opts, args);
	dmasplit_ctx_unref(ctx);
	return status;
}

/* A full disk or closed pipe must not pass for success. */
static int flush_stdout(int status)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return status;
	say("write error: %s", strerror(errno));
	return EXIT_FAILURE;
}

static int dispatch(int argc, char **argv, struct options *opts)
{
	const struct command *cmd;
	int r, nargs;

	if (optind >= argc)
		return usage_error("missing command");
	cmd = find_command(argv[optind]);
	if (!cmd)
		return usage_error("unknown command '%s'", argv[optind]);

	argc -= optind;
	argv += optind;
	optind = 0;	/* glibc: restart with fresh state on the new vector */
	r = parse_options(argc, argv, ":hVvwb:", cmd, opts);
	if (r >= 0)
		return r;

	if (opts->json && !(cmd->takes & TAKES_JSON))
		return usage_error("%s: --json is not supported", cmd->name);
	if (opts->quick && !(cmd->takes & TAKES_QUICK))
		return usage_error("%s: --quick is for bench only", cmd->name);
	if (opts->peer && !(cmd->takes & TAKES_PEER))
		return usage_error("%s: --peer is for info only", cmd->name);
	if (opts->inval_ns >= 0 && !(cmd->takes & TAKES_BENCH))
		return usage_error("%s: --inval-ns is for bench only", cmd->name);
	if (opts->callgrind && !(cmd->takes & TAKES_BENCH))
		return usage_error("%s: --callgrind is for bench only", cmd->name);
	if (opts->wide && !(cmd->takes & TAKES_WIDE))
		return usage_error("%s: --wide is for list and devices only",
				   cmd->name);
	nargs = argc - optind;
	if (nargs < cmd->min_args)
		return usage_error("%s: missing%s", cmd->name, cmd->args);
	if (nargs > cmd->max_args)
		return usage_error("%s: unexpected argument '%s'", cmd->name,
				   argv[optind + cmd->max_args]);
	return run(cmd, opts, argv + optind);
}

int main(int argc, char **argv)
{
	struct options opts = { .inval_ns = -1 };
	int r;

	/* Messages name the command, not a libtool wrapper's lt-dmasplit. */
	opterr = 0;
	/* '+': stop at the command; its own options are parsed after it. */
	r = parse_options(argc, argv, "+:hVvwb:", NULL, &opts);
	if (r < 0)
		r = dispatch(argc, argv, &opts);
	return flush_stdout(r);
}
