// Command syscaller makes an exact number of known system calls, so that
// what ebpftrace counts can be checked against what was asked.
//
//	syscaller getppid N          call getppid N times
//	syscaller reads FILE S1 S2…  read FILE once per size Si (from fd 0 when FILE is -)
//	syscaller last N             call getppid N times, the last one just before exiting
//	syscaller sleep D            sleep for D (e.g. 30s), then exit
//	syscaller connect ADDR       open a TCP connection to ADDR (host:port), then close it
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: syscaller getppid N | reads FILE SIZE… | last N | sleep D | connect ADDR")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "getppid", "last":
		n, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fail(err)
		}
		for i := 0; i < n; i++ {
			// RawSyscall: exactly one getppid each, nothing else between.
			syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
		}
		if os.Args[1] == "last" {
			os.Exit(0)
		}
		fmt.Printf("called getppid %d times\n", n)
	case "reads":
		fd := 0
		if os.Args[2] != "-" {
			f, err := os.Open(os.Args[2])
			if err != nil {
				fail(err)
			}
			fd = int(f.Fd())
		}
		total := 0
		for _, a := range os.Args[3:] {
			size, err := strconv.Atoi(a)
			if err != nil {
				fail(err)
			}
			buf := make([]byte, size)
			n, err := syscall.Read(fd, buf)
			if err != nil {
				fail(err)
			}
			total += n
		}
		fmt.Printf("read %d bytes in %d reads\n", total, len(os.Args)-3)
	case "connect":
		c, err := net.Dial("tcp4", os.Args[2])
		if err != nil {
			fail(err)
		}
		fmt.Println("connected to", c.RemoteAddr())
		c.Close()
	case "sleep":
		d, err := time.ParseDuration(os.Args[2])
		if err != nil {
			fail(err)
		}
		time.Sleep(d)
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "syscaller:", err)
	os.Exit(1)
}
