//go:build ignore

// SPDX-License-Identifier: MIT
/*
 * The helper of the goroutine pack: one event each time a goroutine
 * resumes after blocking in the Go scheduler (goroutine.blocked), handed
 * to the user's chain through ebt_std_event / ebt_std_chain (ebt_go.h).
 *
 * Every blocking wait of a goroutine in the runtime (channels, select,
 * sync's mutexes and conditions through semacquire, timers and sleeps,
 * the network poller, GC assists…) goes through
 * runtime.gopark(unlockf, lock, reason waitReason, …): it stores the
 * reason in g.waitreason and switches to the scheduler with
 * mcall(park_m). When the goroutine has been woken and scheduled again,
 * mcall "returns" on it and gopark reaches its single RET. So:
 *
 *   - goroutine_park, a uprobe past gopark's frame-pointer setup, records
 *     the time, the reason (CL, the third integer argument), the goid and
 *     the user stack in goroutine_parked under {pid, g};
 *   - goroutine_resume, a uprobe on gopark's RET (the same g, in R14, now
 *     running again), finds that entry, fills the event and emits it.
 *
 * The duration is therefore the time blocked plus the time spent runnable
 * in a run queue before running again. The stack is taken at the park,
 * where BP is gopark's own frame: the frame-pointer walk then includes
 * gopark's direct caller (chanrecv, semacquire1, netpollblock…), which
 * a probe at the entry or the RET would miss (there the caller's return
 * address is only at [RSP]).
 *
 * Every per-binary fact (goid offset, the reason's register, the
 * reason names) is set by stdlib/goroutine before loading.
 */
#include "ebt_go.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* uapi/linux/bpf.h values the minimal vmlinux.h does not carry. */
enum {
	GR_MAP_TYPE_STACK_TRACE = 7,
	GR_F_RDONLY_PROG = 1 << 7,
	GR_F_USER_STACK = 1 << 8,
};

#define REASON_LEN 32   /* the longest name, "sync.WaitGroup.Wait (durable)", has 29 bytes */
#define REASONS 256     /* waitReason is a uint8 */
/* The stack map has the dimensions of the compiler's own ustack map
 * (compiler/stacks.go), so the runtime may replace one with the other. */
#define STACK_DEPTH 127 /* perf_event_max_stack's default */
#define STACK_ENTRIES 16384
#define PARKED_ENTRIES 32768

/* The event the chain reads. stdlib/goroutine's schema describes this
 * layout field by field; keep them in step (a test compares them). */
struct goroutine_event {
	__u64 start;     /* bpf_ktime_get_ns when the goroutine parked */
	__u64 duration;  /* ns from park to running again */
	__u64 goid;      /* runtime.g.goid */
	__u64 stack;     /* pid << 32 | stack id in ebt_std_stacks (as ustack) */
	__u32 reason_id; /* the runtime's waitReason value */
	__u32 pad;
	char reason[REASON_LEN]; /* its name in this binary's runtime */
};

/* What the park records for the resume. */
struct goroutine_parked {
	__u64 start;
	__u64 goid;
	__u64 stack;
	__u32 reason_id;
	__u32 pad;
};

struct reason_name {
	char name[REASON_LEN];
};

EBT_STD_CONTRACT(struct goroutine_event);

/* Parked goroutines by {pid, g}. LRU: a goroutine that never resumes
 * (blocked forever, or parked before a long-lived program was traced and
 * its entry evicted by newer parks) must not hold an entry for good. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PARKED_ENTRIES);
	__type(key, struct go_key);
	__type(value, struct goroutine_parked);
} goroutine_parked SEC(".maps");

/* The names of this binary's wait reasons by value, written by the loader
 * (stdlib/goroutine sets the MapSpec's contents); the programs only read
 * it. An unknown value has an empty name. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, REASONS);
	__uint(map_flags, GR_F_RDONLY_PROG);
	__type(key, __u32);
	__type(value, struct reason_name);
} goroutine_reasons SEC(".maps");

/* User stacks at the park, by id (bpf_get_stackid). The event carries
 * the id; the chain's `stack` field names it. */
struct {
	__uint(type, GR_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, STACK_ENTRIES);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, STACK_DEPTH * sizeof(__u64));
} ebt_std_stacks SEC(".maps");

/* Load-time constants (stdlib/goroutine sets both). */
volatile const __u64 go_g_goid = 152;     /* runtime.g.goid */
volatile const __u32 park_reason_reg = GO_RCX; /* gopark's reason (a uint8) */

SEC("uprobe")
int goroutine_park(struct pt_regs *ctx)
{
	struct go_key k = go_current(ctx);
	struct goroutine_parked p = {};

	p.start = bpf_ktime_get_ns();
	p.goid = go_u64(k.g + go_g_goid);
	p.reason_id = (__u32)(go_reg(ctx, park_reason_reg) & 0xff);
	/* The id's 32 bits (an error is negative, so >= 1 << 31 here, which
	 * the runtime reads as no stack) under the pid, as the compiler lays
	 * out a ustack value. */
	__u32 id = (__u32)bpf_get_stackid(ctx, &ebt_std_stacks, GR_F_USER_STACK);
	p.stack = ((__u64)k.tgid << 32) | id;
	/* Overwrite: an entry left by a park whose resume was never seen
	 * (traced from the middle) is stale. */
	bpf_map_update_elem(&goroutine_parked, &k, &p, BPF_ANY);
	return 0;
}

SEC("uprobe")
int goroutine_resume(struct pt_regs *ctx)
{
	struct go_key k = go_current(ctx);
	struct goroutine_parked *p = bpf_map_lookup_elem(&goroutine_parked, &k);
	if (!p)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u32 zero = 0;
	struct goroutine_event *e = bpf_map_lookup_elem(&ebt_std_event, &zero);
	if (!e) {
		bpf_map_delete_elem(&goroutine_parked, &k);
		return 0;
	}
	e->start = p->start;
	e->duration = now - p->start;
	e->goid = p->goid;
	e->stack = p->stack;
	e->reason_id = p->reason_id;
	e->pad = 0;
	bpf_map_delete_elem(&goroutine_parked, &k);

	__u32 r = e->reason_id & (REASONS - 1);
	struct reason_name *n = bpf_map_lookup_elem(&goroutine_reasons, &r);
	if (n)
		__builtin_memcpy(e->reason, n->name, REASON_LEN);
	else
		e->reason[0] = 0;
	ebt_std_emit(ctx);
	return 0;
}
