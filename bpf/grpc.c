//go:build ignore

// SPDX-License-Identifier: MIT
/*
 * The helper of the grpc pack: the RPCs of a grpc-go server (grpc.server)
 * and client (grpc.client), one event per finished RPC and, when the
 * user's chain asks for them, one per step of its life (start, send,
 * recv, close_send), handed to the chain through ebt_std_event /
 * ebt_std_chain (ebt_go.h).
 *
 * An RPC is followed by the object grpc-go keeps for it, not by a
 * goroutine, because a handler or a caller may send and receive on
 * goroutines of its own:
 *
 * Server: the transport stream (*transport.Stream, or *ServerStream from
 * grpc-go 1.69). (*Server).handleStream's entry and RETs bracket the RPC
 * on the goroutine grpc-go starts for it, and map that goroutine to the
 * stream. processUnaryRPC / processStreamingRPC / processRPC tell the
 * kind (the StreamDesc's ServerStreams, ClientStreams); recvAndDecompress
 * (every message read, unary or streaming) and (*http2Server).Write /
 * write (every message written) count messages at their RETs, keyed by
 * the stream argument saved at entry; (*http2Server).WriteStatus /
 * writeStatus gives the status.
 *
 * Client: the *clientStream. newClientStream's entry starts the RPC (desc
 * and method are arguments) on the caller's goroutine; the RETs of the
 * function that creates the clientStream (newClientStreamWithParams, or
 * newClientStream before grpc-go 1.37) bind it to the clientStream it
 * returns. (*clientStream).SendMsg's RETs count sends, (*csAttempt).recvMsg's
 * RETs count receives (inside RecvMsg, before RecvMsg can end the RPC),
 * CloseSend is close_send, and (*clientStream).finish, which grpc-go runs
 * once per RPC, possibly on another goroutine, ends it with the status of
 * its error.
 *
 * Every per-binary fact (struct offsets, argument registers, type hashes)
 * is a load-time constant set by stdlib/grpc.
 */
#include "ebt_go.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define EVENT_LEN 16
#define KIND_LEN 16
#define STATUS_LEN 24
#define METHOD_LEN 128

/* The event the chain reads. stdlib/grpc's schema describes this layout
 * field by field; keep them in step (a test compares them). */
struct grpc_event {
	__u64 start;    /* bpf_ktime_get_ns when the RPC started */
	__u64 duration; /* end: the RPC's duration; other events: ns since start */
	__u64 goid;     /* goroutine where this event happened */
	__u64 stream;   /* ID of the RPC, the same in all its events */
	__u32 sent;     /* messages sent so far */
	__u32 received; /* messages received so far */
	__u32 code;     /* end: status code; 0 in other events */
	__u32 _pad;
	char event[EVENT_LEN];   /* start, send, recv, close_send, end */
	char kind[KIND_LEN];     /* unary, client_stream, server_stream, bidi, unknown */
	char status[STATUS_LEN]; /* end: code name (OK, NotFound…); "" in other events */
	char method[METHOD_LEN]; /* /pkg.Service/Method */
};

/* The event types: bit i of ebt_std_events selects event_names[i]. */
enum { EV_START, EV_SEND, EV_RECV, EV_CLOSE_SEND, EV_END, EV_COUNT };

/* An RPC in flight: the event every one of its events starts from. */
struct grpc_rpc {
	struct grpc_event ev;
	__u32 flags;  /* RPC_* */
	__u32 status; /* server: the code WriteStatus wrote */
};

#define RPC_STARTED 1        /* server: kind known, start handed on */
#define RPC_STATUS 2         /* server: WriteStatus seen */
#define RPC_CLIENT_STREAMS 4 /* the client streams: close_send applies */
#define RPC_HALF_CLOSED 8    /* close_send handed on */

/* What identifies an RPC in grpc_rpcs: the stream object (server: the
 * transport stream; client: the clientStream), or, for a client RPC whose
 * clientStream does not exist yet, the goroutine creating it. */
enum { KEY_STREAM, KEY_PENDING };
struct rpc_key {
	__u32 tgid;
	__u32 tag; /* KEY_* */
	__u64 ptr;
};

/* A send or receive in flight on a goroutine: entry saves the RPC's
 * pointer for the RET. op keeps apart the calls that nest (a server
 * handler may be a client too). */
enum { OP_SRV_RECV, OP_SRV_SEND, OP_CLI_RECV, OP_CLI_SEND };
struct op_key {
	__u32 tgid;
	__u32 op;
	__u64 g;
};

EBT_STD_CONTRACT(struct grpc_event);

/* RPCs in flight. LRU: an RPC the program abandons (a client stream
 * neither read to its end nor cancelled) never ends. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rpc_key);
	__type(value, struct grpc_rpc);
} grpc_rpcs SEC(".maps");

/* Server: the stream of the RPC a goroutine's handleStream runs. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_key);
	__type(value, __u64);
} grpc_handlers SEC(".maps");

/* Sends and receives in flight, by goroutine. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct op_key);
	__type(value, __u64);
} grpc_ops SEC(".maps");

/* Per-CPU counter of stream IDs: an ID is the count on one CPU shifted
 * left by 16 bits, plus the CPU, so no two CPUs hand out the same ID and
 * no atomic fetch (a newer BPF instruction) is needed. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} grpc_ids SEC(".maps");

/* A zero RPC to create entries with; they are filled in place (see
 * http.c: a per-CPU scratch slot would not be safe). */
static const struct grpc_rpc empty_rpc;

/* Names, indexed by event type, kind and status code. Rows are padded to
 * a power of two so that a masked index stays in bounds for the verifier. */
static const char event_names[8][EVENT_LEN] __attribute__((aligned(8))) = {
	"start", "send", "recv", "close_send", "end",
};
enum { KIND_UNKNOWN, KIND_UNARY, KIND_CLIENT_STREAM, KIND_SERVER_STREAM, KIND_BIDI };
static const char kind_names[8][KIND_LEN] __attribute__((aligned(8))) = {
	"unknown", "unary", "client_stream", "server_stream", "bidi",
};
/* google.golang.org/grpc/codes: Code.String(). */
#define CODE_UNKNOWN 2
#define NUM_CODES 17
static const char code_names[32][STATUS_LEN] __attribute__((aligned(8))) = {
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
	"NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
	"FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
	"Internal", "Unavailable", "DataLoss", "Unauthenticated",
};

/* Which events reach the chain: bit i = event type i. The compiler sets
 * it from what the chains select (stdlib/README.md); by default only
 * end events. */
volatile const __u32 ebt_std_events = 1 << EV_END;

/* Load-time constants (stdlib/grpc sets every one). Offsets are bytes
 * into Go structs; *_reg are Go ABI register indexes (ebt_go.h). The
 * defaults are grpc-go 1.85's. */
#define NO_OFFSET 0xffffffffffffffffULL
volatile const __u64 go_g_goid = 152;           /* runtime.g.goid */
volatile const __u64 srv_stream_ptr = NO_OFFSET; /* ServerStream's *Stream (1.69–1.76), else none */
volatile const __u64 srv_method = 16;           /* the method string in the (inner) stream */
volatile const __u64 desc_server_streams = 24;  /* grpc.StreamDesc.ServerStreams */
volatile const __u64 desc_client_streams = 25;  /* grpc.StreamDesc.ClientStreams */
volatile const __u64 status_s = 0;              /* internal/status.Status.s (*spb.Status) */
volatile const __u64 spb_code = 40;             /* genproto rpc/status.Status.Code */
volatile const __u64 err_status = 0;            /* internal/status.Error.s (or .e before 1.40) */
volatile const __u32 err_status_indirect = 1;   /* Error holds a *Status (1.40+), not a *spb.Status */
volatile const __u32 hash_status_error = 0;     /* type hash of *internal/status.Error */
volatile const __u32 hash_error_string = 0;     /* type hash of *errors.errorString (io.EOF) */
volatile const __u32 hs_stream_reg = GO_RDI;    /* handleStream: stream */
volatile const __u32 sd_reg = GO_R8;            /* processStreamingRPC / processRPC: sd */
volatile const __u32 rd_stream_reg = GO_RCX;    /* recvAndDecompress: s (data word from 1.69) */
volatile const __u32 rd_err_reg = GO_RDI;       /* recvAndDecompress RET: err's itab */
volatile const __u32 rd_err_data_reg = GO_RSI;  /* recvAndDecompress RET: err's data */
volatile const __u32 wr_stream_reg = GO_RBX;    /* http2Server.Write / write: s */
volatile const __u32 wr_err_reg = GO_RAX;       /* Write / write RET: err's itab */
volatile const __u32 ws_stream_reg = GO_RBX;    /* http2Server.WriteStatus / writeStatus: s */
volatile const __u32 ws_status_reg = GO_RCX;    /* WriteStatus / writeStatus: st */
volatile const __u32 ncs_desc_reg = GO_RCX;     /* newClientStream: desc */
volatile const __u32 ncs_method_reg = GO_RSI;   /* newClientStream: method's pointer */
volatile const __u32 ncs_method_len_reg = GO_R8; /* newClientStream: method's length */
volatile const __u32 ncs_cs_reg = GO_RBX;       /* newClientStream[WithParams] RET: the stream's data word */
volatile const __u32 ncs_err_reg = GO_RCX;      /* newClientStream[WithParams] RET: err's itab */
volatile const __u32 ncs_err_data_reg = GO_RDI; /* newClientStream[WithParams] RET: err's data */
volatile const __u32 cs_reg = GO_RAX;           /* (*clientStream) methods: the receiver */
volatile const __u32 send_err_reg = GO_RAX;     /* SendMsg RET: err's itab */
volatile const __u32 recv_err_reg = GO_RAX;     /* csAttempt.recvMsg RET: err's itab */
volatile const __u32 fin_err_reg = GO_RBX;      /* finish: err's itab */
volatile const __u32 fin_err_data_reg = GO_RCX; /* finish: err's data */

static __always_inline int wanted(__u32 ev)
{
	return (ebt_std_events >> ev) & 1;
}

static __always_inline struct rpc_key stream_key(__u64 ptr)
{
	struct rpc_key k = {};
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	k.tag = KEY_STREAM;
	k.ptr = ptr;
	return k;
}

static __always_inline struct grpc_rpc *lookup_rpc(__u64 ptr)
{
	struct rpc_key k = stream_key(ptr);
	return bpf_map_lookup_elem(&grpc_rpcs, &k);
}

/* new_rpc creates the RPC at k, started now, and returns it; NULL when the
 * map refuses. */
static __always_inline struct grpc_rpc *new_rpc(struct rpc_key *k)
{
	if (bpf_map_update_elem(&grpc_rpcs, k, &empty_rpc, BPF_ANY))
		return 0;
	struct grpc_rpc *r = bpf_map_lookup_elem(&grpc_rpcs, k);
	if (!r)
		return 0;
	__u32 zero = 0;
	__u64 id = 0;
	__u64 *n = bpf_map_lookup_elem(&grpc_ids, &zero);
	if (n) {
		*n += 1;
		id = (*n << 16) | (bpf_get_smp_processor_id() & 0xffff);
	}
	r->ev.start = bpf_ktime_get_ns();
	r->ev.stream = id;
	return r;
}

static __always_inline void set_kind(struct grpc_rpc *r, __u32 kind)
{
	kind &= 7;
	__builtin_memcpy(r->ev.kind, kind_names[kind], KIND_LEN);
	if (kind == KIND_CLIENT_STREAM || kind == KIND_BIDI)
		r->flags |= RPC_CLIENT_STREAMS;
}

/* desc_kind reads the kind of RPC a *grpc.StreamDesc describes. */
static __always_inline __u32 desc_kind(__u64 desc)
{
	__u8 ss = 0, cs = 0;
	if (!desc)
		return KIND_UNKNOWN;
	bpf_probe_read_user(&ss, 1, (const void *)(desc + desc_server_streams));
	bpf_probe_read_user(&cs, 1, (const void *)(desc + desc_client_streams));
	return KIND_UNARY + (ss ? 2 : 0) + (cs ? 1 : 0);
}

/* set_status writes the name of code, as codes.Code.String() does:
 * "Code(N)" for codes it does not know. The digits are written at a
 * position that only grows, so the verifier sees it bounded. */
static __always_inline void set_status(struct grpc_event *e, __u32 code)
{
	if (code < NUM_CODES) {
		__builtin_memcpy(e->status, code_names[code & 31], STATUS_LEN);
		return;
	}
	e->status[0] = 'C';
	e->status[1] = 'o';
	e->status[2] = 'd';
	e->status[3] = 'e';
	e->status[4] = '(';
	__u32 pos = 5, p = 1000000000;
	int lead = 1;
#pragma unroll
	for (int i = 0; i < 10; i++) {
		__u32 d = (code / p) % 10;
		if (d || !lead || i == 9) {
			e->status[pos & 15] = '0' + d;
			pos++;
			lead = 0;
		}
		p /= 10;
	}
	e->status[pos & 15] = ')';
	e->status[(pos + 1) & 31] = 0;
}

/* spb_code reads the code of a *genproto rpc/status.Status; a nil one is
 * OK, as (*status.Status).Code() says. */
static __always_inline __u32 spb_status_code(__u64 spb)
{
	__s32 code = 0;
	if (spb)
		bpf_probe_read_user(&code, sizeof(code), (const void *)(spb + spb_code));
	return (__u32)code;
}

/* type_hash reads the type hash an error's itab carries (runtime.itab:
 * inter, _type, then hash, a copy of _type.hash). */
static __always_inline __u32 type_hash(__u64 itab)
{
	__u32 h = 0;
	bpf_probe_read_user(&h, sizeof(h), (const void *)(itab + 16));
	return h;
}

/* is_eof reports io.EOF: an *errors.errorString saying "EOF". */
static __always_inline int is_eof(__u64 itab, __u64 data)
{
	if (!itab || !data || !hash_error_string || type_hash(itab) != hash_error_string)
		return 0;
	__u64 hdr[2] = {};
	char s[4] = {};
	if (bpf_probe_read_user(hdr, sizeof(hdr), (const void *)data) || hdr[1] != 3)
		return 0;
	if (bpf_probe_read_user(s, 3, (const void *)hdr[0]))
		return 0;
	return s[0] == 'E' && s[1] == 'O' && s[2] == 'F';
}

/* err_code is status.Code(err) for the error whose itab and data words
 * are given: OK for nil and io.EOF (a stream that ended well), the code of
 * a gRPC status error, Unknown for any other error. */
static __always_inline __u32 err_code(__u64 itab, __u64 data)
{
	if (!itab || is_eof(itab, data))
		return 0;
	if (!hash_status_error || type_hash(itab) != hash_status_error || !data)
		return CODE_UNKNOWN;
	__u64 p = go_u64(data + err_status);
	if (err_status_indirect && p)
		p = go_u64(p + status_s);
	return spb_status_code(p);
}

/* fill copies the RPC into ebt_std_event as an event of type ev that
 * happened on goroutine g, and returns it; NULL when it cannot. The
 * caller hands it on with ebt_std_emit, last: a tail call does not
 * return. */
static __always_inline struct grpc_event *fill(struct grpc_rpc *r, __u32 ev, __u64 g)
{
	__u32 zero = 0;
	struct grpc_event *e = bpf_map_lookup_elem(&ebt_std_event, &zero);
	if (!e)
		return 0;
	__builtin_memcpy(e, &r->ev, sizeof(*e));
	__builtin_memcpy(e->event, event_names[ev & 7], EVENT_LEN);
	e->duration = bpf_ktime_get_ns() - e->start;
	/* Read straight into the event: clang 14's BPF backend dropped the
	 * store of go_u64's result here (a value merged from the helper
	 * call's branch, stored before a copy from .rodata). */
	if (bpf_probe_read_user(&e->goid, sizeof(e->goid), (const void *)(g + go_g_goid)))
		e->goid = 0;
	return e;
}

/* end_rpc hands on the end event of the RPC at k, whose status code is
 * code, and forgets the RPC. */
static __always_inline void end_rpc(struct pt_regs *ctx, struct rpc_key *k, struct grpc_rpc *r, __u32 code)
{
	struct grpc_event *e = 0;
	if (wanted(EV_END)) {
		e = fill(r, EV_END, go_g(ctx));
		if (e) {
			e->code = code;
			set_status(e, code);
		}
	}
	bpf_map_delete_elem(&grpc_rpcs, k);
	if (e)
		ebt_std_emit(ctx);
}

/* step hands on a start, send, recv or close_send event of r. */
static __always_inline void step(struct pt_regs *ctx, struct grpc_rpc *r, __u32 ev)
{
	if (!wanted(ev))
		return;
	if (fill(r, ev, go_g(ctx)))
		ebt_std_emit(ctx);
}

/* save_op remembers, for the RET of the running call, the RPC it works on;
 * only for RPCs being traced. For any other (one that started before the
 * helper was attached, or, in a program that is server and client, the
 * other side's), it forgets what the goroutine saved before, so that the
 * RET does not count the call for an earlier RPC. */
static __always_inline void save_op(struct pt_regs *ctx, __u32 op, __u64 ptr)
{
	struct op_key k = {.tgid = bpf_get_current_pid_tgid() >> 32, .op = op, .g = go_g(ctx)};
	if (!ptr || !lookup_rpc(ptr)) {
		bpf_map_delete_elem(&grpc_ops, &k);
		return;
	}
	bpf_map_update_elem(&grpc_ops, &k, &ptr, BPF_ANY);
}

/* take_op returns the RPC of the running call saved by save_op, and
 * forgets it unless keep. */
static __always_inline struct grpc_rpc *take_op(struct pt_regs *ctx, __u32 op, int keep)
{
	struct op_key k = {.tgid = bpf_get_current_pid_tgid() >> 32, .op = op, .g = go_g(ctx)};
	__u64 *p = bpf_map_lookup_elem(&grpc_ops, &k);
	if (!p)
		return 0;
	__u64 ptr = *p;
	if (!keep)
		bpf_map_delete_elem(&grpc_ops, &k);
	return lookup_rpc(ptr);
}

/* ---- server ---- */

/* (*Server).handleStream entry: a new RPC on this goroutine. */
SEC("uprobe")
int grpc_server_start(struct pt_regs *ctx)
{
	struct go_key gk = go_current(ctx);
	__u64 s = go_reg(ctx, hs_stream_reg);
	if (!s)
		return 0;
	struct rpc_key k = stream_key(s);
	struct grpc_rpc *r = new_rpc(&k);
	if (!r)
		return 0;
	__u64 base = s;
	if (srv_stream_ptr != NO_OFFSET)
		base = go_u64(s + srv_stream_ptr);
	go_str(r->ev.method, base ? base + srv_method : 0);
	set_kind(r, KIND_UNKNOWN);
	bpf_map_update_elem(&grpc_handlers, &gk, &s, BPF_ANY);
	return 0;
}

/* handler_rpc returns the RPC whose handleStream runs on this goroutine. */
static __always_inline struct grpc_rpc *handler_rpc(struct pt_regs *ctx)
{
	struct go_key gk = go_current(ctx);
	__u64 *s = bpf_map_lookup_elem(&grpc_handlers, &gk);
	return s ? lookup_rpc(*s) : 0;
}

/* started records the kind and hands on the start event. */
static __always_inline void started(struct pt_regs *ctx, struct grpc_rpc *r, __u32 kind)
{
	if (r->flags & RPC_STARTED)
		return;
	set_kind(r, kind);
	r->flags |= RPC_STARTED;
	step(ctx, r, EV_START);
}

/* processUnaryRPC entry (before grpc-go 1.84): a unary RPC. */
SEC("uprobe")
int grpc_server_unary(struct pt_regs *ctx)
{
	struct grpc_rpc *r = handler_rpc(ctx);
	if (r)
		started(ctx, r, KIND_UNARY);
	return 0;
}

/* processStreamingRPC entry (processRPC from grpc-go 1.84, for every
 * kind): the StreamDesc says which. */
SEC("uprobe")
int grpc_server_streaming(struct pt_regs *ctx)
{
	struct grpc_rpc *r = handler_rpc(ctx);
	if (r)
		started(ctx, r, desc_kind(go_reg(ctx, sd_reg)));
	return 0;
}

/* recvAndDecompress entry: a message read, unary or streaming. */
SEC("uprobe")
int grpc_server_recv_start(struct pt_regs *ctx)
{
	save_op(ctx, OP_SRV_RECV, go_reg(ctx, rd_stream_reg));
	return 0;
}

/* recvAndDecompress RET: one message received, or io.EOF: the client
 * closed its side (close_send, for the kinds where the client streams). */
SEC("uprobe")
int grpc_server_recv_end(struct pt_regs *ctx)
{
	struct grpc_rpc *r = take_op(ctx, OP_SRV_RECV, 0);
	if (!r)
		return 0;
	__u64 itab = go_reg(ctx, rd_err_reg);
	if (!itab) {
		r->ev.received++;
		step(ctx, r, EV_RECV);
		return 0;
	}
	if ((r->flags & (RPC_CLIENT_STREAMS | RPC_HALF_CLOSED)) == RPC_CLIENT_STREAMS &&
	    is_eof(itab, go_reg(ctx, rd_err_data_reg))) {
		r->flags |= RPC_HALF_CLOSED;
		step(ctx, r, EV_CLOSE_SEND);
	}
	return 0;
}

/* (*http2Server).Write / write entry: a message to send. */
SEC("uprobe")
int grpc_server_send_start(struct pt_regs *ctx)
{
	save_op(ctx, OP_SRV_SEND, go_reg(ctx, wr_stream_reg));
	return 0;
}

/* Write / write RET: the message is queued for the connection. */
SEC("uprobe")
int grpc_server_send_end(struct pt_regs *ctx)
{
	struct grpc_rpc *r = take_op(ctx, OP_SRV_SEND, 0);
	if (!r || go_reg(ctx, wr_err_reg))
		return 0;
	r->ev.sent++;
	step(ctx, r, EV_SEND);
	return 0;
}

/* (*http2Server).WriteStatus / writeStatus entry: the RPC's status. */
SEC("uprobe")
int grpc_server_status(struct pt_regs *ctx)
{
	struct grpc_rpc *r = lookup_rpc(go_reg(ctx, ws_stream_reg));
	if (!r || (r->flags & RPC_STATUS))
		return 0;
	__u64 st = go_reg(ctx, ws_status_reg);
	r->status = spb_status_code(st ? go_u64(st + status_s) : 0);
	r->flags |= RPC_STATUS;
	return 0;
}

/* handleStream RET: the RPC is over. */
SEC("uprobe")
int grpc_server_end(struct pt_regs *ctx)
{
	struct go_key gk = go_current(ctx);
	__u64 *sp = bpf_map_lookup_elem(&grpc_handlers, &gk);
	if (!sp)
		return 0;
	struct rpc_key k = stream_key(*sp);
	bpf_map_delete_elem(&grpc_handlers, &gk);
	struct grpc_rpc *r = bpf_map_lookup_elem(&grpc_rpcs, &k);
	if (!r)
		return 0;
	/* Every path of handleStream writes a status; without one (a status
	 * write the helper missed) say Unknown rather than OK. */
	end_rpc(ctx, &k, r, (r->flags & RPC_STATUS) ? r->status : CODE_UNKNOWN);
	return 0;
}

/* ---- client ---- */

static __always_inline struct rpc_key pending_key(struct pt_regs *ctx)
{
	struct rpc_key k = {};
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	k.tag = KEY_PENDING;
	k.ptr = go_g(ctx);
	return k;
}

/* newClientStream entry: an RPC starts on this goroutine (Invoke and
 * NewStream both come here); its clientStream does not exist yet. */
SEC("uprobe")
int grpc_client_start(struct pt_regs *ctx)
{
	struct rpc_key k = pending_key(ctx);
	struct grpc_rpc *r = new_rpc(&k);
	if (!r)
		return 0;
	go_strn(r->ev.method, go_reg(ctx, ncs_method_reg), go_reg(ctx, ncs_method_len_reg));
	set_kind(r, desc_kind(go_reg(ctx, ncs_desc_reg)));
	step(ctx, r, EV_START);
	return 0;
}

/* RETs of newClientStreamWithParams (1.37+) and newClientStream: bind the
 * RPC to the clientStream returned, or end it with the error returned
 * when grpc-go did not (an RPC that failed before it had a stream). */
SEC("uprobe")
int grpc_client_created(struct pt_regs *ctx)
{
	struct rpc_key pk = pending_key(ctx);
	struct grpc_rpc *r = bpf_map_lookup_elem(&grpc_rpcs, &pk);
	if (!r)
		return 0;
	__u64 itab = go_reg(ctx, ncs_err_reg);
	if (itab) {
		end_rpc(ctx, &pk, r, err_code(itab, go_reg(ctx, ncs_err_data_reg)));
		return 0;
	}
	__u64 cs = go_reg(ctx, ncs_cs_reg);
	if (!cs)
		return 0;
	/* Moved through the stack: the update may evict entries of the
	 * (full) LRU map, r's among them, before it copies the value. */
	struct grpc_rpc moved;
	__builtin_memcpy(&moved, r, sizeof(moved));
	struct rpc_key k = stream_key(cs);
	bpf_map_delete_elem(&grpc_rpcs, &pk);
	bpf_map_update_elem(&grpc_rpcs, &k, &moved, BPF_ANY);
	return 0;
}

/* (*clientStream).SendMsg entry. */
SEC("uprobe")
int grpc_client_send_start(struct pt_regs *ctx)
{
	save_op(ctx, OP_CLI_SEND, go_reg(ctx, cs_reg));
	return 0;
}

/* SendMsg RET: a message sent. (An error ended the RPC already, in
 * SendMsg's deferred finish, or is io.EOF: nothing was sent.) */
SEC("uprobe")
int grpc_client_send_end(struct pt_regs *ctx)
{
	struct grpc_rpc *r = take_op(ctx, OP_CLI_SEND, 0);
	if (!r || go_reg(ctx, send_err_reg))
		return 0;
	r->ev.sent++;
	step(ctx, r, EV_SEND);
	return 0;
}

/* (*clientStream).RecvMsg entry. */
SEC("uprobe")
int grpc_client_recv_start(struct pt_regs *ctx)
{
	save_op(ctx, OP_CLI_RECV, go_reg(ctx, cs_reg));
	return 0;
}

/* (*csAttempt).recvMsg RET: a message received. It runs inside RecvMsg
 * (once per attempt), before RecvMsg may finish the RPC; the op is kept
 * for a retried attempt. */
SEC("uprobe")
int grpc_client_recv_end(struct pt_regs *ctx)
{
	if (go_reg(ctx, recv_err_reg))
		return 0;
	struct grpc_rpc *r = take_op(ctx, OP_CLI_RECV, 1);
	if (!r)
		return 0;
	r->ev.received++;
	step(ctx, r, EV_RECV);
	return 0;
}

/* (*clientStream).CloseSend entry: the client is done sending. Only for
 * the kinds where the client streams: a unary or server-streaming
 * request is one message that ends the client's side by itself. */
SEC("uprobe")
int grpc_client_close_send(struct pt_regs *ctx)
{
	struct grpc_rpc *r = lookup_rpc(go_reg(ctx, cs_reg));
	if (!r || (r->flags & (RPC_CLIENT_STREAMS | RPC_HALF_CLOSED)) != RPC_CLIENT_STREAMS)
		return 0;
	r->flags |= RPC_HALF_CLOSED;
	step(ctx, r, EV_CLOSE_SEND);
	return 0;
}

/* (*clientStream).finish entry: the RPC is over, with the status of err.
 * A clientStream that failed while being created is still pending on
 * this goroutine. */
SEC("uprobe")
int grpc_client_end(struct pt_regs *ctx)
{
	struct rpc_key k = stream_key(go_reg(ctx, cs_reg));
	struct grpc_rpc *r = bpf_map_lookup_elem(&grpc_rpcs, &k);
	if (!r) {
		k = pending_key(ctx);
		r = bpf_map_lookup_elem(&grpc_rpcs, &k);
		if (!r)
			return 0;
	}
	end_rpc(ctx, &k, r, err_code(go_reg(ctx, fin_err_reg), go_reg(ctx, fin_err_data_reg)));
	return 0;
}
