// Command goprog is the Go program of the User tests: it prints the entry
// PC of main.work and, with an argument, sleeps until killed.
package main

import (
	"fmt"
	"os"
	"reflect"
	"time"
)

//go:noinline
func work(n int) int {
	s := 0
	for i := range n {
		s += i
	}
	return s
}

func main() {
	fmt.Println(reflect.ValueOf(work).Pointer(), work(3))
	if len(os.Args) > 1 {
		time.Sleep(time.Hour)
	}
}
