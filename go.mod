module github.com/ebpftrace/ebpftrace

go 1.26.8

require (
	github.com/alecthomas/participle/v2 v2.1.4
	github.com/cilium/ebpf v0.22.0
	golang.org/x/sys v0.50.0
)
