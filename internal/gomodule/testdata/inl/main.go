// Command inl has calls that the compiler inlines two deep (outer calls
// middle calls inner, all inlined into work), for the pclntab inline
// tree tests of package gomodule.
package main

import (
	"fmt"
	"os"
)

//go:noinline
func leaf(x int) int { return x*3 + len(os.Args) }

func inner(x int) int {
	return leaf(x) + 1
}

func middle(x int) int {
	return inner(x) * 2
}

func outer(x int) int {
	return middle(x) - 7
}

//go:noinline
func work(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += outer(i)
	}
	return s
}

func main() {
	fmt.Println(work(5), inner(2))
}
