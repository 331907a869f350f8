// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Backends compiled into the library.  The simulated device is here so
 * that demos, tests and programs linked statically have a device to work
 * on without any plugin installed.  Its sources are the plugin's, built a
 * second time with the entry renamed (Makefile.am): a plugin on disk and
 * the built-in copy never share a symbol.
 */
#include "internal.h"

const struct dmasplit_backend_ops *dmasplit_builtin_swiotlb_sim(void);

const builtin_entry_fn builtin_backends[] = {
	dmasplit_builtin_swiotlb_sim,
	NULL
};
