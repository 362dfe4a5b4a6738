// Command goloop calls a small Go function N times and prints how long a
// call took on average, for measuring what a uprobe on it costs.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

//go:noinline
func add(a, b int) int { return a + b }

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	s := 0
	start := time.Now()
	for i := 0; i < n; i++ {
		s += add(i, 1)
	}
	el := time.Since(start)
	fmt.Printf("ns/call %.1f (sum %d)\n", float64(el.Nanoseconds())/float64(n), s)
}
