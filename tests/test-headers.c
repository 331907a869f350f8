/* The public headers compile alone, in either order, as strict C99. */
#include <dmasplit/backend.h>
#include <dmasplit/dmasplit.h>
#include <stdio.h>

int main(void)
{
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_backend_ops ops = { .size = sizeof(ops),
					    .abi_version = DMASPLIT_BACKEND_ABI_VERSION };

	/* TAP: one line per property proved at compile time. */
	printf("1..2\n");
	printf("ok 1 - dmasplit.h and backend.h compile as C99 -pedantic-errors\n");
	printf("%s 2 - versioned structs start with their size\n",
	       info.size == sizeof(info) && ops.size == sizeof(ops) ? "ok" : "not ok");
	return 0;
}
