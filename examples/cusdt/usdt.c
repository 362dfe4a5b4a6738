// usdt: a C program with USDT probes (<sys/sdt.h>) that fire a known
// number of times with known arguments, for tracing with ebpftrace.
//
//   usdt N    fires ebt:args N times, i = 1…N, with the arguments
//             i, -i, 2*i (int), -3 (short), -1 (char), 250 (unsigned
//             char), "usdt" and 7 (a constant); then ebt:guarded once
//             for each i while a tracer holds its semaphore; then the
//             library's ebtlib:fire N times (lib.c).
//
// Build: gcc -O2 -o libebtusdt.so -shared -fPIC lib.c
//        gcc -O2 -o usdt usdt.c -L. -lebtusdt -Wl,-rpath,'$ORIGIN'
// (-O0 puts most arguments in stack memory, -O2 in registers: ebpftrace
// reads both.)
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>

// A probe's semaphore is a counter in .probes that the kernel increments
// while a uprobe with it as reference counter is attached; the program
// tests it to skip work nobody traces.
unsigned short ebt_args_semaphore __attribute__((unused)) __attribute__((section(".probes")));
unsigned short ebt_guarded_semaphore __attribute__((unused)) __attribute__((section(".probes")));

void lib_fire(long n);

struct rec {
	long i;
	int twice;
	short minus3;
	signed char minus1;
	unsigned char u250;
	const char *name;
};

// noinline: one probe site, whatever the optimisation.
__attribute__((noinline)) void fire(volatile struct rec *r) {
	STAP_PROBE8(ebt, args, r->i, -r->i, r->twice, r->minus3, r->minus1, r->u250, r->name, 7);
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: usdt N\n");
		return 2;
	}
	long n = atol(argv[1]);
	long guarded = 0;
	// On the stack, not in .rodata: a page of the file nobody has read
	// yet is not in memory, and a probe cannot fault it in.
	char name[] = "usdt";
	for (long i = 1; i <= n; i++) {
		struct rec r = {i, (int)(2 * i), -3, -1, 250, name};
		fire(&r);
		if (ebt_guarded_semaphore) {
			STAP_PROBE1(ebt, guarded, i);
			guarded++;
		}
	}
	lib_fire(n);
	printf("fired %ld, guarded %ld\n", n, guarded);
	return 0;
}
