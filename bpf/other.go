//go:build !386 && !amd64

package bpf

import (
	"errors"

	"github.com/cilium/ebpf"
)

// errArch is returned on machines the helpers are not built for.
var errArch = errors.New("bpf: the stdlib helpers are built for amd64 only")

// loadHttp stands in for the generated loader on other machines.
func loadHttp() (*ebpf.CollectionSpec, error) { return nil, errArch }

// loadGoroutine stands in for the generated loader on other machines.
func loadGoroutine() (*ebpf.CollectionSpec, error) { return nil, errArch }

// loadGrpc stands in for the generated loader on other machines.
func loadGrpc() (*ebpf.CollectionSpec, error) { return nil, errArch }
