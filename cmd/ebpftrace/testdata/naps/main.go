// Command naps sleeps in nap() once per duration given, and prints how
// long each call took by its own clock, so that a trace of nap's latency
// can be checked against it.
//
//	naps [-wait D] D1 D2 …
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

//go:noinline
func nap(d time.Duration) { time.Sleep(d) }

func main() {
	wait := flag.Duration("wait", 0, "sleep this long before the first nap (for a tracer to attach)")
	flag.Parse()
	time.Sleep(*wait)
	for _, a := range flag.Args() {
		d, err := time.ParseDuration(a)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		t0 := time.Now()
		nap(d)
		fmt.Printf("nap %s took %d ns\n", d, time.Since(t0).Nanoseconds())
	}
}
