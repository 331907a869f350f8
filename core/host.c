// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The services table handed to backends.  One per context, embedded in it,
 * so a backend's host pointer leads back to its context's log and sysfs
 * root without any private symbol crossing the plugin boundary.
 */
#include <stdarg.h>

#include "internal.h"

__thread unsigned int host_errors_logged_tls;

DMASPLIT_PRINTF(6, 7)
static void host_log(const struct dmasplit_host *host, int priority,
		     const char *file, int line, const char *fn,
		     const char *format, ...)
{
	struct dmasplit_ctx *ctx;
	va_list args;

	if (!host || !format)
		return;
	ctx = ctx_from_host(host);
	/* The application's log function sees syslog priorities only. */
	if (priority < LOG_EMERG)
		priority = LOG_EMERG;
	else if (priority > LOG_DEBUG)
		priority = LOG_DEBUG;
	/* Counted whether or not the line is shown: the core's own line
	 * would be filtered at the same priority. */
	if (priority <= LOG_ERR)
		host_errors_logged_tls++;
	if (dmasplit_ctx_get_log_priority(ctx) < priority)
		return;
	va_start(args, format);
	dmasplit_vlog(ctx, priority, file, line, fn, format, args);
	va_end(args);
}

void host_init(struct dmasplit_host *host)
{
	host->size = sizeof(*host);
	host->abi_version = DMASPLIT_BACKEND_ABI_VERSION;
	host->log = host_log;
	host->sysfs_read = sysfs_read;
	host->sysfs_readlink = sysfs_readlink;
	host->sysfs_open = sysfs_open;
	host->iovad_new = iovad_new;
	host->iovad_destroy = iovad_destroy;
	host->iovad_alloc = iovad_alloc;
	host->iovad_reserve = iovad_reserve;
	host->iovad_free = iovad_free;
	host->pin = pin_pages;
	host->unpin = unpin_pages;
	host->virt_to_phys = virt_to_phys;
	host->spec_number = spec_number;
	peer_host_init(host);
	host->iovad_last_used = iovad_last_used;
	host->iovad_alloc_aligned = iovad_alloc_aligned;
	host->iovad_in_use = iovad_in_use;
	host->iovad_trim = iovad_trim;
}
