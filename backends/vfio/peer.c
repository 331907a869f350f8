// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * vfio: peer memory on a translated client.  What the IOMMU is given is a
 * CPU mapping; what the kernel can pin behind it decides:
 *
 * - p2pmem/allocate pages (ZONE_DEVICE pages of another device) cannot be
 *   pinned by VFIO in Linux 6.12: both VFIO_IOMMU_MAP_DMA (type1) and
 *   IOMMU_IOAS_MAP (iommufd) answer EFAULT once a domain needs the pages;
 * - a BAR mapped through its own VFIO device file is a VM_PFNMAP mapping,
 *   which type1 follows page by page (the way QEMU lets assigned devices
 *   reach each other), and which iommufd in 6.12 has no path for.
 *
 * Peer memory is never bounced, by the kernel or here: what cannot be
 * mapped is refused with -EREMOTEIO and a line saying what would work.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "vfio.h"

int vfio_peer_check(struct dmasplit_bdev *b, const void *vaddr, size_t len,
		    uint32_t attrs)
{
	struct dmasplit_peer p;

	if (!DMASPLIT_HOST_HAS(b->host, peer_find) ||
	    b->host->peer_find(b->host, vaddr, len, &p) < 0)
		return 0;
	if (p.kind == DMASPLIT_PEER_BAR && b->sp->k == &type1_iface)
		return 0;
	if (attrs & DMASPLIT_ATTR_NO_WARN)
		return -EREMOTEIO;
	if (p.kind == DMASPLIT_PEER_BAR)
		vfio_err(b, "%s: %p is a BAR of %s mapped through its VFIO device file (VM_PFNMAP), which iommufd cannot map in Linux 6.12; open this device with vfio=type1",
			 b->name, vaddr, p.provider);
	else
		vfio_err(b, "%s: %p is p2pmem of %s, whose pages VFIO cannot pin in Linux 6.12 (type1 and iommufd answer EFAULT); use a client without an IOMMU (direct backend), or map a BAR of %s through its VFIO device file on a type1 client and register it with dmasplit_peer_add",
			 b->name, vaddr, p.provider, p.provider);
	return -EREMOTEIO;
}
