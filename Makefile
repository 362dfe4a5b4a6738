# ebpftrace — see README.md.
GO ?= go
BIN := bin/ebpftrace

.PHONY: all build test run bench fuzz vet deps generate clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/ebpftrace

# Unit tests need no privileges; the end-to-end tests load real BPF
# programs and skip, saying why, unless run as root.
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 45m ./...

# The main job on a built-in example: count system calls by process for 5 s.
RUN_PROGRAM := tracepoint("raw_syscalls:sys_enter").by(comm).count().top(10)
run: build
	@if [ "$$(id -u)" = 0 ]; then $(BIN) --duration 5s -e '$(RUN_PROGRAM)'; \
	 else sudo $(BIN) --duration 5s -e '$(RUN_PROGRAM)'; fi

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 20x ./bench/

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./dsl/
	$(GO) test -run '^$$' -fuzz FuzzScanPartial -fuzztime 30s ./dsl/
	$(GO) test -run '^$$' -fuzz FuzzParseFlags -fuzztime 30s ./cmd/ebpftrace/
	$(GO) test -run '^$$' -fuzz FuzzCompile -fuzztime 60s ./compiler/

vet:
	$(GO) vet ./...

# What the tests use from the system, as command:Debian package. bpftool
# lists loaded programs, tmux drives the REPL, gcc builds the C examples,
# <sys/sdt.h> their USDT probes, Debian's python3.11 has USDT probes with
# semaphores, bpftrace's runqlat.bt is what runqlat is checked against;
# Debian's Go programs built by older Go releases test internal/gobin,
# internal/gomodule and the stdlib packs on them: prometheus and etcd
# (go1.19.8, stripped), etcdctl (etcd's gRPC client, for grpc.client),
# go-md2man (go1.18.3), and golang-1.19-go builds go1.19 test programs;
# prometheus also scrapes --metrics in the exporter tests (go tool pprof,
# which they run too, comes with Go). Missing ones are installed when we
# are root on Debian; otherwise the tests that need them skip.
DEPS := bpftool:bpftool tmux:tmux gcc:gcc prometheus:prometheus etcd:etcd-server \
	etcdctl:etcd-client go-md2man:go-md2man /usr/lib/go-1.19/bin/go:golang-1.19-go \
	/usr/include/x86_64-linux-gnu/sys/sdt.h:systemtap-sdt-dev /usr/bin/python3.11:python3.11 \
	bpftrace:bpftrace
# What `make generate` uses: clang and llvm-strip (bpf2go), libbpf's headers.
GEN_DEPS := clang-14:clang-14 llvm-strip-14:llvm-14 /usr/include/bpf/bpf_helpers.h:libbpf-dev
deps:
	@$(call install,$(DEPS))

# Rebuilds the committed helper objects (bpf/*_bpfel.o and .go) from
# bpf/*.c with clang through bpf2go (pinned by go.mod's tool directive).
# The output is the same, byte for byte, each time it runs.
generate:
	@$(call install,$(GEN_DEPS))
	$(GO) generate ./bpf/

# install: for each command:package pair whose command (or file) is
# missing, apt-get install the package when root on Debian, else say so.
define install
missing=""; for d in $(1); do c=$${d%%:*}; p=$${d#*:}; \
  if [ -e "$$c" ] || command -v "$$c" >/dev/null 2>&1; then :; else missing="$$missing $$p"; fi; done; \
if [ -n "$$missing" ]; then \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
  else echo "note: not installed:$$missing"; fi; fi
endef

clean:
	rm -rf bin
