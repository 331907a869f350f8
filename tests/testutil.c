// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* ------------------------------------------------------------------ */
/* TAP for Check                                                        */

#define TU_MAX_TESTS 512
#define TU_MAX_CASES 64

struct tu_entry {
	const char *name;
	const char *tcase;	/* NULL: not known */
	const char *skip;	/* NULL: run */
	int iter;		/* of a loop test, or -1 */
};

static struct tu_entry entries[TU_MAX_TESTS];
static unsigned int num_entries;

static struct {
	const TCase *tc;
	const char *name;
} cases[TU_MAX_CASES];
static unsigned int num_cases;

TCase *tu_tcase_create(const char *name)
{
	TCase *tc = (tcase_create)(name);

	if (num_cases == TU_MAX_CASES) {
		fprintf(stderr, "testutil: more than %d test cases\n",
			TU_MAX_CASES);
		exit(99);
	}
	cases[num_cases].tc = tc;
	cases[num_cases].name = name;
	num_cases++;
	return tc;
}

static const char *case_name(const TCase *tc)
{
	unsigned int i;

	for (i = 0; i < num_cases; i++)
		if (cases[i].tc == tc)
			return cases[i].name;
	return NULL;
}

static void record(const TCase *tc, const char *name, const char *skip)
{
	if (num_entries == TU_MAX_TESTS) {
		fprintf(stderr, "testutil: more than %d tests\n", TU_MAX_TESTS);
		exit(99);
	}
	entries[num_entries].name = name;
	entries[num_entries].tcase = case_name(tc);
	entries[num_entries].skip = skip;
	entries[num_entries].iter = -1;
	num_entries++;
}

void tu_add_test(TCase *tc, const TTest *test)
{
	record(tc, test->name, NULL);
	_tcase_add_test(tc, test, 0, 0, 0, 1);
}

/* Check runs a loop test's iterations one after the other: one TAP line
 * each, named NAME/i. */
void tu_add_loop_test(TCase *tc, const TTest *test, int start, int end)
{
	int i;

	for (i = start; i < end; i++) {
		record(tc, test->name, NULL);
		entries[num_entries - 1].iter = i;
	}
	_tcase_add_test(tc, test, 0, 0, start, end);
}

void tu_add_test_if(TCase *tc, const TTest *test, bool cond, const char *why)
{
	if (cond)
		tu_add_test(tc, test);
	else
		record(tc, test->name, why);
}

/* A TAP line ends at the first newline: fold multi-line messages. */
static void print_one_line(const char *msg)
{
	for (; *msg; msg++) {
		if (*msg == '\n')
			fputs(msg[1] ? " | " : "", stdout);
		else
			putchar(*msg);
	}
	putchar('\n');
}

/* Check runs a subset of the tests when told to by its environment. */
static bool selection_made(void)
{
	static const char *const vars[] = { "CK_RUN_CASE", "CK_RUN_SUITE",
					     "CK_INCLUDE_TAGS",
					     "CK_EXCLUDE_TAGS" };
	unsigned int i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (getenv(vars[i]) && *getenv(vars[i]))
			return true;
	return false;
}

int tu_main(Suite *s)
{
	SRunner *sr = srunner_create(s);
	TestResult **results;
	unsigned int i, run = 0, n, failed = 0;
	bool selected_only = selection_made();

	/* Check's own output would interleave with TAP; results are printed
	 * below, in registration order, which is Check's run order. */
	srunner_run_all(sr, CK_SILENT);
	results = srunner_results(sr);
	n = (unsigned int)srunner_ntests_run(sr);
	for (i = 0; i < num_entries; i++) {
		const struct tu_entry *e = &entries[i];

		char name[256];

		if (e->iter >= 0)
			snprintf(name, sizeof(name), "%s/%d", e->name, e->iter);
		else
			snprintf(name, sizeof(name), "%s", e->name);
		if (e->skip) {
			printf("ok %u - %s # SKIP %s\n", i + 1, name, e->skip);
			continue;
		}
		if (selected_only && e->tcase &&
		    (run >= n || strcmp(tr_tcname(results[run]), e->tcase))) {
			printf("ok %u - %s # SKIP test case %s not selected (CK_RUN_CASE, CK_RUN_SUITE or tags)\n",
			       i + 1, name, e->tcase);
			continue;
		}
		if (run >= n) {
			printf("not ok %u - %s: no result (the runner stopped)\n",
			       i + 1, name);
			failed++;
			continue;
		}
		if (tr_rtype(results[run]) == CK_PASS) {
			printf("ok %u - %s\n", i + 1, name);
		} else {
			printf("not ok %u - %s: %s:%d: ", i + 1, name,
			       tr_lfile(results[run]), tr_lno(results[run]));
			print_one_line(tr_msg(results[run]));
			failed++;
		}
		run++;
	}
	printf("1..%u\n", num_entries);
	free(results);
	srunner_free(sr);
	return failed ? 1 : 0;
}

void tu_skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(0);
}

/* ------------------------------------------------------------------ */
/* Log capture                                                          */

/* The library calls the log function from whatever thread logs: tests
 * that run threads log from several at once. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char *log_buf;
static size_t log_len, log_cap;

TU_LOG_FN
static void capture(void *data, int priority, const char *file, int line,
		    const char *fn, const char *format, va_list args)
{
	char line_buf[1024];
	size_t n;

	vsnprintf(line_buf, sizeof(line_buf), format, args);
	fprintf(stderr, "[log %d] %s\n", priority, line_buf);
	n = strlen(line_buf);
	pthread_mutex_lock(&log_lock);
	if (log_len + n + 2 > log_cap) {
		size_t cap = (log_cap ? log_cap * 2 : 4096) + n;
		char *p = realloc(log_buf, cap);

		if (!p)
			abort();
		log_buf = p;
		log_cap = cap;
	}
	memcpy(log_buf + log_len, line_buf, n);
	log_len += n;
	log_buf[log_len++] = '\n';
	log_buf[log_len] = '\0';
	pthread_mutex_unlock(&log_lock);
}

static void free_log(void)
{
	free(log_buf);
	log_buf = NULL;
	log_len = log_cap = 0;
}

void tu_log_capture(struct dmasplit_ctx *ctx)
{
	static bool registered;

	if (!registered) {
		atexit(free_log);
		registered = true;
	}
	tu_log_clear();
	dmasplit_ctx_set_log_fn(ctx, capture, NULL);
}

TU_LOG_FN
static void discard(void *data, int priority, const char *file, int line,
		    const char *fn, const char *format, va_list args)
{
	(void)data, (void)priority, (void)file, (void)line, (void)fn;
	(void)format, (void)args;
}

void tu_log_discard(struct dmasplit_ctx *ctx)
{
	dmasplit_ctx_set_log_fn(ctx, discard, NULL);
}

void tu_log_clear(void)
{
	log_len = 0;
	if (log_buf)
		log_buf[0] = '\0';
}

unsigned int tu_log_count(const char *needle)
{
	const char *p = log_buf;
	unsigned int n = 0;

	if (!p)
		return 0;
	while ((p = strstr(p, needle))) {
		n++;
		p += strlen(needle);
	}
	return n;
}

bool tu_log_has(const char *needle)
{
	return tu_log_count(needle) > 0;
}

const char *tu_log_text(void)
{
	return log_buf ? log_buf : "";
}

/* ------------------------------------------------------------------ */
/* Files                                                                */

const char *tu_plugin_dir(void)
{
	const char *dir = getenv("DMASPLIT_TEST_PLUGINS");
	char path[PATH_MAX];

	if (!dir || !*dir)
		tu_skip_all("DMASPLIT_TEST_PLUGINS is not set (run through make check)");
	snprintf(path, sizeof(path), "%s/backend-testa.so", dir);
	if (access(path, R_OK) < 0)
		tu_skip_all("the test plugins are not built");
	return dir;
}

char *tu_mkdtemp(void)
{
	const char *tmp = getenv("TMPDIR");
	char *dir;

	if (asprintf(&dir, "%s/dmasplit-test-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		abort();
	ck_assert_msg(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	return dir;
}

void tu_mkdir_p(const char *path)
{
	char buf[PATH_MAX], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		ck_assert_msg(mkdir(buf, 0755) == 0 || errno == EEXIST,
			      "mkdir %s: %s", buf, strerror(errno));
		*p = '/';
	}
	ck_assert_msg(mkdir(buf, 0755) == 0 || errno == EEXIST, "mkdir %s: %s",
		      buf, strerror(errno));
}

static void mkdir_parent(const char *path)
{
	char buf[PATH_MAX], *slash;

	snprintf(buf, sizeof(buf), "%s", path);
	slash = strrchr(buf, '/');
	if (slash && slash != buf) {
		*slash = '\0';
		tu_mkdir_p(buf);
	}
}

void tu_write_file(const char *path, const char *content)
{
	FILE *f;

	mkdir_parent(path);
	f = fopen(path, "w");
	ck_assert_msg(f, "create %s: %s", path, strerror(errno));
	fputs(content, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0644), 0);
}

void tu_symlink(const char *target, const char *path)
{
	mkdir_parent(path);
	ck_assert_msg(symlink(target, path) == 0, "symlink %s: %s", path,
		      strerror(errno));
}

bool tu_backend_built(const char *name)
{
	const char *dir = getenv("DMASPLIT_TEST_BACKENDS");
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/backend-%s.so", dir ? dir : "", name);
	return dir && access(path, R_OK) == 0;
}

void tu_copy_plugin(const char *dir, const char *name)
{
	char from[PATH_MAX], to[PATH_MAX], buf[65536];
	int in, out;
	ssize_t n;

	/* Test plugins first, then the project's backends. */
	snprintf(from, sizeof(from), "%s/backend-%s.so", tu_plugin_dir(), name);
	if (access(from, R_OK) < 0 && getenv("DMASPLIT_TEST_BACKENDS"))
		snprintf(from, sizeof(from), "%s/backend-%s.so",
			 getenv("DMASPLIT_TEST_BACKENDS"), name);
	snprintf(to, sizeof(to), "%s/backend-%s.so", dir, name);
	in = open(from, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(in >= 0, "open %s: %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_msg(out >= 0, "create %s: %s", to, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
	close(in);
	ck_assert_int_eq(close(out), 0);
	/* Whatever the umask: the loader refuses group-writable plugins. */
	ck_assert_int_eq(chmod(to, 0644), 0);
}

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	return remove(path);
}

void tu_rm_rf(const char *path)
{
	nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------ */

static char *scratch;

struct dmasplit_ctx *tu_ctx_with(const char *const *plugins)
{
	struct dmasplit_ctx *ctx;

	ck_assert_ptr_null(scratch);
	scratch = tu_mkdtemp();
	for (; *plugins; plugins++)
		tu_copy_plugin(scratch, *plugins);
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	tu_log_capture(ctx);
	dmasplit_ctx_set_log_priority(ctx, 7);
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx, scratch), 0);
	/* The built-in simulated device would outscore the test plugins
	 * on every sim: device. */
	ck_assert_int_eq(dmasplit_ctx_set_builtin_backends(ctx, 0), 0);
	tu_log_clear();
	return ctx;
}

void tu_ctx_free(struct dmasplit_ctx *ctx)
{
	dmasplit_ctx_unref(ctx);
	if (scratch) {
		tu_rm_rf(scratch);
		free(scratch);
		scratch = NULL;
	}
}

bool tu_vma_of(const void *p, struct tu_vma *v)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	unsigned long lo, hi;
	char *line = NULL;
	bool in = false, found = false;
	size_t cap = 0;

	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			v->lo = lo;
			v->hi = hi;
		} else if (in && !strncmp(line, "VmFlags:", 8)) {
			v->nh = strstr(line, " nh") != NULL;
			found = true;
		}
	}
	free(line);
	fclose(f);
	return found;
}

bool tu_vma_unchanged(const void *p, const struct tu_vma *was)
{
	struct tu_vma now;

	return tu_vma_of(p, &now) && now.lo == was->lo &&
	       now.hi == was->hi && now.nh == was->nh;
}

bool tu_child_reads(const volatile void *p)
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0)
		_exit(*(const volatile uint8_t *)p == 0x5a ? 0 : 1);
	return pid > 0 && waitpid(pid, &status, 0) == pid &&
	       WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void tu_child_exited_0(pid_t pid, const char *what, const char *legend)
{
	int status = 0;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "%s: status 0x%x (%s)", what, status, legend);
}

void *tu_page_of_5a(bool shared)
{
	long ps = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, (size_t)ps, PROT_READ | PROT_WRITE,
		       (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS,
		       -1, 0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	memset(p, 0x5a, (size_t)ps);
	return p;
}

int tu_take_every_descriptor(int *fds, int max)
{
	struct rlimit rl;
	int n = 0, fd;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	rl.rlim_cur = 64;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	errno = 0;
	while (n < max && (fd = dup(0)) >= 0)
		fds[n++] = fd;
	if (errno != EMFILE) {
		tu_give_back_descriptors(fds, n);
		return -1;
	}
	return n;
}

void tu_give_back_descriptors(int *fds, int n)
{
	while (n > 0)
		close(fds[--n]);
}

bool tu_cap_effective(int cap, bool on)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	uint32_t bit = 1u << (cap % 32);

	if (syscall(SYS_capget, &h, d) != 0)
		return false;
	if (on)
		d[cap / 32].effective |= bit;
	else
		d[cap / 32].effective &= ~bit;
	return syscall(SYS_capset, &h, d) == 0;
}
