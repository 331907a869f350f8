// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * PCI peer-to-peer DMA against a real kernel: QEMU's NVMe controller
 * publishes its controller memory buffer as p2pmem, and QEMU's edu device
 * copies to and from it.  Run in the VM by tests/vm/run, in either
 * topology (DMASPLIT_VM_TOPOLOGY=root: both on the root bus; switch: both
 * below one PCIe switch).  Output is TAP.
 *
 * 1. The verdict: dmasplit_p2p_distance() for (nvme, edu) against the
 *    kernel's rules applied by hand to what the guest shows (the ACS
 *    control of each port on the path, the host bridge, the CPU).
 * 2. Translated client (edu on vfio-pci): p2pmem pages are refused with
 *    -EREMOTEIO on type1 and on iommufd.
 * 3. Untranslated client (edu on uio_pci_generic, identity group): the
 *    peer memory maps at the address the verdict calls for, and edu
 *    copies RAM -> device -> peer memory -> device -> RAM through it; or,
 *    where the verdict refuses the pair, the map is -EREMOTEIO.
 * 4. A BAR through VFIO: the NVMe moved to vfio-pci, its CMB BAR mapped
 *    through its VFIO device file and registered with dmasplit_peer_add;
 *    edu on type1 writes into it at the IOVA the library gave (map and
 *    window); on iommufd the map is -EREMOTEIO.
 *
 * edu must reach the CMB's addresses (above 2^28): tests/vm/run gives it
 * a 64-bit DMA mask.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/vfio.h>

#include <dmasplit/dmasplit.h>

#include "vmtest.h"

#define CMB_BAR 2
#define BAR_MAP (1u << 20)

/* ------------------------------------------------------------------ */
/* sysfs                                                                */

static int put(const char *path, const char *value)
{
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		r = -errno;
	close(fd);
	return r;
}

static void driver_of(const char *bdf, char *out, size_t len)
{
	char link[256], target[256];
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(link, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	snprintf(out, len, "%s", n > 0 ? strrchr(target, '/') + 1 : "");
}

/* Unbind, set the IOMMU group's type if asked (possible only while no
 * driver is bound), bind to driver. */
static int bind(const char *bdf, const char *driver, const char *group_type)
{
	char path[256], target[256], now[64];
	ssize_t n;
	int r;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind",
		 bdf);
	put(path, bdf);
	if (group_type) {
		snprintf(path, sizeof(path),
			 "/sys/bus/pci/devices/%s/iommu_group", bdf);
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			return -ENOENT;
		target[n] = '\0';
		snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%s/type",
			 strrchr(target, '/') + 1);
		r = put(path, group_type);
		if (r < 0)
			return r;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
		 bdf);
	r = put(path, driver);
	if (r == 0)
		r = put("/sys/bus/pci/drivers_probe", bdf);
	driver_of(bdf, now, sizeof(now));
	return strcmp(now, driver) ? (r < 0 ? r : -ENODEV) : 0;
}

static int read_config(const char *bdf, uint8_t *cfg, size_t len)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, cfg, len, 0);
	close(fd);
	return n < 0 ? -errno : (int)n;
}

static void set_command(const char *bdf, uint16_t bits)
{
	char path[128];
	uint16_t cmd;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	if (pread(fd, &cmd, 2, 4) == 2) {
		cmd |= bits;
		if (pwrite(fd, &cmd, 2, 4) != 2)
			note("cannot enable 0x%x in %s's command register", bits,
			     bdf);
	}
	close(fd);
}

/* Both in one IOMMU group: nothing isolates them (no ACS redirection
 * between them), and VFIO takes a group whole or not at all. */
static bool same_group(const char *a, const char *b)
{
	char la[128], lb[128], ta[256] = "", tb[256] = "";
	ssize_t n;

	snprintf(la, sizeof(la), "/sys/bus/pci/devices/%s/iommu_group", a);
	snprintf(lb, sizeof(lb), "/sys/bus/pci/devices/%s/iommu_group", b);
	n = readlink(la, ta, sizeof(ta) - 1);
	ta[n > 0 ? n : 0] = '\0';
	n = readlink(lb, tb, sizeof(tb) - 1);
	tb[n > 0 ? n : 0] = '\0';
	return ta[0] && !strcmp(ta, tb);
}

/* The ACS control word of a function, 0 without the capability. */
static unsigned int acs_ctrl(const char *bdf)
{
	uint8_t cfg[4096];
	unsigned int pos = 0x100, ttl = 480;
	uint32_t h;

	if (read_config(bdf, cfg, sizeof(cfg)) < 4096)
		return 0;
	while (ttl--) {
		memcpy(&h, cfg + pos, 4);
		if (!h || h == 0xffffffff)
			return 0;
		if ((h & 0xffff) == 0x000d)
			return cfg[pos + 6] | cfg[pos + 7] << 8;
		pos = (h >> 20) & 0xffc;
		if (pos < 0x100)
			return 0;
	}
	return 0;
}

/* The PCI devices above bdf in /sys/devices, bdf first, then each
 * bridge; n of them. */
static unsigned int path_up(const char *bdf, char names[][16], unsigned int max)
{
	char link[128], real[512], *p;
	unsigned int n = 0;

	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s", bdf);
	if (!realpath(link, real))
		return 0;
	while (n < max && (p = strrchr(real, '/')) && strlen(p + 1) == 12 &&
	       p[5] == ':' && p[8] == ':' && p[11] == '.') {
		snprintf(names[n++], 16, "%s", p + 1);
		*p = '\0';
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* Device memory                                                        */

/* BAR index of a device the library opened through VFIO, mapped. */
static int vfio_bar(struct dmasplit_dev *dev, unsigned int index,
		    size_t len, volatile uint8_t **bar)
{
	struct vfio_region_info info;
	void *p;
	int fd, r;

	r = dmasplit_dev_get_fd(dev, &fd);
	if (r == 0)
		r = vfio_region(fd, index, &info);
	if (r < 0)
		return r;
	if (len > info.size)
		len = info.size;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)info.offset);
	if (p == MAP_FAILED)
		return -errno;
	*bar = p;
	return 0;
}

static void pattern(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 13 + seed);
}

/* Reads of device memory byte by byte, never with wide vector loads. */
static bool same(const volatile uint8_t *dev, const uint8_t *ram, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (dev[i] != ram[i])
			return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* 1. The verdict                                                       */

static const char *map_name(enum dmasplit_p2p_map m)
{
	return m == DMASPLIT_P2P_BUS_ADDR ? "bus address" :
	       m == DMASPLIT_P2P_THRU_HOST_BRIDGE ? "through the host bridge" :
	       "not supported";
}

/*
 * The kernel's rules by hand, for these two devices: nearest common
 * bridge; ACS redirect bits on the way; otherwise the host bridge (00.0)
 * and the CPU.  Only the allow-list entries and CPU family matter here,
 * and the guest's (q35 8086:29c0, a TCG CPU) are on neither list.
 */
static enum dmasplit_p2p_map expected(const char *nvme, const char *edu,
				      int *dist)
{
	char a[8][16], b[8][16];
	unsigned int na = path_up(nvme, a, 8), nb = path_up(edu, b, 8);
	unsigned int i, j;
	bool redirect = false;
	uint8_t cfg[64];
	uint16_t vendor, device;

	for (i = 0; i < na; i++)
		note("%s: ACS control 0x%04x", a[i], acs_ctrl(a[i]));
	for (i = 0; i < nb; i++)
		note("%s: ACS control 0x%04x", b[i], acs_ctrl(b[i]));
	for (i = 0; i < na; i++) {
		redirect |= (acs_ctrl(a[i]) & 0x2c) != 0;
		for (j = 0; j < nb; j++) {
			if (strcmp(a[i], b[j]))
				continue;
			for (unsigned int k = 0; k < j; k++)
				redirect |= (acs_ctrl(b[k]) & 0x2c) != 0;
			*dist = (int)(i + j);
			note("common upstream bridge %s, ACS redirect %s", a[i],
			     redirect ? "on the path" : "nowhere on the path");
			if (!redirect)
				return DMASPLIT_P2P_BUS_ADDR;
			goto host;
		}
	}
	*dist = (int)(na + nb);
	note("no common upstream bridge");
host:
	if (read_config("0000:00:00.0", cfg, sizeof(cfg)) < 4)
		return DMASPLIT_P2P_NOT_SUPPORTED;
	memcpy(&vendor, cfg, 2);
	memcpy(&device, cfg + 2, 2);
	note("host bridge %04x:%04x", vendor, device);
	if (vendor == 0x8086 &&
	    (device == 0x2030 || device == 0x2031 || device == 0x2032 ||
	     device == 0x2033 || device == 0x2020 || device == 0x09a2))
		return DMASPLIT_P2P_THRU_HOST_BRIDGE;
	return DMASPLIT_P2P_NOT_SUPPORTED;
}

/* ------------------------------------------------------------------ */

struct state {
	struct dmasplit_ctx *ctx;
	const char *edu, *nvme;
	int dist;
	enum dmasplit_p2p_map map;
};

static void translated_p2pmem(struct state *s, void *peer)
{
	static const char *const ifaces[] = { "type1", "iommufd" };
	unsigned int i;

	for (i = 0; i < 2; i++) {
		struct dmasplit_dev *dev = NULL;
		struct dmasplit_iova *iova = NULL;
		char spec[96];
		uint64_t dma = 0;
		int r;

		if (iface_skipped(ifaces[i]))
			continue;
		snprintf(spec, sizeof(spec), "%s,mask=64,vfio=%s", s->edu,
			 ifaces[i]);
		r = dmasplit_dev_open(s->ctx, spec, &dev);
		ok(r == 0, "%s: edu opens through VFIO (%d)", ifaces[i], r);
		if (r < 0)
			continue;
		r = dmasplit_map(dev, peer, PAGE, DMASPLIT_FROM_DEVICE, 0, &dma);
		ok(r == -EREMOTEIO && !dma,
		   "%s: p2pmem on a translated client is refused with -EREMOTEIO (%d)",
		   ifaces[i], r);
		r = dmasplit_iova_alloc(dev, PAGE, 0, &iova);
		if (r == 0)
			r = dmasplit_iova_link(iova, 0, peer, PAGE,
					       DMASPLIT_FROM_DEVICE, 0);
		ok(r == -EREMOTEIO,
		   "%s: linking p2pmem into a window is refused with -EREMOTEIO (%d)",
		   ifaces[i], r);
		dmasplit_iova_destroy(iova);
		dmasplit_dev_close(dev);
	}
}

/* The NVMe's driver publishes p2pmem once the controller is up, which is
 * asynchronous to the bind. */
static bool published(const char *bdf)
{
	char path[128], c = 0;
	int i, fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/p2pmem/published",
		 bdf);
	for (i = 0; i < 200; i++) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (read(fd, &c, 1) != 1)
				c = 0;
			close(fd);
			if (c == '1')
				return true;
		}
		usleep(50000);
	}
	return false;
}

static int provide(struct state *s, struct dmasplit_dev **prov, void **peer,
		   uint64_t *dma)
{
	int r;

	*peer = NULL;
	ok(published(s->nvme), "the NVMe driver has published its CMB as p2pmem");
	r = dmasplit_dev_open(s->ctx, s->nvme, prov);
	ok(r == 0 && !strcmp(dmasplit_dev_backend_name(*prov), "p2pdma"),
	   "the NVMe opens with the p2pdma backend (%d)", r);
	if (r < 0)
		return r;
	r = dmasplit_alloc_coherent(*prov, 4 * PAGE, 0, peer, dma);
	ok(r == 0, "peer memory allocated: %p at bus 0x%" PRIx64 ", physical 0x%" PRIx64 " (%d)",
	   *peer, *dma, r == 0 ? phys_of(*peer) : 0, r);
	if (r < 0) {
		dmasplit_dev_close(*prov);
		*prov = NULL;
	}
	return r;
}

/* Peer memory is the parent's alone: a child of fork() has no mapping
 * of it, to write what the devices read or to keep it from the pool. */
static void peer_memory_not_in_a_child(void *peer)
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0)
		_exit(msync(peer, PAGE, MS_ASYNC) < 0 && errno == ENOMEM ? 0 : 1);
	if (pid > 0)
		waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "peer memory is not mapped in a child of fork() (status 0x%x)",
	   status);
}

/* edu to uio_pci_generic in an identity group.  A group's type changes
 * only while none of its devices has a driver: where the NVMe shares it,
 * the NVMe leaves and comes back too. */
static int untranslated_setup(struct state *s, bool shared)
{
	char path[128];
	int r;

	if (shared) {
		snprintf(path, sizeof(path),
			 "/sys/bus/pci/devices/%s/driver/unbind", s->nvme);
		put(path, s->nvme);
	}
	r = bind(s->edu, "uio_pci_generic", "identity");
	if (r == 0 && shared)
		r = bind(s->nvme, "nvme", NULL);
	return r;
}

static void untranslated(struct state *s, uint8_t *peer, uint64_t peer_dma)
{
	struct dmasplit_dev *dev = NULL;
	struct edu e = { 0 };
	uint8_t *ram[2];
	uint64_t dma = 0, rdma[2];
	char spec[96];
	int r, i;

	snprintf(spec, sizeof(spec), "%s,mask=64", s->edu);
	r = dmasplit_dev_open(s->ctx, spec, &dev);
	ok(r == 0 && !strcmp(dmasplit_dev_backend_name(dev), "direct"),
	   "edu opens with the direct backend (%d)", r);
	if (r < 0)
		return;
	r = dmasplit_map(dev, peer, 2 * PAGE, DMASPLIT_BIDIRECTIONAL, 0, &dma);
	if (s->map == DMASPLIT_P2P_NOT_SUPPORTED) {
		ok(r == -EREMOTEIO && !dma,
		   "the pair is not supported: mapping peer memory on edu is -EREMOTEIO (%d)",
		   r);
		goto out;
	}
	ok(r == 0, "peer memory maps on edu (%d)", r);
	if (r < 0)
		goto out;
	if (s->map == DMASPLIT_P2P_BUS_ADDR)
		ok(dma == peer_dma,
		   "below the switch: edu gets the bus address 0x%" PRIx64 " (got 0x%" PRIx64 ")",
		   peer_dma, dma);
	else
		ok(dma == phys_of(peer),
		   "through the host bridge: edu gets the physical address 0x%" PRIx64 " (got 0x%" PRIx64 ")",
		   phys_of(peer), dma);

	r = edu_open_sysfs(s->edu, &e);
	ok(r == 0 && edu_rd32(&e, 0) == 0x010000ed,
	   "edu's BAR0 answers 0x010000ed");
	if (r < 0)
		goto unmap;
	for (i = 0; i < 2; i++) {
		ram[i] = aligned_alloc(PAGE, PAGE);
		memset(ram[i], 0, PAGE);
		r = dmasplit_map(dev, ram[i], PAGE, DMASPLIT_BIDIRECTIONAL, 0,
				 &rdma[i]);
		if (r < 0)
			break;
	}
	ok(r == 0, "two RAM pages map on edu (%d)", r);
	if (r == 0) {
		pattern(ram[0], EDU_DMA_LEN, 5);
		r = edu_dma(&e, rdma[0], EDU_BUF, EDU_DMA_LEN, false);
		if (r == 0)
			r = edu_dma(&e, EDU_BUF, dma + 256, EDU_DMA_LEN, true);
		ok(r == 0 && same(peer + 256, ram[0], EDU_DMA_LEN),
		   "edu copies RAM -> device -> peer memory, and the CPU mapping of peer memory shows the bytes");
		pattern(peer + PAGE, EDU_DMA_LEN, 9);
		r = edu_dma(&e, dma + PAGE, EDU_BUF, EDU_DMA_LEN, false);
		if (r == 0)
			r = edu_dma(&e, EDU_BUF, rdma[1], EDU_DMA_LEN, true);
		ok(r == 0 && same(peer + PAGE, ram[1], EDU_DMA_LEN),
		   "edu copies peer memory -> device -> RAM, bytes match");
		dmasplit_unmap(dev, rdma[0], PAGE, DMASPLIT_BIDIRECTIONAL, 0);
		dmasplit_unmap(dev, rdma[1], PAGE, DMASPLIT_BIDIRECTIONAL, 0);
	}
	free(ram[0]);
	free(ram[1]);
	edu_close(&e);
unmap:
	dmasplit_unmap(dev, dma, 2 * PAGE, DMASPLIT_BIDIRECTIONAL, 0);
out:
	dmasplit_dev_close(dev);
}

static void vfio_bar_peer(struct state *s)
{
	struct dmasplit_dev *nvme = NULL, *dev = NULL;
	struct dmasplit_iova *iova = NULL;
	volatile uint8_t *bar = NULL;
	struct edu e = { 0 };
	uint8_t *ram = NULL;
	uint64_t dma = 0, rdma = 0;
	char spec[96];
	int r;

	r = bind(s->edu, "vfio-pci", "DMA");
	if (r == 0)
		r = bind(s->nvme, "vfio-pci", NULL);
	ok(r == 0, "edu and the NVMe bound to vfio-pci (%d)", r);
	if (r < 0)
		return;
	snprintf(spec, sizeof(spec), "%s,vfio=type1", s->nvme);
	r = dmasplit_dev_open(s->ctx, spec, &nvme);
	if (r == 0)
		r = vfio_bar(nvme, VFIO_PCI_BAR0_REGION_INDEX + CMB_BAR, BAR_MAP,
			     &bar);
	ok(r == 0, "the CMB (BAR%d) is mapped through the NVMe's VFIO device file (%d)",
	   CMB_BAR, r);
	if (r < 0)
		goto out;
	set_command(s->nvme, 0x2);
	r = dmasplit_peer_add(s->ctx, s->nvme, CMB_BAR, 0, (void *)bar,
			      BAR_MAP);
	ok(r == 0, "dmasplit_peer_add registers the BAR mapping (%d)", r);
	if (r < 0)
		goto out;

	snprintf(spec, sizeof(spec), "%s,mask=64,vfio=type1", s->edu);
	r = dmasplit_dev_open(s->ctx, spec, &dev);
	if (r == 0)
		r = edu_open_vfio(dev, &e);
	ok(r == 0, "type1: edu opens (%d)", r);
	if (r < 0)
		goto remove;
	ram = aligned_alloc(PAGE, PAGE);
	pattern(ram, EDU_DMA_LEN, 21);
	r = dmasplit_map(dev, (void *)(bar + PAGE), PAGE, DMASPLIT_FROM_DEVICE,
			 0, &dma);
	if (r == 0)
		r = dmasplit_map(dev, ram, PAGE, DMASPLIT_TO_DEVICE, 0, &rdma);
	ok(r == 0, "type1: the VFIO BAR mapping maps on edu, at IOVA 0x%" PRIx64 " (%d)",
	   dma, r);
	if (r == 0) {
		r = edu_dma(&e, rdma, EDU_BUF, EDU_DMA_LEN, false);
		if (r == 0)
			r = edu_dma(&e, EDU_BUF, dma + 64, EDU_DMA_LEN, true);
		ok(r == 0 && same(bar + PAGE + 64, ram, EDU_DMA_LEN),
		   "type1: edu writes into the CMB at the IOVA; the BAR mapping shows the bytes");
		dmasplit_unmap(dev, dma, PAGE, DMASPLIT_FROM_DEVICE, 0);
		dmasplit_unmap(dev, rdma, PAGE, DMASPLIT_TO_DEVICE, 0);
	}
	r = dmasplit_iova_alloc(dev, PAGE, 0, &iova);
	if (r == 0)
		r = dmasplit_iova_link(iova, 0, (void *)(bar + 2 * PAGE), PAGE,
				       DMASPLIT_FROM_DEVICE, 0);
	if (r == 0)
		r = dmasplit_iova_sync(iova, 0, PAGE);
	if (r == 0) {
		pattern(ram, EDU_DMA_LEN, 33);
		r = dmasplit_map(dev, ram, PAGE, DMASPLIT_TO_DEVICE, 0, &rdma);
		if (r == 0)
			r = edu_dma(&e, rdma, EDU_BUF, EDU_DMA_LEN, false);
		if (r == 0)
			r = edu_dma(&e, EDU_BUF, dmasplit_iova_addr(iova),
				    EDU_DMA_LEN, true);
		dmasplit_unmap(dev, rdma, PAGE, DMASPLIT_TO_DEVICE, 0);
	}
	ok(r == 0 && same(bar + 2 * PAGE, ram, EDU_DMA_LEN),
	   "type1: the BAR linked into a window is written by edu (%d)", r);
	if (iova)
		dmasplit_iova_unlink(iova, 0, PAGE, DMASPLIT_FROM_DEVICE, 0);
	dmasplit_iova_destroy(iova);
	edu_close(&e);
	dmasplit_dev_close(dev);
	dev = NULL;

	if (iface_skipped("iommufd"))
		goto remove;
	snprintf(spec, sizeof(spec), "%s,mask=64,vfio=iommufd", s->edu);
	r = dmasplit_dev_open(s->ctx, spec, &dev);
	ok(r == 0, "iommufd: edu opens (%d)", r);
	if (r == 0) {
		dma = 0;
		r = dmasplit_map(dev, (void *)(bar + PAGE), PAGE,
				 DMASPLIT_FROM_DEVICE, 0, &dma);
		ok(r == -EREMOTEIO && !dma,
		   "iommufd: the VFIO BAR mapping is refused with -EREMOTEIO (%d)",
		   r);
		dmasplit_dev_close(dev);
	}
remove:
	ok(dmasplit_peer_remove(s->ctx, (void *)bar) == 0,
	   "dmasplit_peer_remove forgets the BAR mapping");
out:
	free(ram);
	if (bar)
		munmap((void *)bar, BAR_MAP);
	dmasplit_dev_close(nvme);
}

int main(void)
{
	struct state s = { .edu = getenv("DMASPLIT_VM_EDU"),
			   .nvme = getenv("DMASPLIT_VM_NVME") };
	struct dmasplit_dev *prov = NULL;
	enum dmasplit_p2p_map want;
	void *peer = NULL;
	uint64_t peer_dma = 0;
	char drv[64];
	bool shared;
	int r, want_dist = -1;

	if (!s.edu || !*s.edu || !s.nvme || !*s.nvme) {
		printf("1..0 # SKIP not in the VM (DMASPLIT_VM_EDU, DMASPLIT_VM_NVME)\n");
		return 0;
	}
	if (dmasplit_ctx_new(&s.ctx) < 0)
		return 1;
	note("edu %s, NVMe %s", s.edu, s.nvme);
	driver_of(s.nvme, drv, sizeof(drv));
	ok(!strcmp(drv, "nvme"), "the NVMe is bound to its kernel driver (%s)",
	   drv);

	want = expected(s.nvme, s.edu, &want_dist);
	r = dmasplit_p2p_distance(s.ctx, s.nvme, s.edu, &s.map);
	s.dist = r;
	ok(s.map == want && (want == DMASPLIT_P2P_NOT_SUPPORTED ?
			     r == -EREMOTEIO : r == want_dist),
	   "verdict for (%s, %s): %s, %d; the kernel's rules say %s, %d",
	   s.nvme, s.edu, map_name(s.map), r, map_name(want),
	   want == DMASPLIT_P2P_NOT_SUPPORTED ? -EREMOTEIO : want_dist);

	shared = same_group(s.edu, s.nvme);
	if (shared)
		note("edu and the NVMe share an IOMMU group: VFIO cannot drive edu while the NVMe has its kernel driver, nor the two through separate containers");

	if (shared) {
		skip("p2pmem on a translated client",
		     "edu and the NVMe share an IOMMU group");
	} else if (provide(&s, &prov, &peer, &peer_dma) == 0) {
		translated_p2pmem(&s, peer);
		dmasplit_free_coherent(prov, 4 * PAGE, peer, peer_dma);
		dmasplit_dev_close(prov);
	}

	r = untranslated_setup(&s, shared);
	ok(r == 0, "edu on uio_pci_generic in an identity group%s (%d)",
	   shared ? ", the NVMe back on its driver in it" : "", r);
	if (r == 0 && provide(&s, &prov, &peer, &peer_dma) == 0) {
		peer_memory_not_in_a_child(peer);
		untranslated(&s, peer, peer_dma);
		dmasplit_free_coherent(prov, 4 * PAGE, peer, peer_dma);
		dmasplit_dev_close(prov);
	}

	if (shared)
		skip("a BAR mapped through VFIO on a translated client",
		     "edu and the NVMe share an IOMMU group");
	else
		vfio_bar_peer(&s);
	dmasplit_ctx_unref(s.ctx);
	return tap_end();
}
