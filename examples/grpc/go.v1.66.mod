// grpc-go v1.66 (August 2024) for the stdlib/grpc tests: see go.mod.
module github.com/ebpftrace/ebpftrace/examples/grpc

go 1.22

require (
	google.golang.org/grpc v1.66.2
	google.golang.org/protobuf v1.34.1
)

require (
	golang.org/x/net v0.26.0 // indirect
	golang.org/x/sys v0.21.0 // indirect
	golang.org/x/text v0.16.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20240604185151-ef581f913117 // indirect
)
