// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * swiotlb-sim against a reference model of its software IOMMU and bounce
 * pool: a seeded random run of long call sequences over several devices,
 * four of them in one shared address space, checked and not.
 * DMASPLIT_TEST_SEED replays a run.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim-model.h"

static const struct {
	void (*fn)(struct mdev *d);
	unsigned int weight;
	bool windows;		/* only for translated devices */
} steps[] = {
	{ step_host_write, 8, false },
	{ step_access, 30, false },
	{ step_alloc, 4, true },
	{ step_link, 14, true },
	{ step_sync, 8, true },
	{ step_unlink, 7, true },
	{ step_destroy, 2, true },
	{ step_window_sync_for_cpu, 4, true },
	{ step_window_sync_for_device, 4, true },
	{ step_map, 9, false },
	{ step_unmap, 8, false },
	{ step_map_sync_for_cpu, 4, false },
	{ step_map_sync_for_device, 4, false },
	{ step_map_vec, 3, false },
	{ step_unmap_vec, 3, false },
	{ step_alloc_coherent, 2, false },
	{ step_free_coherent, 2, false },
	{ step_misuse, 6, false },
};

/* The counters moved as predicted over the step just run. */
static void check_stats(struct mdev *d)
{
	struct dmasplit_dev_stats s = { .size = sizeof(s) };
	uint64_t *kc = d->space ? &M.space_kcalls[d->space] : &d->st.kernel_calls;

	ck_assert_int_eq(dmasplit_dev_get_stats(d->dev, &s), 0);
	MASSERT(s.device_faults - d->st.device_faults == M.faults,
		"device_faults went up by %" PRIu64 ", expected %" PRIu64,
		s.device_faults - d->st.device_faults, M.faults);
	if (M.kcalls_known)
		MASSERT(s.kernel_calls - *kc == M.kcalls,
			"kernel_calls went up by %" PRIu64 ", expected %" PRIu64,
			s.kernel_calls - *kc, M.kcalls);
	if (M.bounced_known)
		MASSERT(s.bytes_bounced - d->st.bytes_bounced == M.bounced,
			"bytes_bounced went up by %" PRIu64 ", expected %" PRIu64,
			s.bytes_bounced - d->st.bytes_bounced, M.bounced);
	MASSERT(s.bytes_bounced >= d->st.bytes_bounced, "bytes_bounced went down");
	MASSERT(s.windows_live == d->nw, "%" PRIu64 " windows live, expected %u",
		s.windows_live, d->nw);
	d->st = s;
	*kc = s.kernel_calls;
}

static void model_open(struct mdev *d, const char *spec, bool iommu,
		       bool untrusted, bool force, unsigned int mask,
		       size_t gran, bool unchecked)
{
	int r;

	memset(d, 0, sizeof(*d));
	d->unchecked = unchecked;
	dmasplit_ctx_set_check(ctx, !unchecked);
	d->spec = spec;
	d->iommu = iommu;
	d->untrusted = untrusted;
	d->force = force;
	/* The IOMMU's 48-bit aperture bounds what a translated device is
	 * handed, whatever its mask. */
	d->mask = iommu && mask > 48 ? 48 : mask;
	d->gran = gran;
	/* A full pool would fail a map the model expects to succeed: with
	 * at most 8 live mappings of up to 4 pieces of 16 KiB (8 slots), one
	 * of the 16 segments of a 4 MiB pool holds at most 2 pieces, so it
	 * has a free run of more than 36 slots for the next. */
	d->maxlen = force ? 4 * G : 3 * gran;
	r = dmasplit_dev_open(ctx, spec, &d->dev);
	MASSERT(r == 0, "open %s: expected 0, got %d", spec, r);
	d->st.size = sizeof(d->st);
	ck_assert_int_eq(dmasplit_dev_get_stats(d->dev, &d->st), 0);
}

static void model_close(struct mdev *d)
{
	M.faults = M.bounced = M.kcalls = 0;
	M.bounced_known = true;
	M.kcalls_known = false;
	while (d->nm) {
		struct mmapping *m = &d->m[d->nm - 1];

		if (m->kind == MK_MAP) {
			snprintf(M.what, sizeof(M.what), "%s: final unmap", d->spec);
			MASSERT(dmasplit_unmap(d->dev, m->p[0].dma, m->p[0].len, m->dir, 0) == 0,
				"unmap failed");
			piece_release(d, &m->p[0], m->dir, 0);
			d->nm--;
		} else if (m->kind == MK_VEC) {
			unsigned int i;

			snprintf(M.what, sizeof(M.what), "%s: final unmap_vec", d->spec);
			MASSERT(dmasplit_unmap_vec(d->dev, m->segs, m->nsegs, m->dir, 0) == 0,
				"unmap_vec failed");
			for (i = 0; i < m->n; i++)
				piece_release(d, &m->p[i], m->dir, 0);
			d->nm--;
		} else {
			free_coherent(d, m);
		}
	}
	while (d->nw)
		destroy_window(d, d->nw - 1);
	check_stats(d);
	dmasplit_dev_close(d->dev);
}

START_TEST(random_sequences_match_the_reference_model)
{
	const char *env = getenv("DMASPLIT_TEST_SEED");
	unsigned int total = 0, i;
	size_t k;

	memset(&M, 0, sizeof(M));
	M.seed = env && *env ? strtoull(env, NULL, 0) : 20241031;
	M.rng = M.seed;
	/* Host memory below 2 GiB (reached in place under a 32-bit mask)
	 * and above 4 GiB (bounced under it), wherever the system allows. */
	if (!hostmem_at(&M.mem[0], ARENA, 0x10000000ull, 0x80000000ull))
		hostmem_any(&M.mem[0], ARENA);
	if (!hostmem_at(&M.mem[1], ARENA, FOUR_GIB, USER_TOP))
		hostmem_any(&M.mem[1], ARENA);
	for (i = 0; i < 2; i++) {
		M.r[i].base = M.mem[i].p;
		M.r[i].len = ARENA;
		M.r[i].live = true;
		sh_new(&M.r[i].s, ARENA, true);
		for (k = 0; k < ARENA; k++)
			M.r[i].base[k] = M.r[i].s.v[k] = (uint8_t)rnd();
	}
	dmasplit_ctx_set_log_fn(ctx, model_log, NULL);
	snprintf(M.what, sizeof(M.what), "opening the devices");
	for (i = 0; i < 2; i++) {
		/* The same devices with the checker on, then off. */
		bool off = i;

		model_open(&M.d[4 * i], off ? "sim:n1,as=s" : "sim:m1,as=s", true, false, false, 64, 4096, off);
		M.d[4 * i].space = 1;
		model_open(&M.d[4 * i + 1], off ? "sim:n2,iommu=off,bounce=force,pool=4M"
						: "sim:m2,iommu=off,bounce=force,pool=4M",
			   false, false, true, 64, 4096, off);
		model_open(&M.d[4 * i + 2], off ? "sim:n3,untrusted=1,granule=16384"
						: "sim:m3,untrusted=1,granule=16384",
			   true, true, false, 64, 16384, off);
		model_open(&M.d[4 * i + 3], off ? "sim:n4,iommu=off,mask=32" : "sim:m4,iommu=off,mask=32",
			   false, false, false, 32, 4096, off);
	}
	/* One address space for four devices, checked and not, of three
	 * reaches, one untrusted: the narrowest bounds every address. */
	model_open(&M.d[8], "sim:m5,as=s,mask=40", true, false, false, 40, 4096, false);
	model_open(&M.d[9], "sim:n5,as=s,untrusted=1,mask=36", true, true, false, 36, 4096, true);
	M.d[8].space = M.d[9].space = 1;
	for (i = 0; i < M_DEVS; i++)
		if (M.d[i].space)
			M.space_kcalls[M.d[i].space] = M.d[i].st.kernel_calls;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		total += steps[i].weight;

	for (M.step = 0; M.step < M_STEPS; M.step++) {
		struct mdev *d = &M.d[below(M_DEVS)];
		uint64_t dmar = M.dmar;

		do {
			unsigned int pick = (unsigned int)below(total);

			for (i = 0; pick >= steps[i].weight; i++)
				pick -= steps[i].weight;
		} while (steps[i].windows && !d->iommu);
		snprintf(M.what, sizeof(M.what), "%s: nothing", d->spec);
		M.faults = M.bounced = M.kcalls = 0;
		M.kcalls_known = M.bounced_known = true;
		M.ndirty = 0;
		steps[i].fn(d);
		if (!d->iommu) {
			/* No IOMMU, nothing to invalidate. */
			M.kcalls_known = true;
			M.kcalls = 0;
		}
		check_stats(d);
		MASSERT(M.dmar - dmar == M.faults, "%" PRIu64 " DMAR lines, expected %" PRIu64,
			M.dmar - dmar, M.faults);
		if (M.ndirty > M_DIRTY || M.step % 64 == 63) {
			verify_all();
		} else {
			for (k = 0; k < M.ndirty; k++)
				verify_host(M.dirty[k].p, M.dirty[k].len, "host bytes the step changed");
		}
	}
	for (i = 0; i < M_DEVS; i++)
		model_close(&M.d[i]);
	snprintf(M.what, sizeof(M.what), "after closing the devices");
	verify_all();
	MASSERT(M.skipped < M_STEPS / 4, "%u of %u steps were left open by the contract",
		M.skipped, M_STEPS);
	MASSERT(M.refused > M_STEPS / 200, "only %u misuses tried and refused", M.refused);
	MASSERT(M.peer_hits > M_STEPS / 1000, "only %u accesses reached another member's mapping",
		M.peer_hits);
	fprintf(stderr, "model: seed %" PRIu64 ", %u steps, %u device accesses checked (%u faults), %u accesses the contract leaves open, %u misuses refused, %u predictions from another member's mapping\n",
		M.seed, M_STEPS, M.accesses, M.faulted, M.skipped, M.refused, M.peer_hits);
	for (i = 0; i < M_REGIONS; i++)
		if (M.r[i].live)
			sh_free(&M.r[i].s);
	hostmem_free(&M.mem[0]);
	hostmem_free(&M.mem[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim");
	TCase *tc;

	tu_plugin_dir();
	tc = tcase_create("model");
	tcase_add_checked_fixture(tc, sim_setup, sim_teardown);
	tcase_add_test(tc, random_sequences_match_the_reference_model);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
