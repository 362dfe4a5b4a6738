// Command handoff is the goroutine-heavy program of the goroutine pack's
// benchmark: for each number N it reads from stdin, two goroutines pass a
// token back and forth N times over unbuffered channels (each pass parks
// the receiver and wakes it: one gopark per pass), then it prints "ok".
// It prints "ready" first.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func main() {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
	}()
	in := bufio.NewScanner(os.Stdin)
	fmt.Println("ready")
	for in.Scan() {
		n, err := strconv.Atoi(strings.TrimSpace(in.Text()))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		v := 0
		for i := 0; i < n; i += 2 {
			ping <- v
			v = <-pong
		}
		fmt.Println("ok")
	}
}
