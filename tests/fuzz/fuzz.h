/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the fuzz harnesses: a context that loads the backends of this
 * build tree (DMASPLIT_BACKEND_PATH overrides) and logs nothing unless
 * FUZZ_LOG is set, so that the millions of refused calls cost no
 * formatting; and fake sysfs trees in a scratch directory.
 */
#ifndef DMASPLIT_FUZZ_H
#define DMASPLIT_FUZZ_H

#include <stdbool.h>
#include <stddef.h>

#include <dmasplit/dmasplit.h>

struct dmasplit_ctx *fuzz_ctx_new(int check);

/* A scratch directory, removed at exit. */
const char *fuzz_tmpdir(void);
/* Under root: a file of len bytes, a symbolic link, a directory (parents
 * made as needed); false where the file system refused. */
bool fuzz_put(const char *root, const char *rel, const void *data, size_t len);
bool fuzz_link(const char *root, const char *rel, const char *target);
bool fuzz_mkdir(const char *root, const char *rel);
bool fuzz_fifo(const char *root, const char *rel);
/* Empty root, keeping it. */
void fuzz_clear(const char *root);

/*
 * A sysfs tree with 0000:01:00.0 bound to uio_pci_generic in no IOMMU
 * group and 0000:02:00.0 bound to vfio-pci in translating group 7.
 */
const char *fuzz_fake_sysfs(void);

#define FUZZ_DEVDIR "devices/pci0000:00/0000:00:01.0/0000:01:00.0"

#endif
