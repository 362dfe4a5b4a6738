// Command gocalls makes known calls to small Go functions, for tracing
// their arguments, returns and latency with ebpftrace.
//
//	gocalls N   calls add(i, 1) for i in 0..N-1, greet("gopher", N),
//	            depth(64) (which recurses 64 deep and grows the goroutine
//	            stack), work(i) 10 times on each of 4 goroutines, and
//	            getppid once through parent(), which the compiler inlines
//	            into stacks()
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
)

//go:noinline
func add(a, b int) int { return a + b }

//go:noinline
func greet(name string, n int) string { return fmt.Sprintf("hello %s #%d", name, n) }

// depth recurses n deep with a 1 KiB frame each, so the goroutine stack
// (8 KiB at start) is copied to a larger one while calls are in flight.
//
//go:noinline
func depth(n int) int {
	var frame [1024]byte
	frame[n%len(frame)] = byte(n)
	if n == 0 {
		return 0
	}
	return depth(n-1) + 1 + int(frame[n%len(frame)]) - int(byte(n))
}

//go:noinline
func work(i int) int { return i * 2 }

//go:noinline
func ppid() int { return syscall.Getppid() }

// parent is small enough to be inlined into stacks: a user stack taken in
// ppid shows it as an inlined frame.
func parent() int { return ppid() + 1 }

//go:noinline
func stacks() int { return parent() }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gocalls N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	sum := 0
	for i := 0; i < n; i++ {
		sum += add(i, 1)
	}
	fmt.Println(greet("gopher", n))
	fmt.Println("sum", sum, "depth", depth(64))
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				v := work(i)
				mu.Lock()
				total += v
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Println("work", total, "parent", stacks() > 1)
}
