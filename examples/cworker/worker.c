// worker: a small C program with known calls, for tracing with ebpftrace.
//
//   worker getppid N   calls getppid() N times from work()
//   worker strlen N    calls strlen() on "hello" N times (a libc uprobe target)
//   worker callback N  passes work to call_with(), which calls it: a
//                      function pointer argument, for usym()
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// noinline and frame pointers keep work() a real frame in stacks.
__attribute__((noinline)) long work(long n) {
	long sum = 0;
	for (long i = 0; i < n; i++)
		sum += getppid();
	return sum;
}

__attribute__((noinline)) size_t lengths(long n, const char *s) {
	size_t total = 0;
	for (long i = 0; i < n; i++)
		total += strlen(s);
	return total;
}

__attribute__((noinline)) long call_with(long (*f)(long), long n) { return f(n); }

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: worker getppid|strlen|callback N\n");
		return 2;
	}
	long n = atol(argv[2]);
	if (strcmp(argv[1], "getppid") == 0) {
		work(n);
		printf("called getppid %ld times\n", n);
	} else if (strcmp(argv[1], "callback") == 0) {
		printf("callback returned %ld\n", call_with(work, n) > 0);
	} else if (strcmp(argv[1], "strlen") == 0) {
		printf("strlen total %zu\n", lengths(n, argv[1]));
	} else {
		fprintf(stderr, "unknown command %s\n", argv[1]);
		return 2;
	}
	return 0;
}
