// Command syscaller makes an exact number of known system calls, so that
// what ebpftrace counts can be checked against what was asked.
//
//	syscaller getppid N          call getppid N times
//	syscaller reads FILE S1 S2…  read FILE once per size Si (from fd 0 when FILE is -)
//	syscaller last N             call getppid N times, the last one just before exiting
//	syscaller sleep D            sleep for D (e.g. 30s), then exit
//	syscaller connect ADDR       open a TCP connection to ADDR (host:port), then close it
//	syscaller open P1 P2…        openat each path read-only, keeping them open; print each fd or -errno
//	syscaller kill PID SIG       kill(PID, SIG) once; print its result (0 or -errno)
//	syscaller exec PATH ARG…     execve(PATH, [PATH ARG…]); when it fails, print -errno and exit 1
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
		fmt.Fprintln(os.Stderr, "usage: syscaller getppid N | reads FILE SIZE… | last N | sleep D | connect ADDR | open PATH… | kill PID SIG | exec PATH ARG…")
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
	case "open":
		for _, p := range os.Args[2:] {
			// syscall.Open is one openat(AT_FDCWD, p, …).
			fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				fmt.Printf("%s %d\n", p, -int(err.(syscall.Errno)))
				continue
			}
			fmt.Printf("%s %d\n", p, fd)
		}
	case "kill":
		if len(os.Args) != 4 {
			fail(fmt.Errorf("kill takes PID SIG"))
		}
		pid, err1 := strconv.Atoi(os.Args[2])
		sig, err2 := strconv.Atoi(os.Args[3])
		if err1 != nil || err2 != nil {
			fail(fmt.Errorf("kill takes two numbers"))
		}
		res := 0
		if _, _, e := syscall.RawSyscall(syscall.SYS_KILL, uintptr(pid), uintptr(sig), 0); e != 0 {
			res = -int(e)
		}
		fmt.Printf("kill %d %d: %d\n", pid, sig, res)
	case "exec":
		err := syscall.Exec(os.Args[2], os.Args[2:], os.Environ())
		fmt.Printf("exec %s: %d\n", os.Args[2], -int(err.(syscall.Errno)))
		os.Exit(1)
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
