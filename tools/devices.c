// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit devices - every PCI device in the context's sysfs tree, with
 * what decides how it can do DMA (driver, IOMMU group and type, DMA mask,
 * peer memory) and the backend that would drive it, as lspci and
 * dpdk-devbind list devices and their drivers.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmasplit/dmasplit.h>

#include "json.h"
#include "table.h"
#include "tool.h"

#define PCI_DEVICES_DIR "bus/pci/devices"

struct device_row {
	const char *address;	/* the sysfs entry's name */
	int err;		/* dmasplit_describe's, 0 when described */
	struct dmasplit_desc desc;
	unsigned int p2pmem_attrs;	/* p2pmem_attrs' for desc */
	const struct dmasplit_backend *backend;	/* NULL: none takes it */
};

/* ------------------------------------------------------------------ */
/* Gathering                                                           */

/* Numerically, so that a domain of five hex digits (VMD) sorts after
 * ffff; names that are not addresses go last, by name. */
static int by_address(const struct dirent **a, const struct dirent **b)
{
	unsigned int x[4], y[4];
	int i, nx, ny;

	nx = sscanf((*a)->d_name, "%x:%x:%x.%x", &x[0], &x[1], &x[2], &x[3]);
	ny = sscanf((*b)->d_name, "%x:%x:%x.%x", &y[0], &y[1], &y[2], &y[3]);
	if (nx == 4 && ny == 4) {
		for (i = 0; i < 4; i++)
			if (x[i] != y[i])
				return x[i] < y[i] ? -1 : 1;
	} else if (nx == 4 || ny == 4) {
		return nx == 4 ? -1 : 1;
	}
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_dot(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* The backend dmasplit_dev_open would use, when its probe accepts the
 * device: dmasplit_select does not probe a forced backend, which the open
 * would use whatever its probe says. */
static const struct dmasplit_backend *serving_backend(struct dmasplit_ctx *ctx,
						      const struct dmasplit_desc *d)
{
	struct dmasplit_backend *be;
	int score, saved, r;

	/* "No backend accepts" is an answer here, one per device. */
	saved = log_quiet_begin(ctx);
	r = dmasplit_select(ctx, d, &be);
	if (r == 0)
		r = dmasplit_backend_probe(be, d, &score);
	log_quiet_end(ctx, saved);
	return r == 0 ? be : NULL;
}

static void describe_row(struct dmasplit_ctx *ctx, struct device_row *row)
{
	row->desc.size = sizeof(row->desc);
	row->err = dmasplit_describe(ctx, row->address, &row->desc);
	if (row->err)
		return;
	row->p2pmem_attrs = p2pmem_attrs(ctx, &row->desc);
	row->backend = serving_backend(ctx, &row->desc);
}

/* ------------------------------------------------------------------ */
/* Text                                                                */

enum device_col { COL_ADDRESS, COL_ID, COL_DRIVER, COL_GROUP, COL_TYPE,
		  COL_DMA, COL_P2PMEM, COL_BACKEND, NUM_DEVICE_COLS };

struct device_cells {
	const char *text[NUM_DEVICE_COLS];
	char id[16], group[16], dma[8], p2pmem[40];
};

static const char *group_type(const struct dmasplit_desc *d)
{
	if (d->iommu_group < 0)
		return "none";
	return d->iommu_group_type[0] ? d->iommu_group_type : NULL;
}

static void device_cells(const struct device_row *row,
			 struct device_cells *c)
{
	const struct dmasplit_desc *d = &row->desc;
	size_t i;

	c->text[COL_ADDRESS] = row->address;
	if (row->err) {
		for (i = 1; i < NUM_DEVICE_COLS; i++)
			c->text[i] = "?";
		return;
	}
	snprintf(c->id, sizeof(c->id), "%04x:%04x", d->vendor, d->device);
	c->text[COL_ID] = c->id;
	c->text[COL_DRIVER] = or_dash(d->driver);
	snprintf(c->group, sizeof(c->group), "%d", d->iommu_group);
	c->text[COL_GROUP] = d->iommu_group < 0 ? "-" : c->group;
	c->text[COL_TYPE] = or_dash(group_type(d));
	snprintf(c->dma, sizeof(c->dma), "%u", d->dma_mask_bits);
	c->text[COL_DMA] = d->dma_mask_bits ? c->dma : "-";
	snprintf(c->p2pmem, sizeof(c->p2pmem), "%" PRIu64 "/%s",
		 d->p2pmem_size,
		 !(row->p2pmem_attrs & P2PMEM_HAS_PUBLISHED) ? "-" :
		 d->p2pmem_published ? "yes" : "no");
	c->text[COL_P2PMEM] = d->has_p2pmem ? c->p2pmem : "-";
	c->text[COL_BACKEND] = row->backend ?
		dmasplit_backend_get_name(row->backend) : "-";
}

static void devices_text(const struct device_row *rows, size_t n, bool wide)
{
	struct table_col cols[NUM_DEVICE_COLS] = {
		[COL_ADDRESS] = { .title = "ADDRESS" },
		[COL_ID] = { .title = "ID" },
		[COL_DRIVER] = { .title = "DRIVER", .squeeze = SQUEEZE_END,
				 .min = 6 },
		[COL_GROUP] = { .title = "GROUP", .right = true },
		[COL_TYPE] = { .title = "TYPE" },
		[COL_DMA] = { .title = "DMA", .right = true },
		[COL_P2PMEM] = { .title = "P2PMEM" },
		[COL_BACKEND] = { .title = "BACKEND", .squeeze = SQUEEZE_END,
				  .min = 7 },
	};
	struct table t = { .cols = cols, .ncols = NUM_DEVICE_COLS };
	struct device_cells c;
	size_t i, k;

	for (i = 0; i < n; i++) {
		device_cells(&rows[i], &c);
		for (k = 0; k < NUM_DEVICE_COLS; k++)
			table_measure(&cols[k], c.text[k]);
	}
	table_fit(&t, table_line_limit(wide));
	table_put_header(&t);
	for (i = 0; i < n; i++) {
		device_cells(&rows[i], &c);
		for (k = 0; k < NUM_DEVICE_COLS; k++)
			table_put(&t, k, c.text[k]);
	}
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */

static void json_device(struct json *j, const struct device_row *row)
{
	const struct dmasplit_desc *d = &row->desc;

	json_open(j, NULL, '{');
	json_str(j, "address", row->address);
	if (row->err) {
		json_errno(j, "error", row->err);
		json_close(j, '}');
		return;
	}
	json_pci_id(j, d);
	json_str(j, "iommu_group_type", group_type(d));
	if (d->dma_mask_bits)
		json_int(j, "dma_mask_bits", d->dma_mask_bits);
	else
		json_null(j, "dma_mask_bits");
	json_p2pmem(j, d, row->p2pmem_attrs);
	json_str(j, "backend", row->backend ?
		 dmasplit_backend_get_name(row->backend) : NULL);
	json_close(j, '}');
}

static void devices_json(struct dmasplit_ctx *ctx,
			 const struct device_row *rows, size_t n)
{
	struct json j = { 0 };
	size_t i;

	json_open(&j, NULL, '{');
	json_str(&j, "sysfs_root", dmasplit_ctx_get_sysfs_root(ctx));
	json_open(&j, "devices", '[');
	for (i = 0; i < n; i++)
		json_device(&j, &rows[i]);
	json_close(&j, ']');
	json_close(&j, '}');
}

/* ------------------------------------------------------------------ */
/* devices                                                             */

/* An object all the same, as info and bench give one. */
static void devices_json_error(struct dmasplit_ctx *ctx, int err)
{
	struct json j = { 0 };

	json_open(&j, NULL, '{');
	json_str(&j, "sysfs_root", dmasplit_ctx_get_sysfs_root(ctx));
	json_null(&j, "devices");
	json_errno(&j, "error", err);
	json_close(&j, '}');
}

int cmd_devices(struct dmasplit_ctx *ctx, const struct options *opts,
		char **args UNUSED)
{
	struct dirent **names = NULL;
	struct device_row *rows;
	size_t failed = 0;
	char *dir;
	int i, n, r;

	if (asprintf(&dir, "%s/" PCI_DEVICES_DIR,
		     dmasplit_ctx_get_sysfs_root(ctx)) < 0)
		return fail("devices", -ENOMEM);
	n = scandir(dir, &names, not_dot, by_address);
	if (n < 0) {
		r = -errno;
		say("devices: cannot read %s: %s", dir, strerror(-r));
		free(dir);
		if (opts->json)
			devices_json_error(ctx, r);
		return EXIT_FAILURE;
	}
	free(dir);
	rows = calloc(n ? (size_t)n : 1, sizeof(*rows));
	if (!rows) {
		r = fail("devices", -ENOMEM);
		goto out;
	}
	/* Refusals of plugins are logged once, at their usual priority,
	 * not hidden with the selection's answers. */
	r = dmasplit_ctx_load_backends(ctx);
	if (r < 0) {
		r = fail("loading backends", r);
		goto out;
	}
	r = forced_backend_loaded(ctx, opts);
	if (r < 0) {
		if (opts->json)
			devices_json_error(ctx, r);
		r = EXIT_FAILURE;
		goto out;
	}
	for (i = 0; i < n; i++) {
		rows[i].address = names[i]->d_name;
		describe_row(ctx, &rows[i]);
		failed += rows[i].err != 0;
	}
	if (opts->json)
		devices_json(ctx, rows, (size_t)n);
	else
		devices_text(rows, (size_t)n, opts->wide);
	r = EXIT_SUCCESS;
	if (failed) {
		fflush(stdout);
		say("devices: %zu of %d devices could not be described", failed,
		    n);
		r = EXIT_FAILURE;
	}
out:
	free(rows);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}
