// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The context: reference counting, logging, configuration from the
 * environment and from setters, and what the last unref releases.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "testutil.h"

static const char *const both[] = { "testa", "testb", NULL };

START_TEST(new_ref_unref)
{
	struct dmasplit_ctx *ctx = NULL;

	ck_assert_int_eq(dmasplit_ctx_new(NULL), -EINVAL);
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_ptr_eq(dmasplit_ctx_ref(ctx), ctx);
	/* The first unref leaves one reference: the context still works. */
	ck_assert_ptr_null(dmasplit_ctx_unref(ctx));
	dmasplit_ctx_set_userdata(ctx, &ctx);
	ck_assert_ptr_eq(dmasplit_ctx_get_userdata(ctx), &ctx);
	ck_assert_ptr_null(dmasplit_ctx_unref(ctx));
	ck_assert_ptr_null(dmasplit_ctx_ref(NULL));
	ck_assert_ptr_null(dmasplit_ctx_unref(NULL));
}
END_TEST

START_TEST(null_context_is_refused_everywhere)
{
	struct dmasplit_dev *dev = NULL;
	struct dmasplit_backend *be = NULL;

	ck_assert_int_eq(dmasplit_ctx_get_log_priority(NULL), -EINVAL);
	ck_assert_int_eq(dmasplit_ctx_get_check(NULL), -EINVAL);
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(NULL, "/x"), -EINVAL);
	ck_assert_int_eq(dmasplit_ctx_set_builtin_backends(NULL, 1), -EINVAL);
	ck_assert_int_eq(dmasplit_ctx_set_backend(NULL, "x"), -EINVAL);
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(NULL, "/x"), -EINVAL);
	ck_assert_ptr_null(dmasplit_ctx_get_sysfs_root(NULL));
	ck_assert_ptr_null(dmasplit_ctx_get_userdata(NULL));
	ck_assert_int_eq(dmasplit_ctx_load_backends(NULL), -EINVAL);
	ck_assert_ptr_null(dmasplit_backend_next(NULL, NULL));
	ck_assert_int_eq(dmasplit_backend_find(NULL, "x", &be), -EINVAL);
	ck_assert_int_eq(dmasplit_dev_open(NULL, "sim:x", &dev), -EINVAL);
	ck_assert_int_eq(dmasplit_dev_open_backend(NULL, "sim:x", "testa", &dev),
			 -EINVAL);
	ck_assert_ptr_null(dev);
	ck_assert_ptr_null(dmasplit_backend_get_name(NULL));
	ck_assert_ptr_null(dmasplit_backend_get_uuid(NULL));
	ck_assert_ptr_null(dmasplit_backend_get_version(NULL));
	ck_assert_ptr_null(dmasplit_backend_get_path(NULL));
	ck_assert_ptr_null(dmasplit_backend_get_description(NULL));
	/* Setters without a return value ignore NULL. */
	dmasplit_ctx_set_log_fn(NULL, NULL, NULL);
	dmasplit_ctx_set_log_priority(NULL, LOG_DEBUG);
	dmasplit_ctx_set_userdata(NULL, NULL);
	dmasplit_ctx_set_check(NULL, 1);
}
END_TEST

struct seen {
	unsigned int lines;
	int priority;
	char last[256];
	void *data;
};

TU_LOG_FN
static void record(void *data, int priority, const char *file, int line,
		   const char *fn, const char *format, va_list args)
{
	struct seen *s = data;

	s->lines++;
	s->priority = priority;
	s->data = data;
	vsnprintf(s->last, sizeof(s->last), format, args);
	ck_assert_ptr_nonnull(file);
	ck_assert_ptr_nonnull(fn);
	ck_assert_int_gt(line, 0);
}

START_TEST(log_goes_to_callback_filtered_by_priority)
{
	struct dmasplit_ctx *ctx;
	struct dmasplit_dev *dev;
	struct seen seen = { 0 };

	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	ck_assert_int_eq(dmasplit_ctx_get_log_priority(ctx), LOG_ERR);
	dmasplit_ctx_set_log_fn(ctx, record, &seen);
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx, "/nonexistent"), 0);
	ck_assert_int_eq(dmasplit_ctx_set_builtin_backends(ctx, 0), 0);
	/* Debug lines (the empty backend directory) are filtered out... */
	ck_assert_int_eq(dmasplit_ctx_load_backends(ctx), 0);
	ck_assert_uint_eq(seen.lines, 0);
	/* ...errors are not, one line each, without a newline. */
	ck_assert_int_eq(dmasplit_dev_open(ctx, "bogus", &dev), -EINVAL);
	ck_assert_uint_eq(seen.lines, 1);
	ck_assert_int_eq(seen.priority, LOG_ERR);
	ck_assert_ptr_eq(seen.data, &seen);
	ck_assert_ptr_nonnull(strstr(seen.last, "device spec 'bogus'"));
	ck_assert_ptr_null(strchr(seen.last, '\n'));

	dmasplit_ctx_set_log_priority(ctx, LOG_DEBUG);
	ck_assert_int_eq(dmasplit_ctx_get_log_priority(ctx), LOG_DEBUG);
	seen.lines = 0;
	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:x", &dev), -ENODEV);
	ck_assert_uint_ge(seen.lines, 1);
	/* Out-of-range priorities are clamped to syslog's range. */
	dmasplit_ctx_set_log_priority(ctx, 99);
	ck_assert_int_eq(dmasplit_ctx_get_log_priority(ctx), LOG_DEBUG);
	dmasplit_ctx_set_log_priority(ctx, -3);
	ck_assert_int_eq(dmasplit_ctx_get_log_priority(ctx), 0);
	/* A NULL log function silences the library. */
	dmasplit_ctx_set_log_priority(ctx, LOG_ERR);
	dmasplit_ctx_set_log_fn(ctx, NULL, NULL);
	seen.lines = 0;
	ck_assert_int_eq(dmasplit_dev_open(ctx, "bogus", &dev), -EINVAL);
	ck_assert_uint_eq(seen.lines, 0);
	dmasplit_ctx_unref(ctx);
}
END_TEST

static int priority_from_env(const char *value)
{
	struct dmasplit_ctx *ctx;
	int p;

	setenv("DMASPLIT_LOG", value, 1);
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	unsetenv("DMASPLIT_LOG");
	p = dmasplit_ctx_get_log_priority(ctx);
	dmasplit_ctx_unref(ctx);
	return p;
}

START_TEST(log_priority_from_environment)
{
	ck_assert_int_eq(priority_from_env("err"), LOG_ERR);
	ck_assert_int_eq(priority_from_env("info"), LOG_INFO);
	ck_assert_int_eq(priority_from_env("debug"), LOG_DEBUG);
	ck_assert_int_eq(priority_from_env("DEBUG"), LOG_DEBUG);
	ck_assert_int_eq(priority_from_env("5"), 5);
	ck_assert_int_eq(priority_from_env("0"), 0);
	/* A typo is reported (on stderr) and ignored: the default stays. */
	ck_assert_int_eq(priority_from_env("verbose"), LOG_ERR);
	ck_assert_int_eq(priority_from_env("8"), LOG_ERR);
	ck_assert_int_eq(priority_from_env("-1"), LOG_ERR);
	ck_assert_int_eq(priority_from_env(""), LOG_ERR);
	/* Digits only: no blanks, no sign. */
	ck_assert_int_eq(priority_from_env(" 7"), LOG_ERR);
	ck_assert_int_eq(priority_from_env("+7"), LOG_ERR);
	ck_assert_int_eq(priority_from_env("7 "), LOG_ERR);
	ck_assert_int_eq(priority_from_env("07"), LOG_DEBUG);
	ck_assert_int_eq(priority_from_env("error"), LOG_ERR);
}
END_TEST

static int check_from_env(const char *value)
{
	struct dmasplit_ctx *ctx;
	int c;

	if (value)
		setenv("DMASPLIT_CHECK", value, 1);
	else
		unsetenv("DMASPLIT_CHECK");
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	c = dmasplit_ctx_get_check(ctx);
	dmasplit_ctx_unref(ctx);
	return c;
}

START_TEST(checker_from_environment_and_setter)
{
	const char *saved = getenv("DMASPLIT_CHECK");
	char *copy = saved ? strdup(saved) : NULL;
	struct dmasplit_ctx *ctx;

	ck_assert_int_eq(check_from_env(NULL), 0);
	ck_assert_int_eq(check_from_env("1"), 1);
	ck_assert_int_eq(check_from_env("on"), 1);
	ck_assert_int_eq(check_from_env("yes"), 1);
	ck_assert_int_eq(check_from_env("0"), 0);
	ck_assert_int_eq(check_from_env("off"), 0);
	ck_assert_int_eq(check_from_env("maybe"), 0);
	unsetenv("DMASPLIT_CHECK");
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	dmasplit_ctx_set_check(ctx, 7);
	ck_assert_int_eq(dmasplit_ctx_get_check(ctx), 1);
	dmasplit_ctx_set_check(ctx, 0);
	ck_assert_int_eq(dmasplit_ctx_get_check(ctx), 0);
	dmasplit_ctx_unref(ctx);
	if (copy)
		setenv("DMASPLIT_CHECK", copy, 1);
	free(copy);
}
END_TEST

START_TEST(unref_with_open_devices_keeps_the_context_for_them)
{
	struct dmasplit_ctx *ctx = tu_ctx_with(both);
	struct dmasplit_dev *a, *b;
	struct dmasplit_iova *iova;
	uint64_t dma;
	static char buf[8192];

	dmasplit_ctx_set_check(ctx, 1);
	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:a", &a), 0);
	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:b,testb.score=50", &b), 0);
	ck_assert_int_eq(dmasplit_iova_alloc(a, 8192, 0, &iova), 0);
	ck_assert_int_eq(dmasplit_iova_link(iova, 0, buf, 4096,
					    DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_map(b, buf, 100, DMASPLIT_FROM_DEVICE, 0, &dma), 0);
	/* A reference taken elsewhere keeps everything alive. */
	dmasplit_ctx_ref(ctx);
	dmasplit_ctx_unref(ctx);
	ck_assert(!tu_log_has("stays for"));
	tu_log_clear();
	/* The application's last reference: its devices are its own, so
	 * they stay open and the context stays for them. */
	tu_ctx_free(ctx);
	ck_assert_msg(tu_log_has("stays for 2 open devices and 0 closed ones") &&
		      !tu_log_has("leaked") && !tu_log_has(": close"),
		      "expected the context to stay for 2 devices, log:\n%s",
		      tu_log_text());
	ck_assert_int_eq(dmasplit_iova_link(iova, 4096, buf + 4096, 4096,
					    DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_sync_for_cpu(b, dma, 100, DMASPLIT_FROM_DEVICE), 0);
	tu_log_clear();
	/* Closing one releases it (its leak reported), the other stays. */
	dmasplit_dev_close(b);
	ck_assert_msg(tu_log_has("b: leaked dmasplit_map mapping") &&
		      tu_log_has("testb: close") && !tu_log_has("testa: close"),
		      "log:\n%s", tu_log_text());
	tu_log_clear();
	ck_assert_int_eq(dmasplit_iova_unlink(iova, 0, 8192, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(a);
	ck_assert_msg(tu_log_has("a: leaked window") && !tu_log_has("testa: close"),
		      "log:\n%s", tu_log_text());
	tu_log_clear();
	/* The last window releases its device, and the device the context. */
	dmasplit_iova_destroy(iova);
	ck_assert_msg(tu_log_has("testa: iova_destroy") &&
		      tu_log_has("testa: close"), "log:\n%s", tu_log_text());
}
END_TEST

#define WINDOW_THREADS 8

struct window_thread {
	struct dmasplit_iova *iova;
	char buf[4096] __attribute__((aligned(4096)));
	int failed;
};

/* Works on its window, then destroys it: whichever thread is last
 * releases the device, and with it the context. */
static void *window_thread(void *arg)
{
	struct window_thread *t = arg;
	unsigned int i;

	for (i = 0; i < 2000 && !t->failed; i++)
		t->failed = dmasplit_iova_link(t->iova, 0, t->buf, sizeof(t->buf),
					       DMASPLIT_TO_DEVICE, 0) ||
			    dmasplit_iova_sync(t->iova, 0, sizeof(t->buf)) ||
			    dmasplit_iova_unlink(t->iova, 0, sizeof(t->buf),
						 DMASPLIT_TO_DEVICE, 0);
	dmasplit_iova_destroy(t->iova);
	return NULL;
}

/* The test capture is for one thread: these count under a lock. */
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int closes, destroys;

TU_LOG_FN
static void count_lines(void *data, int priority, const char *file, int line,
			const char *fn, const char *format, va_list args)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), format, args);
	pthread_mutex_lock(&count_lock);
	closes += strstr(msg, "testa: close") != NULL;
	destroys += strstr(msg, "testa: iova_destroy") != NULL;
	pthread_mutex_unlock(&count_lock);
}

START_TEST(windows_release_their_device_from_any_thread)
{
	static struct window_thread t[WINDOW_THREADS];
	struct dmasplit_ctx *ctx = tu_ctx_with(both);
	pthread_t tid[WINDOW_THREADS];
	struct dmasplit_dev *dev;
	unsigned int i;

	dmasplit_ctx_set_check(ctx, 1);
	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:mt", &dev), 0);
	for (i = 0; i < WINDOW_THREADS; i++) {
		t[i].failed = 0;
		ck_assert_int_eq(dmasplit_iova_alloc(dev, 4096, 0, &t[i].iova), 0);
	}
	/* Start the threads with only the windows' references left. */
	closes = destroys = 0;
	dmasplit_ctx_set_log_fn(ctx, count_lines, NULL);
	dmasplit_dev_close(dev);
	tu_ctx_free(ctx);
	for (i = 0; i < WINDOW_THREADS; i++)
		ck_assert_int_eq(pthread_create(&tid[i], NULL, window_thread, &t[i]), 0);
	for (i = 0; i < WINDOW_THREADS; i++) {
		pthread_join(tid[i], NULL);
		ck_assert_msg(!t[i].failed, "thread %u: a call on its window failed", i);
	}
	ck_assert_msg(closes == 1 && destroys == WINDOW_THREADS,
		      "expected %d destroys and one close, got %u and %u",
		      WINDOW_THREADS, destroys, closes);
}
END_TEST

struct cancelled {
	struct dmasplit_ctx *ctx;
	struct dmasplit_dev *dev;
	int open_r, map_r;
	int state_after;	/* the thread's cancel state after them */
	unsigned int lines;
};

/* A log function at a cancellation point, as one that writes is. */
TU_LOG_FN
static void log_then_testcancel(void *data, int priority, const char *file,
				int line, const char *fn, const char *format,
				va_list args)
{
	struct cancelled *c = data;

	(void)priority, (void)file, (void)line, (void)fn, (void)format,
		(void)args;
	__atomic_add_fetch(&c->lines, 1, __ATOMIC_RELAXED);
	pthread_testcancel();
}

static void *cancelled_thread(void *arg)
{
	struct cancelled *c = arg;
	struct dmasplit_dev *dev = NULL;
	uint64_t dma;

	/* Pending from here on: the next cancellation point acts on it. */
	pthread_cancel(pthread_self());
	c->open_r = dmasplit_dev_open(c->ctx, "bogus", &dev);
	c->map_r = dmasplit_map(c->dev, NULL, 4096, DMASPLIT_TO_DEVICE, 0, &dma);
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &c->state_after);
	/* AddressSanitizer leaves the frames a cancellation unwinds
	 * poisoned, and then reports the thread's exit as an overflow. */
	if (!UNDER_ASAN)
		pthread_testcancel();
	return NULL;
}

/* A thread cancelled during a call that logs leaves the library when the
 * call returns, at its own next cancellation point: inside, it could
 * leave a lock of the library held (libdmasplit(3), Thread safety). */
START_TEST(cancellation_waits_for_the_call_to_return)
{
	struct cancelled c = { .open_r = 1, .map_r = 1, .state_after = -1 };
	pthread_t tid;
	void *ret = NULL;

	c.ctx = tu_ctx_with(both);
	ck_assert_int_eq(dmasplit_dev_open(c.ctx, "sim:cancel", &c.dev), 0);
	dmasplit_ctx_set_log_fn(c.ctx, log_then_testcancel, &c);
	ck_assert_int_eq(pthread_create(&tid, NULL, cancelled_thread, &c), 0);
	ck_assert_int_eq(pthread_join(tid, &ret), 0);
	/* Both calls returned, each having logged its one line, and left
	 * the thread cancellable, its cancel still pending. */
	ck_assert_int_eq(c.open_r, -EINVAL);
	ck_assert_int_eq(c.map_r, -EINVAL);
	ck_assert_uint_eq(c.lines, 2);
	ck_assert_int_eq(c.state_after, PTHREAD_CANCEL_ENABLE);
	ck_assert_ptr_eq(ret, UNDER_ASAN ? NULL : PTHREAD_CANCELED);
	dmasplit_dev_close(c.dev);
	tu_ctx_free(c.ctx);
}
END_TEST

START_TEST(setters_copy_their_strings)
{
	struct dmasplit_ctx *ctx;
	char root[32];

	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	snprintf(root, sizeof(root), "/tmp/some-root");
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, root), 0);
	root[0] = 'X';
	ck_assert_str_eq(dmasplit_ctx_get_sysfs_root(ctx), "/tmp/some-root");
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, ""), 0);
	ck_assert_str_eq(dmasplit_ctx_get_sysfs_root(ctx), "/sys");
	ck_assert_int_eq(dmasplit_ctx_set_backend(ctx, ""), 0);
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx, NULL), 0);
	dmasplit_ctx_unref(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctx");
	TCase *tc = tcase_create("ctx");

	tcase_add_test(tc, new_ref_unref);
	tcase_add_test(tc, null_context_is_refused_everywhere);
	tcase_add_test(tc, log_goes_to_callback_filtered_by_priority);
	tcase_add_test(tc, log_priority_from_environment);
	tcase_add_test(tc, checker_from_environment_and_setter);
	tcase_add_test(tc, setters_copy_their_strings);
	tu_add_test_if(tc, unref_with_open_devices_keeps_the_context_for_them,
		       getenv("DMASPLIT_TEST_PLUGINS") != NULL,
		       "test plugins not built");
	tu_add_test_if(tc, windows_release_their_device_from_any_thread,
		       getenv("DMASPLIT_TEST_PLUGINS") != NULL,
		       "test plugins not built");
	tu_add_test_if(tc, cancellation_waits_for_the_call_to_return,
		       getenv("DMASPLIT_TEST_PLUGINS") != NULL,
		       "test plugins not built");
	suite_add_tcase(s, tc);
	return tu_main(s);
}
