// Command goprog is a test target for package gobin: its functions have
// known signatures whose register assignment, return instructions and
// symbol addresses the tests check.
package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Counter is a struct with methods on a pointer and a value receiver.
type Counter struct {
	n    int
	name string
}

// Pair is a small struct passed by value, split into registers.
type Pair struct {
	A int32
	B float64
	C string
}

//go:noinline
func add(a, b int) int {
	return a + b
}

//go:noinline
func greet(name string, n int) string {
	s := ""
	for i := 0; i < n; i++ {
		s += "hello " + name + "\n"
	}
	return s
}

//go:noinline
func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

//go:noinline
func classify(n int) string {
	switch {
	case n < 0:
		return "negative"
	case n == 0:
		return "zero"
	case n < 10:
		return "small"
	}
	return "large"
}

// Inc adds delta to the counter.
//
//go:noinline
func (c *Counter) Inc(delta int, label string) (int, error) {
	if delta < 0 {
		return c.n, errors.New("negative delta " + label)
	}
	c.n += delta
	return c.n, nil
}

// Get returns the count; it has a value receiver.
//
//go:noinline
func (c Counter) Get() int {
	return c.n + len(c.name)
}

//go:noinline
func mixed(f float64, ok bool, buf []byte, arr [2]int, x uint8, err error, p *Counter, pr Pair) (float64, [2]int, bool) {
	if ok && err == nil && p != nil {
		return f + float64(x) + pr.B, arr, len(buf) > 0
	}
	return 0, [2]int{}, false
}

//go:noinline
func many(a, b, c, d, e, f, g, h, i int, s string, j int) int {
	return a + b + c + d + e + f + g + h + i + len(s) + j
}

//go:noinline
func divmod(x, y int) (q, r int, err error) {
	if y == 0 {
		return 0, 0, errors.New("division by zero")
	}
	return x / y, x % y, nil
}

// lookup has a blank result next to a named one and a deferred closure
// that reads the named one, like net/http.(*Transport).roundTrip; its
// DWARF then lists the blank result "~r0" twice.
//
//go:noinline
func lookup(key string) (_ *Counter, err error) {
	defer func() {
		if err != nil {
			fmt.Println("lookup:", err)
		}
	}()
	if key == "" {
		return nil, errors.New("empty key")
	}
	return &Counter{name: key}, nil
}

func main() {
	n := 3
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	c := &Counter{name: "c"}
	v, err := c.Inc(add(n, 2), "x")
	q, r, err2 := divmod(v, n)
	f, arr, ok := mixed(1.5, true, []byte("ab"), [2]int{1, 2}, 3, err, c, Pair{1, 2.5, "p"})
	fmt.Print(greet("gopher", n))
	if lc, err := lookup(os.Args[0]); err == nil {
		fmt.Print(lc.Get())
	}
	fmt.Println(fib(n), classify(n), c.Get(), many(1, 2, 3, 4, 5, 6, 7, 8, 9, "ten", 11), q, r, err2, f, arr, ok)
}

// square is small enough to inline; keeping a func value forces an
// out-of-line copy whose DWARF refers to the abstract (inlined) entry.
func square(x int) int { return x * x }

var squareFn = square

// pick is inlinable too, with a blank parameter and a named result.
func pick(a int, _ string, b float64) (r int) { return a + int(b) }

var pickFn = pick

//go:noinline
func unused(a int, _ string, c int) int {
	return a + c
}

//go:noinline
func sum(xs ...int) (total int) {
	for _, x := range xs {
		total += sq(x)
	}
	return total
}

func sq(x int) int { return square(x) }

func init() {
	if len(os.Args) > 5 {
		fmt.Println(squareFn(len(os.Args)), unused(1, "", 2), sum(1, 2, 3), pickFn(1, "", 2), pick(len(os.Args), "", 1))
	}
}
