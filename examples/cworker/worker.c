// worker: a small C program with known calls, for tracing with ebpftrace.
//
//   worker getppid N   calls getppid() N times from work()
//   worker strlen N    calls strlen() on "hello" N times (a libc uprobe target)
//   worker callback N  passes work to call_with(), which calls it: a
//                      function pointer argument, for usym()
//   worker jobs N      calls job_status() on jobs 0..N-1, whose priority
//                      is 100+i: it returns -(100+i), a negative int, and
//                      takes a struct pointer (typed args with -g)
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

struct job {
	long id;
	const char *name;
	int prio;
	struct job *next;
};

// job_status returns base - prio: a negative int for base 0.
__attribute__((noinline)) int job_status(struct job *j, int base) { return base - j->prio; }

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: worker getppid|strlen|callback|jobs N\n");
		return 2;
	}
	long n = atol(argv[2]);
	if (strcmp(argv[1], "getppid") == 0) {
		work(n);
		printf("called getppid %ld times\n", n);
	} else if (strcmp(argv[1], "callback") == 0) {
		printf("callback returned %ld\n", call_with(work, n) > 0);
	} else if (strcmp(argv[1], "jobs") == 0) {
		// Global, so the compiler keeps every field of each job.
		static struct job jobs[64];
		long sum = 0;
		for (long i = 0; i < n && i < 64; i++) {
			jobs[i] = (struct job){i, i % 2 ? "odd" : "even", (int)(100 + i), i > 0 ? &jobs[i - 1] : NULL};
			sum += job_status(&jobs[i], 0);
		}
		printf("job status total %ld\n", sum);
	} else if (strcmp(argv[1], "strlen") == 0) {
		printf("strlen total %zu\n", lengths(n, argv[1]));
	} else {
		fprintf(stderr, "unknown command %s\n", argv[1]);
		return 2;
	}
	return 0;
}
