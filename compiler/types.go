package compiler

import (
	"fmt"

	"github.com/cilium/ebpf/btf"

	"github.com/ebpftrace/ebpftrace/internal/gobin"
)

// TypeKind is the broad kind of a value in a chain.
type TypeKind int

const (
	// TInt is an integer, held in a 64-bit register; Size and Signed say how
	// it was stored where it came from.
	TInt TypeKind = iota
	// TString is a NUL-terminated string in a fixed buffer of Size bytes.
	TString
	// TPtr is an address; Elem says what it points to, User whether it is a
	// user-space address.
	TPtr
	// TArgs is the `args` record of a probe.
	TArgs
	// TStack is a stack id (kstack/ustack).
	TStack
	// TStruct is a kernel struct or union in kernel memory; the value held
	// is its address. Select a field to read something from it.
	TStruct
	// TVoid is the type of something that has no value.
	TVoid
	// TGo is a value of a user binary's type that does not fit in a
	// register (a Go struct, array or slice, a C struct or array), read
	// from the binary's registers or memory where it is used: select a
	// field, index it or take its len() (gotypes.go).
	TGo
	// TTable is a slice literal of constants, []string{…} or []int{…}:
	// index it (tables.go).
	TTable
)

// Type is the static type of an expression.
type Type struct {
	Kind   TypeKind
	Size   int  // bytes in memory: 1,2,4,8 for ints; the buffer for strings
	Signed bool // ints
	Hex    bool // ints shown in hex (hex())
	User   bool // pointers into user memory
	Elem   *Type
	CType  string // the C spelling where known, for messages
	// Show is how the runtime shows the value: "" as it is, or one of
	// "ksym", "usym", "ipv4", "ipv6", "kstack", "ustack".
	Show string
	// padded: whatever produces this string writes its whole buffer
	// (get_current_comm pads with NULs), so keys need not zero it first.
	padded bool
	// btf is the kernel type of a struct, or the target of a pointer.
	btf btf.Type
	// bitOff and bitSize locate a bitfield member within the bytes read.
	bitOff, bitSize int
	// arrayLen is the element count of an array of ints in a context
	// (syscall args[6]); indexing reads element i.
	arrayLen int
	// Const is the value of a compile-time constant string (string literals,
	// `probe`); nil otherwise.
	Const *string
	// gt is the type in the traced binary (Go, or C from DWARF) of a value
	// read from user memory or registers; nil for other values.
	gt *gobin.Type
	// binary is the path of the traced binary, for values whose meaning
	// is in it (an interface's dynamic type, Show "gotype").
	binary string
	// callerFrame: a ustack taken where the function has not pushed its
	// frame yet, so the return address at [RSP] goes with the stack id.
	callerFrame bool
	// table holds a TTable's elements: strings, or ints as int64 in
	// ints.
	table []string
	ints  []int64
}

var (
	tInt64  = &Type{Kind: TInt, Size: 8, Signed: true}
	tUint64 = &Type{Kind: TInt, Size: 8}
	tUint32 = &Type{Kind: TInt, Size: 4}
	tBool   = &Type{Kind: TInt, Size: 8, Signed: true, CType: "bool"}
	tComm   = &Type{Kind: TString, Size: 16, padded: true}
)

// defaultStrLen is the buffer str() reads into when no length is given,
// bpftrace's default too.
const defaultStrLen = 64

// maxStrLen bounds str(p, n): strings are built on the 512-byte BPF stack.
const maxStrLen = 200

func stringType(n int) *Type { return &Type{Kind: TString, Size: n} }

func constString(s string) *Type {
	return &Type{Kind: TString, Size: len(s) + 1, Const: &s}
}

func (t *Type) String() string {
	switch t.Kind {
	case TInt:
		if t.CType != "" {
			return t.CType
		}
		if t.Signed {
			return fmt.Sprintf("int%d", t.Size*8)
		}
		return fmt.Sprintf("uint%d", t.Size*8)
	case TString:
		return fmt.Sprintf("string[%d]", t.Size)
	case TPtr:
		if t.CType != "" {
			return t.CType
		}
		if t.Elem != nil {
			return "*" + t.Elem.String()
		}
		return "pointer"
	case TArgs:
		return "args"
	case TStack:
		return "stack"
	case TStruct, TGo:
		return t.CType
	case TTable:
		return "[]" + t.Elem.String() + " (a table to index)"
	default:
		return "void"
	}
}

// isScalar reports whether values of t live in a register.
func (t *Type) isScalar() bool { return t.Kind == TInt || t.Kind == TPtr || t.Kind == TStack }

// slotSize is the room a value of t takes in an event record or map key:
// scalars take 8 bytes, strings their buffer rounded up to 8.
func (t *Type) slotSize() int {
	switch {
	case t.Kind == TString:
		return (t.Size + 7) &^ 7
	case t.Show == "usym":
		return 16 // the address, then the pid whose memory it is in
	case t.callerFrame:
		return 16 // the stack id, then the caller's return address
	}
	return 8
}
