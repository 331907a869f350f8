// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What the swiotlb-sim test programs share: a context with only the
 * simulated backend, devices opened and checked, patterned buffers,
 * device-side reads and writes that name the byte that differs, DMAR
 * fault reports, and host memory at a chosen height for DMA masks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "simutil.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static const char *const sim[] = { "swiotlb-sim", NULL };
struct dmasplit_ctx *ctx;

void sim_setup(void)
{
	ctx = tu_ctx_with(sim);
}

void sim_teardown(void)
{
	tu_ctx_free(ctx);
	ctx = NULL;
}

struct dmasplit_dev *open_dev(const char *spec)
{
	struct dmasplit_dev *d = NULL;
	int r;

	r = dmasplit_dev_open(ctx, spec, &d);
	ck_assert_msg(r == 0, "open %s: expected 0, got %d; log:\n%s", spec, r,
		      tu_log_text());
	ck_assert_msg(!strcmp(dmasplit_dev_backend_name(d), "swiotlb-sim"),
		      "open %s: expected backend swiotlb-sim, got %s", spec,
		      dmasplit_dev_backend_name(d));
	tu_log_clear();
	return d;
}

struct dmasplit_dev_info info_of(struct dmasplit_dev *d)
{
	struct dmasplit_dev_info info = { .size = sizeof(info) };

	ck_assert_int_eq(dmasplit_dev_get_info(d, &info), 0);
	return info;
}

struct dmasplit_dev_stats stats_of(struct dmasplit_dev *d)
{
	struct dmasplit_dev_stats s = { .size = sizeof(s) };

	ck_assert_int_eq(dmasplit_dev_get_stats(d, &s), 0);
	return s;
}

/* Zeroed memory aligned to the largest granule, so that every granule
 * size lines up with it. */
uint8_t *buf_new(size_t len)
{
	size_t rounded = (len + K64 - 1) & ~(size_t)(K64 - 1);
	uint8_t *p = aligned_alloc(K64, rounded);

	ck_assert_ptr_nonnull(p);
	memset(p, 0, rounded);
	return p;
}

uint8_t pat(unsigned int seed, size_t i)
{
	return (uint8_t)(seed * 37u + i * 13u + (i >> 7) + 1u);
}

void fill(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pat(seed, i);
}

size_t first_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len && a[i] == b[i]; i++)
		;
	return i;
}

/* Host bytes equal the pattern: the byte that differs is named. */
void expect_pattern(const uint8_t *p, size_t len, unsigned int seed,
		    const char *what)
{
	size_t i;

	for (i = 0; i < len; i++)
		FAIL_UNLESS(p[i] == pat(seed, i),
			    "%s: host byte %zu is 0x%02x, expected 0x%02x",
			    what, i, p[i], pat(seed, i));
}

void expect_read(struct dmasplit_dev *d, uint64_t dma,
		 const void *want, size_t len, const char *what)
{
	uint8_t *got = malloc(len);
	size_t i;
	int r;

	ck_assert_ptr_nonnull(got);
	memset(got, 0xa5, len);
	r = dmasplit_dev_dma_read(d, dma, got, len);
	ck_assert_msg(r == 0, "%s: device read of 0x%" PRIx64 "+0x%zx: expected 0, got %d; log:\n%s",
		      what, dma, len, r, tu_log_text());
	i = first_diff(got, want, len);
	ck_assert_msg(i == len, "%s: device read of 0x%" PRIx64 "+0x%zx: byte %zu is 0x%02x, expected 0x%02x",
		      what, dma, len, i, got[i], ((const uint8_t *)want)[i]);
	free(got);
}

void expect_write(struct dmasplit_dev *d, uint64_t dma,
		  const void *data, size_t len, const char *what)
{
	int r = dmasplit_dev_dma_write(d, dma, data, len);

	ck_assert_msg(r == 0, "%s: device write of 0x%" PRIx64 "+0x%zx: expected 0, got %d; log:\n%s",
		      what, dma, len, r, tu_log_text());
}

uint8_t read_byte(struct dmasplit_dev *d, uint64_t dma)
{
	uint8_t b = 0;
	int r = dmasplit_dev_dma_read(d, dma, &b, 1);

	ck_assert_msg(r == 0, "device read of 0x%" PRIx64 ": expected 0, got %d; log:\n%s",
		      dma, r, tu_log_text());
	return b;
}

void write_byte(struct dmasplit_dev *d, uint64_t dma, uint8_t b)
{
	expect_write(d, dma, &b, 1, "one byte");
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/*
 * A fault report names an address of the access [lo, hi), or the start of
 * its 4 KiB page as fault recording hardware does: some hexadecimal
 * number in the line falls in [lo & ~0xfff, hi).
 */
static bool names_addr(const char *line, const char *end, uint64_t lo,
		       uint64_t hi)
{
	const char *p = line;

	lo &= ~(uint64_t)0xfff;
	while (p < end) {
		uint64_t v = 0;
		unsigned int digits = 0;

		if (p + 1 < end && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
			p += 2;
		if (!is_hex(*p) || (p > line && (is_hex(p[-1]) || p[-1] == '_'))) {
			p++;
			continue;
		}
		for (; p < end && is_hex(*p); p++, digits++) {
			char c = *p;

			v = v << 4 | (uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
		}
		if (digits <= 16 && v >= lo && v < hi)
			return true;
	}
	return false;
}

/* A DMAR fault report: the line starts with "DMAR: ", after the
 * backend's name as every line of a backend does. */
bool is_dmar(const char *line)
{
	static const char own[] = "swiotlb-sim: ";

	if (!strncmp(line, own, sizeof(own) - 1))
		line += sizeof(own) - 1;
	return !strncmp(line, "DMAR: ", 6);
}

/* Captured DMAR lines; *named: the first names an address of
 * [addr, addr + len). */
static unsigned int dmar_lines(uint64_t addr, uint64_t len, bool *named)
{
	const char *p = tu_log_text();
	unsigned int n = 0;

	*named = false;
	while (*p) {
		const char *end = strchr(p, '\n');

		if (!end)
			end = p + strlen(p);
		if (is_dmar(p)) {
			if (!n)
				*named = names_addr(p, end, addr, addr + len);
			n++;
		}
		p = *end ? end + 1 : end;
	}
	return n;
}

/* Captured lines containing needle. */
unsigned int lines_with(const char *needle)
{
	const char *p = tu_log_text();
	unsigned int n = 0;

	while (*p) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (memmem(p, len, needle, strlen(needle)))
			n++;
		p += len + (end ? 1 : 0);
	}
	return n;
}

/* A faulting device access: -EFAULT, one DMAR line naming the address,
 * one more fault counted, and (for writes) no host byte changed, which
 * the callers check on their buffers. */
void expect_fault(struct dmasplit_dev *d, uint64_t dma, size_t len,
		  bool write, const char *what)
{
	struct dmasplit_dev_stats before = stats_of(d), after;
	uint8_t *tmp = malloc(len);
	unsigned int lines;
	bool named;
	int r;

	ck_assert_ptr_nonnull(tmp);
	memset(tmp, 0xee, len);
	tu_log_clear();
	r = write ? dmasplit_dev_dma_write(d, dma, tmp, len)
		  : dmasplit_dev_dma_read(d, dma, tmp, len);
	ck_assert_msg(r == -EFAULT, "%s: device %s of 0x%" PRIx64 "+0x%zx: expected -EFAULT, got %d",
		      what, write ? "write" : "read", dma, len, r);
	lines = dmar_lines(dma, len, &named);
	ck_assert_msg(lines == 1 && named,
		      "%s: expected one log line starting \"DMAR: \" naming 0x%" PRIx64 ", got %u lines (naming it: %d); log:\n%s",
		      what, dma, lines, named, tu_log_text());
	after = stats_of(d);
	ck_assert_msg(after.device_faults == before.device_faults + 1,
		      "%s: device_faults went from %" PRIu64 " to %" PRIu64 ", expected one more",
		      what, before.device_faults, after.device_faults);
	free(tmp);
	tu_log_clear();
}

uint64_t map_ok(struct dmasplit_dev *d, void *vaddr, size_t len,
		enum dmasplit_dir dir, uint32_t attrs)
{
	uint64_t dma = 0;
	int r = dmasplit_map(d, vaddr, len, dir, attrs, &dma);

	ck_assert_msg(r == 0, "map of %p+0x%zx dir %d attrs 0x%x: expected 0, got %d; log:\n%s",
		      vaddr, len, (int)dir, attrs, r, tu_log_text());
	ck_assert_msg(dma != 0, "map of %p+0x%zx handed out device address 0",
		      vaddr, len);
	return dma;
}

void unmap_ok(struct dmasplit_dev *d, uint64_t dma, size_t len,
	      enum dmasplit_dir dir, uint32_t attrs)
{
	int r = dmasplit_unmap(d, dma, len, dir, attrs);

	ck_assert_msg(r == 0, "unmap of 0x%" PRIx64 "+0x%zx: expected 0, got %d; log:\n%s",
		      dma, len, r, tu_log_text());
}

struct dmasplit_iova *window(struct dmasplit_dev *d, size_t size)
{
	struct dmasplit_iova *iova = NULL;
	int r = dmasplit_iova_alloc(d, size, 0, &iova);

	ck_assert_msg(r == 0, "window of 0x%zx bytes: expected 0, got %d; log:\n%s",
		      size, r, tu_log_text());
	return iova;
}

void link_ok(struct dmasplit_iova *iova, size_t off, void *vaddr,
	     size_t len, enum dmasplit_dir dir, uint32_t attrs)
{
	int r = dmasplit_iova_link(iova, off, vaddr, len, dir, attrs);

	ck_assert_msg(r == 0, "link of %p+0x%zx at offset 0x%zx: expected 0, got %d; log:\n%s",
		      vaddr, len, off, r, tu_log_text());
}

void sync_ok(struct dmasplit_iova *iova, size_t off, size_t len)
{
	int r = dmasplit_iova_sync(iova, off, len);

	ck_assert_msg(r == 0, "iova_sync of 0x%zx+0x%zx: expected 0, got %d; log:\n%s",
		      off, len, r, tu_log_text());
}

void unlink_ok(struct dmasplit_iova *iova, size_t off, size_t len,
	       enum dmasplit_dir dir, uint32_t attrs)
{
	int r = dmasplit_iova_unlink(iova, off, len, dir, attrs);

	ck_assert_msg(r == 0, "unlink of 0x%zx+0x%zx: expected 0, got %d; log:\n%s",
		      off, len, r, tu_log_text());
}

bool fits_mask(uint64_t start, uint64_t len, unsigned int mask)
{
	return mask >= 64 || ((start + len - 1) >> mask) == 0;
}

static bool try_at(struct hostmem *m, uint64_t hint, size_t len, int flags)
{
	void *p = mmap((void *)(uintptr_t)hint, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	if (p == MAP_FAILED)
		return false;
	if ((uintptr_t)p != hint) {
		/* A kernel without MAP_FIXED_NOREPLACE took it as a hint. */
		munmap(p, len);
		return false;
	}
	m->raw = m->p = p;
	m->rawlen = len;
	return true;
}

/* Inside [lo, hi), or false. */
bool hostmem_at(struct hostmem *m, size_t len, uint64_t lo,
		uint64_t hi)
{
	unsigned int i;

	if (hi <= lo || hi - lo < 2 * len)
		return false;
	for (i = 1; i < 32; i++) {
		uint64_t hint = lo + (hi - lo - len) / 32 * i;

		hint &= ~(uint64_t)(K64 - 1);
		if (hint < lo)
			continue;
		if (try_at(m, hint, len, MAP_FIXED_NOREPLACE) ||
		    try_at(m, hint, len, 0))
			return true;
	}
	return false;
}

void hostmem_any(struct hostmem *m, size_t len)
{
	uintptr_t p;

	m->rawlen = len + K64;
	m->raw = mmap(NULL, m->rawlen, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_msg(m->raw != MAP_FAILED, "mmap of %zu bytes: %s", m->rawlen,
		      strerror(errno));
	p = ((uintptr_t)m->raw + K64 - 1) & ~(uintptr_t)(K64 - 1);
	m->p = (uint8_t *)p;
}

void hostmem_free(struct hostmem *m)
{
	if (m->raw)
		munmap(m->raw, m->rawlen);
	m->raw = m->p = NULL;
}

bool high_memory_available(void)
{
	struct hostmem m = { 0 };
	bool ok = hostmem_at(&m, K64, FOUR_GIB, USER_TOP);

	hostmem_free(&m);
	return ok;
}

/*
 * These devices are opened with the checker off: the device must refuse
 * on its own what it does not hold, because that is how applications run.
 */
struct dmasplit_dev *open_unchecked(const char *spec)
{
	dmasplit_ctx_set_check(ctx, 0);
	return open_dev(spec);
}

bool forbid_vm_rw(void)
{
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_readv, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_writev, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = {
		.len = sizeof(insns) / sizeof(insns[0]),
		.filter = insns,
	};

	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	       prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

bool vm_rw_works(void)
{
	char from = 1, to = 0;
	struct iovec local = { &to, 1 }, remote = { &from, 1 };

	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == 1;
}

bool can_forbid_vm_rw(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return false;
	if (pid == 0)
		_exit(forbid_vm_rw() && !vm_rw_works() && errno == EPERM ? 0 : 1);
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}
