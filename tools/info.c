// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit info - what the library makes of a device: the description,
 * every backend's probe, the choice, and the device as the chosen backend
 * opens it, as text or JSON.  bench --json reports a device it cannot
 * open through the same stages.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmasplit/dmasplit.h>

#include "json.h"
#include "tool.h"

/* ------------------------------------------------------------------ */
/* info: gathering                                                     */

struct probe_result {
	struct dmasplit_backend *backend;
	int err;		/* 0, or the probe's negative errno */
	int score;
};

enum info_stage {
	STAGE_DESCRIBE,
	STAGE_SELECT,
	STAGE_OPEN,
	STAGE_GET_INFO,
	STAGE_DONE
};

static const char *const stage_names[] = {
	[STAGE_DESCRIBE] = "describe",
	[STAGE_SELECT] = "select",
	[STAGE_OPEN] = "open",
	[STAGE_GET_INFO] = "get_info",
};

struct report {
	const char *spec;
	const char *forced;	/* backend name or UUID, or NULL */
	const char *forced_by;	/* "--backend" or "DMASPLIT_BACKEND" */
	enum info_stage stage;	/* the one that failed, or STAGE_DONE */
	int err;
	struct dmasplit_desc desc;
	unsigned int p2pmem_attrs;	/* p2pmem_attrs' for desc */
	struct probe_result *probes;
	size_t nprobes;
	struct dmasplit_backend *selected;
	struct dmasplit_dev *dev;
	struct dmasplit_dev_info info;
	/* Every usable range (dev_info holds the first few only). */
	struct dmasplit_range *ranges;
	unsigned int nranges;
	/* info --peer: how the peer reaches this device's memory. */
	const char *peer;
	int peer_dist;		/* distance, or the negative errno */
	enum dmasplit_p2p_map peer_map;
};

/* All the ranges: asked for their number first, then for them. */
static int get_ranges(struct report *rep)
{
	unsigned int n = 0;
	int r;

	r = dmasplit_dev_get_ranges(rep->dev, NULL, &n);
	if (r == 0 || r != -ENOSPC)
		return r;
	rep->ranges = calloc(n, sizeof(*rep->ranges));
	if (!rep->ranges)
		return -ENOMEM;
	r = dmasplit_dev_get_ranges(rep->dev, rep->ranges, &n);
	if (r == 0)
		rep->nranges = n;
	return r;
}

/* The ranges to show: all of them where there were more than dev_info
 * holds, else dev_info's. */
static const struct dmasplit_range *report_ranges(const struct report *rep)
{
	return rep->ranges ? rep->ranges : rep->info.ranges;
}

static unsigned int report_nranges(const struct report *rep)
{
	if (rep->ranges)
		return rep->nranges;
	return rep->info.num_ranges < DMASPLIT_MAX_RANGES ?
	       rep->info.num_ranges : DMASPLIT_MAX_RANGES;
}

static int probe_all(struct dmasplit_ctx *ctx, struct report *rep)
{
	struct dmasplit_backend *be;
	struct probe_result *p;
	size_t n = 0;

	for (be = NULL; (be = dmasplit_backend_next(ctx, be));)
		n++;
	rep->probes = calloc(n ? n : 1, sizeof(*rep->probes));
	if (!rep->probes)
		return -ENOMEM;
	for (be = NULL; (be = dmasplit_backend_next(ctx, be));) {
		p = &rep->probes[rep->nprobes++];
		p->backend = be;
		p->err = dmasplit_backend_probe(be, &rep->desc, &p->score);
	}
	return 0;
}

static const struct probe_result *probe_of(const struct report *rep,
					   const struct dmasplit_backend *be)
{
	size_t i;

	for (i = 0; i < rep->nprobes; i++)
		if (rep->probes[i].backend == be)
			return &rep->probes[i];
	return NULL;
}

/* Each step runs only if the one before it worked; the report keeps
 * where it stopped, so that everything learnt so far is still shown. */
static void gather(struct dmasplit_ctx *ctx, struct report *rep)
{
	const struct probe_result *forced_probe;
	int r;

	rep->stage = STAGE_DESCRIBE;
	rep->desc.size = sizeof(rep->desc);
	r = dmasplit_describe(ctx, rep->spec, &rep->desc);
	if (r < 0)
		goto out;
	rep->p2pmem_attrs = p2pmem_attrs(ctx, &rep->desc);
	r = probe_all(ctx, rep);
	if (r < 0)
		goto out;

	rep->stage = STAGE_SELECT;
	/* A forced backend that is not loaded is the tool's to say, in one
	 * line (info_fail_message()); selection would log it too. */
	if (rep->forced &&
	    dmasplit_backend_find(ctx, rep->forced, &rep->selected) < 0) {
		rep->selected = NULL;
		r = -ENODEV;
		goto out;
	}
	r = dmasplit_select(ctx, &rep->desc, &rep->selected);
	if (r < 0)
		goto out;
	/* The library opens with a forced backend whatever its probe says,
	 * and the open's error would hide that the probe said no. */
	forced_probe = rep->forced ? probe_of(rep, rep->selected) : NULL;
	if (forced_probe && forced_probe->err) {
		r = forced_probe->err;
		goto out;
	}

	/* Opened the way applications open it, selection included, rather
	 * than with the backend found above. */
	rep->stage = STAGE_OPEN;
	r = dmasplit_dev_open(ctx, rep->spec, &rep->dev);
	if (r < 0)
		goto out;

	rep->stage = STAGE_GET_INFO;
	rep->info.size = sizeof(rep->info);
	r = dmasplit_dev_get_info(rep->dev, &rep->info);
	if (r < 0)
		goto out;
	r = get_ranges(rep);
	if (r < 0)
		goto out;
	rep->stage = STAGE_DONE;
out:
	rep->err = r;
}

/* ------------------------------------------------------------------ */
/* info: text                                                          */

#define LABEL_WIDTH 17

static void field_str(const char *label, const char *value)
{
	printf("%-*s", LABEL_WIDTH, label);
	put_safe(value && *value ? value : "-");
	putchar('\n');
}

/* Values come from sysfs too: through put_safe, as field_str's. */
static void field(const char *label, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void field(const char *label, const char *fmt, ...)
{
	char *value;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&value, fmt, ap);
	va_end(ap);
	if (n < 0) {
		field_str(label, "? (out of memory)");
		return;
	}
	field_str(label, value);
	free(value);
}

static const char *bus_name(enum dmasplit_bus bus)
{
	switch (bus) {
	case DMASPLIT_BUS_SIM:
		return "sim";
	case DMASPLIT_BUS_PCI:
		return "pci";
	}
	return "unknown";
}

static const char *vfio_iface_name(enum dmasplit_vfio_iface iface)
{
	switch (iface) {
	case DMASPLIT_VFIO_AUTO:
		return "auto";
	case DMASPLIT_VFIO_IOMMUFD:
		return "iommufd";
	case DMASPLIT_VFIO_TYPE1:
		return "type1";
	}
	return "unknown";
}

static const char *iommu_class_name(enum dmasplit_iommu_class c)
{
	switch (c) {
	case DMASPLIT_IOMMU_UNKNOWN:
		break;
	case DMASPLIT_IOMMU_NONE:
		return "none";
	case DMASPLIT_IOMMU_TRANSLATED:
		return "translated";
	case DMASPLIT_IOMMU_IDENTITY:
		return "identity";
	case DMASPLIT_IOMMU_BLOCKED:
		return "blocked";
	case DMASPLIT_IOMMU_NO_DOMAIN:
		return "no-domain";
	case DMASPLIT_IOMMU_VFIO_NOIOMMU:
		return "vfio-noiommu";
	}
	return "unknown";
}

static const char *const dev_flag_names[] = {
	"windows", "translated", "coherent", "bounce", "untrusted", "dma-rw",
	"has-fd", "lazy-unlink", "more-ranges",
};

/* What an unlink leaves reachable, for devices with windows. */
static const char *unlink_mode(uint32_t flags)
{
	if (!(flags & DMASPLIT_DEV_WINDOWS))
		return NULL;
	return flags & DMASPLIT_DEV_LAZY_UNLINK ? "lazy" : "strict";
}

/* From the kernel's include/linux/ioport.h, which is not a UAPI header;
 * sysfs "resource" shows these bits. */
#define IORESOURCE_IO		0x00000100
#define IORESOURCE_MEM		0x00000200
#define IORESOURCE_PREFETCH	0x00002000
#define IORESOURCE_MEM_64	0x00100000

static bool resource_used(const struct dmasplit_pci_resource *res)
{
	return res->flags || res->end;
}

static const char *resource_name(unsigned int i)
{
	static const char *const names[] = {
		"BAR0", "BAR1", "BAR2", "BAR3", "BAR4", "BAR5", "ROM",
	};

	return i < ARRAY_SIZE(names) ? names[i] : "?";
}

static void print_resource(const char *label, unsigned int i,
			   const struct dmasplit_pci_resource *res)
{
	printf("%-*s%-5s 0x%016" PRIx64 "-0x%016" PRIx64 " %s%s%s",
	       LABEL_WIDTH, label, resource_name(i), res->start, res->end,
	       res->flags & IORESOURCE_IO ? "io" :
	       res->flags & IORESOURCE_MEM ? "mem" : "-",
	       res->flags & IORESOURCE_MEM_64 ? " 64-bit" : "",
	       res->flags & IORESOURCE_PREFETCH ? " prefetchable" : "");
	printf(" (flags 0x%" PRIx64 ")\n", res->flags);
}

static void text_pci_iommu(const struct dmasplit_desc *d)
{
	if (d->iommu_group < 0)
		field("IOMMU group:", "none");
	else
		field("IOMMU group:", "%d (%s%s%s)", d->iommu_group,
		      or_dash(d->iommu_group_type),
		      d->iommu_group_name[0] ? ", " : "", d->iommu_group_name);
	field("IOMMU class:", "%s", iommu_class_name(d->iommu_class));
	field_str("vfio-dev:", d->vfio_dev);
	if (d->spec_vfio != DMASPLIT_VFIO_AUTO)
		field("kernel iface:", "%s (from spec)",
		      vfio_iface_name(d->spec_vfio));
}

static void text_pci_p2pmem(const struct dmasplit_desc *d,
			    unsigned int attrs)
{
	char available[24];

	if (!d->has_p2pmem) {
		field("p2pmem:", "none");
		return;
	}
	snprintf(available, sizeof(available), "%" PRIu64,
		 d->p2pmem_available);
	field("p2pmem:", "size %" PRIu64 ", available %s, %s",
	      d->p2pmem_size,
	      attrs & P2PMEM_HAS_AVAILABLE ? available : "-",
	      !(attrs & P2PMEM_HAS_PUBLISHED) ? "published -" :
	      d->p2pmem_published ? "published" : "not published");
}

static void text_pci_resources(const struct dmasplit_desc *d)
{
	const char *label = "resources:";
	unsigned int i;

	for (i = 0; i < d->num_resources && i < DMASPLIT_PCI_NUM_RESOURCES;
	     i++) {
		if (!resource_used(&d->resource[i]))
			continue;
		print_resource(label, i, &d->resource[i]);
		label = "";
	}
	if (*label)
		field("resources:", "none");
}

static void text_pci(const struct dmasplit_desc *d, unsigned int p2pmem_attrs)
{
	field("vendor:device:", "%04x:%04x", d->vendor, d->device);
	field("class:", "0x%06" PRIx32, d->pci_class);
	field_str("driver:", d->driver);
	text_pci_iommu(d);
	if (d->dma_mask_bits)
		field("DMA mask:", "%u bits%s", d->dma_mask_bits,
		      d->spec_mask_bits ? " (from spec)" : "");
	else
		field("DMA mask:", "unknown");
	if (d->numa_node < 0)
		field("NUMA node:", "unknown");
	else
		field("NUMA node:", "%d", d->numa_node);
	text_pci_p2pmem(d, p2pmem_attrs);
	text_pci_resources(d);
}

static void text_desc(const struct report *rep)
{
	const struct dmasplit_desc *d = &rep->desc;

	field_str("spec:", rep->spec);
	field("bus:", "%s", bus_name(d->bus));
	field_str("name:", d->name);
	field_str("options:", d->options);
	if (d->bus == DMASPLIT_BUS_PCI)
		text_pci(d, rep->p2pmem_attrs);
}

static void text_probes(const struct report *rep)
{
	const struct probe_result *p;
	size_t i;

	putchar('\n');
	if (!rep->nprobes) {
		bool from_env;

		field("probes:", "no backends found in %s",
		      backend_path(&from_env));
		return;
	}
	puts("probes:");
	for (i = 0; i < rep->nprobes; i++) {
		p = &rep->probes[i];
		fputs("  ", stdout);
		put_padded(dmasplit_backend_get_name(p->backend),
			   LABEL_WIDTH - 2);
		if (!p->err)
			printf("score %d\n", p->score);
		else
			printf("%s: %s (%s)\n",
			       p->err == -ENODEV ? "declined" : "failed",
			       errno_name(p->err), strerror(-p->err));
	}
}

static void text_selected(const struct report *rep)
{
	const struct probe_result *p;

	if (!rep->selected) {
		field("selected:", "none");
		return;
	}
	printf("%-*s", LABEL_WIDTH, "selected:");
	put_safe(dmasplit_backend_get_name(rep->selected));
	p = probe_of(rep, rep->selected);
	if (rep->forced)
		printf(" (forced by %s)\n", rep->forced_by);
	else if (p && !p->err)
		printf(" (highest score, %d)\n", p->score);
	else
		putchar('\n');
}

void put_dev_flags(uint32_t flags)
{
	unsigned int i;

	if (!flags)
		putchar('-');
	for (i = 0; i < ARRAY_SIZE(dev_flag_names); i++) {
		if (!(flags & (1u << i)))
			continue;
		flags &= ~(1u << i);
		printf("%s%s", dev_flag_names[i], flags ? " " : "");
	}
	if (flags)
		printf("0x%" PRIx32, flags);
}

static void text_flags(uint32_t flags)
{
	printf("%-*s", LABEL_WIDTH, "flags:");
	put_dev_flags(flags);
	putchar('\n');
}

static void text_dev_info(const struct dmasplit_dev_info *info,
			  const struct dmasplit_range *ranges,
			  unsigned int nranges)
{
	const char *label = "ranges:";
	unsigned int i;

	putchar('\n');
	field_str("opened with:", info->backend);
	field_str("UUID:", info->backend_uuid);
	text_flags(info->flags);
	if (unlink_mode(info->flags))
		field_str("unlink:", unlink_mode(info->flags));
	if (info->interface[0])
		field_str("interface:", info->interface);
	if (info->address_space[0])
		field_str("address space:", info->address_space);
	field("DMA mask:", "%u bits", info->dma_mask_bits);
	field("granule:", "%" PRIu64 " bytes", info->granule);
	for (i = 0; i < nranges; i++) {
		field(label, "0x%" PRIx64 "-0x%" PRIx64, ranges[i].start,
		      ranges[i].last);
		label = "";
	}
	if (*label)
		field(label, "none");
}

static const char *p2p_map_name(enum dmasplit_p2p_map map)
{
	switch (map) {
	case DMASPLIT_P2P_BUS_ADDR:
		return "bus-address";
	case DMASPLIT_P2P_THRU_HOST_BRIDGE:
		return "through-host-bridge";
	default:
		return "not-supported";
	}
}

/* A refusal is an answer: only other errors leave the map unknown. */
static bool peer_answered(const struct report *rep)
{
	return rep->peer_dist >= 0 || rep->peer_dist == -EREMOTEIO;
}

static void text_peer(const struct report *rep)
{
	putchar('\n');
	field_str("peer client:", rep->peer);
	if (!peer_answered(rep)) {
		field("peer map:", "unknown (%s)", errno_name(rep->peer_dist));
		return;
	}
	field_str("peer map:", p2p_map_name(rep->peer_map));
	if (rep->peer_dist >= 0)
		field("peer distance:", "%d", rep->peer_dist);
}

static void info_text(const struct report *rep)
{
	if (rep->stage != STAGE_DESCRIBE) {
		text_desc(rep);
		text_probes(rep);
		text_selected(rep);
		if (rep->stage == STAGE_DONE)
			text_dev_info(&rep->info, report_ranges(rep),
				      report_nranges(rep));
	}
	if (rep->peer)
		text_peer(rep);
}

/* ------------------------------------------------------------------ */
/* info: JSON                                                          */

static void json_pci_resources(struct json *j, const struct dmasplit_desc *d)
{
	const struct dmasplit_pci_resource *res;
	unsigned int i;

	json_open(j, "resources", '[');
	for (i = 0; i < d->num_resources && i < DMASPLIT_PCI_NUM_RESOURCES;
	     i++) {
		res = &d->resource[i];
		if (!resource_used(res))
			continue;
		json_open(j, NULL, '{');
		json_str(j, "name", resource_name(i));
		json_hex(j, "start", res->start);
		json_hex(j, "end", res->end);
		json_hex(j, "flags", res->flags);
		json_close(j, '}');
	}
	json_close(j, ']');
}

void json_p2pmem(struct json *j, const struct dmasplit_desc *d,
		 unsigned int attrs)
{
	if (!d->has_p2pmem) {
		json_null(j, "p2pmem");
		return;
	}
	json_open(j, "p2pmem", '{');
	json_u64(j, "size", d->p2pmem_size);
	if (attrs & P2PMEM_HAS_AVAILABLE)
		json_u64(j, "available", d->p2pmem_available);
	else
		json_null(j, "available");
	if (attrs & P2PMEM_HAS_PUBLISHED)
		json_bool(j, "published", d->p2pmem_published);
	else
		json_null(j, "published");
	json_close(j, '}');
}

void json_pci_id(struct json *j, const struct dmasplit_desc *d)
{
	char id[16], class[16];

	snprintf(id, sizeof(id), "%04x:%04x", d->vendor, d->device);
	json_str(j, "id", id);
	json_hex(j, "vendor", d->vendor);
	json_hex(j, "device", d->device);
	/* Six digits, as the text and sysfs show it. */
	snprintf(class, sizeof(class), "0x%06" PRIx32, d->pci_class);
	json_str(j, "class", class);
	json_str_or_null(j, "driver", d->driver);
	if (d->iommu_group < 0)
		json_null(j, "iommu_group");
	else
		json_int(j, "iommu_group", d->iommu_group);
}

static void json_pci(struct json *j, const struct dmasplit_desc *d,
		     unsigned int p2pmem_attrs)
{
	json_pci_id(j, d);
	json_str_or_null(j, "iommu_group_type", d->iommu_group_type);
	json_str_or_null(j, "iommu_group_name", d->iommu_group_name);
	json_str(j, "iommu_class", iommu_class_name(d->iommu_class));
	json_str_or_null(j, "vfio_dev", d->vfio_dev);
	json_str(j, "spec_vfio", vfio_iface_name(d->spec_vfio));
	/* 0: none given, and not known. */
	if (d->spec_mask_bits)
		json_int(j, "spec_mask_bits", d->spec_mask_bits);
	else
		json_null(j, "spec_mask_bits");
	if (d->dma_mask_bits)
		json_int(j, "dma_mask_bits", d->dma_mask_bits);
	else
		json_null(j, "dma_mask_bits");
	if (d->numa_node < 0)
		json_null(j, "numa_node");
	else
		json_int(j, "numa_node", d->numa_node);
	json_p2pmem(j, d, p2pmem_attrs);
	json_pci_resources(j, d);
}

static void json_desc(struct json *j, const struct report *rep)
{
	const struct dmasplit_desc *d = &rep->desc;

	json_open(j, "device", '{');
	json_str(j, "bus", bus_name(d->bus));
	json_str(j, "name", d->name);
	json_str_or_null(j, "options", d->options);
	if (d->bus == DMASPLIT_BUS_PCI)
		json_pci(j, d, rep->p2pmem_attrs);
	json_close(j, '}');
}

static void json_probes(struct json *j, const struct report *rep)
{
	const struct probe_result *p;
	size_t i;

	json_open(j, "probes", '[');
	for (i = 0; i < rep->nprobes; i++) {
		p = &rep->probes[i];
		json_open(j, NULL, '{');
		json_str(j, "backend", dmasplit_backend_get_name(p->backend));
		json_str(j, "uuid", dmasplit_backend_get_uuid(p->backend));
		if (p->err) {
			json_null(j, "score");
			json_errno(j, "error", p->err);
		} else {
			json_int(j, "score", p->score);
		}
		json_close(j, '}');
	}
	json_close(j, ']');
}

static void json_selected(struct json *j, const struct report *rep)
{
	const struct probe_result *p = probe_of(rep, rep->selected);

	if (!rep->selected) {
		json_null(j, "selected");
		return;
	}
	json_open(j, "selected", '{');
	json_str(j, "backend", dmasplit_backend_get_name(rep->selected));
	json_str(j, "uuid", dmasplit_backend_get_uuid(rep->selected));
	if (p && !p->err)
		json_int(j, "score", p->score);
	else
		json_null(j, "score");
	json_str(j, "forced_by", rep->forced_by);
	json_close(j, '}');
}

static void json_dev_flags(struct json *j, uint32_t flags)
{
	unsigned int i;

	json_hex(j, "flags", flags);
	json_open(j, "flag_names", '[');
	for (i = 0; i < ARRAY_SIZE(dev_flag_names); i++)
		if (flags & (1u << i))
			json_str(j, NULL, dev_flag_names[i]);
	json_close(j, ']');
}

static void json_dev_info(struct json *j, const struct dmasplit_dev_info *info,
			  const struct dmasplit_range *ranges,
			  unsigned int nranges)
{
	unsigned int i;

	json_open(j, "opened", '{');
	json_str(j, "backend", info->backend);
	json_str(j, "uuid", info->backend_uuid);
	json_dev_flags(j, info->flags);
	json_str(j, "unlink", unlink_mode(info->flags));
	json_str(j, "interface", info->interface[0] ? info->interface : NULL);
	json_str(j, "address_space",
		 info->address_space[0] ? info->address_space : NULL);
	json_int(j, "dma_mask_bits", info->dma_mask_bits);
	json_u64(j, "granule", info->granule);
	json_open(j, "ranges", '[');
	for (i = 0; i < nranges; i++) {
		json_open(j, NULL, '{');
		json_hex(j, "start", ranges[i].start);
		json_hex(j, "last", ranges[i].last);
		json_close(j, '}');
	}
	json_close(j, ']');
	json_close(j, '}');
}

static void json_failure(struct json *j, const char *stage, int err)
{
	json_open(j, "error", '{');
	json_str(j, "stage", stage);
	json_int(j, "errno", -err);
	json_str(j, "name", errno_name(err));
	json_str(j, "message", strerror(-err));
	json_close(j, '}');
}

/* One object whatever happened, so that a caller always has something to
 * parse; what was not reached is null. */
static void info_json(const struct report *rep)
{
	struct json j = { 0 };

	json_open(&j, NULL, '{');
	json_str(&j, "spec", rep->spec);
	if (rep->stage > STAGE_DESCRIBE) {
		json_desc(&j, rep);
		json_probes(&j, rep);
	} else {
		json_null(&j, "device");
		json_null(&j, "probes");
	}
	json_selected(&j, rep);
	if (rep->stage == STAGE_DONE)
		json_dev_info(&j, &rep->info, report_ranges(rep),
			      report_nranges(rep));
	else
		json_null(&j, "opened");
	/* The device's own stages first: the peer's verdict is asked
	 * whatever became of them, and has its error in its member too. */
	if (rep->stage != STAGE_DONE)
		json_failure(&j, stage_names[rep->stage], rep->err);
	else if (rep->peer && !peer_answered(rep))
		json_failure(&j, "peer", rep->peer_dist);
	if (rep->peer) {
		json_open(&j, "peer", '{');
		json_str(&j, "client", rep->peer);
		json_str(&j, "map", peer_answered(rep) ?
			 p2p_map_name(rep->peer_map) : NULL);
		if (rep->peer_dist >= 0)
			json_int(&j, "distance", rep->peer_dist);
		else
			json_null(&j, "distance");
		if (rep->peer_dist < 0)
			json_errno(&j, "error", rep->peer_dist);
		else
			json_null(&j, "error");
		json_close(&j, '}');
	}
	json_close(&j, '}');
}

/* ------------------------------------------------------------------ */
/* info                                                                */

static void info_fail_message(const struct report *rep)
{
	const char *spec = rep->spec;
	const char *why = strerror(-rep->err);

	switch (rep->stage) {
	case STAGE_SELECT:
		if (rep->selected)
			say_not_handled(dmasplit_backend_get_name(rep->selected),
					spec, rep->err);
		else if (rep->err == -ENODEV && rep->forced)
			say("%s: backend '%s' (forced by %s) is not loaded",
			    spec, rep->forced, rep->forced_by);
		else if (rep->err == -ENODEV)
			say("%s: no backend accepts this device", spec);
		else
			say("%s: selecting a backend: %s", spec, why);
		break;
	case STAGE_OPEN:
		say("%s: cannot open with backend %s: %s", spec,
		    dmasplit_backend_get_name(rep->selected), why);
		break;
	case STAGE_GET_INFO:
		say("%s: reading device information: %s", spec, why);
		break;
	default:
		say("%s: %s", spec, why);
		break;
	}
}

int cmd_info(struct dmasplit_ctx *ctx, const struct options *opts,
	     char **args)
{
	struct report rep = { .spec = args[0], .peer = opts->peer };

	rep.forced = forced_backend(opts, &rep.forced_by);
	gather(ctx, &rep);
	if (rep.peer)
		rep.peer_dist = dmasplit_p2p_distance(ctx, rep.spec, rep.peer,
						      &rep.peer_map);
	if (opts->json)
		info_json(&rep);
	else
		info_text(&rep);
	/* The report names the backend through the device: print first. */
	dmasplit_dev_close(rep.dev);
	free(rep.probes);
	free(rep.ranges);
	if (rep.stage == STAGE_DONE && (!rep.peer || peer_answered(&rep)))
		return EXIT_SUCCESS;
	/* After stdout, so that the error is the last thing on a terminal. */
	fflush(stdout);
	if (rep.stage != STAGE_DONE)
		info_fail_message(&rep);
	if (rep.peer && !peer_answered(&rep))
		say("%s --peer %s: %s", rep.spec, rep.peer,
		    strerror(-rep.peer_dist));
	return EXIT_FAILURE;
}

/* ------------------------------------------------------------------ */
/* bench --json                                                        */

/*
 * bench prints its object only once it has measured, so a device it
 * cannot open would leave stdout empty.  The stages of info, then, before
 * bench opens the device for itself; on failure, bench's members, null
 * where nothing was measured, and info's error member.
 */
int json_check_open(struct dmasplit_ctx *ctx, const struct options *opts,
		    const char *spec)
{
	struct report rep = { .spec = spec };
	struct json j = { 0 };

	rep.forced = forced_backend(opts, &rep.forced_by);
	gather(ctx, &rep);
	dmasplit_dev_close(rep.dev);
	free(rep.probes);
	free(rep.ranges);
	if (rep.stage == STAGE_DONE)
		return 0;
	json_open(&j, NULL, '{');
	json_str(&j, "spec", spec);
	/* The backend the open was tried with; a forced one whose probe
	 * refused the device was not. */
	json_str(&j, "backend", rep.stage >= STAGE_OPEN ?
		 dmasplit_backend_get_name(rep.selected) : NULL);
	json_null(&j, "granule");
	json_bool(&j, "quick", opts->quick);
	json_bool(&j, "checker", false);
	json_null(&j, "measurements");
	json_failure(&j, stage_names[rep.stage], rep.err);
	json_close(&j, '}');
	fflush(stdout);
	info_fail_message(&rep);
	return rep.err;
}
