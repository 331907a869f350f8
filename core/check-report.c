// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What the checker says: like the kernel's dma-debug, which prints where
 * a mapping was made, each report names the code to blame (where the
 * window or mapping concerned was made, or who made a call about an
 * address nobody holds), so that misuse can be fixed from the log alone.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "checker.h"

const char *const check_kind_name[] = {
	[CHECK_WINDOW] = "window",
	[CHECK_MAP] = "dmasplit_map",
	[CHECK_VEC] = "dmasplit_map_vec",
	[CHECK_COHERENT] = "dmasplit_alloc_coherent",
};

const char *const check_dir_name[] = {
	[DMASPLIT_BIDIRECTIONAL] = "BIDIRECTIONAL",
	[DMASPLIT_TO_DEVICE] = "TO_DEVICE",
	[DMASPLIT_FROM_DEVICE] = "FROM_DEVICE",
};

void check_found(struct check_report *rep, uint32_t attrs, const char *file,
		 int line, const char *fn, const char *format, ...)
{
	va_list args;

	rep->found = true;
	rep->quiet = attrs & DMASPLIT_ATTR_NO_WARN;
	rep->file = file;
	rep->line = line;
	rep->fn = fn;
	rep->n = 0;
	va_start(args, format);
	vsnprintf(rep->msg, sizeof(rep->msg), format, args);
	va_end(args);
}

void check_culprit(struct check_report *rep, const char *what,
		   const void *at)
{
	if (at && rep->n < CHECK_CULPRITS) {
		rep->culprit[rep->n].what = what;
		rep->culprit[rep->n].at = at;
		rep->n++;
	}
}

/*
 * As glibc's backtrace_symbols(): "object(function+0xoff)", or
 * "object(+0xoff)" from the object's base where no exported symbol
 * covers it (static functions; a program not linked -rdynamic), which
 * addr2line -e object turns into a line.  The address looked up is one
 * before the return address, inside the call: a call that ends a
 * function returns to the next one.
 */
static void symbolise(const void *at, char *buf, size_t len)
{
	const char *obj;
	Dl_info info;

	if (!dladdr((const char *)at - 1, &info) || !info.dli_fname) {
		snprintf(buf, len, "%p", at);
		return;
	}
	obj = strrchr(info.dli_fname, '/');
	obj = obj ? obj + 1 : info.dli_fname;
	if (info.dli_sname && info.dli_saddr)
		snprintf(buf, len, "%s(%s+0x%tx)", obj, info.dli_sname,
			 (const char *)at - (const char *)info.dli_saddr);
	else
		snprintf(buf, len, "%s(+0x%tx)", obj,
			 (const char *)at - (const char *)info.dli_fbase);
}

int check_report(struct dmasplit_dev *dev, struct check_report *rep, int r)
{
	struct dmasplit_ctx *ctx = dev->ctx;
	char tail[CHECK_CULPRITS * 200] = "", name[160];
	size_t used = 0;
	unsigned int i;

	if (!rep->found)
		return r;
	rep->found = false;
	__atomic_add_fetch(&ctx->check_findings, 1, __ATOMIC_RELAXED);
	if (rep->quiet || dmasplit_ctx_get_log_priority(ctx) < LOG_ERR)
		return r;
	for (i = 0; i < rep->n && used < sizeof(tail); i++) {
		symbolise(rep->culprit[i].at, name, sizeof(name));
		used += snprintf(tail + used, sizeof(tail) - used, "%s%s %s",
				 i ? ", " : " (", rep->culprit[i].what, name);
	}
	dmasplit_log(ctx, LOG_ERR, rep->file, rep->line, rep->fn,
		     CHECK_PREFIX "%s%s%s", rep->msg, tail, rep->n ? ")" : "");
	return r;
}
