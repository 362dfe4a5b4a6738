// cprog is the C program of the User tests. It prints the address of its
// function work, the address of libc's getppid (looked up in libc itself,
// not the executable's PLT or canonical address) and main's return address
// (inside __libc_start_call_main), then waits to be killed.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

__attribute__((noinline)) int work(int n) {
	int s = 0;
	for (int i = 0; i < n; i++)
		s += i;
	return s;
}

int main(void) {
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	void *gp = libc ? dlsym(libc, "getppid") : NULL;
	printf("%p %p %p\n", (void *)work, gp, __builtin_return_address(0));
	fflush(stdout);
	work(3);
	for (;;)
		pause();
}
