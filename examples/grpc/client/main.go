// Command client calls the examples/grpc server: every method, so every
// kind of RPC and several status codes, with known counts. It prints one
// line per RPC (in a fixed order, so two runs print the same) and exits.
// See ../README.md.
//
//	client -addr 127.0.0.1:50051 [-only echo,lookup,sum,count,chat,abort,missing] [-n 1] [-goids] [-wait]
//
// The steps, in order:
//
//	echo     Echo ×3, then ×4 at once                        unary, OK
//	lookup   Lookup ×2 known keys, ×3 unknown ones            unary, OK and NotFound
//	sum      Sum ×4, each sending 3 numbers                   client stream, OK
//	count    Count ×5, each asking for 2 messages             server stream, OK
//	chat     Chat ×1: 6 messages, each answered before the next;
//	         replies are read on a second goroutine           bidi, OK
//	abort    Chat ×1 sending "abort"                          bidi, Aborted
//	missing  Missing ×1                                       Unimplemented
//
// -n repeats the steps; -goids adds the ID of the server goroutine that
// ran each handler (the x-goid trailer); -wait reads a line from stdin
// before the first call, so a tracer can attach to the process first.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ebpftrace/ebpftrace/examples/grpc/demo"
)

var showGoids = flag.Bool("goids", false, "print the server goroutine of each RPC")

// result renders an RPC's outcome: its status code, and its message when
// it failed, and the server's goroutine with -goids.
func result(err error, trailer metadata.MD) string {
	st := status.Convert(err)
	out := st.Code().String()
	if err != nil {
		out += ": " + st.Message()
	}
	if *showGoids {
		if g := trailer.Get(demo.GoidKey); len(g) > 0 {
			out += " goid=" + g[0]
		}
	}
	return out
}

// unary calls a unary method and renders the call.
func unary(ctx context.Context, conn *grpc.ClientConn, method, in string) string {
	var out demo.Msg
	var tr metadata.MD
	err := conn.Invoke(ctx, method, &demo.Msg{Value: in}, &out, grpc.Trailer(&tr))
	name := method[strings.LastIndexByte(method, '/')+1:]
	if err != nil {
		return fmt.Sprintf("%s(%q) = %s", name, in, result(err, tr))
	}
	return fmt.Sprintf("%s(%q) = %q %s", name, in, out.Value, result(nil, tr))
}

func echo(ctx context.Context, conn *grpc.ClientConn) {
	for i := 1; i <= 3; i++ {
		fmt.Println(unary(ctx, conn, demo.Echo, "hello-"+strconv.Itoa(i)))
	}
	// Concurrent calls: each is a stream of its own on the connection.
	lines := make([]string, 4)
	var wg sync.WaitGroup
	for i := range lines {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			lines[i] = unary(ctx, conn, demo.Echo, "together-"+strconv.Itoa(i+1))
		}(i)
	}
	wg.Wait()
	for _, l := range lines {
		fmt.Println(l)
	}
}

func lookup(ctx context.Context, conn *grpc.ClientConn) {
	for _, k := range []string{"alpha", "beta", "nope-1", "nope-2", "nope-3"} {
		fmt.Println(unary(ctx, conn, demo.Lookup, k))
	}
}

func sum(ctx context.Context, conn *grpc.ClientConn) {
	for i := 1; i <= 4; i++ {
		nums := []int{i, i + 1, i + 2}
		cs, err := conn.NewStream(ctx, &demo.SumDesc, demo.Sum)
		if err != nil {
			fmt.Printf("Sum%v = %s\n", nums, result(err, nil))
			continue
		}
		for _, n := range nums {
			if err = cs.SendMsg(&demo.Msg{Value: strconv.Itoa(n)}); err != nil {
				break
			}
		}
		var out demo.Msg
		if err == nil {
			cs.CloseSend()
			err = cs.RecvMsg(&out)
		}
		fmt.Printf("Sum%v = %q %s\n", nums, out.Value, result(err, cs.Trailer()))
	}
}

func count(ctx context.Context, conn *grpc.ClientConn) {
	for i := 1; i <= 5; i++ {
		cs, err := conn.NewStream(ctx, &demo.CountDesc, demo.Count)
		if err != nil {
			fmt.Printf("Count(2) = %s\n", result(err, nil))
			continue
		}
		var got []string
		if err = cs.SendMsg(&demo.Msg{Value: "2"}); err == nil {
			cs.CloseSend()
			for {
				var m demo.Msg
				if err = cs.RecvMsg(&m); err != nil {
					break
				}
				got = append(got, m.Value)
			}
		}
		if err == io.EOF {
			err = nil
		}
		fmt.Printf("Count(2) = %q %s\n", got, result(err, cs.Trailer()))
	}
}

// chat sends msgs one at a time, each after the reply to the previous one,
// and reads the replies on a goroutine of its own, so the client side of
// one stream runs on two goroutines too.
func chat(ctx context.Context, conn *grpc.ClientConn, msgs []string) {
	cs, err := conn.NewStream(ctx, &demo.ChatDesc, demo.Chat)
	if err != nil {
		fmt.Printf("Chat%q = %s\n", msgs, result(err, nil))
		return
	}
	type reply struct {
		v   string
		err error
	}
	replies := make(chan reply)
	go func() {
		for {
			var m demo.Msg
			err := cs.RecvMsg(&m)
			replies <- reply{m.Value, err}
			if err != nil {
				return
			}
		}
	}()
	var got []string
	var last error
	for _, m := range msgs {
		if err := cs.SendMsg(&demo.Msg{Value: m}); err != nil {
			break
		}
		r := <-replies
		if r.err != nil {
			last = r.err
			break
		}
		got = append(got, r.v)
	}
	if last == nil {
		cs.CloseSend()
		last = (<-replies).err
	}
	if last == io.EOF {
		last = nil
	}
	fmt.Printf("Chat%q = %q %s\n", msgs, got, result(last, cs.Trailer()))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "server address")
	only := flag.String("only", "echo,lookup,sum,count,chat,abort,missing", "steps to run, comma-separated")
	wait := flag.Bool("wait", false, "read a line from stdin before the first call")
	n := flag.Int("n", 1, "how many times to run the steps")
	flag.Parse()
	conn, err := grpc.Dial(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	if *wait {
		fmt.Println("ready")
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			log.Fatal(err)
		}
	}
	ctx := context.Background()
	steps := map[string]func(){
		"echo":   func() { echo(ctx, conn) },
		"lookup": func() { lookup(ctx, conn) },
		"sum":    func() { sum(ctx, conn) },
		"count":  func() { count(ctx, conn) },
		"chat":   func() { chat(ctx, conn, []string{"a", "b", "c", "d", "e", "f"}) },
		"abort":  func() { chat(ctx, conn, []string{"abort"}) },
		"missing": func() {
			fmt.Println(unary(ctx, conn, demo.Missing, "?"))
		},
	}
	var run []func()
	for _, s := range strings.Split(*only, ",") {
		f, ok := steps[s]
		if !ok {
			log.Fatalf("unknown step %q", s)
		}
		run = append(run, f)
	}
	for i := 0; i < *n; i++ {
		for _, f := range run {
			f()
		}
	}
}
