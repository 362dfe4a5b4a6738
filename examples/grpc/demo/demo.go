// Package demo is the gRPC service shared by the examples/grpc server and
// client. The service is defined by hand with grpc.ServiceDesc and
// grpc.StreamDesc, and its messages are protobuf's well-known
// wrapperspb.StringValue, so neither protoc nor generated code is needed
// and the same source builds against grpc-go from v1.36 (the first with
// credentials/insecure, v1.34, would do) to today.
//
// One method per kind of RPC, and one error code:
//
//	/ebt.demo.Demo/Echo     unary          the request, after sleeping the server's -sleep
//	/ebt.demo.Demo/Lookup   unary          the value of a key; NotFound for unknown keys
//	/ebt.demo.Demo/Sum      client stream  the sum of the numbers sent
//	/ebt.demo.Demo/Count    server stream  "1", "2", … up to the number asked for
//	/ebt.demo.Demo/Chat     bidi           each message echoed; Aborted on "abort"
//	/ebt.demo.Demo/Missing  (none)         not implemented by the server: Unimplemented
package demo

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Full method names, as gRPC sends them and ebpftrace reports them.
const (
	Echo    = "/ebt.demo.Demo/Echo"
	Lookup  = "/ebt.demo.Demo/Lookup"
	Sum     = "/ebt.demo.Demo/Sum"
	Count   = "/ebt.demo.Demo/Count"
	Chat    = "/ebt.demo.Demo/Chat"
	Missing = "/ebt.demo.Demo/Missing"
)

// Msg is the message type of every method.
type Msg = wrapperspb.StringValue

// Server is what the server implements.
type Server interface {
	Echo(ctx context.Context, in *Msg) (*Msg, error)
	Lookup(ctx context.Context, in *Msg) (*Msg, error)
	// Sum receives numbers until the client closes its side, then sends
	// their sum.
	Sum(stream grpc.ServerStream) error
	// Count receives one number n and sends n messages.
	Count(stream grpc.ServerStream) error
	// Chat echoes every message until the client closes its side.
	Chat(stream grpc.ServerStream) error
}

// The stream descriptions, shared by the server's ServiceDesc and the
// client's NewStream calls: they say which side streams.
var (
	SumDesc   = grpc.StreamDesc{StreamName: "Sum", ClientStreams: true}
	CountDesc = grpc.StreamDesc{StreamName: "Count", ServerStreams: true}
	ChatDesc  = grpc.StreamDesc{StreamName: "Chat", ServerStreams: true, ClientStreams: true}
)

// unary adapts a method of Server to a grpc.MethodDesc handler, as
// protoc-gen-go-grpc's generated code does.
func unary(name string, call func(Server, context.Context, *Msg) (*Msg, error)) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv interface{}, ctx context.Context, dec func(interface{}) error, interceptor grpc.UnaryServerInterceptor) (interface{}, error) {
			in := new(Msg)
			if err := dec(in); err != nil {
				return nil, err
			}
			if interceptor == nil {
				return call(srv.(Server), ctx, in)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/ebt.demo.Demo/" + name}
			return interceptor(ctx, in, info, func(ctx context.Context, req interface{}) (interface{}, error) {
				return call(srv.(Server), ctx, req.(*Msg))
			})
		},
	}
}

// stream adapts a streaming method of Server to a grpc.StreamDesc.
func stream(d grpc.StreamDesc, call func(Server, grpc.ServerStream) error) grpc.StreamDesc {
	d.Handler = func(srv interface{}, s grpc.ServerStream) error { return call(srv.(Server), s) }
	return d
}

// Register registers impl as the ebt.demo.Demo service of s.
func Register(s *grpc.Server, impl Server) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "ebt.demo.Demo",
		HandlerType: (*Server)(nil),
		Methods: []grpc.MethodDesc{
			unary("Echo", Server.Echo),
			unary("Lookup", Server.Lookup),
		},
		Streams: []grpc.StreamDesc{
			stream(SumDesc, Server.Sum),
			stream(CountDesc, Server.Count),
			stream(ChatDesc, Server.Chat),
		},
	}, impl)
}

// GoidKey is the trailer key in which the server sends the ID of the
// goroutine that ran the handler, so a test can check the goid a tracer
// reports.
const GoidKey = "x-goid"
