// The examples/grpc server and client, a module of their own so that the
// ebpftrace module does not depend on gRPC. This file pins the current
// grpc-go; go.v1.66.mod and go.v1.56.mod pin older releases that the
// stdlib/grpc tests also build the examples against (go build
// -modfile=go.v1.66.mod ./server).
module github.com/ebpftrace/ebpftrace/examples/grpc

go 1.26.0

require (
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
)
