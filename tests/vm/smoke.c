// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The VM harness itself (tests/vm/run tests/vm/smoke): the guest has the
 * edu device bound to vfio-pci behind a translating IOMMU, both VFIO
 * interfaces (type1 container and iommufd with the device cdev), the NVMe
 * controller's memory buffer published as p2pmem, and libdmasplit with its
 * backends loads.  TAP output.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dmasplit/dmasplit.h>

#define NTESTS 12

static int failed;
static int number;

static void ok(int pass, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

static void ok(int pass, const char *format, ...)
{
	va_list ap;

	printf("%sok %d - ", pass ? "" : "not ", ++number);
	va_start(ap, format);
	vprintf(format, ap);
	va_end(ap);
	putchar('\n');
	if (!pass)
		failed++;
}

/* snprintf that says nothing about truncation: sysfs paths are short. */
static void fmt(char *buf, size_t size, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

static void fmt(char *buf, size_t size, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	vsnprintf(buf, size, format, ap);
	va_end(ap);
}

/* The first line of a file, without its newline; "" when unreadable. */
static const char *read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (!f)
		return buf;
	if (!fgets(buf, (int)size, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/* The last component of a symbolic link's target; "" when not a link. */
static const char *link_name(const char *path, char *buf, size_t size)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	const char *slash;

	buf[0] = '\0';
	if (n < 0)
		return buf;
	target[n] = '\0';
	slash = strrchr(target, '/');
	fmt(buf, size, "%s", slash ? slash + 1 : target);
	return buf;
}

static int is_chardev(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISCHR(st.st_mode);
}

/* The name of the device's vfio-dev/vfioN entry; "" when there is none. */
static const char *vfio_dev_name(const char *devdir, char *buf, size_t size)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	buf[0] = '\0';
	fmt(path, sizeof(path), "%s/vfio-dev", devdir);
	d = opendir(path);
	if (!d)
		return buf;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "vfio", 4) == 0) {
			fmt(buf, size, "%s", e->d_name);
			break;
		}
	closedir(d);
	return buf;
}

int main(void)
{
	const char *edu = getenv("DMASPLIT_VM_EDU");
	const char *nvme = getenv("DMASPLIT_VM_NVME");
	char devdir[PATH_MAX], path[PATH_MAX + 64], buf[256], buf2[256];
	struct dmasplit_ctx *ctx = NULL;
	struct dmasplit_backend *b;
	struct dmasplit_dev *dev = NULL;
	int r, have_sim = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!edu || !*edu) {
		printf("1..0 # SKIP not in the VM (DMASPLIT_VM_EDU is not set; run through tests/vm/run)\n");
		return 77;
	}
	printf("1..%d\n", NTESTS);

	/* edu, bound to vfio-pci, behind a translating IOMMU */
	fmt(devdir, sizeof(devdir), "/sys/bus/pci/devices/%s", edu);
	fmt(path, sizeof(path), "%s/vendor", devdir);
	read_line(path, buf, sizeof(buf));
	fmt(path, sizeof(path), "%s/device", devdir);
	read_line(path, buf2, sizeof(buf2));
	ok(strcmp(buf, "0x1234") == 0 && strcmp(buf2, "0x11e8") == 0,
	   "edu at %s (vendor %s device %s)", edu, buf, buf2);

	fmt(path, sizeof(path), "%s/driver", devdir);
	link_name(path, buf, sizeof(buf));
	ok(strcmp(buf, "vfio-pci") == 0, "edu bound to vfio-pci (driver: %s)",
	   *buf ? buf : "none");

	fmt(path, sizeof(path), "%s/iommu_group/type", devdir);
	read_line(path, buf, sizeof(buf));
	ok(strcmp(buf, "DMA") == 0 || strcmp(buf, "DMA-FQ") == 0,
	   "edu's IOMMU group translates (type: %s)", *buf ? buf : "none");

	fmt(path, sizeof(path), "%s/iommu_group", devdir);
	link_name(path, buf2, sizeof(buf2));
	fmt(path, sizeof(path), "/dev/vfio/%s", buf2);
	ok(*buf2 && is_chardev(path), "group device %s", path);

	ok(is_chardev("/dev/vfio/vfio"), "type1 container device /dev/vfio/vfio");
	ok(is_chardev("/dev/iommu"), "iommufd device /dev/iommu");

	vfio_dev_name(devdir, buf, sizeof(buf));
	fmt(path, sizeof(path), "/dev/vfio/devices/%s", buf);
	ok(*buf && is_chardev(path), "VFIO device cdev %s",
	   *buf ? path : "(no vfio-dev entry in sysfs)");

	/* the NVMe controller memory buffer, published as p2pmem */
	if (nvme && *nvme) {
		fmt(path, sizeof(path), "/sys/bus/pci/devices/%s/p2pmem/size", nvme);
		read_line(path, buf, sizeof(buf));
	} else {
		buf[0] = '\0';
	}
	ok(strtoull(buf, NULL, 0) > 0, "nvme %s publishes p2pmem (size %s)",
	   nvme ? nvme : "(DMASPLIT_VM_NVME not set)", *buf ? buf : "none");

	/* libdmasplit and its backends */
	r = dmasplit_ctx_new(&ctx);
	ok(r == 0, "dmasplit_ctx_new: %d", r);
	if (r != 0) {
		printf("Bail out! no context\n");
		return 1;
	}
	r = dmasplit_ctx_load_backends(ctx);
	ok(r == 0, "dmasplit_ctx_load_backends: %d (DMASPLIT_BACKEND_PATH=%s)", r,
	   getenv("DMASPLIT_BACKEND_PATH") ? getenv("DMASPLIT_BACKEND_PATH") : "unset");
	for (b = dmasplit_backend_next(ctx, NULL); b; b = dmasplit_backend_next(ctx, b)) {
		printf("# backend %s %s: %s\n", dmasplit_backend_get_name(b),
		       dmasplit_backend_get_version(b), dmasplit_backend_get_path(b));
		if (strcmp(dmasplit_backend_get_name(b), "swiotlb-sim") == 0)
			have_sim = 1;
	}
	ok(have_sim, "the swiotlb-sim backend is loaded");

	r = dmasplit_dev_open(ctx, "sim:vm", &dev);
	ok(r == 0, "dmasplit_dev_open(sim:vm): %d%s%s", r, r ? " " : ", backend ",
	   r ? strerror(-r) : dmasplit_dev_backend_name(dev));
	if (dev)
		dmasplit_dev_close(dev);
	dmasplit_ctx_unref(ctx);

	return failed ? 1 : 0;
}
