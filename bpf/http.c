//go:build ignore

// SPDX-License-Identifier: MIT
/*
 * The helper of the http pack: one event per finished net/http request,
 * server side (http.server) and client side (http.client), handed to the
 * user's chain through ebt_std_event / ebt_std_chain (ebt_go.h).
 *
 * Server: net/http.serverHandler.ServeHTTP entry and RETs bracket the
 * handler on its goroutine, for HTTP/1 and for net/http's HTTP/2 (whose
 * handlers also run through it). The status is taken at the entry of
 * (*response).WriteHeader and (*http2responseWriter).WriteHeader, keyed by
 * the ResponseWriter, so a header written by a goroutine the handler
 * started still counts, and no unexported struct offset is needed. A
 * handler that writes nothing gets its 200 from finishRequest after
 * ServeHTTP returned: status 0 at the RET means 200.
 *
 * Client: net/http.(*Transport).roundTrip entry and RETs; the status is
 * the returned *Response's StatusCode, 0 when it returned an error.
 *
 * Every per-binary fact (struct offsets, which register holds which
 * argument) is a load-time constant set by stdlib/http.
 */
#include "ebt_go.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define METHOD_LEN 16
#define PATH_LEN 128
#define HOST_LEN 64

/* The event the chain reads. stdlib/http's schema describes this layout
 * field by field; keep them in step (a test compares them). */
struct http_event {
	__u64 start;    /* bpf_ktime_get_ns at the start */
	__u64 duration; /* ns from start to end */
	__u64 goid;     /* goroutine ID of the handler / caller */
	__u32 status;   /* HTTP status; client: 0 when no response */
	__u32 proto;    /* HTTP major version: 1 or 2 */
	char method[METHOD_LEN];
	char path[PATH_LEN];
	char host[HOST_LEN];
};

/* The event as built at the start, with what the end needs besides. */
struct http_inflight {
	struct http_event ev;
	__u64 rw; /* server: the ResponseWriter's data pointer */
};

/* A ResponseWriter of one process. */
struct rw_key {
	__u32 tgid;
	__u32 pad;
	__u64 rw;
};

EBT_STD_CONTRACT(struct http_event);

/* Requests in flight by goroutine. LRU: a handler that panics never
 * reaches a RET, and its entry must not stay forever. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_key);
	__type(value, struct http_inflight);
} http_inflight SEC(".maps");

/* Status written so far, by ResponseWriter (server only). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rw_key);
	__type(value, __u32);
} http_status SEC(".maps");

/* A zero value to create an inflight entry with, which is then filled in
 * place. Building it in a per-CPU scratch slot instead would not be safe:
 * since Linux 6.1 uprobe programs run with migration, not preemption,
 * disabled, so another task's run could reuse the slot meanwhile. The
 * {pid, g} entry belongs to the running goroutine alone. */
static const struct http_inflight empty_inflight;

/* Load-time constants (stdlib/http sets every one). Offsets are bytes
 * into the Go structs; *_reg are Go ABI register indexes (ebt_go.h). */
volatile const __u64 go_g_goid = 152;        /* runtime.g.goid */
volatile const __u64 go_req_method = 0;      /* net/http.Request.Method */
volatile const __u64 go_req_url = 16;        /* net/http.Request.URL */
volatile const __u64 go_req_proto_major = 40; /* net/http.Request.ProtoMajor */
volatile const __u64 go_req_host = 128;      /* net/http.Request.Host */
volatile const __u64 go_url_host = 40;       /* net/url.URL.Host */
volatile const __u64 go_url_path = 56;       /* net/url.URL.Path */
volatile const __u64 go_resp_status = 16;    /* net/http.Response.StatusCode */
volatile const __u64 go_resp_proto_major = 40; /* net/http.Response.ProtoMajor */
volatile const __u32 srv_rw_reg = GO_RCX;    /* ServeHTTP: rw's data word */
volatile const __u32 srv_req_reg = GO_RDI;   /* ServeHTTP: req */
volatile const __u32 wh_rw_reg = GO_RAX;     /* WriteHeader: receiver */
volatile const __u32 wh_code_reg = GO_RBX;   /* WriteHeader: code */
volatile const __u32 cli_req_reg = GO_RBX;   /* roundTrip: req */
volatile const __u32 cli_resp_reg = GO_RAX;  /* roundTrip RET: *Response */

/* new_inflight creates the running goroutine's entry, zeroed, and
 * returns it; NULL when the map refuses. */
static __always_inline struct http_inflight *new_inflight(struct go_key *k)
{
	if (bpf_map_update_elem(&http_inflight, k, &empty_inflight, BPF_ANY))
		return 0;
	return bpf_map_lookup_elem(&http_inflight, k);
}

/* begin_event fills the common part of an event from the *Request. */
static __always_inline void begin_event(struct http_inflight *in, __u64 g, __u64 req)
{
	struct http_event *e = &in->ev;

	e->start = bpf_ktime_get_ns();
	e->duration = 0;
	e->goid = go_u64(g + go_g_goid);
	e->status = 0;
	e->proto = (__u32)go_u64(req + go_req_proto_major);
	go_str(e->method, req + go_req_method);
	__u64 url = go_u64(req + go_req_url);
	go_str(e->path, url ? url + go_url_path : 0);
	in->rw = 0;
}

/* finish copies the inflight event into ebt_std_event with its duration
 * and returns it, or NULL. */
static __always_inline struct http_event *finish(struct http_inflight *in)
{
	__u32 zero = 0;
	struct http_event *e = bpf_map_lookup_elem(&ebt_std_event, &zero);
	if (!e)
		return 0;
	__builtin_memcpy(e, &in->ev, sizeof(*e));
	e->duration = bpf_ktime_get_ns() - e->start;
	return e;
}

SEC("uprobe")
int http_server_start(struct pt_regs *ctx)
{
	struct go_key k = go_current(ctx);
	__u64 req = go_reg(ctx, srv_req_reg);
	if (!req)
		return 0;
	struct http_inflight *in = new_inflight(&k);
	if (!in)
		return 0;
	begin_event(in, k.g, req);
	go_str(in->ev.host, req + go_req_host);
	in->rw = go_reg(ctx, srv_rw_reg);

	struct rw_key rk = {.tgid = k.tgid, .rw = in->rw};
	__u32 none = 0;
	bpf_map_update_elem(&http_status, &rk, &none, BPF_ANY);
	return 0;
}

SEC("uprobe")
int http_server_write_header(struct pt_regs *ctx)
{
	struct rw_key rk = {};
	rk.tgid = bpf_get_current_pid_tgid() >> 32;
	rk.rw = go_reg(ctx, wh_rw_reg);
	__u32 *st = bpf_map_lookup_elem(&http_status, &rk);
	if (!st)
		return 0;
	__s64 code = (__s64)go_reg(ctx, wh_code_reg);
	/* The first final status wins, as in net/http (later calls are
	 * "superfluous"); 1xx informational headers are not the status. */
	if (*st == 0 && code >= 200 && code <= 999)
		*st = (__u32)code;
	return 0;
}

SEC("uprobe")
int http_server_end(struct pt_regs *ctx)
{
	struct go_key k = go_current(ctx);
	struct http_inflight *in = bpf_map_lookup_elem(&http_inflight, &k);
	if (!in)
		return 0;
	struct http_event *e = finish(in);
	struct rw_key rk = {.tgid = k.tgid, .rw = in->rw};
	bpf_map_delete_elem(&http_inflight, &k);
	if (!e)
		return 0;
	__u32 *st = bpf_map_lookup_elem(&http_status, &rk);
	e->status = (st && *st) ? *st : 200;
	bpf_map_delete_elem(&http_status, &rk);
	ebt_std_emit(ctx);
	return 0;
}

SEC("uprobe")
int http_client_start(struct pt_regs *ctx)
{
	struct go_key k = go_current(ctx);
	__u64 req = go_reg(ctx, cli_req_reg);
	if (!req)
		return 0;
	struct http_inflight *in = new_inflight(&k);
	if (!in)
		return 0;
	begin_event(in, k.g, req);
	__u64 url = go_u64(req + go_req_url);
	go_str(in->ev.host, url ? url + go_url_host : 0);
	return 0;
}

SEC("uprobe")
int http_client_end(struct pt_regs *ctx)
{
	struct go_key k = go_current(ctx);
	struct http_inflight *in = bpf_map_lookup_elem(&http_inflight, &k);
	if (!in)
		return 0;
	struct http_event *e = finish(in);
	bpf_map_delete_elem(&http_inflight, &k);
	if (!e)
		return 0;
	__u64 resp = go_reg(ctx, cli_resp_reg);
	e->status = 0;
	if (resp) {
		e->status = (__u32)go_u64(resp + go_resp_status);
		e->proto = (__u32)go_u64(resp + go_resp_proto_major);
	}
	ebt_std_emit(ctx);
	return 0;
}
