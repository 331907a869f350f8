// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * PCI peer-to-peer reachability, decided from sysfs the way Linux 6.12
 * decides it in drivers/pci/p2pdma.c (calc_map_type_and_dist() and its
 * helpers), so that the library never hands a client an address the
 * kernel's own rules would refuse:
 *
 * - the upstream bridges of a device are the PCI devices its directory
 *   under /sys/devices sits in (the kernel's pci_upstream_bridge(); a
 *   device on a root bus has none);
 * - with a common upstream bridge, the distance counts the hops from each
 *   device up to it, and an ACS P2P request redirect, completion redirect
 *   or egress control bit on any device of the path (the common bridge
 *   included, as the kernel walks it) sends the traffic through the host
 *   bridge;
 * - traffic through the host bridge needs a CPU the kernel trusts with it
 *   (AMD family 17h, Zen, or newer) or a host bridge on its allow-list.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Configuration space layout (include/uapi/linux/pci_regs.h). */
#define CFG_STATUS		0x06
#define  CFG_STATUS_CAP_LIST	0x10
#define CFG_CAP_PTR		0x34
#define CFG_SIZE		256
#define CFG_EXP_SIZE		4096
#define CAP_ID_EXP		0x10
#define  EXP_FLAGS		0x02
#define  EXP_TYPE_ROOT_PORT	0x4
#define EXT_CAP_ID_ACS		0x000d
#define  ACS_CTRL		0x06
#define  ACS_RR			0x0004	/* P2P request redirect */
#define  ACS_CR			0x0008	/* P2P completion redirect */
#define  ACS_EC			0x0020	/* P2P egress control */

#define P2P_MAX_DEPTH	32

/*
 * One device and its upstream bridges: node i is the prefix of path of
 * length len[i] (node 0 the device itself), so two nodes of two chains are
 * the same device when their prefixes are equal.  host is the length of
 * the root bus's directory (pciDDDD:BB), which names the host bridge.
 */
struct chain {
	char path[PATH_MAX];
	size_t len[P2P_MAX_DEPTH];
	unsigned int n;
	size_t host;
};

/* The longest PCI name and its NUL: a 32-bit domain, as the kernel
 * prints it ("%04x:%02x:%02x.%d"). */
#define PCI_NAME_SIZE sizeof("ffffffff:ff:1f.7")

/* A PCI function's name as the kernel gives it: DDDD:BB:DD.F, the domain
 * of four hexadecimal digits, or more where four do not hold it (VMD's
 * domains start at 10000), never with a zero ahead of those. */
static bool is_pci_name(const char *s, size_t len)
{
	static const char tail[] = ":xx:xx.x";
	size_t digits = len - (sizeof(tail) - 1), i;

	if (len < sizeof(tail) - 1 + 4 || len > PCI_NAME_SIZE - 1 ||
	    (digits > 4 && s[0] == '0'))
		return false;
	for (i = 0; i < len; i++) {
		char want = i < digits ? 'x' : tail[i - digits];

		if (want == 'x' ? !isxdigit((unsigned char)s[i])
				: s[i] != want)
			return false;
	}
	return true;
}

/* The address of node i, in buf (PCI_NAME_SIZE bytes). */
static const char *node_name(const struct chain *c, unsigned int i,
			     char *buf)
{
	const char *end = c->path + c->len[i], *p = end;

	while (p > c->path && p[-1] != '/')
		p--;
	memcpy(buf, p, (size_t)(end - p));
	buf[end - p] = '\0';
	return buf;
}

static bool same_node(const struct chain *a, unsigned int i,
		      const struct chain *b, unsigned int j)
{
	return a->len[i] == b->len[j] && !memcmp(a->path, b->path, a->len[i]);
}

/* Whether the directory path[0..end) is a root bus's: pciDDDD:BB, the
 * domain of four hexadecimal digits or more (VMD's have five). */
static bool is_root_bus_dir(const char *path, size_t end)
{
	const char *p = path + end, *e = path + end;
	size_t digits = 0;

	while (p > path && p[-1] != '/')
		p--;
	if (e - p < 10 || strncmp(p, "pci", 3))
		return false;
	for (p += 3; p < e && isxdigit((unsigned char)*p); p++)
		digits++;
	return digits >= 4 && e - p == 3 && p[0] == ':' &&
	       isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]);
}

static _must_check_ int resolve(struct dmasplit_ctx *ctx, const char *name,
				struct chain *c)
{
	char link[PATH_MAX];
	size_t end;
	int n;

	n = snprintf(link, sizeof(link), "%s/bus/pci/devices/%s",
		     ctx->sysfs_root, name);
	if (n < 0 || (size_t)n >= sizeof(link))
		return -ENAMETOOLONG;
	if (!realpath(link, c->path)) {
		if (errno == ENOENT || errno == ENOTDIR) {
			log_err(ctx, "no PCI device %s under %s", name,
				ctx->sysfs_root);
			return -ENODEV;
		}
		n = -errno;
		log_err(ctx, "cannot resolve %s: %s", link, strerror(-n));
		return n;
	}
	c->n = 0;
	end = strlen(c->path);
	for (;;) {
		const char *slash = c->path + end;
		size_t start;

		while (slash > c->path && slash[-1] != '/')
			slash--;
		start = (size_t)(slash - c->path);
		if (!is_pci_name(slash, end - start))
			break;
		if (c->n == P2P_MAX_DEPTH) {
			log_err(ctx, "%s: more than %d PCI levels in %s", name,
				P2P_MAX_DEPTH, c->path);
			return -EIO;
		}
		c->len[c->n++] = end;
		if (!start)
			break;
		end = start - 1;
	}
	if (!c->n) {
		log_err(ctx, "%s resolves to %s, which is not a PCI device directory",
			name, c->path);
		return -EIO;
	}
	/* The kernel names the link after the device it leads to, and
	 * puts every PCI device below a root bus directory, pciDDDD:BB:
	 * anything else would answer for another device. */
	if (strlen(name) >= c->len[0] ||
	    strcasecmp(c->path + c->len[0] - strlen(name), name) ||
	    c->path[c->len[0] - strlen(name) - 1] != '/' ||
	    !is_root_bus_dir(c->path, end)) {
		log_err(ctx, "%s resolves to %s, which is not where the kernel puts it",
			name, c->path);
		return -EIO;
	}
	c->host = end;
	return 0;
}

/* Reads a device's configuration space (up to 4 KiB) into cfg, *size
 * the bytes there are.  Unprivileged readers see only the first 64 bytes
 * of a longer file, which hold the header (BARs included) but not the
 * capabilities: header_only says whether that is enough. */
static _must_check_ int read_config(struct dmasplit_ctx *ctx, const char *dir,
				    const char *name, uint8_t *cfg,
				    size_t *size, bool header_only)
{
	char path[PATH_MAX + 8];
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd, r;

	snprintf(path, sizeof(path), "%s/config", dir);
	r = sysfs_open_file(path, O_RDONLY, &fd);
	if (r < 0) {
		log_err(ctx, "cannot read the configuration space of %s: %s: %s",
			name, path, r == -EINVAL ? "not a regular file"
						 : strerror(-r));
		return r == -ENOENT || r == -EINVAL ? -EIO : r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		log_err(ctx, "cannot read the configuration space of %s: %s: %s",
			name, path, strerror(-r));
		return r;
	}
	while (got < CFG_EXP_SIZE) {
		n = pread(fd, cfg + got, CFG_EXP_SIZE - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			close(fd);
			log_err(ctx, "cannot read the configuration space of %s: %s: %s",
				name, path, strerror(-r));
			return r;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (header_only && got >= 0x40) {
		*size = got;
		return 0;
	}
	if (got < (size_t)st.st_size && got < CFG_EXP_SIZE) {
		log_err(ctx, "%s: only %zu of %lld bytes of %s are readable: its capabilities (ACS, PCIe port type) are shown to root only",
			name, got, (long long)st.st_size, path);
		return -EACCES;
	}
	if (got < CFG_SIZE) {
		log_err(ctx, "%s: %s has %zu bytes, less than the %d of a PCI configuration space",
			name, path, got, CFG_SIZE);
		return -EIO;
	}
	*size = got;
	return 0;
}

static unsigned int cfg16(const uint8_t *cfg, size_t off)
{
	return cfg[off] | (unsigned int)cfg[off + 1] << 8;
}

static uint32_t cfg32(const uint8_t *cfg, size_t off)
{
	return cfg16(cfg, off) | (uint32_t)cfg16(cfg, off + 2) << 16;
}

/* The kernel's pci_find_ext_capability(): 0 when there is none. */
static size_t find_ext_cap(const uint8_t *cfg, size_t size, unsigned int id)
{
	int ttl = (CFG_EXP_SIZE - CFG_SIZE) / 8;
	size_t pos = CFG_SIZE;
	uint32_t header;

	if (size < CFG_EXP_SIZE)
		return 0;
	header = cfg32(cfg, pos);
	if (header == 0 || header == 0xffffffff)
		return 0;
	while (ttl-- > 0) {
		if ((header & 0xffff) == id && pos != 0)
			return pos;
		pos = (header >> 20) & 0xffc;
		if (pos < CFG_SIZE)
			break;
		header = cfg32(cfg, pos);
	}
	return 0;
}

/* The PCIe port type from the standard capability list, -1 for none. */
static int pcie_type(const uint8_t *cfg)
{
	int ttl = 48;
	size_t pos;

	if (!(cfg16(cfg, CFG_STATUS) & CFG_STATUS_CAP_LIST))
		return -1;
	pos = cfg[CFG_CAP_PTR] & 0xfc;
	while (pos >= 0x40 && ttl-- > 0) {
		if (cfg[pos] == CAP_ID_EXP)
			return (int)(cfg16(cfg, pos + EXP_FLAGS) >> 4) & 0xf;
		pos = cfg[pos + 1] & 0xfc;
	}
	return -1;
}

/* The kernel's pci_bridge_has_acs_redir(), on any device of the path. */
static _must_check_ int acs_redirects(struct dmasplit_ctx *ctx,
				      const struct chain *c, unsigned int i,
				      bool *redir)
{
	uint8_t cfg[CFG_EXP_SIZE];
	char dir[PATH_MAX], name[PCI_NAME_SIZE];
	size_t size, pos;
	int r;

	memcpy(dir, c->path, c->len[i]);
	dir[c->len[i]] = '\0';
	r = read_config(ctx, dir, node_name(c, i, name), cfg, &size, false);
	if (r < 0)
		return r;
	pos = find_ext_cap(cfg, size, EXT_CAP_ID_ACS);
	/* A control register past the end of the space reads as all
	 * ones, as the kernel's config reads answer there: redirected. */
	*redir = pos && (pos + ACS_CTRL + 2 > size ||
			 (cfg16(cfg, pos + ACS_CTRL) &
			  (ACS_RR | ACS_CR | ACS_EC)));
	return 0;
}

/*
 * The kernel's pci_p2pdma_whitelist[] (drivers/pci/p2pdma.c, Linux 6.12):
 * host bridges known to route peer traffic between their root ports.
 */
static const struct {
	uint16_t vendor;
	uint16_t device;
	bool same_host_bridge;	/* only between devices below this one */
} allowed_host_bridges[] = {
	/* Intel Xeon E5/Core i7 */
	{ 0x8086, 0x3c00, true },
	{ 0x8086, 0x3c01, true },
	/* Intel Xeon E7 v3/Xeon E5 v3/Core i7 */
	{ 0x8086, 0x2f00, true },
	{ 0x8086, 0x2f01, true },
	/* Intel Skylake-E */
	{ 0x8086, 0x2030, false },
	{ 0x8086, 0x2031, false },
	{ 0x8086, 0x2032, false },
	{ 0x8086, 0x2033, false },
	{ 0x8086, 0x2020, false },
	{ 0x8086, 0x09a2, false },
};

struct host_bridge {
	char name[PCI_NAME_SIZE];	/* "" when the root bus has none */
	uint16_t vendor, device;
};

static _must_check_ int read_hex_attr(struct dmasplit_ctx *ctx, const char *dir,
				      const char *attr, uint16_t *out)
{
	char path[PATH_MAX + 16], buf[32], *end;
	unsigned long v;
	ssize_t n;
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", dir, attr);
	r = sysfs_open_file(path, O_RDONLY, &fd);
	if (r < 0) {
		log_err(ctx, "cannot read %s: %s", path,
			r == -EINVAL ? "not a regular file" : strerror(-r));
		return r == -ENOENT || r == -EINVAL ? -EIO : r;
	}
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	r = n < 0 ? -errno : 0;
	close(fd);
	if (r < 0) {
		log_err(ctx, "cannot read %s: %s", path, strerror(-r));
		return r;
	}
	buf[n] = '\0';
	errno = 0;
	v = strtoul(buf, &end, 16);
	if (errno || end == buf || (*end && *end != '\n') || v > 0xffff) {
		log_err(ctx, "unexpected content '%.*s' in %s", (int)strcspn(buf, "\n"),
			buf, path);
		return -EIO;
	}
	*out = (uint16_t)v;
	return 0;
}

/*
 * The kernel's pci_host_bridge_dev(): the first device of the root bus if
 * it is function 00.0 or a PCIe root port.  Devices are enumerated in
 * devfn order, so the first is the one with the lowest devfn.
 */
static _must_check_ int find_host_bridge(struct dmasplit_ctx *ctx,
					 const struct chain *c,
					 struct host_bridge *hb)
{
	char dir[PATH_MAX], sub[PATH_MAX + PCI_NAME_SIZE + 1];
	char first[PCI_NAME_SIZE] = "";
	unsigned int best = UINT_MAX;
	struct dirent *d;
	DIR *dp;
	int r;

	memcpy(dir, c->path, c->host);
	dir[c->host] = '\0';
	memset(hb, 0, sizeof(*hb));
	dp = opendir(dir);
	if (!dp) {
		r = -errno;
		log_err(ctx, "cannot list %s: %s", dir, strerror(-r));
		return r;
	}
	while ((d = readdir(dp))) {
		unsigned int dom, bus, slot, fn;

		if (!is_pci_name(d->d_name, strlen(d->d_name)) ||
		    sscanf(d->d_name, "%x:%x:%x.%x", &dom, &bus, &slot,
			   &fn) != 4)
			continue;
		if ((slot << 3 | fn) < best) {
			best = slot << 3 | fn;
			strcpy(first, d->d_name);
		}
	}
	closedir(dp);
	if (!first[0])
		return 0;
	snprintf(sub, sizeof(sub), "%s/%s", dir, first);
	if (best != 0) {
		uint8_t cfg[CFG_EXP_SIZE];
		size_t size;

		r = read_config(ctx, sub, first, cfg, &size, false);
		if (r < 0)
			return r;
		if (pcie_type(cfg) != EXP_TYPE_ROOT_PORT)
			return 0;
	}
	strcpy(hb->name, first);
	if ((r = read_hex_attr(ctx, sub, "vendor", &hb->vendor)) < 0 ||
	    (r = read_hex_attr(ctx, sub, "device", &hb->device)) < 0)
		return r;
	return 0;
}

static bool host_bridge_allowed(const struct host_bridge *hb, bool same)
{
	size_t i;

	if (!hb->name[0])
		return false;
	for (i = 0; i < sizeof(allowed_host_bridges) /
			sizeof(allowed_host_bridges[0]); i++) {
		if (allowed_host_bridges[i].vendor != hb->vendor ||
		    allowed_host_bridges[i].device != hb->device)
			continue;
		return same || !allowed_host_bridges[i].same_host_bridge;
	}
	return false;
}

/*
 * The kernel's cpu_supports_p2pdma(): on x86, any AMD CPU of family 17h
 * (Zen) or newer; nothing elsewhere.  The CPU is read from proc/cpuinfo
 * beside the sysfs root (/proc/cpuinfo for /sys), so that a fake tree can
 * carry its own.  An unreadable cpuinfo counts as a CPU without support.
 */
#if defined(__x86_64__) || defined(__i386__)
/* A decimal family number, or -1: one that does not fit is no family,
 * not the largest. */
static long cpu_family(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || v < 0 || (*end && *end != '\n'))
		return -1;
	return v;
}
#endif

static bool cpu_supports_p2pdma(struct dmasplit_ctx *ctx, char *what,
				size_t len)
{
#if defined(__x86_64__) || defined(__i386__)
	char path[PATH_MAX], line[256], vendor[64] = "";
	long family = -1;
	FILE *f = NULL;
	int fd, r;

	snprintf(path, sizeof(path), "%s/../proc/cpuinfo", ctx->sysfs_root);
	r = sysfs_open_file(path, O_RDONLY, &fd);
	if (r == 0 && !(f = fdopen(fd, "r"))) {
		r = -errno;
		close(fd);
	}
	if (r < 0) {
		snprintf(what, len, "CPU unknown: %s",
			 r == -EINVAL ? "cpuinfo is not a regular file"
				      : strerror(-r));
		return false;
	}
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!colon)
			continue;
		if (!strncmp(line, "processor", 9) && (vendor[0] || family >= 0))
			break;	/* the first CPU's block is enough */
		if (!strncmp(line, "vendor_id", 9))
			sscanf(colon + 1, " %63s", vendor);
		else if (!strncmp(line, "cpu family", 10))
			family = cpu_family(colon + 1);
	}
	fclose(f);
	snprintf(what, len, "CPU %s family %#lx", vendor[0] ? vendor : "?",
		 family);
	return !strcmp(vendor, "AuthenticAMD") && family >= 0x17;
#else
	(void)ctx;
	snprintf(what, len, "CPU architecture without peer-to-peer rule");
	return false;
#endif
}

static void host_bridge_text(const struct host_bridge *hb, char *buf,
			     size_t len)
{
	if (hb->name[0])
		snprintf(buf, len, "%s (%04x:%04x)", hb->name, hb->vendor,
			 hb->device);
	else
		snprintf(buf, len, "(none at 00.0 or a root port)");
}

/* The kernel's list of redirecting ports: "A;B;C", cut when full. */
static void add_name(char *list, size_t size, const char *name)
{
	size_t len = strlen(list);

	if (len + 1 + strlen(name) < size)
		sprintf(list + len, "%s%s", len ? ";" : "", name);
}

int p2p_calc(struct dmasplit_ctx *ctx, const char *provider,
	     const char *client, int *dist, enum dmasplit_p2p_map *map,
	     char *why, size_t why_len)
{
	struct chain *a, *b;
	char acs[160] = "", cpu[96], hbt_a[64], hbt_b[64], name[PCI_NAME_SIZE];
	struct host_bridge hb_a, hb_b;
	unsigned int i, j, common = 0, ja = 0;
	bool found = false, redir, same_host, ok;
	int dist_b = 0, r;
	char no_why[1];

	/* A backend (host->p2p_distance) may not want the reason. */
	if (!why || !why_len) {
		why = no_why;
		why_len = sizeof(no_why);
	}
	why[0] = '\0';
	/* Names go into sysfs paths: only a PCI name may. */
	if (!provider || !client || !is_pci_name(provider, strlen(provider)) ||
	    !is_pci_name(client, strlen(client))) {
		log_err(ctx, "peer-to-peer distance of '%s' and '%s': not PCI names (DDDD:BB:DD.F)",
			provider ? provider : "(null)",
			client ? client : "(null)");
		return -EINVAL;
	}
	a = malloc(sizeof(*a));
	b = malloc(sizeof(*b));
	if (!a || !b) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = resolve(ctx, provider, a)) < 0 ||
	    (r = resolve(ctx, client, b)) < 0)
		goto out;

	/* Walk up from the provider; for each of its nodes, look for it
	 * above the client.  ACS is checked on the provider's nodes up to
	 * and including the common one, then on the client's below it. */
	for (i = 0; i < a->n && !found; i++) {
		for (j = 0; j < b->n; j++) {
			if (same_node(a, i, b, j)) {
				found = true;
				common = i;
				ja = j;
				break;
			}
		}
	}
	if (found) {
		for (i = 0; i <= common; i++) {
			if ((r = acs_redirects(ctx, a, i, &redir)) < 0)
				goto out;
			if (redir)
				add_name(acs, sizeof(acs), node_name(a, i, name));
		}
		for (j = 0; j < ja; j++) {
			if ((r = acs_redirects(ctx, b, j, &redir)) < 0)
				goto out;
			if (redir)
				add_name(acs, sizeof(acs), node_name(b, j, name));
		}
		*dist = (int)(common + ja);
		if (!acs[0]) {
			*map = DMASPLIT_P2P_BUS_ADDR;
			snprintf(why, why_len, "below common upstream bridge %s",
				 node_name(a, common, name));
			r = 0;
			goto out;
		}
	} else {
		/* As the kernel counts when nothing is shared: every level
		 * of both paths. */
		dist_b = (int)b->n;
		*dist = (int)a->n + dist_b;
	}

	if (cpu_supports_p2pdma(ctx, cpu, sizeof(cpu))) {
		*map = DMASPLIT_P2P_THRU_HOST_BRIDGE;
		snprintf(why, why_len, "%s%s, so through the host bridge, which a %s routes peer traffic through",
			 acs[0] ? "ACS redirect on " : "no common upstream bridge",
			 acs, cpu);
		r = 0;
		goto out;
	}
	same_host = a->host == b->host && !memcmp(a->path, b->path, a->host);
	if ((r = find_host_bridge(ctx, a, &hb_a)) < 0)
		goto out;
	if (same_host)
		hb_b = hb_a;
	else if ((r = find_host_bridge(ctx, b, &hb_b)) < 0)
		goto out;
	ok = same_host ? host_bridge_allowed(&hb_a, true)
		       : host_bridge_allowed(&hb_a, false) &&
			 host_bridge_allowed(&hb_b, false);
	host_bridge_text(&hb_a, hbt_a, sizeof(hbt_a));
	host_bridge_text(&hb_b, hbt_b, sizeof(hbt_b));
	*map = ok ? DMASPLIT_P2P_THRU_HOST_BRIDGE : DMASPLIT_P2P_NOT_SUPPORTED;
	snprintf(why, why_len, "%s%s, so through host bridge %s%s%s, which %s peer traffic (%s)",
		 acs[0] ? "ACS redirect on " : "no common upstream bridge",
		 acs, hbt_a, same_host ? "" : " and ", same_host ? "" : hbt_b,
		 ok ? "is known to route" :
		 same_host ? "is not known to route" :
			     "are not known to route between them",
		 cpu);
	r = 0;
out:
	free(a);
	free(b);
	return r;
}

int p2p_bar_bus(const struct dmasplit_host *host, const char *name,
		unsigned int bar, uint64_t *bus)
{
	CANCEL_DEFERRED;
	struct dmasplit_ctx *ctx = ctx_from_host(host);
	uint8_t cfg[CFG_EXP_SIZE];
	char dir[PATH_MAX];
	size_t size = 0, off = 0x10 + 4 * (size_t)bar;
	uint64_t v;
	int n, r;

	if (bar > 5)
		return -EINVAL;
	n = snprintf(dir, sizeof(dir), "%s/bus/pci/devices/%s",
		     ctx->sysfs_root, name);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -ENAMETOOLONG;
	/* The BARs are in the first 64 bytes, which anyone may read. */
	r = read_config(ctx, dir, name, cfg, &size, true);
	if (r < 0)
		return r;
	v = cfg32(cfg, off);
	if (v & 0x1) {
		log_err(ctx, "%s: BAR %u is an I/O BAR, not memory", name, bar);
		return -EINVAL;
	}
	if ((v & 0x6) == 0x4) {
		if (bar == 5) {
			log_err(ctx, "%s: BAR 5 claims 64 bits", name);
			return -EIO;
		}
		v |= (uint64_t)cfg32(cfg, off + 4) << 32;
	}
	*bus = v & ~(uint64_t)0xf;
	return 0;
}

static const char *map_name(enum dmasplit_p2p_map map)
{
	switch (map) {
	case DMASPLIT_P2P_BUS_ADDR:
		return "bus address";
	case DMASPLIT_P2P_THRU_HOST_BRIDGE:
		return "through the host bridge";
	default:
		return "not supported";
	}
}

static _must_check_ int pci_spec(struct dmasplit_ctx *ctx, const char *spec,
				 struct dmasplit_desc *desc)
{
	int r = spec_parse(ctx, spec, desc);

	if (r < 0)
		return r;
	if (desc->bus != DMASPLIT_BUS_PCI) {
		log_err(ctx, "peer-to-peer DMA needs PCI devices, not '%s'",
			spec);
		return -EINVAL;
	}
	return 0;
}

DMASPLIT_EXPORT int dmasplit_p2p_distance(struct dmasplit_ctx *ctx,
					  const char *provider,
					  const char *client,
					  enum dmasplit_p2p_map *map)
{
	CANCEL_DEFERRED;
	struct dmasplit_desc p, c;
	enum dmasplit_p2p_map m = DMASPLIT_P2P_NOT_SUPPORTED;
	char why[512];
	int dist = 0, r;

	if (!ctx || !provider || !client || !map)
		return -EINVAL;
	if ((r = pci_spec(ctx, provider, &p)) < 0 ||
	    (r = pci_spec(ctx, client, &c)) < 0)
		return r;
	r = p2p_calc(ctx, p.name, c.name, &dist, &m, why, sizeof(why));
	if (r < 0)
		return r;
	*map = m;
	if (m == DMASPLIT_P2P_NOT_SUPPORTED) {
		log_err(ctx, "%s cannot reach peer memory of %s: %s", c.name,
			p.name, why);
		return -EREMOTEIO;
	}
	log_dbg(ctx, "%s reaches peer memory of %s by %s, distance %d: %s",
		c.name, p.name, map_name(m), dist, why);
	return dist;
}
