// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device specs (dmasplit_dev_open(3)):
 *   sim:NAME[,key=value...]                     options checked by backends
 *   [pci:][DDDD:]BB:DD.F[,mask=BITS][,vfio=iommufd|type1]
 *                       [,unlink=strict|lazy]
 *   either, also [,as=NAME]
 * PCI options are the core's: they describe the device (its real DMA
 * reach, which the kernel cannot know for a device driven from user space)
 * or force a kernel interface, whichever backend ends up driving it.
 * as= is the core's on every bus: which devices share an IOMMU address
 * space is decided across backends, so the core takes it out of a sim
 * spec's options and hands it over in desc->address_space.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool sim_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* Exactly max_digits or fewer hex digits, at least one, then stop. */
static const char *parse_hex(const char *s, unsigned int max_digits,
			     unsigned int *out)
{
	unsigned int v = 0, n = 0;

	for (; n < max_digits; n++, s++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		v = v * 16 + d;
	}
	if (!n)
		return NULL;
	*out = v;
	return s;
}

/*
 * The one rule for numbers in specs, the core's options and the
 * backends' alike (through the host table).  No base 0: a leading zero
 * does not make a number octal, so mask=040 is 40.  Every step is checked
 * for overflow, suffix shifts included, so a value is either what was
 * written or refused.
 */
int spec_number(const char *s, uint32_t flags, uint64_t *out)
{
	bool size = flags & DMASPLIT_SPEC_SIZE;
	unsigned int base = 10, shift = 0, n = 0;
	uint64_t v = 0;

	if (!s || !out || (flags & ~DMASPLIT_SPEC_SIZE))
		return -EINVAL;
	if (size && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (;; s++, n++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
	}
	if (!n)
		return -EINVAL;
	if (size && *s) {
		switch (*s++) {
		case 'K': case 'k':
			shift = 10;
			break;
		case 'M': case 'm':
			shift = 20;
			break;
		case 'G': case 'g':
			shift = 30;
			break;
		default:
			return -EINVAL;
		}
	}
	if (*s)
		return -EINVAL;
	if (shift && v > UINT64_MAX >> shift)
		return -ERANGE;
	*out = v << shift;
	return 0;
}

static _must_check_ int parse_pci_addr(const char *s, size_t len,
				       char *canonical, size_t size)
{
	unsigned int a, b, dev = 0, fn = 0, domain = 0, bus;
	const char *p, *end = s + len;

	/* A domain of up to 8 digits: the kernel's is 32 bits (VMD's
	 * start at 10000); a bus, of 2 at most, is checked below. */
	p = parse_hex(s, 8, &a);
	if (!p || p >= end || *p != ':')
		return -EINVAL;
	p = parse_hex(p + 1, 4, &b);
	if (!p || p >= end)
		return -EINVAL;
	if (*p == ':') {		/* DDDD:BB:DD.F */
		domain = a;
		bus = b;
		p = parse_hex(p + 1, 2, &dev);
	} else if (*p == '.') {		/* BB:DD.F */
		bus = a;
		dev = b;
	} else {
		return -EINVAL;
	}
	if (!p || p >= end || *p != '.')
		return -EINVAL;
	p = parse_hex(p + 1, 1, &fn);
	if (!p || p != end || bus > 0xff || dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(canonical, size, "%04x:%02x:%02x.%x", domain, bus, dev, fn);
	return 0;
}

/* as=NAME: the characters of a sim name, so that it prints anywhere. */
static _must_check_ int parse_as(struct dmasplit_ctx *ctx, const char *spec,
				 const char *value, struct dmasplit_desc *desc)
{
	size_t i, n = value ? strlen(value) : 0;

	if (desc->address_space[0]) {
		log_err(ctx, "device spec '%s': option 'as' repeated", spec);
		return -EINVAL;
	}
	for (i = 0; i < n && sim_name_char(value[i]); i++)
		;
	if (!n || i < n || n >= sizeof(desc->address_space)) {
		log_err(ctx, "device spec '%s': as=%s: expected a name of 1 to %zu letters, digits, '_', '.' or '-'",
			spec, value ? value : "",
			sizeof(desc->address_space) - 1);
		return -EINVAL;
	}
	memcpy(desc->address_space, value, n + 1);
	return 0;
}

/* as= goes to desc->address_space, on every bus; the other options
 * stay, in their order, for the backend. */
static _must_check_ int take_as(struct dmasplit_ctx *ctx, const char *spec,
				    struct dmasplit_desc *desc)
{
	char *opts, *opt, *save;
	size_t used = 0;
	int r = 0;

	opts = strdup(desc->options);
	if (!opts)
		return -ENOMEM;
	desc->options[0] = '\0';
	save = opts;
	while (!r && (opt = strsep(&save, ","))) {
		if (!strncmp(opt, "as=", 3) || !strcmp(opt, "as")) {
			r = parse_as(ctx, spec, opt[2] ? opt + 3 : NULL, desc);
			continue;
		}
		used += (size_t)snprintf(desc->options + used,
					 sizeof(desc->options) - used, "%s%s",
					 used ? "," : "", opt);
	}
	free(opts);
	return r;
}

static _must_check_ int parse_pci_options(struct dmasplit_ctx *ctx,
					  const char *spec,
					  struct dmasplit_desc *desc)
{
	char *opts, *opt, *save = NULL;
	bool seen_mask = false, seen_vfio = false, seen_unlink = false;
	int r = 0;

	opts = strdup(desc->options);
	if (!opts)
		return -ENOMEM;
	/* strsep keeps empty fields, which are errors here. */
	save = opts;
	while ((opt = strsep(&save, ","))) {
		char *value = strchr(opt, '=');

		if (value)
			*value++ = '\0';
		if (!strcmp(opt, "mask") && value && !seen_mask) {
			uint64_t bits;

			seen_mask = true;
			if (spec_number(value, 0, &bits) < 0 || bits < 1 ||
			    bits > 64) {
				log_err(ctx, "device spec '%s': mask=%s: expected 1 to 64 bits",
					spec, value);
				r = -EINVAL;
				break;
			}
			desc->spec_mask_bits = (unsigned int)bits;
		} else if (!strcmp(opt, "vfio") && value && !seen_vfio) {
			seen_vfio = true;
			if (!strcmp(value, "iommufd")) {
				desc->spec_vfio = DMASPLIT_VFIO_IOMMUFD;
			} else if (!strcmp(value, "type1")) {
				desc->spec_vfio = DMASPLIT_VFIO_TYPE1;
			} else {
				log_err(ctx, "device spec '%s': vfio=%s: expected iommufd or type1",
					spec, value);
				r = -EINVAL;
				break;
			}
		} else if (!strcmp(opt, "unlink") && value && !seen_unlink) {
			seen_unlink = true;
			if (!strcmp(value, "strict")) {
				desc->spec_unlink = DMASPLIT_UNLINK_STRICT;
			} else if (!strcmp(value, "lazy")) {
				desc->spec_unlink = DMASPLIT_UNLINK_LAZY;
			} else {
				log_err(ctx, "device spec '%s': unlink=%s: expected strict or lazy",
					spec, value);
				r = -EINVAL;
				break;
			}
		} else {
			log_err(ctx, "device spec '%s': %s option '%s'", spec,
				!strcmp(opt, "mask") || !strcmp(opt, "vfio") ||
				!strcmp(opt, "unlink") ?
					(value ? "repeated" : "valueless") :
					"unknown",
				opt);
			r = -EINVAL;
			break;
		}
	}
	free(opts);
	return r;
}

int spec_parse(struct dmasplit_ctx *ctx, const char *spec,
	       struct dmasplit_desc *desc)
{
	const char *comma, *name;
	size_t name_len, i;
	int r;

	memset(desc, 0, sizeof(*desc));
	desc->size = sizeof(*desc);
	desc->iommu_group = -1;
	desc->numa_node = -1;

	comma = strchr(spec, ',');
	if (comma) {
		const char *o = comma + 1;

		if (strlen(o) >= sizeof(desc->options)) {
			log_err(ctx, "device spec '%s': options too long", spec);
			return -EINVAL;
		}
		/* Whoever reads the options, an empty one is a typo: refused
		 * here once, for every bus. */
		if (!*o || *o == ',' || o[strlen(o) - 1] == ',' ||
		    strstr(o, ",,")) {
			log_err(ctx, "device spec '%s': empty option (a stray ',')",
				spec);
			return -EINVAL;
		}
		strcpy(desc->options, o);
	}

	if (!strncmp(spec, "sim:", 4)) {
		name = spec + 4;
		name_len = comma ? (size_t)(comma - name) : strlen(name);
		if (!name_len || name_len >= sizeof(desc->name)) {
			log_err(ctx, "device spec '%s': sim: needs a name of 1 to %zu characters",
				spec, sizeof(desc->name) - 1);
			return -EINVAL;
		}
		for (i = 0; i < name_len; i++) {
			if (!sim_name_char(name[i])) {
				log_err(ctx, "device spec '%s': invalid character '%c' in name",
					spec, name[i]);
				return -EINVAL;
			}
		}
		memcpy(desc->name, name, name_len);
		desc->bus = DMASPLIT_BUS_SIM;
		return comma ? take_as(ctx, spec, desc) : 0;
	}

	name = !strncmp(spec, "pci:", 4) ? spec + 4 : spec;
	name_len = comma ? (size_t)(comma - name) : strlen(name);
	if (parse_pci_addr(name, name_len, desc->name, sizeof(desc->name)) < 0) {
		log_err(ctx, "device spec '%s': expected sim:NAME or a PCI address like 0000:01:00.0",
			spec);
		return -EINVAL;
	}
	desc->bus = DMASPLIT_BUS_PCI;
	if (!comma)
		return 0;
	r = take_as(ctx, spec, desc);
	if (r == 0 && desc->options[0])
		r = parse_pci_options(ctx, spec, desc);
	return r;
}
