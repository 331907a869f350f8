// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * try-skel: open a device with the skel backend and check what it
 * promises: a mapping the device reads and writes through, in its
 * direction only, and nothing reachable after the unmap.  Exit 0 when
 * every check holds; each failure is one line on stderr.
 *
 *   DMASPLIT_BACKEND_PATH=DIR ./try-skel
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <dmasplit/dmasplit.h>

static int failures;

static void expect(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "try-skel: FAILED: %s\n", what);
		failures++;
	}
}

int main(void)
{
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_ctx *ctx = NULL;
	struct dmasplit_dev *dev = NULL;
	char buf[256], back[256];
	uint64_t dma;
	int r;

	r = dmasplit_ctx_new(&ctx);
	if (r == 0)
		r = dmasplit_dev_open_backend(ctx, "sim:skel0", "skel", &dev);
	if (r < 0) {
		fprintf(stderr, "try-skel: opening sim:skel0 with skel: %s\n",
			strerror(-r));
		dmasplit_ctx_unref(ctx);
		return 1;
	}
	expect(strcmp(dmasplit_dev_backend_name(dev), "skel") == 0,
	       "the device is the skel backend's");
	expect(dmasplit_dev_get_info(dev, &info) == 0 &&
	       !(info.flags & DMASPLIT_DEV_WINDOWS),
	       "info: no windows, so callers use the per-range path");

	memset(buf, 'a', sizeof(buf));
	r = dmasplit_map(dev, buf, sizeof(buf), DMASPLIT_TO_DEVICE, 0, &dma);
	expect(r == 0, "map");
	if (r == 0) {
		expect(dmasplit_dev_dma_read(dev, dma, back, sizeof(back)) == 0 &&
		       memcmp(back, buf, sizeof(buf)) == 0,
		       "the device reads the mapped bytes");
		expect(dmasplit_dev_dma_write(dev, dma, "x", 1) == -EFAULT,
		       "the device cannot write memory mapped to it");
		expect(dmasplit_unmap(dev, dma, sizeof(buf), DMASPLIT_TO_DEVICE,
				      0) == 0, "unmap");
		expect(dmasplit_dev_dma_read(dev, dma, back, 1) == -EFAULT,
		       "nothing is reachable after the unmap");
	}

	dmasplit_dev_close(dev);
	/* Named, the backend is opened without a probe: it refuses what is
	 * not its own itself. */
	dev = NULL;
	expect(dmasplit_dev_open_backend(ctx, "sim:skel1,foo=1", "skel",
					 &dev) == -EINVAL && !dev,
	       "an option it does not know is refused");
	dmasplit_ctx_unref(ctx);
	if (!failures)
		printf("try-skel: map, device access and unmap through skel: ok\n");
	return failures != 0;
}
