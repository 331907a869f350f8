// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Per-thread counter slots.  A thread takes a free slot the first time it
 * counts and gives it back when it exits; the next owner goes on adding
 * to the same counters, so nothing is lost.  Taking and giving back go
 * through one atomic bitmap, which also orders the old owner's last store
 * before the new owner's first.
 */
#include <pthread.h>

#include "internal.h"

__thread int count_slot_tls __attribute__((tls_model("initial-exec"))) = -1;
__thread size_t count_own_slot_offset_tls
	__attribute__((tls_model("initial-exec")));

static uint64_t slots_taken = 1;	/* slot 0 is everyone's */
static pthread_key_t slot_key;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;
static bool slot_key_ok;

void count_slot_return(int slot)
{
	__atomic_fetch_and(&slots_taken, ~(1ull << slot), __ATOMIC_RELEASE);
}

static void give_back(void *value)
{
	/* What the exiting thread still counts (a later destructor) goes
	 * to the shared slot, not to the next owner's. */
	count_slot_tls = 0;
	count_own_slot_offset_tls = 0;
	count_slot_return((int)(uintptr_t)value - 1);
}

bool count_slot_take(int slot)
{
	uint64_t bit = 1ull << slot;
	uint64_t taken = __atomic_load_n(&slots_taken, __ATOMIC_RELAXED);

	do {
		if (taken & bit)
			return false;
	} while (!__atomic_compare_exchange_n(&slots_taken, &taken,
					      taken | bit, false,
					      __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return true;
}

static void make_key(void)
{
	slot_key_ok = pthread_key_create(&slot_key, give_back) == 0;
}

/* The key's destructor lives in this library: remove it before the
 * library can go away. */
__attribute__((destructor)) static void delete_key(void)
{
	if (slot_key_ok)
		pthread_key_delete(slot_key);
}

int count_slot_assign(void)
{
	uint64_t taken;
	int slot;

	pthread_once(&slot_once, make_key);
	do {
		taken = __atomic_load_n(&slots_taken, __ATOMIC_RELAXED);
		if (!slot_key_ok || !~taken) {
			count_slot_tls = 0;
			return 0;
		}
		slot = __builtin_ctzll(~taken);
	} while (!count_slot_take(slot));
	if (pthread_setspecific(slot_key, (void *)(uintptr_t)(slot + 1))) {
		give_back((void *)(uintptr_t)(slot + 1));
		slot = 0;
	}
	count_slot_tls = slot;
	count_own_slot_offset_tls = (size_t)slot * sizeof(struct dev_counters);
	return slot;
}

void count_add_unowned(struct dmasplit_dev *dev, enum counter c, uint64_t n)
{
	int slot = count_slot_tls;

	if (slot < 0)
		slot = count_slot_assign();
	if (slot) {
		count_add(dev, c, n);
		return;
	}
	__atomic_fetch_add(&dev->count[0].v[c], n, __ATOMIC_RELEASE);
}

uint64_t count_read(const struct dmasplit_dev *dev, enum counter c)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < COUNT_SLOTS; i++)
		/* Acquire: a count read after this one sees at least what
		 * happened before the adds this one saw. */
		sum += __atomic_load_n(&dev->count[i].v[c], __ATOMIC_ACQUIRE);
	return sum;
}
