/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the files of the dmasplit command: the options, the commands,
 * and the output helpers, so that every command prints and fails the same
 * way.
 */
#ifndef DMASPLIT_TOOL_H
#define DMASPLIT_TOOL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmasplit/dmasplit.h>

/* Every command with --json writes it the same way. */
#include "json.h"

#define PROG "dmasplit"
/* The instruction counts' script, where it is installed (Makefile.am);
 * tools/bench/callgrind.sh in the sources. */
#ifndef PKGLIBEXECDIR
#define PKGLIBEXECDIR "/usr/local/libexec/libdmasplit"
#endif
#define CALLGRIND_SH PKGLIBEXECDIR "/callgrind.sh"
#define EXIT_USAGE 2

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define UNUSED __attribute__((unused))

struct options {
	const char *backend;
	bool json;
	bool quick;
	bool verbose;
	const char *peer;	/* info --peer CLIENT */
	long inval_ns;		/* bench --inval-ns N; -1: the default */
	bool callgrind;		/* bench --callgrind */
	bool wide;		/* list, devices -w: lines as long as they are */
};

/* The commands; args[0] is the SPEC or NULL. */
int cmd_list(struct dmasplit_ctx *ctx, const struct options *opts,
	     char **args);
int cmd_devices(struct dmasplit_ctx *ctx, const struct options *opts,
		char **args);
int cmd_info(struct dmasplit_ctx *ctx, const struct options *opts,
	     char **args);
int cmd_demo(struct dmasplit_ctx *ctx, const struct options *opts,
	     char **args);
int cmd_bench(struct dmasplit_ctx *ctx, const struct options *opts,
	      char **args);
/* For bench --json: opens and closes spec as info does, and when that
 * fails prints bench's object with what info's error member holds and
 * says why on stderr, as info does; 0 when the device opens. */
int json_check_open(struct dmasplit_ctx *ctx, const struct options *opts,
		    const char *spec);

/* Backends */
const char *backend_path(bool *from_env);
/* The backend --backend or else DMASPLIT_BACKEND forces, NULL when none;
 * *by names which of the two, if by is not NULL. */
const char *forced_backend(const struct options *opts, const char **by);
/* 0, or the error of a forced backend's probe that refuses spec, said in
 * one line: the library would open the device with it all the same. */
int check_forced_backend(struct dmasplit_ctx *ctx, const struct options *opts,
			 const char *spec);
const char *forced_backend_missing(struct dmasplit_ctx *ctx,
				   const struct options *opts, const char **by);
void say_not_loaded(const char *name, const char *by);
int forced_backend_loaded(struct dmasplit_ctx *ctx,
			  const struct options *opts);
void say_not_handled(const char *backend, const char *spec, int err);

/* Log */
/* Hides the library's errors until log_quiet_end, for calls whose failure
 * the caller reports itself or expects; -v still shows everything. */
int log_quiet_begin(struct dmasplit_ctx *ctx);
void log_quiet_end(struct dmasplit_ctx *ctx, int saved_priority);

/* Errors */
const char *errno_name(int err);
/* One error line on stderr, PROG first, control bytes escaped. */
void say(const char *fmt, ...) PRINTF_LIKE(1, 2);
void vsay(const char *fmt, va_list ap) PRINTF_LIKE(1, 0);
int fail(const char *what, int err);

/* Text output */
void put_safe(const char *s);
void put_padded(const char *s, int width);
const char *or_dash(const char *s);
/* The names of the enum dmasplit_dev_flag bits set in flags, space
 * separated, "-" for none. */
void put_dev_flags(uint32_t flags);

/* PCI peer memory: the attributes besides size that sysfs has, which
 * the description cannot tell from 0 and false when absent. */
enum { P2PMEM_HAS_AVAILABLE = 1u << 0, P2PMEM_HAS_PUBLISHED = 1u << 1 };
unsigned int p2pmem_attrs(struct dmasplit_ctx *ctx,
			  const struct dmasplit_desc *d);

/* JSON output */
/* A PCI device's peer memory, null when it has none; attrs from
 * p2pmem_attrs, what is absent null. */
void json_p2pmem(struct json *j, const struct dmasplit_desc *d,
		 unsigned int attrs);
/* A PCI device's identity as info and devices show it: ID, vendor,
 * device, class, driver and IOMMU group. */
void json_pci_id(struct json *j, const struct dmasplit_desc *d);

#endif
