// The public headers compile as C++ and give C linkage.
#include <dmasplit/dmasplit.h>
#include <dmasplit/backend.h>
#include <cstdio>

// Taking addresses proves the declarations are usable from C++; the
// program links against nothing, so it only names them.
typedef int (*open_fn)(struct dmasplit_ctx *, const char *, struct dmasplit_dev **);

int main()
{
	dmasplit_dev_stats stats = dmasplit_dev_stats();
	stats.size = sizeof(stats);
	open_fn fn = 0;

	std::printf("1..2\n");
	std::printf("ok 1 - dmasplit.h and backend.h compile as C++11 -pedantic-errors\n");
	std::printf("%s 2 - structs are usable from C++\n",
		    stats.size == sizeof(stats) && fn == 0 ? "ok" : "not ok");
	return 0;
}
