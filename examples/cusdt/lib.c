// The library half of the usdt example: ebtlib:fire fires once per i,
// with i and the string "lib".
#include <sys/sdt.h>

void lib_fire(long n) {
	char lib[] = "lib"; // on the stack, so in memory when the probe reads it
	for (long i = 1; i <= n; i++)
		STAP_PROBE2(ebtlib, fire, i, lib);
}
