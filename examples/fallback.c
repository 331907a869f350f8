/*
 * Map one buffer for a device: through a window where the device can
 * pre-allocate addresses, per range where it cannot.  This is the pattern
 * every caller of the two-step API needs.
 *
 *   fallback SPEC [SIZE]      e.g. fallback sim:nic0   fallback 0000:01:00.0
 */
#include <dmasplit/dmasplit.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct dmasplit_ctx *ctx = NULL;
	struct dmasplit_dev *dev = NULL;
	struct dmasplit_iova *iova = NULL;
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	size_t len = argc > 2 ? strtoul(argv[2], NULL, 0) : 65536;
	uint64_t dma;
	size_t off;
	void *buf;
	int r;

	if (argc < 2 || !len) {
		fprintf(stderr, "usage: %s SPEC [SIZE]\n", argv[0]);
		return 2;
	}
	buf = calloc(1, len);
	if (!buf)
		return 1;
	r = dmasplit_ctx_new(&ctx);
	if (r == 0)
		r = dmasplit_dev_open(ctx, argv[1], &dev);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(-r));
		goto out;
	}

	r = dmasplit_dev_get_info(dev, &info);
	if (r < 0)
		goto out;
	/* A window maps whole granules: the buffer keeps its offset within
	 * its granule, so it is linked that far into the window. */
	off = (uintptr_t)buf & (info.granule - 1);
	r = dmasplit_iova_alloc(dev, off + len, 0, &iova);
	if (r == 0) {
		r = dmasplit_iova_link(iova, off, buf, len, DMASPLIT_BIDIRECTIONAL, 0);
		if (r == 0)
			r = dmasplit_iova_sync(iova, off, len);
		if (r == 0) {
			printf("window: device address 0x%" PRIx64 "\n",
			       dmasplit_iova_addr(iova) + off);
			/* ... the device works on the buffer ... */
			r = dmasplit_iova_unlink(iova, off, len,
						 DMASPLIT_BIDIRECTIONAL, 0);
		}
		dmasplit_iova_destroy(iova);
	} else if (r == -EOPNOTSUPP) {
		/* No windows on this device (direct DMA, bounce buffers). */
		r = dmasplit_map(dev, buf, len, DMASPLIT_BIDIRECTIONAL, 0, &dma);
		if (r == 0) {
			printf("per-range: device address 0x%" PRIx64 "\n", dma);
			r = dmasplit_unmap(dev, dma, len, DMASPLIT_BIDIRECTIONAL, 0);
		}
	}
	if (r < 0)
		fprintf(stderr, "%s: %s\n", argv[1], strerror(-r));
out:
	dmasplit_dev_close(dev);
	dmasplit_ctx_unref(ctx);
	free(buf);
	return r < 0;
}
