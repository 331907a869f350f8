// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit bench, figure 8: map and unmap from two threads.
 *
 * Measured: map+unmap pairs per second of two threads, each on a device
 * of its own, mapping and unmapping a page of its own, pinned to CPUs of
 * their own where there are two.  Two threads sharing one device are
 * shown beside it, not judged; so are one-page windows (alloc, link,
 * sync, unlink, destroy) made by one thread and by two threads on one
 * device, as I/O queues served by threads of their own make them: one
 * at a time, and THREADS_DEEP in flight, as a deep queue keeps them.
 * Baseline: one thread doing the same.
 * Target: at least 1.7 times one thread's rate.  Devices share nothing
 * the library or the backend need not share, so two threads should come
 * close to twice one; a global lock or a cache line they fight over
 * shows as much less.  That holds only if the machine gave each thread a
 * CPU: each thread's CPU time (CLOCK_THREAD_CPUTIME_ID) is measured
 * against the wall time, and the figure is not judged when either got
 * less than 90% of a CPU, or when the process may use one CPU only.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

/* A thread that got less of a CPU than this did not have one. */
#define THREADS_MIN_CPU_SHARE 0.9

/* The windows a thread keeps in flight in the deep-queue rows: past the
 * 64 spare objects a thread keeps per device and the 64 addresses of a
 * size a CPU's cache keeps, so that both trade with what is behind
 * them. */
#define THREADS_DEEP 128

struct threads_data {
	unsigned long count;	/* pairs per thread and sample */
	int cpus[2];		/* the workers' CPUs, or -1 */
	double rate1, rate2_same, rate2_two;	/* pairs per second */
	double win1, win2_same;		/* windows per second */
	double deep1, deep2_same;	/* the same, THREADS_DEEP in flight */
	struct paired same, two, win_same, deep_same;	/* 2 threads / 1,
							 * round by round */
	double share;	/* median of the least CPU share of two threads */
};

/* Holds the workers until all exist, or sends them home if one could
 * not be created (a barrier would keep the others waiting for ever). */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int state;	/* 0: wait, 1: go, -1: give up */
};

static bool gate_wait(struct gate *g)
{
	int state;

	pthread_mutex_lock(&g->lock);
	while (!g->state)
		pthread_cond_wait(&g->cond, &g->lock);
	state = g->state;
	pthread_mutex_unlock(&g->lock);
	return state > 0;
}

static void gate_open(struct gate *g, int state)
{
	pthread_mutex_lock(&g->lock);
	g->state = state;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

struct worker {
	struct bench *b;
	struct dmasplit_dev *dev;
	void *buf;		/* its own page */
	unsigned long count;
	unsigned int in_flight;	/* one-page windows so many at a time; 0:
				 * map+unmap pairs */
	unsigned long done;
	int cpu;		/* to run on, or -1 */
	struct gate *gate;
	uint64_t t0, t1;
	uint64_t c0, c1;	/* its own CPU time */
	int err;
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A thread the scheduler moves between CPUs hands its per-CPU state in
 * the library and the backend from one CPU to the other; pinned, each
 * thread measures its own CPU's path, as in a pinned polling driver. */
static void pin_to(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* n one-page windows in flight (one_page_window() when n is 1): all
 * made and linked, then each synced, unlinked and destroyed, oldest
 * first, as a queue completes them. */
static int window_burst(struct dmasplit_dev *dev, size_t page, void *buf,
			unsigned int n)
{
	struct dmasplit_iova *iova[THREADS_DEEP];
	unsigned int made, i;
	int r = 0;

	for (made = 0; made < n && r >= 0; made++) {
		r = dmasplit_iova_alloc(dev, page, 0, &iova[made]);
		if (r < 0)
			break;
		r = dmasplit_iova_link(iova[made], 0, buf, page,
				       DMASPLIT_BIDIRECTIONAL, 0);
	}
	for (i = 0; i < made; i++)
		r = window_end(iova[i], page, r);
	return r;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned long k;
	uint64_t dma;
	int r = 0;

	pin_to(w->cpu);
	if (!gate_wait(w->gate))
		return NULL;
	w->c0 = thread_cpu_ns();
	w->t0 = now_ns();
	for (k = 0; k < w->count && r >= 0;) {
		if (w->in_flight) {
			r = window_burst(w->dev, w->b->page, w->buf,
					 w->in_flight);
			k += w->in_flight;
			continue;
		}
		r = dmasplit_map(w->dev, w->buf, w->b->page,
				 DMASPLIT_BIDIRECTIONAL, 0, &dma);
		if (r >= 0)
			r = dmasplit_unmap(w->dev, dma, w->b->page,
					   DMASPLIT_BIDIRECTIONAL, 0);
		k++;
	}
	w->t1 = now_ns();
	w->c1 = thread_cpu_ns();
	w->done = k;
	w->err = r;
	return NULL;
}

/* Pairs (or windows) per second over the wall time from the first start
 * to the last finish, and the least share of a CPU a thread got over its
 * own run. */
static int threads_sample(struct bench *b, const struct threads_data *d,
			  struct dmasplit_dev **devs, unsigned int n,
			  unsigned int in_flight, void **bufs, double *rate,
			  double *share)
{
	struct gate gate = {
		PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0
	};
	pthread_t tid[2];
	struct worker w[2];
	uint64_t t0 = UINT64_MAX, t1 = 0;
	unsigned long done = 0;
	unsigned int i, started;
	double sh;
	int r = 0;

	for (started = 0; started < n; started++) {
		w[started] = (struct worker){
			.b = b, .dev = devs[started], .buf = bufs[started],
			.count = d->count, .in_flight = in_flight,
			.cpu = d->cpus[started],
			.gate = &gate,
		};
		r = -pthread_create(&tid[started], NULL, worker_main,
				    &w[started]);
		if (r < 0)
			break;
	}
	gate_open(&gate, r < 0 ? -1 : 1);
	for (i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	pthread_cond_destroy(&gate.cond);
	pthread_mutex_destroy(&gate.lock);
	if (r < 0)
		return failed(b, "pthread_create", r);
	*share = 1;
	for (i = 0; i < n; i++) {
		if (w[i].err < 0)
			return failed(b, in_flight ? "a window of one page"
						   : "dmasplit_map/unmap",
				      w[i].err);
		done += w[i].done;
		sh = (double)(w[i].c1 - w[i].c0) /
		     (double)(w[i].t1 > w[i].t0 ? w[i].t1 - w[i].t0 : 1);
		if (sh < *share)
			*share = sh;
		if (w[i].t0 < t0)
			t0 = w[i].t0;
		if (w[i].t1 > t1)
			t1 = w[i].t1;
	}
	*rate = (double)done * 1e9 / (double)(t1 - t0);
	return 0;
}

/*
 * Pairs per thread and sample, for a sample of about target_ns on one
 * thread: the threads' start and finish are never quite together, and
 * that skew must stay small beside the sample however fast the
 * operations are.
 */
static int thread_count(struct bench *b, void *buf, uint64_t target_ns,
			unsigned long *count)
{
	const unsigned long probe = 20000;
	unsigned long k, n;
	uint64_t t0, t, dma;
	int r, pass;

	for (pass = 0; pass < 2; pass++) {	/* the first one warms */
		t0 = now_ns();
		for (k = 0; k < probe; k++) {
			r = dmasplit_map(b->dev, buf, b->page,
					 DMASPLIT_BIDIRECTIONAL, 0, &dma);
			if (r >= 0)
				r = dmasplit_unmap(b->dev, dma, b->page,
						   DMASPLIT_BIDIRECTIONAL, 0);
			if (r < 0)
				return failed(b, "dmasplit_map/unmap", r);
		}
		t = now_ns() - t0;
	}
	n = (unsigned long)((double)target_ns * probe / (double)(t ? t : 1));
	*count = n < probe ? probe : n > 100 * probe ? 100 * probe : n;
	return 0;
}

/* The first two CPUs this process may use; -1 where there is none. */
static void pick_cpus(struct threads_data *d)
{
	cpu_set_t set;
	int cpu, n = 0;

	d->cpus[0] = d->cpus[1] = -1;
	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	for (cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++)
		if (CPU_ISSET(cpu, &set))
			d->cpus[n++] = cpu;
	/* One CPU: pinning both threads to it would only serialise them
	 * more surely than the scheduler does. */
	if (n < 2)
		d->cpus[0] = -1;
}

static void measure_threads(struct bench *b, void *data)
{
	enum { VARIANTS = 7 };
	unsigned int samples = b->quick ? 3 : 9, i, v, k;
	double rates[VARIANTS][MAX_SAMPLES], ratios[4][MAX_SAMPLES];
	double shares[VARIANTS][MAX_SAMPLES];
	struct threads_data *d = data;
	struct dmasplit_dev *other = NULL;
	struct dmasplit_dev *devs[VARIANTS][2];
	void *bufs[2] = { NULL, NULL };
	/* 0: one thread; 1: two threads, one device; 2: two devices; 3
	 * and 4: one thread, and two on one device, making windows; 5 and
	 * 6: the same with THREADS_DEEP in flight. */
	static const unsigned int nthreads[VARIANTS] = { 1, 2, 2, 1, 2, 1, 2 };
	static const unsigned int in_flight[VARIANTS] = {
		0, 0, 0, 1, 1, THREADS_DEEP, THREADS_DEEP
	};
	int r;

	r = dmasplit_dev_open(b->ctx, b->spec, &other);
	if (r < 0) {
		failed(b, "opening a second device", r);
		return;
	}
	for (i = 0; i < 2; i++) {
		bufs[i] = aligned_alloc(b->page, b->page);
		if (!bufs[i]) {
			failed(b, "allocating a page", -ENOMEM);
			goto out;
		}
		memset(bufs[i], 0, b->page);
	}
	pick_cpus(d);
	r = thread_count(b, bufs[0], b->quick ? 20000000 : 100000000,
			 &d->count);
	if (r < 0)
		goto out;
	devs[0][0] = devs[1][0] = devs[1][1] = devs[2][0] = b->dev;
	devs[3][0] = devs[4][0] = devs[4][1] = b->dev;
	devs[5][0] = devs[6][0] = devs[6][1] = b->dev;
	devs[0][1] = devs[2][1] = devs[3][1] = devs[5][1] = other;
	for (i = 0; i < samples; i++) {
		progress(b, "sample %u of %u", i + 1, samples);
		/* Rotate the order, as compare() alternates it. */
		for (k = 0; k < VARIANTS; k++) {
			v = (i + k) % VARIANTS;
			r = threads_sample(b, d, devs[v], nthreads[v],
					   in_flight[v], bufs, &rates[v][i],
					   &shares[v][i]);
			if (r < 0)
				goto out;
		}
		ratios[0][i] = rates[1][i] / rates[0][i];
		ratios[1][i] = rates[2][i] / rates[0][i];
		ratios[2][i] = rates[4][i] / rates[3][i];
		ratios[3][i] = rates[6][i] / rates[5][i];
	}
	d->rate1 = median(rates[0], samples);
	d->rate2_same = median(rates[1], samples);
	d->rate2_two = median(rates[2], samples);
	d->win1 = median(rates[3], samples);
	d->win2_same = median(rates[4], samples);
	d->deep1 = median(rates[5], samples);
	d->deep2_same = median(rates[6], samples);
	d->share = median(shares[2], samples);
	spread_of(ratios[0], samples, &d->same);
	spread_of(ratios[1], samples, &d->two);
	spread_of(ratios[2], samples, &d->win_same);
	spread_of(ratios[3], samples, &d->deep_same);
	if (d->cpus[0] < 0)
		not_judged(b, 0, &d->two, "not judged: one CPU given");
	else if (d->share < THREADS_MIN_CPU_SHARE)
		not_judged(b, 0, &d->two,
			   "not judged: a thread got %.0f%% of a CPU",
			   d->share * 100);
	else
		judge(b, 0, &d->two,
		      "2 threads on 2 devices, each got >= %.0f%% of a CPU",
		      d->share * 100);
out:
	free(bufs[0]);
	free(bufs[1]);
	dmasplit_dev_close(other);
}

static void text_threads(const struct bench *b, const void *data)
{
	const struct threads_data *d = data;

	text_head(b, "each thread maps and unmaps its own page on its own device");
	if (d->cpus[0] >= 0)
		printf("   threads pinned to CPUs %d and %d\n", d->cpus[0],
		       d->cpus[1]);
	else
		printf("   one CPU given: the threads take turns\n");
	if (b->res[b->cur].done) {
		printf("   %-28s %12.0f pairs/s\n", "1 thread", d->rate1);
		printf("   %-28s %12.0f pairs/s  %5.2fx  (judged)\n",
		       "2 threads, two devices", d->rate2_two, d->two.ratio);
		printf("   %-28s %12.0f pairs/s  %5.2fx  (shown)\n",
		       "2 threads, one device", d->rate2_same, d->same.ratio);
		printf("   one-page windows (alloc, link, sync, unlink, destroy):\n");
		printf("   %-28s %12.0f windows/s\n", "1 thread", d->win1);
		printf("   %-28s %12.0f windows/s  %5.2fx  (shown)\n",
		       "2 threads, one device", d->win2_same,
		       d->win_same.ratio);
		printf("   the same, %d in flight per thread:\n", THREADS_DEEP);
		printf("   %-28s %12.0f windows/s\n", "1 thread", d->deep1);
		printf("   %-28s %12.0f windows/s  %5.2fx  (shown)\n",
		       "2 threads, one device", d->deep2_same,
		       d->deep_same.ratio);
		printf("   CPU time / wall time of the less served of two threads: %.0f%%\n",
		       d->share * 100);
	}
	text_target(b);
}

static void json_threads(struct json *j, const struct bench *b,
			 const void *data)
{
	const struct threads_data *d = data;
	unsigned int i;

	json_u64(j, "pairs_per_thread", d->count);
	json_open(j, "pinned_cpus", '[');
	for (i = 0; i < 2 && d->cpus[0] >= 0; i++)
		json_int(j, NULL, d->cpus[i]);
	json_close(j, ']');
	json_double(j, "one_thread_pairs_per_s", d->rate1);
	json_double(j, "two_threads_one_device_pairs_per_s", d->rate2_same);
	json_double(j, "two_threads_two_devices_pairs_per_s", d->rate2_two);
	json_double(j, "ratio_two_devices", d->two.ratio);
	json_double(j, "ratio_one_device", d->same.ratio);
	json_double(j, "one_thread_windows_per_s", d->win1);
	json_double(j, "two_threads_one_device_windows_per_s", d->win2_same);
	json_double(j, "ratio_one_device_windows", d->win_same.ratio);
	json_int(j, "deep_windows_in_flight", THREADS_DEEP);
	json_double(j, "one_thread_deep_windows_per_s", d->deep1);
	json_double(j, "two_threads_one_device_deep_windows_per_s",
		    d->deep2_same);
	json_double(j, "ratio_one_device_deep_windows", d->deep_same.ratio);
	json_double(j, "least_thread_cpu_share", d->share);
	json_double(j, "min_cpu_share_to_judge", THREADS_MIN_CPU_SHARE);
}

const struct figure fig_threads = {
	.key = "threads",
	.title = "map/unmap throughput, 2 threads vs 1, distinct devices",
	.ratio_of = "map+unmap pairs per second, 2 threads each on a device of its own / 1 thread, paired rounds",
	.goals = { { "2 threads vs 1, distinct devices", "x", false, 1.7 } },
	.ngoals = 1,
	.sim_only = true,
	.size = sizeof(struct threads_data),
	.measure = measure_threads,
	.text = text_threads,
	.json = json_threads,
};
