/* work.c is a C test target for package gobin. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) int work(int n)
{
	int s = 0;
	for (int i = 0; i < n; i++)
		s += i * i;
	if (s > 1000)
		return -1;
	return s;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10;
	printf("%d\n", work(n));
	return 0;
}
