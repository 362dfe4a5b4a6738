// grpc-go v1.56 (June 2023), built with Go 1.19 by the stdlib/grpc tests:
// see go.mod.
module github.com/ebpftrace/ebpftrace/examples/grpc

go 1.17

require (
	google.golang.org/grpc v1.56.3
	google.golang.org/protobuf v1.30.0
)

require (
	github.com/golang/protobuf v1.5.3 // indirect
	golang.org/x/net v0.9.0 // indirect
	golang.org/x/sys v0.7.0 // indirect
	golang.org/x/text v0.9.0 // indirect
	google.golang.org/genproto v0.0.0-20230410155749-daa745c078e1 // indirect
)
