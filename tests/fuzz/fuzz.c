// SPDX-License-Identifier: LGPL-2.1-or-later
/* Helpers of the fuzz harnesses; see fuzz.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static void log_nothing(void *data, int priority, const char *file, int line,
			const char *fn, const char *format, va_list args)
{
}

struct dmasplit_ctx *fuzz_ctx_new(int check)
{
	struct dmasplit_ctx *ctx = NULL;

	if (dmasplit_ctx_new(&ctx))
		abort();
	if (!getenv("DMASPLIT_BACKEND_PATH") &&
	    dmasplit_ctx_set_backend_path(ctx, FUZZ_BACKEND_DIR))
		abort();
	if (!getenv("FUZZ_LOG")) {
		dmasplit_ctx_set_log_fn(ctx, log_nothing, NULL);
		dmasplit_ctx_set_log_priority(ctx, 0);
	}
	dmasplit_ctx_set_check(ctx, check);
	if (dmasplit_ctx_load_backends(ctx))
		abort();
	return ctx;
}

static char tmp[PATH_MAX];

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	if (ftw->level > 0)
		remove(path);
	return 0;
}

void fuzz_clear(const char *root)
{
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void rm_tmp(void)
{
	fuzz_clear(tmp);
	rmdir(tmp);
}

const char *fuzz_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	if (tmp[0])
		return tmp;
	snprintf(tmp, sizeof(tmp), "%s/dmasplit-fuzz-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmp))
		abort();
	atexit(rm_tmp);
	return tmp;
}

static bool parents(char *path)
{
	char *p;

	for (p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			*p = '/';
			return false;
		}
		*p = '/';
	}
	return true;
}

bool fuzz_put(const char *root, const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX];
	bool ok;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (!parents(path))
		return false;
	/* Without O_NONBLOCK a FIFO an earlier entry of the input made here
	 * would block the harness itself (no reader); it fails with ENXIO. */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC |
		  O_NONBLOCK, 0644);
	if (fd < 0)
		return false;
	ok = write(fd, data, len) == (ssize_t)len;
	close(fd);
	return ok;
}

bool fuzz_link(const char *root, const char *rel, const char *target)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return parents(path) && symlink(target, path) == 0;
}

bool fuzz_mkdir(const char *root, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s/", root, rel);
	return parents(path);
}

bool fuzz_fifo(const char *root, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return parents(path) && mkfifo(path, 0644) == 0;
}

#define DEV2 "devices/pci0000:00/0000:00:02.0/0000:02:00.0"

const char *fuzz_fake_sysfs(void)
{
	const char *r = fuzz_tmpdir();
	static const char *const dirs[] = { FUZZ_DEVDIR, DEV2 };
	char rel[256];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		snprintf(rel, sizeof(rel), "%s/vendor", dirs[i]);
		fuzz_put(r, rel, "0x8086\n", 7);
		snprintf(rel, sizeof(rel), "%s/device", dirs[i]);
		fuzz_put(r, rel, "0x10d3\n", 7);
		snprintf(rel, sizeof(rel), "%s/class", dirs[i]);
		fuzz_put(r, rel, "0x020000\n", 9);
		snprintf(rel, sizeof(rel), "%s/dma_mask_bits", dirs[i]);
		fuzz_put(r, rel, "64\n", 3);
	}
	fuzz_put(r, "bus/pci/drivers/uio_pci_generic/new_id", "", 0);
	fuzz_put(r, "bus/pci/drivers/vfio-pci/new_id", "", 0);
	fuzz_link(r, FUZZ_DEVDIR "/driver",
		  "../../../../bus/pci/drivers/uio_pci_generic");
	fuzz_link(r, DEV2 "/driver", "../../../../bus/pci/drivers/vfio-pci");
	fuzz_put(r, "kernel/iommu_groups/7/type", "DMA\n", 4);
	fuzz_put(r, "kernel/iommu_groups/7/reserved_regions", "", 0);
	fuzz_link(r, DEV2 "/iommu_group", "../../../../kernel/iommu_groups/7");
	fuzz_mkdir(r, DEV2 "/vfio-dev/vfio3");
	fuzz_link(r, "bus/pci/devices/0000:01:00.0", "../../../" FUZZ_DEVDIR);
	fuzz_link(r, "bus/pci/devices/0000:02:00.0", "../../../" DEV2);
	return r;
}
