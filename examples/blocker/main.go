// Command blocker is a Go program to trace with goroutine.blocked: four
// goroutines that block in four ways, a known number of times each, for
// a known time each:
//
//	blockOnChan    receives from a channel     ("chan receive")
//	blockOnMutex   locks a held sync.Mutex     ("sync.Mutex.Lock"; "semacquire" before Go 1.20)
//	blockOnSleep   calls time.Sleep            ("sleep")
//	blockOnSocket  reads from a TCP connection ("IO wait")
//
// Each block lasts -d. The goroutine that wakes a blocker (by sending, by
// unlocking, by writing to the connection) first waits until the blocker
// is parked, as runtime.Stack reports it, and only then sleeps -d: so
// every block happens, exactly -n times per kind, whatever the machine's
// load. The blockers do nothing else that can block, so a tracer sees
// exactly -n waits in each of these functions (its own waits are in
// wake* functions and waitParked). It builds with Go 1.17 and newer.
//
//	blocker [-n 5] [-d 40ms] [-rounds 1] [-wait]
//
// It prints its pid, then for each round one line per kind with the
// goroutine's ID and how long each blocking call took, in ns, as the
// program measured it around the call, and "done" at the end. With -wait it reads a line from
// stdin before the first round (attach the tracer, then press Enter) and
// another before exiting. -rounds 0 repeats until killed.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	n := flag.Int("n", 5, "blocks of each kind per round")
	d := flag.Duration("d", 40*time.Millisecond, "how long each block lasts")
	rounds := flag.Int("rounds", 1, "rounds to run; 0 repeats until killed")
	wait := flag.Bool("wait", false, "read a line from stdin before the first round and before exiting")
	flag.Parse()

	fmt.Printf("pid %d\n", os.Getpid())
	stdin := bufio.NewReader(os.Stdin)
	if *wait {
		stdin.ReadString('\n')
	}
	for r := 0; *rounds == 0 || r < *rounds; r++ {
		var wg sync.WaitGroup
		for _, k := range kinds {
			wg.Add(1)
			go func(k kind) {
				defer wg.Done()
				took := make([]time.Duration, *n)
				goid, err := k.run(took, *d)
				if err != nil {
					log.Fatalf("%s: %v", k.name, err)
				}
				fmt.Printf("%s goroutine %d blocked %d times for %v; took %s\n", k.name, goid, *n, *d, nanos(took))
			}(k)
		}
		wg.Wait()
	}
	fmt.Println("done")
	if *wait {
		stdin.ReadString('\n')
	}
}

// kind is one way of blocking: run blocks a goroutine len(took) times
// for d, measures each call that blocks into took, and returns the
// goroutine's ID.
type kind struct {
	name string
	run  func(took []time.Duration, d time.Duration) (uint64, error)
}

var kinds = []kind{
	{"chan", wakeChan},
	{"mutex", wakeMutex},
	{"sleep", wakeSleep},
	{"socket", wakeSocket},
}

// wakeChan sends on ch each time blockOnChan waits there.
func wakeChan(took []time.Duration, d time.Duration) (uint64, error) {
	ch := make(chan int)
	ids := make(chan uint64, 2) // room for both sends: the blocker never waits on it
	go blockOnChan(ch, took, ids)
	g := <-ids
	for i := range took {
		waitParked(g)
		time.Sleep(d)
		ch <- i
	}
	<-ids
	return g, nil
}

func blockOnChan(ch <-chan int, took []time.Duration, ids chan<- uint64) {
	ids <- goid()
	for i := range took {
		start := time.Now()
		<-ch
		took[i] = time.Since(start)
	}
	ids <- 0
}

// wakeMutex holds mu while blockOnMutex tries to lock it, then unlocks.
// The two take turns through counters that they poll with Gosched (which
// does not park): the blocker locks only while mu is held, and the
// holder locks again only once the blocker has unlocked (a Lock right
// after Unlock could take mu before the woken blocker and make it wait
// twice).
func wakeMutex(took []time.Duration, d time.Duration) (uint64, error) {
	var mu sync.Mutex
	var held, released int64
	ids := make(chan uint64, 2) // room for both sends: the blocker never waits on it
	go blockOnMutex(&mu, took, &held, &released, ids)
	g := <-ids
	for i := range took {
		mu.Lock()
		atomic.StoreInt64(&held, int64(i+1))
		waitParked(g)
		time.Sleep(d)
		mu.Unlock()
		for atomic.LoadInt64(&released) <= int64(i) {
			runtime.Gosched()
		}
	}
	<-ids
	return g, nil
}

func blockOnMutex(mu *sync.Mutex, took []time.Duration, held, released *int64, ids chan<- uint64) {
	ids <- goid()
	for i := range took {
		for atomic.LoadInt64(held) <= int64(i) {
			runtime.Gosched()
		}
		start := time.Now()
		mu.Lock()
		took[i] = time.Since(start)
		mu.Unlock()
		atomic.StoreInt64(released, int64(i+1))
	}
	ids <- 0
}

// wakeSleep only waits for blockOnSleep: a sleep needs no waker.
func wakeSleep(took []time.Duration, d time.Duration) (uint64, error) {
	ids := make(chan uint64, 2) // room for both sends: the blocker never waits on it
	go blockOnSleep(took, d, ids)
	g := <-ids
	<-ids
	return g, nil
}

func blockOnSleep(took []time.Duration, d time.Duration, ids chan<- uint64) {
	ids <- goid()
	for i := range took {
		start := time.Now()
		time.Sleep(d)
		took[i] = time.Since(start)
	}
	ids <- 0
}

// wakeSocket writes a byte to a loopback TCP connection each time
// blockOnSocket waits to read one.
func wakeSocket(took []time.Duration, d time.Duration) (uint64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		return 0, err
	}
	defer server.Close()
	ids := make(chan uint64, 2) // room for both sends: the blocker never waits on it
	errs := make(chan error, 1)
	go blockOnSocket(server, took, ids, errs)
	g := <-ids
	for i := range took {
		waitParked(g)
		time.Sleep(d)
		if _, err := client.Write([]byte{byte(i)}); err != nil {
			return g, err
		}
	}
	return g, <-errs
}

func blockOnSocket(c net.Conn, took []time.Duration, ids chan<- uint64, errs chan<- error) {
	ids <- goid()
	var b [1]byte
	for i := range took {
		start := time.Now()
		if _, err := io.ReadFull(c, b[:]); err != nil {
			errs <- err
			return
		}
		took[i] = time.Since(start)
	}
	errs <- nil
}

// nanos renders durations as nanoseconds separated by spaces.
func nanos(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = strconv.FormatInt(int64(d), 10)
	}
	return strings.Join(s, " ")
}

// goid returns the calling goroutine's ID, from the first line of its
// stack trace: "goroutine 7 [running]:".
func goid() uint64 {
	var buf [64]byte
	line := buf[:runtime.Stack(buf[:], false)]
	line = bytes.TrimPrefix(line, []byte("goroutine "))
	if i := bytes.IndexByte(line, ' '); i > 0 {
		line = line[:i]
	}
	id, _ := strconv.ParseUint(string(line), 10, 64)
	return id
}

// waitParked returns once goroutine g is blocked: its header in a dump
// of all goroutines shows a wait reason, not running, runnable or in a
// system call.
func waitParked(g uint64) {
	prefix := []byte(fmt.Sprintf("goroutine %d [", g))
	buf := make([]byte, 1<<16)
	for {
		for {
			n := runtime.Stack(buf, true)
			if n < len(buf) {
				buf = buf[:n]
				break
			}
			buf = make([]byte, 2*len(buf))
		}
		if i := bytes.Index(buf, prefix); i >= 0 {
			state := buf[i+len(prefix):]
			if j := bytes.IndexAny(state, ",]"); j >= 0 {
				state = state[:j]
			}
			switch string(state) {
			case "running", "runnable", "syscall", "preempted":
			default:
				return
			}
		}
		buf = buf[:cap(buf)]
		time.Sleep(time.Millisecond)
	}
}
