// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fault injection for tests/test-faultinj, preloaded (LD_PRELOAD): wraps
 * the calls through which libdmasplit and its backends can fail — memory
 * allocation, mmap, mlock, open, ioctl, dlopen/dlsym, read — and makes the
 * Nth of them fail with the errno the real call would give.  Only calls
 * made from libdmasplit or a backend (by the caller's address) count, so
 * libc's, Check's and the test's own calls pass untouched.  It also keeps
 * the set of blocks the library allocated and not yet freed, so that a
 * test can prove a failed call leaked nothing.
 *
 * Control, from the test, through the symbols below (found with dlsym):
 *   faultinj_arm(n)     count from 0 again; fail the nth call (0: none)
 *   faultinj_count()    calls counted since the last arm
 *   faultinj_fired(buf) the name of the call that was made to fail, or 0
 *   faultinj_live()     blocks the library holds
 *   faultinj_cancellable(buf)  cancellation points the library reached
 *                       since the last arm with the calling thread
 *                       cancellable there; buf names the first, with
 *                       where it was called from
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* glibc's allocator under its own names: no dlsym (which allocates)
 * needed to reach it. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void __libc_free(void *p);

static long armed, counted;
static char fired[32];
static long cancellable;
static char cancellable_at[128];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int busy;

/* The file name of the object dladdr() found, without its directory. */
static const char *object_name(const Dl_info *di)
{
	const char *slash = strrchr(di->dli_fname, '/');

	return slash ? slash + 1 : di->dli_fname;
}

/* Is ra in libdmasplit or a backend?  By the name of the object that
 * holds it, so that backends copied anywhere count. */
static bool from_library(const void *ra)
{
	Dl_info di;
	const char *base;
	bool yes = false;

	if (busy)
		return false;
	busy = 1;
	if (dladdr(ra, &di) && di.dli_fname) {
		base = object_name(&di);
		yes = !strncmp(base, "libdmasplit", 11) ||
		      !strncmp(base, "backend-", 8);
	}
	busy = 0;
	return yes;
}

/* Count a call of the library; true when this one must fail. */
static bool must_fail(bool lib, const char *what)
{
	bool fail;

	if (!lib)
		return false;
	__atomic_add_fetch(&counted, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&lock);
	fail = armed && counted == armed && !fired[0];
	if (fail)
		snprintf(fired, sizeof(fired), "%s", what);
	pthread_mutex_unlock(&lock);
	return fail;
}

/* ------------------------------------------------------------------ */
/* The library's live blocks: an open-addressing set of pointers.       */

#define SET_SIZE (1u << 16)
static void *set[SET_SIZE];
static long live;
#define TOMB ((void *)1)

static size_t slot_of(const void *p)
{
	return ((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull >> 48;
}

static void track(void *p, bool from_lib)
{
	size_t i;

	if (!p || !from_lib)
		return;
	pthread_mutex_lock(&lock);
	for (i = slot_of(p); set[i] && set[i] != TOMB; i = (i + 1) % SET_SIZE)
		;
	set[i] = p;
	live++;
	pthread_mutex_unlock(&lock);
}

static void untrack(void *p)
{
	size_t i;

	if (!p || !live)
		return;
	pthread_mutex_lock(&lock);
	for (i = slot_of(p); set[i]; i = (i + 1) % SET_SIZE) {
		if (set[i] == p) {
			set[i] = TOMB;
			live--;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
}

EXPORT void faultinj_arm(long n);
EXPORT void faultinj_arm(long n)
{
	pthread_mutex_lock(&lock);
	armed = n;
	counted = 0;
	fired[0] = '\0';
	cancellable = 0;
	cancellable_at[0] = '\0';
	pthread_mutex_unlock(&lock);
}

/*
 * A cancellation point (pthreads(7)) that the library reached from ra.
 * The library's calls are not cancellation points (libdmasplit(3),
 * Thread safety): one reached with the thread cancellable could end the
 * thread with a lock of the library held or a descriptor open.
 */
static void cancel_point(bool lib, const char *what, const void *ra)
{
	Dl_info di;
	int state;

	if (!lib)
		return;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	pthread_setcancelstate(state, NULL);
	if (state == PTHREAD_CANCEL_DISABLE)
		return;
	pthread_mutex_lock(&lock);
	if (!cancellable++) {
		busy = 1;
		if (dladdr(ra, &di) && di.dli_fname)
			snprintf(cancellable_at, sizeof(cancellable_at),
				 "%s from %s+0x%zx", what, object_name(&di),
				 (size_t)((const char *)ra -
					  (const char *)di.dli_fbase));
		else
			snprintf(cancellable_at, sizeof(cancellable_at), "%s",
				 what);
		busy = 0;
	}
	pthread_mutex_unlock(&lock);
}

EXPORT long faultinj_cancellable(char *buf, size_t len);
EXPORT long faultinj_cancellable(char *buf, size_t len)
{
	long n;

	pthread_mutex_lock(&lock);
	n = cancellable;
	snprintf(buf, len, "%s", cancellable_at);
	pthread_mutex_unlock(&lock);
	return n;
}

EXPORT long faultinj_count(void);
EXPORT long faultinj_count(void)
{
	return __atomic_load_n(&counted, __ATOMIC_RELAXED);
}

EXPORT int faultinj_fired(char *buf, size_t len);
EXPORT int faultinj_fired(char *buf, size_t len)
{
	int yes;

	pthread_mutex_lock(&lock);
	yes = fired[0] != '\0';
	snprintf(buf, len, "%s", fired);
	pthread_mutex_unlock(&lock);
	return yes;
}

EXPORT long faultinj_live(void);
EXPORT long faultinj_live(void)
{
	long n;

	pthread_mutex_lock(&lock);
	n = live;
	pthread_mutex_unlock(&lock);
	return n;
}

/* ------------------------------------------------------------------ */
/* Memory                                                               */

#define RA __builtin_return_address(0)

EXPORT void *malloc(size_t size)
{
	const void *ra = RA;
	bool lib = from_library(ra);
	void *p;

	if (must_fail(lib, "malloc")) {
		errno = ENOMEM;
		return NULL;
	}
	p = __libc_malloc(size);
	track(p, lib);
	return p;
}

EXPORT void *calloc(size_t n, size_t size)
{
	const void *ra = RA;
	bool lib = from_library(ra);
	void *p;

	if (must_fail(lib, "calloc")) {
		errno = ENOMEM;
		return NULL;
	}
	p = __libc_calloc(n, size);
	track(p, lib);
	return p;
}

EXPORT void *realloc(void *old, size_t size)
{
	const void *ra = RA;
	bool lib = from_library(ra);
	void *p;

	if (must_fail(lib, "realloc")) {
		errno = ENOMEM;
		return NULL;
	}
	p = __libc_realloc(old, size);
	if (p || !size)
		untrack(old);
	track(p, lib);
	return p;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	const void *ra = RA;
	bool lib = from_library(ra);
	void *p;

	if (must_fail(lib, "aligned_alloc")) {
		errno = ENOMEM;
		return NULL;
	}
	p = __libc_memalign(align, size);
	track(p, lib);
	return p;
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	const void *ra = RA;
	bool lib = from_library(ra);
	void *p;

	if (must_fail(lib, "posix_memalign"))
		return ENOMEM;
	p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	track(p, lib);
	*out = p;
	return 0;
}

EXPORT char *strdup(const char *s)
{
	const void *ra = RA;
	bool lib = from_library(ra);
	size_t n = strlen(s) + 1;
	char *p;

	if (must_fail(lib, "strdup")) {
		errno = ENOMEM;
		return NULL;
	}
	p = __libc_malloc(n);
	if (p)
		memcpy(p, s, n);
	track(p, lib);
	return p;
}

EXPORT void free(void *p)
{
	untrack(p);
	__libc_free(p);
}

/* ------------------------------------------------------------------ */
/* System calls and the dynamic loader                                  */

#define REAL(name) \
	static __typeof__(name) *real_##name; \
	if (!real_##name) \
		real_##name = (__typeof__(name) *)real_dlsym(RTLD_NEXT, #name)

static void *(*real_dlsym_fn)(void *, const char *);

static void *real_dlsym(void *handle, const char *name)
{
	if (!real_dlsym_fn) {
		real_dlsym_fn = (void *(*)(void *, const char *))
			dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
		if (!real_dlsym_fn)
			real_dlsym_fn = (void *(*)(void *, const char *))
				dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
		if (!real_dlsym_fn)
			abort();
	}
	return real_dlsym_fn(handle, name);
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off)
{
	REAL(mmap);
	if (must_fail(from_library(RA), "mmap")) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return real_mmap(addr, len, prot, flags, fd, off);
}

EXPORT int mlock(const void *addr, size_t len)
{
	REAL(mlock);
	if (must_fail(from_library(RA), "mlock")) {
		errno = ENOMEM;
		return -1;
	}
	return real_mlock(addr, len);
}

EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;
	bool lib;

	REAL(open);
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	lib = from_library(RA);
	cancel_point(lib, "open", RA);
	if (must_fail(lib, "open")) {
		errno = EACCES;
		return -1;
	}
	return real_open(path, flags, mode);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;
	bool lib;

	REAL(openat);
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	lib = from_library(RA);
	cancel_point(lib, "openat", RA);
	if (must_fail(lib, "openat")) {
		errno = EACCES;
		return -1;
	}
	return real_openat(dirfd, path, flags, mode);
}

EXPORT int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	REAL(ioctl);
	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (must_fail(from_library(RA), "ioctl")) {
		errno = EIO;
		return -1;
	}
	return real_ioctl(fd, request, arg);
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	bool lib;

	REAL(read);
	lib = from_library(RA);
	cancel_point(lib, "read", RA);
	if (must_fail(lib, "read")) {
		errno = EIO;
		return -1;
	}
	return real_read(fd, buf, len);
}

EXPORT ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	bool lib;

	REAL(pread);
	lib = from_library(RA);
	cancel_point(lib, "pread", RA);
	if (must_fail(lib, "pread")) {
		errno = EIO;
		return -1;
	}
	return real_pread(fd, buf, len, off);
}

EXPORT ssize_t readlink(const char *path, char *buf, size_t len)
{
	REAL(readlink);
	if (must_fail(from_library(RA), "readlink")) {
		errno = EIO;
		return -1;
	}
	return real_readlink(path, buf, len);
}

/* Cancellation points that never fail here: only checked. */
EXPORT int close(int fd)
{
	REAL(close);
	cancel_point(from_library(RA), "close", RA);
	return real_close(fd);
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	REAL(write);
	cancel_point(from_library(RA), "write", RA);
	return real_write(fd, buf, len);
}

EXPORT FILE *fopen(const char *path, const char *mode)
{
	REAL(fopen);
	cancel_point(from_library(RA), "fopen", RA);
	return real_fopen(path, mode);
}

EXPORT int fclose(FILE *f)
{
	REAL(fclose);
	cancel_point(from_library(RA), "fclose", RA);
	return real_fclose(f);
}

EXPORT char *fgets(char *buf, int len, FILE *f)
{
	REAL(fgets);
	cancel_point(from_library(RA), "fgets", RA);
	return real_fgets(buf, len, f);
}

/* A failed dlopen or dlsym leaves dlerror() set, as a real one does. */
EXPORT void *dlopen(const char *file, int flags)
{
	REAL(dlopen);
	if (must_fail(from_library(RA), "dlopen"))
		return real_dlopen("/nonexistent/faultinj-injected.so", flags);
	return real_dlopen(file, flags);
}

EXPORT void *dlsym(void *handle, const char *name)
{
	if (must_fail(from_library(RA), "dlsym"))
		return real_dlsym(handle, "faultinj_injected_missing_symbol");
	return real_dlsym(handle, name);
}
