// Command server is a gRPC server to trace with grpc.server: one method
// of each kind (unary, client stream, server stream, bidi), a known sleep,
// and error codes (NotFound, Aborted, and Unimplemented for a method it
// lacks). See ../README.md and package demo for the service.
//
//	server -addr 127.0.0.1:50051 [-sleep 20ms]
//
// It prints "listening on ADDR" once it accepts connections. Every
// handler sends the ID of its goroutine in the x-goid trailer.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"runtime"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ebpftrace/ebpftrace/examples/grpc/demo"
)

// server implements demo.Server.
type server struct {
	sleep time.Duration
}

// goid returns the running goroutine's ID, from its stack header.
func goid() string {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	if i := strings.IndexByte(s, ' '); i > 0 {
		return s[:i]
	}
	return "0"
}

// tagUnary sends the handler's goroutine ID in the trailer of a unary RPC.
func tagUnary(ctx context.Context) {
	grpc.SetTrailer(ctx, metadata.Pairs(demo.GoidKey, goid()))
}

// tagStream does the same for a streaming RPC.
func tagStream(s grpc.ServerStream) {
	s.SetTrailer(metadata.Pairs(demo.GoidKey, goid()))
}

func (s *server) Echo(ctx context.Context, in *demo.Msg) (*demo.Msg, error) {
	tagUnary(ctx)
	time.Sleep(s.sleep)
	return &demo.Msg{Value: in.Value}, nil
}

// values are the keys Lookup knows.
var values = map[string]string{"alpha": "1", "beta": "2"}

func (s *server) Lookup(ctx context.Context, in *demo.Msg) (*demo.Msg, error) {
	tagUnary(ctx)
	v, ok := values[in.Value]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no key %q", in.Value)
	}
	return &demo.Msg{Value: v}, nil
}

func (s *server) Sum(stream grpc.ServerStream) error {
	tagStream(stream)
	sum := 0
	for {
		var m demo.Msg
		err := stream.RecvMsg(&m)
		if err == io.EOF {
			return stream.SendMsg(&demo.Msg{Value: strconv.Itoa(sum)})
		}
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(m.Value)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "not a number: %q", m.Value)
		}
		sum += n
	}
}

func (s *server) Count(stream grpc.ServerStream) error {
	tagStream(stream)
	var m demo.Msg
	if err := stream.RecvMsg(&m); err != nil {
		return err
	}
	n, err := strconv.Atoi(m.Value)
	if err != nil || n < 0 || n > 1000 {
		return status.Errorf(codes.InvalidArgument, "bad count %q", m.Value)
	}
	for i := 1; i <= n; i++ {
		if err := stream.SendMsg(&demo.Msg{Value: strconv.Itoa(i)}); err != nil {
			return err
		}
	}
	return nil
}

// Chat receives on a goroutine of its own and echoes from the handler's
// goroutine, so one stream is served by two goroutines (as a tracer must
// follow).
func (s *server) Chat(stream grpc.ServerStream) error {
	tagStream(stream)
	msgs := make(chan string)
	errc := make(chan error, 1)
	go func() {
		defer close(msgs)
		for {
			var m demo.Msg
			if err := stream.RecvMsg(&m); err != nil {
				if !errors.Is(err, io.EOF) {
					errc <- err
				}
				return
			}
			msgs <- m.Value
			if m.Value == "abort" {
				return // the handler ends the RPC: stop using the stream
			}
		}
	}()
	for m := range msgs {
		if m == "abort" {
			return status.Error(codes.Aborted, "aborted by request")
		}
		if err := stream.SendMsg(&demo.Msg{Value: m}); err != nil {
			return err
		}
	}
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "address to listen on")
	sleep := flag.Duration("sleep", 20*time.Millisecond, "how long Echo sleeps")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	s := grpc.NewServer()
	demo.Register(s, &server{sleep: *sleep})
	fmt.Printf("listening on %s\n", ln.Addr())
	if err := s.Serve(ln); err != nil {
		log.Fatal(err)
	}
}
