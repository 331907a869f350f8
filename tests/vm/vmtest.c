// SPDX-License-Identifier: LGPL-2.1-or-later
/* What the VM test programs share; see vmtest.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmtest.h"

static unsigned int tests, failures;

void ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s %u - ", cond ? "ok" : "not ok", ++tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!cond)
		failures++;
}

void skip(const char *what, const char *why)
{
	printf("ok %u - %s # SKIP %s\n", ++tests, what, why);
	fflush(stdout);
}

void note(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

int tap_end(void)
{
	printf("1..%u\n", tests);
	return failures ? 1 : 0;
}

int vfio_region(int fd, unsigned int index, struct vfio_region_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->index = index;
	return ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, info) < 0 ? -errno : 0;
}

uint64_t phys_of(const void *p)
{
	uint64_t entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (pread(fd, &entry, 8, (off_t)((uintptr_t)p / PAGE * 8)) != 8)
		entry = 0;
	close(fd);
	return (entry & ((1ull << 55) - 1)) * PAGE + (uintptr_t)p % PAGE;
}

long pinned_kb(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	long kb, sum = 0;
	int seen = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %ld", &kb) == 1 ||
		    sscanf(line, "VmLck: %ld", &kb) == 1) {
			sum += kb;
			seen++;
		}
	fclose(f);
	return seen == 2 ? sum : -1;
}

struct dmasplit_dev_stats dev_stats(struct dmasplit_dev *dev)
{
	struct dmasplit_dev_stats s = { .size = sizeof(s) };

	dmasplit_dev_get_stats(dev, &s);
	return s;
}

/* The command register at offset 4 of the configuration space in fd. */
static int command_on(int fd, off_t config, uint16_t bits)
{
	uint16_t cmd;

	if (pread(fd, &cmd, 2, config + 4) != 2)
		return -EIO;
	cmd |= bits;
	return pwrite(fd, &cmd, 2, config + 4) == 2 ? 0 : -EIO;
}

int edu_open_vfio(struct dmasplit_dev *dev, struct edu *e)
{
	struct vfio_region_info bar, cfg;
	int fd, r;

	r = dmasplit_dev_get_fd(dev, &fd);
	if (r == 0)
		r = vfio_region(fd, VFIO_PCI_BAR0_REGION_INDEX, &bar);
	if (r == 0)
		r = vfio_region(fd, VFIO_PCI_CONFIG_REGION_INDEX, &cfg);
	if (r < 0)
		return r;
	e->size = bar.size;
	e->bar = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		      (off_t)bar.offset);
	if (e->bar == MAP_FAILED) {
		e->bar = NULL;
		return -errno;
	}
	return command_on(fd, (off_t)cfg.offset, 0x6);
}

int edu_open_sysfs(const char *bdf, struct edu *e)
{
	char path[128];
	int fd, r;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", bdf);
	fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	e->size = EDU_BAR_SIZE;
	e->bar = mmap(NULL, e->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (e->bar == MAP_FAILED) {
		e->bar = NULL;
		return -errno;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = command_on(fd, 0, 0x6);
	close(fd);
	return r;
}

void edu_close(struct edu *e)
{
	if (e->bar)
		munmap((void *)e->bar, e->size);
	e->bar = NULL;
}

uint32_t edu_rd32(struct edu *e, unsigned int reg)
{
	return *(volatile uint32_t *)(e->bar + reg);
}

uint64_t edu_rd64(struct edu *e, unsigned int reg)
{
	return *(volatile uint64_t *)(e->bar + reg);
}

void edu_wr64(struct edu *e, unsigned int reg, uint64_t v)
{
	*(volatile uint64_t *)(e->bar + reg) = v;
}

int edu_dma(struct edu *e, uint64_t src, uint64_t dst, uint32_t len,
	    bool to_ram)
{
	int i;

	edu_wr64(e, 0x80, src);
	edu_wr64(e, 0x88, dst);
	edu_wr64(e, 0x90, len);
	edu_wr64(e, 0x98, 1 | (to_ram ? 2 : 0));
	/* Each transfer completes on a 100 ms timer of the virtual clock. */
	for (i = 0; i < 1000; i++) {
		if (!(edu_rd64(e, 0x98) & 1))
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

bool edu_reaches(struct edu *e, uint64_t dma, uint8_t *buf, uint32_t len)
{
	uint32_t i;

	memset(buf, 0x5a, len);
	if (edu_dma(e, EDU_BUF, dma, len, true) < 0)
		return false;
	for (i = 0; i < len && buf[i] == 0x5a; i++)
		;
	return i < len;
}

/* IOMMU_DESTROY of object 0: ENOENT where iommufd answers. */
bool iommufd_answers(void)
{
	struct { uint32_t size, id; } destroy = { sizeof(destroy), 0 };
	int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	bool answers;

	if (fd < 0)
		return true;
	answers = ioctl(fd, _IO(';', 0x80), &destroy) == 0 || errno != ENOTTY;
	close(fd);
	return answers;
}

bool iface_skipped(const char *iface)
{
	if (strcmp(iface, "iommufd") || iommufd_answers())
		return false;
	skip("the iommufd tests",
	     "this kernel's iommufd does not answer a 32-bit process");
	return true;
}
