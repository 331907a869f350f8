// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * swiotlb-sim: peer memory is never bounced.  A bounce copies through the
 * CPU, which is exactly what peer-to-peer DMA exists to avoid, and the
 * kernel never bounces P2P pages either (swiotlb refuses them); where a
 * bounce would be needed, the map fails.
 */
#include <errno.h>

#include "sim.h"

int sim_no_peer_bounce(struct dmasplit_bdev *b, const void *vaddr,
		       size_t len, uint32_t attrs)
{
	struct dmasplit_peer p;

	if (!DMASPLIT_HOST_HAS(b->host, peer_find) ||
	    b->host->peer_find(b->host, vaddr, len, &p) < 0)
		return 0;
	if (!(attrs & DMASPLIT_ATTR_NO_WARN))
		sim_err(b, "%s: %p+0x%zx would bounce, and it is peer memory of %s, which is never bounced",
			b->name, vaddr, len, p.provider);
	return -EREMOTEIO;
}
