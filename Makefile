# ebpftrace — see README.md.
GO ?= go
BIN := bin/ebpftrace

.PHONY: all build test run bench fuzz vet deps clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/ebpftrace

# Unit tests need no privileges; the end-to-end tests load real BPF
# programs and skip, saying why, unless run as root.
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 ./...

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

# What the tests use from the system: bpftool lists loaded programs, tmux
# drives the REPL, gcc builds the C example. Missing ones are installed when
# we are root on Debian; otherwise the tests that need them skip.
DEPS := bpftool tmux gcc
deps:
	@missing=""; for t in $(DEPS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: not installed:$$missing; the tests that need them skip"; fi; fi

clean:
	rm -rf bin
