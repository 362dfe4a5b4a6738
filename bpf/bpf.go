// Package bpf holds the prebuilt CO-RE helper programs of the stdlib packs
// (see stdlib/) as C sources and, generated from them by `make generate`
// (bpf2go and clang), ELF objects embedded in Go files. Both are
// committed, so building ebpftrace needs no clang.
//
// A helper is one C file (http.c, grpc.c, goroutine.c) that includes ebt_go.h, which declares
// the maps of the contract with the compiler (ebt_std_event,
// ebt_std_chain) and reads the Go amd64 register ABI. Its per-binary facts
// (Go struct offsets, argument registers) are `volatile const` variables
// that the stdlib pack sets in the CollectionSpec before loading.
//
// Adding a helper: write foo.c, add a go:generate line below, run
// `make generate`, and return its spec from a function like HTTP.
package bpf

import "github.com/cilium/ebpf"

// The objects are built for amd64 only: the helpers read Go's amd64
// register ABI from struct pt_regs. -mcpu=v1 is bpf2go's default, kept for
// old kernels. Stripping (llvm-strip -g) drops DWARF, keeps BTF.
//go:generate go tool bpf2go -cc clang-14 -strip llvm-strip-14 -target amd64 -no-global-types -cflags "-Wall -Werror -Wno-unused-function" http http.c
//go:generate go tool bpf2go -cc clang-14 -strip llvm-strip-14 -target amd64 -no-global-types -cflags "-Wall -Werror -Wno-unused-function" goroutine goroutine.c
//go:generate go tool bpf2go -cc clang-14 -strip llvm-strip-14 -target amd64 -no-global-types -cflags "-Wall -Werror -Wno-unused-function" grpc grpc.c

// HTTP returns a fresh CollectionSpec of the http pack's helper (http.c):
// programs http_server_start, http_server_write_header, http_server_end,
// http_client_start and http_client_end; maps ebt_std_event,
// ebt_std_chain and its private maps; the load-time constants listed in
// http.c. Each call parses the embedded object anew, so callers may change
// the spec freely.
func HTTP() (*ebpf.CollectionSpec, error) {
	return loadHttp()
}

// Goroutine returns a fresh CollectionSpec of the goroutine pack's helper
// (goroutine.c): programs goroutine_park and goroutine_resume; maps
// ebt_std_event, ebt_std_chain, ebt_std_stacks (the user stacks the
// events' stack ids index), goroutine_parked and goroutine_reasons (the
// wait reasons' names, which the loader fills); the load-time constants
// listed in goroutine.c.
func Goroutine() (*ebpf.CollectionSpec, error) {
	return loadGoroutine()
}

// GRPC returns a fresh CollectionSpec of the grpc pack's helper (grpc.c):
// the server programs grpc_server_* and the client programs grpc_client_*;
// maps ebt_std_event, ebt_std_chain and its private maps; the load-time
// constants listed in grpc.c, ebt_std_events among them.
func GRPC() (*ebpf.CollectionSpec, error) {
	return loadGrpc()
}
