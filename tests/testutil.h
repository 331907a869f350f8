/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the test programs: TAP output for Check suites (one line per
 * test, named after the test, with skips that say why), a log capture to
 * assert on the library's one-line reports, and scratch plugin directories.
 */
#ifndef DMASPLIT_TESTUTIL_H
#define DMASPLIT_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>

#include <dmasplit/dmasplit.h>

/* Built with AddressSanitizer, whose mlock() and fork() differ. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* Built with ThreadSanitizer, whose mlock() is a no-op too. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

/* Both sanitizers make mlock() a no-op: VmLck never shows a pin, and a
 * page mlock() would have faulted in stays absent. */
#define MLOCK_IS_NOOP (UNDER_ASAN || UNDER_TSAN)

/* On a dmasplit_log_fn, so that the compiler checks the format it hands
 * on to vsnprintf as printf's. */
#define TU_LOG_FN __attribute__((format(printf, 6, 0)))

/* Record every test case's name, so that a run that selects some
 * (CK_RUN_CASE, CK_RUN_SUITE, CK_INCLUDE_TAGS, CK_EXCLUDE_TAGS) reports
 * the tests of the others as skipped. */
TCase *tu_tcase_create(const char *name);
#define tcase_create(name) tu_tcase_create(name)
/* Record every test's name, so that the TAP lines can carry it. */
void tu_add_test(TCase *tc, const TTest *test);
#undef tcase_add_test
#define tcase_add_test(tc, tf) tu_add_test((tc), (tf))
/* A loop test: one TAP line per iteration i, named NAME/i. */
void tu_add_loop_test(TCase *tc, const TTest *test, int start, int end);
#undef tcase_add_loop_test
#define tcase_add_loop_test(tc, tf, s, e) \
	tu_add_loop_test((tc), (tf), (s), (e))

/* Add test only when cond holds; otherwise report it as skipped, with why. */
void tu_add_test_if(TCase *tc, const TTest *test, bool cond,
		    const char *why);

/* Run the suite; print TAP; 0 when every test passed. */
int tu_main(Suite *s);

/* The whole program cannot run here: a TAP skip with the reason. */
void tu_skip_all(const char *why) __attribute__((noreturn));

/*
 * Log capture: every line the context logs, at any priority up to the one
 * set, is kept (and echoed to stderr for the test log).
 */
void tu_log_capture(struct dmasplit_ctx *ctx);
void tu_log_clear(void);
/* Lines go nowhere: for runs that log more than a test should keep. */
void tu_log_discard(struct dmasplit_ctx *ctx);
/* Number of captured lines containing needle. */
unsigned int tu_log_count(const char *needle);
bool tu_log_has(const char *needle);
/* All captured lines, newline-separated, for failure messages. */
const char *tu_log_text(void);

/* Capability cap (CAP_*) raised in or dropped from the effective set; the
 * permitted set stays, so it can be raised again.  False if the kernel
 * refused. */
bool tu_cap_effective(int cap, bool on);

/* The mapping of this process that holds p, from /proc/self/smaps:
 * where it starts and ends, and whether it is marked MADV_NOHUGEPAGE.
 * False if it cannot be read.  No assertion: also for a child of
 * fork(). */
struct tu_vma {
	unsigned long lo, hi;
	bool nh;
};
bool tu_vma_of(const void *p, struct tu_vma *v);
/* Whether that mapping is still as *was: not split, not marked. */
bool tu_vma_unchanged(const void *p, const struct tu_vma *was);

/* Whether a child of fork() reads 0x5a at p: false where the page was
 * not inherited (the child dies of the fault).  No assertion: also for a
 * child of fork(). */
bool tu_child_reads(const volatile void *p);

/* steps, an int expression, run in a child of fork(), which exits with
 * its value: the child must exit 0.  Else the assertion says who (what)
 * and its status, beside legend, the failures each value stands for.
 * For what would change the test process for good (limits, credentials,
 * capabilities). */
#define TU_IN_CHILD(steps, what, legend)                                     \
	do {                                                                 \
		pid_t tu_pid_ = fork();                                      \
                                                                             \
		ck_assert_int_ge(tu_pid_, 0);                                \
		if (tu_pid_ == 0)                                            \
			_exit(steps);                                        \
		tu_child_exited_0(tu_pid_, what, legend);                    \
	} while (0)
void tu_child_exited_0(pid_t pid, const char *what, const char *legend);

/* A page of anonymous memory, private or shared (MAP_SHARED: kept by
 * children of fork()), each byte 0x5a, as tu_child_reads() reads it. */
void *tu_page_of_5a(bool shared);

/* Every descriptor below a lowered limit of 64 taken (at most max, into
 * fds), so that the next open fails with EMFILE: how many, or -1 if the
 * limit could not be lowered or they did not run out.  The limit stays
 * lowered; the caller restores it if it must.  No assertion. */
int  tu_take_every_descriptor(int *fds, int max);
void tu_give_back_descriptors(int *fds, int n);

/* Whether the project's backend NAME (backend-NAME.so) is built, in
 * DMASPLIT_TEST_BACKENDS. */
bool tu_backend_built(const char *name);

/* The directory of the built test plugins, or a skip of the whole program. */
const char *tu_plugin_dir(void);
/* A new private directory (mode 0755) under $TMPDIR. */
char *tu_mkdtemp(void);
/* Copy the built plugin backend-NAME.so (a test plugin, or else one of the
 * project's backends) into dir, mode 0644. */
void tu_copy_plugin(const char *dir, const char *name);
/* Create a file with content (mode 0644), making parents as needed. */
void tu_write_file(const char *path, const char *content);
/* Create a symbolic link path -> target, making parents as needed. */
void tu_symlink(const char *target, const char *path);
void tu_mkdir_p(const char *path);
void tu_rm_rf(const char *path);

/*
 * A context that loads only the plugins named (a NULL-terminated list,
 * copied into a scratch directory), no built-in backend, with the log
 * captured at debug priority.  tu_ctx_free() removes the directory.
 */
struct dmasplit_ctx *tu_ctx_with(const char *const *plugins);
void tu_ctx_free(struct dmasplit_ctx *ctx);

#endif
