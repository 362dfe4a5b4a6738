// Command hot spins on one CPU for a while in hot(), whose loop body is
// step(), a function the compiler inlines: a CPU profile of it names both.
//
//	hot DURATION
package main

import (
	"fmt"
	"os"
	"time"
)

// step is small enough to be inlined into hot.
func step(x, i uint64) uint64 { return x*31 + i ^ x>>7 }

//go:noinline
func hot(d time.Duration) uint64 {
	var x uint64
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := range uint64(1 << 16) {
			x = step(x, i)
		}
	}
	return x
}

func main() {
	d, err := time.ParseDuration(os.Args[len(os.Args)-1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "usage: hot DURATION")
		os.Exit(2)
	}
	fmt.Println(hot(d))
}
