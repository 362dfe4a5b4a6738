package compiler

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/internal/tracefs"
)

// tracepoint("cat:name") — a static kernel tracepoint; `*` and `?` glob.
// args.<field> is typed from the tracepoint's format file.
func init() {
	register(&provider{
		name:   "tracepoint",
		usage:  `tracepoint("category:name")`,
		expand: expandTracepoint,
	})
}

func expandTracepoint(env *Env, call *dsl.Call) ([]*target, error) {
	if err := wantArgs(call, 1, 1); err != nil {
		return nil, err
	}
	pattern, err := stringArg(call, 0, `a "category:name" string`)
	if err != nil {
		return nil, err
	}
	pos := call.Args[0].Position()
	if env.Tracepoints == nil {
		return nil, dsl.Errorf(pos, "tracepoints are not available here (no tracefs)")
	}
	names, err := env.Tracepoints.Match(pattern)
	if err != nil {
		return nil, &dsl.Error{Pos: pos, Msg: "cannot list tracepoints", Detail: err.Error()}
	}
	if len(names) == 0 {
		e := dsl.Errorf(pos, "no tracepoint matches %q", pattern)
		if all, err := env.Tracepoints.Events(); err == nil {
			e.Hint = dsl.DidYouMean(pattern, all)
			if e.Hint == "" && !strings.Contains(pattern, ":") {
				e.Hint = `tracepoints are named "category:name", e.g. "syscalls:sys_enter_openat"`
			}
		}
		return nil, e
	}
	var out []*target
	for _, n := range names {
		cat, name, _ := strings.Cut(n, ":")
		f, err := env.Tracepoints.Format(cat, name)
		if err != nil {
			return nil, &dsl.Error{Pos: pos, Msg: fmt.Sprintf("cannot read the format of tracepoint %s", n), Detail: err.Error()}
		}
		out = append(out, &target{
			name:     "tracepoint:" + n,
			attach:   Attach{Kind: AttachTracepoint, Target: n},
			progType: ebpf.TracePoint,
			args:     tracepointArgs(f, cat == "syscalls"),
			userPtrs: cat == "syscalls",
		})
	}
	return out, nil
}

// tracepointArgs types the fields of a format file; user says its
// pointers point into user memory (syscall arguments).
func tracepointArgs(f *tracefs.Format, user bool) []*argField {
	var out []*argField
	for _, fl := range f.Fields {
		a := &argField{name: fl.Name, off: fl.Offset}
		switch {
		case fl.DataLoc:
			// Mostly paths and names: room for longer ones than str()'s default.
			a.dataLoc = true
			a.typ = &Type{Kind: TString, Size: 128, CType: fl.Type}
		case fl.ArrayLen == 4 && fl.Size == 4 && !fl.IsString:
			// __u8 addr[4]: an IPv4 address, read as one 32-bit word whose
			// bytes are in network order, as ntop() expects.
			a.typ = &Type{Kind: TInt, Size: 4, CType: fl.Type}
		case fl.ArrayLen == 16 && fl.Size == 16 && !fl.IsString:
			// __u8 addr_v6[16]: 16 bytes, for ntop(); zeros are part
			// of the address, so all 16 are copied.
			a.typ = &Type{Kind: TString, Size: 16, CType: fl.Type}
			a.bytes = true
		case fl.IsString && fl.ArrayLen > 0:
			a.typ = &Type{Kind: TString, Size: fl.Size, CType: fl.Type}
		case fl.IsPointer:
			var elem *Type
			if fl.IsString {
				elem = &Type{Kind: TInt, Size: 1, Signed: true, CType: "char"}
			}
			a.typ = &Type{Kind: TPtr, Size: 8, Elem: elem, CType: fl.Type, User: user}
		case fl.ArrayLen > 0 || !validIntSize(fl.Size):
			// Arrays of numbers (syscall args[6]) read element-wise later;
			// for now their first element stands for them.
			size := fl.Size
			if fl.ArrayLen > 0 {
				size = fl.Size / fl.ArrayLen
			}
			if !validIntSize(size) {
				continue
			}
			a.typ = &Type{Kind: TInt, Size: size, Signed: fl.Signed, CType: fl.Type}
			a.typ.arrayLen = fl.ArrayLen
		default:
			a.typ = &Type{Kind: TInt, Size: fl.Size, Signed: fl.Signed, CType: fl.Type}
			// Syscall tracepoints store every argument as an 8-byte word
			// marked unsigned; the declared C type says how to read it
			// (an int dfd of -100 must read as -100).
			if size, signed, ok := cIntType(fl.Type); ok && size <= fl.Size {
				a.typ.Size, a.typ.Signed = size, signed
			}
		}
		out = append(out, a)
	}
	return out
}

func validIntSize(n int) bool { return n == 1 || n == 2 || n == 4 || n == 8 }

// cIntType knows the sizes of the C integer types tracepoints use (x86-64).
func cIntType(t string) (size int, signed bool, ok bool) {
	t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "const "))
	switch t {
	case "char", "signed char", "s8", "__s8":
		return 1, true, true
	case "unsigned char", "u8", "__u8", "bool", "_Bool":
		return 1, false, true
	case "short", "short int", "s16", "__s16":
		return 2, true, true
	case "unsigned short", "unsigned short int", "u16", "__u16", "umode_t", "__be16", "__le16":
		return 2, false, true
	case "int", "signed int", "s32", "__s32", "pid_t", "clockid_t", "key_serial_t", "mqd_t", "timer_t":
		return 4, true, true
	case "unsigned int", "unsigned", "u32", "__u32", "uid_t", "gid_t", "qid_t", "rwf_t", "__be32", "__le32", "dev_t", "fmode_t", "gfp_t":
		return 4, false, true
	case "long", "long int", "long long", "long long int", "s64", "__s64", "ssize_t", "loff_t", "off_t", "time_t", "__kernel_old_time_t", "key_t":
		return 8, true, true
	case "unsigned long", "unsigned long int", "unsigned long long", "u64", "__u64", "size_t", "aio_context_t", "cap_user_header_t", "cap_user_data_t", "sector_t":
		return 8, false, true
	}
	return 0, false, false
}
