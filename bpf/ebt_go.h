/* SPDX-License-Identifier: MIT */
/*
 * What every ebpftrace stdlib helper shares: the contract with the
 * compiler (the ebt_std_event / ebt_std_chain maps and how a finished
 * event is handed on) and reading the Go amd64 register ABI and Go values.
 */
#ifndef EBT_GO_H
#define EBT_GO_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* Slots of ebt_std_chain: the compiler puts the programs of the user's
 * chains at 0..k-1; each one ends by tail-calling the next slot. */
#define EBT_STD_CHAIN_SLOTS 16

/*
 * EBT_STD_CONTRACT declares the two maps the compiler's chain programs
 * use: ebt_std_event, one per-CPU slot holding the finished event, and
 * ebt_std_chain, the program array the helper tail-calls at slot 0. A
 * helper writes the event into ebt_std_event and calls ebt_std_emit; both
 * run in one program invocation on one CPU (uprobe programs run with
 * migration disabled), so the chain reads the event its helper wrote.
 * Caveat: since Linux 6.1 uprobe programs run with migration, not
 * preemption, disabled; on a fully preemptible kernel a run preempted
 * between the write and the chain's read can find the slot overwritten
 * by another task's run on that CPU (a lost and a doubled event). Task
 * local storage would close that window; see stdlib/README.md.
 */
#define EBT_STD_CONTRACT(event_type)                                    \
	struct {                                                        \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                \
		__uint(max_entries, 1);                                 \
		__type(key, __u32);                                     \
		__type(value, event_type);                              \
	} ebt_std_event SEC(".maps");                                   \
	struct {                                                        \
		__uint(type, BPF_MAP_TYPE_PROG_ARRAY);                  \
		__uint(max_entries, EBT_STD_CHAIN_SLOTS);               \
		__type(key, __u32);                                     \
		__type(value, __u32);                                   \
	} ebt_std_chain SEC(".maps")

/* ebt_std_emit hands the event in ebt_std_event to the chain. A tail call
 * does not return; when slot 0 is empty it falls through and nothing
 * happens. */
#define ebt_std_emit(ctx) bpf_tail_call((ctx), &ebt_std_chain, 0)

/* The amd64 Go internal ABI integer registers in assignment order
 * (cmd/compile/abi-internal.md): an index 0..8 names one of them. Results
 * are assigned from index 0 again. */
enum { GO_RAX, GO_RBX, GO_RCX, GO_RDI, GO_RSI, GO_R8, GO_R9, GO_R10, GO_R11 };

/* go_keep makes v opaque to clang. */
#define go_keep(v) asm volatile("" : "+r"(v))

/* go_reg reads the integer register with ABI index idx. idx is a load-time
 * constant in every caller, so the verifier follows one branch. Every
 * register is loaded first and kept opaque: otherwise clang turns the
 * choice into one load at a computed context offset, which the verifier
 * refuses ("dereference of modified ctx ptr"). */
static __always_inline __u64 go_reg(struct pt_regs *ctx, __u32 idx)
{
	__u64 ax = ctx->ax, bx = ctx->bx, cx = ctx->cx, di = ctx->di, si = ctx->si;
	__u64 r8 = ctx->r8, r9 = ctx->r9, r10 = ctx->r10, r11 = ctx->r11;

	go_keep(ax); go_keep(bx); go_keep(cx); go_keep(di); go_keep(si);
	go_keep(r8); go_keep(r9); go_keep(r10); go_keep(r11);
	switch (idx) {
	case GO_RAX: return ax;
	case GO_RBX: return bx;
	case GO_RCX: return cx;
	case GO_RDI: return di;
	case GO_RSI: return si;
	case GO_R8: return r8;
	case GO_R9: return r9;
	case GO_R10: return r10;
	case GO_R11: return r11;
	}
	return 0;
}

/* The running goroutine's g: Go keeps it in R14 in ABIInternal code. */
static __always_inline __u64 go_g(struct pt_regs *ctx)
{
	return ctx->r14;
}

/* A goroutine of one process. g pointers are reused only after the
 * goroutine exits, and a start and its end run on the same goroutine. */
struct go_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

static __always_inline struct go_key go_current(struct pt_regs *ctx)
{
	struct go_key k = {};
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	k.g = go_g(ctx);
	return k;
}

/* go_u64 reads a word of user memory; 0 when it cannot. */
static __always_inline __u64 go_u64(__u64 addr)
{
	__u64 v = 0;
	if (addr)
		bpf_probe_read_user(&v, sizeof(v), (const void *)addr);
	return v;
}

/* go_str copies the Go string whose header (ptr, len) is at addr into dst
 * (size bytes, a power of two), truncated to size-1 bytes and NUL
 * terminated. Go strings carry no NUL, so the length bounds the copy. */
#define go_str(dst, addr)                                                     \
	do {                                                                  \
		__u64 _hdr[2] = {};                                           \
		__u64 _n;                                                     \
		(dst)[0] = 0;                                                 \
		if (!(addr) || bpf_probe_read_user(_hdr, sizeof(_hdr), (const void *)(addr))) \
			break;                                                \
		_n = _hdr[1];                                                 \
		if (_n > sizeof(dst) - 1)                                     \
			_n = sizeof(dst) - 1;                                 \
		_n &= sizeof(dst) - 1;                                        \
		if (bpf_probe_read_user((dst), _n, (const void *)_hdr[0]))    \
			_n = 0;                                               \
		(dst)[_n] = 0;                                                \
	} while (0)

/* go_strn is go_str for a string whose pointer and length are at hand
 * (in two argument registers) rather than in a header in memory. */
#define go_strn(dst, ptr, len)                                                \
	do {                                                                  \
		__u64 _n = (len);                                             \
		(dst)[0] = 0;                                                 \
		if (!(ptr))                                                   \
			break;                                                \
		if (_n > sizeof(dst) - 1)                                     \
			_n = sizeof(dst) - 1;                                 \
		_n &= sizeof(dst) - 1;                                        \
		if (bpf_probe_read_user((dst), _n, (const void *)(ptr)))      \
			_n = 0;                                               \
		(dst)[_n] = 0;                                                \
	} while (0)

#endif
