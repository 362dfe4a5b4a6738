package compiler

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// Kernel types come from the running kernel's BTF, resolved while
// compiling: ebpftrace compiles on the host it runs on, which has the same
// effect as CO-RE relocations. BTF is loaded only when a chain needs it
// (curtask, casts, kprobe/fentry or raw tracepoint args): a tracepoint
// count does not pay its ~30 ms and ~15 MiB.

// kernelBTF returns the kernel's BTF or an error at pos saying why not.
func (env *Env) kernelBTF(pos dsl.Pos, why string) (*btf.Spec, error) {
	if env.KernelBTF == nil {
		return nil, dsl.Errorf(pos, "%s needs the kernel's BTF, which is not available here", why)
	}
	spec, err := env.KernelBTF()
	if err != nil {
		return nil, &dsl.Error{Pos: pos, Msg: fmt.Sprintf("%s needs the kernel's BTF (/sys/kernel/btf/vmlinux)", why), Detail: err.Error()}
	}
	return spec, nil
}

// unqualified strips typedefs, const, volatile, restrict and type tags, and
// reports whether a `__user` tag was among them.
func unqualified(t btf.Type) (btf.Type, bool) {
	user := false
	for {
		switch q := t.(type) {
		case *btf.Typedef:
			t = q.Type
		case *btf.Const:
			t = q.Type
		case *btf.Volatile:
			t = q.Type
		case *btf.Restrict:
			t = q.Type
		case *btf.TypeTag:
			user = user || q.Value == "user"
			t = q.Type
		default:
			return t, user
		}
	}
}

// fromBTF maps a kernel type to ours. Pointers keep their target type and
// resolve it only when dereferenced, since kernel types are recursive.
func fromBTF(t btf.Type) *Type {
	t, _ = unqualified(t)
	name := cTypeName(t)
	switch v := t.(type) {
	case *btf.Int:
		return &Type{Kind: TInt, Size: int(v.Size), Signed: v.Encoding&btf.Signed != 0, CType: name}
	case *btf.Enum:
		return &Type{Kind: TInt, Size: int(v.Size), Signed: v.Signed, CType: name}
	case *btf.Pointer:
		p := &Type{Kind: TPtr, Size: 8, CType: name, btf: v.Target}
		if isChar(v.Target) {
			p.Elem = &Type{Kind: TInt, Size: 1, Signed: true, CType: "char"}
		}
		// `char __user *` tags the pointer's target.
		_, p.User = unqualified(v.Target)
		return p
	case *btf.Struct, *btf.Union:
		return &Type{Kind: TStruct, CType: name, btf: v}
	case *btf.Array:
		n := int(v.Nelems)
		if isChar(v.Type) {
			return &Type{Kind: TString, Size: n, CType: name}
		}
		elem := fromBTF(v.Type)
		if elem.Kind == TInt || elem.Kind == TPtr {
			a := *elem
			a.arrayLen = n
			a.CType = name
			return &a
		}
		return &Type{Kind: TVoid, CType: name}
	}
	return &Type{Kind: TVoid, CType: name}
}

func isChar(t btf.Type) bool {
	i, ok := btf.UnderlyingType(t).(*btf.Int)
	return ok && i.Size == 1
}

// cTypeName spells a type the way C would, for messages.
func cTypeName(t btf.Type) string {
	switch v := t.(type) {
	case *btf.Struct:
		return "struct " + v.Name
	case *btf.Union:
		return "union " + v.Name
	case *btf.Pointer:
		return cTypeName(v.Target) + " *"
	case *btf.Array:
		return fmt.Sprintf("%s[%d]", cTypeName(v.Type), v.Nelems)
	case *btf.Const:
		return "const " + cTypeName(v.Type)
	case *btf.Volatile:
		return cTypeName(v.Type)
	case *btf.TypeTag:
		return cTypeName(v.Type)
	case *btf.Void:
		return "void"
	case nil:
		return "void"
	}
	if n := t.TypeName(); n != "" {
		return n
	}
	return fmt.Sprintf("%T", t)
}

// members returns the members of a struct or union, nil for other types.
func members(t btf.Type) []btf.Member {
	switch v := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		return v.Members
	case *btf.Union:
		return v.Members
	}
	return nil
}

// member finds a named member of a struct or union, looking inside
// anonymous members, and returns its offset in bits.
func member(t btf.Type, name string) (*btf.Member, btf.Bits, bool) {
	ms := members(t)
	for i := range ms {
		m := &ms[i]
		if m.Name == name {
			return m, m.Offset, true
		}
		if m.Name == "" {
			if inner, off, ok := member(m.Type, name); ok {
				return inner, m.Offset + off, true
			}
		}
	}
	return nil, 0, false
}

// memberNames lists the members reachable by name, for suggestions.
func memberNames(t btf.Type) []string {
	var out []string
	for _, m := range members(t) {
		if m.Name == "" {
			out = append(out, memberNames(m.Type)...)
		} else {
			out = append(out, m.Name)
		}
	}
	return out
}

// structOf is the struct a selector reads from: a struct value, or what a
// pointer points to.
func structOf(t *Type) (btf.Type, bool) {
	switch t.Kind {
	case TStruct:
		return t.btf, true
	case TPtr:
		if t.btf == nil {
			return nil, false
		}
		switch btf.UnderlyingType(t.btf).(type) {
		case *btf.Struct, *btf.Union:
			return btf.UnderlyingType(t.btf), true
		}
	}
	return nil, false
}

// checkBTFSelector types x.sel where x is a kernel struct or a pointer to
// one. A struct in user memory (behind a syscall's pointer argument, or a
// cast on a user probe) keeps that: its members are read with the user
// read, and its pointers point into user memory too.
func (cc *chainCtx) checkBTFSelector(e *dsl.Selector, xt *Type) (*Type, error) {
	if err := cc.resolvePointee(e, xt); err != nil {
		return nil, err
	}
	st, ok := structOf(xt)
	if !ok {
		return nil, dsl.Errorf(e.SelPos, "%s has no field %q: it is %s", dsl.ExprString(e.X), e.Sel, xt)
	}
	m, off, ok := member(st, e.Sel)
	if !ok {
		err := dsl.Errorf(e.SelPos, "%s has no field %q", cTypeName(st), e.Sel)
		err.Hint = dsl.DidYouMean(e.Sel, memberNames(st))
		return nil, err
	}
	t := fromBTF(m.Type)
	if t.Kind == TVoid {
		return nil, dsl.Errorf(e.SelPos, "field %s is %s, which ebpftrace cannot read yet", e.Sel, t.CType)
	}
	if m.BitfieldSize > 0 {
		t = &Type{Kind: TInt, Size: 8, Signed: t.Signed, CType: t.CType, bitOff: int(off % 8), bitSize: int(m.BitfieldSize)}
	}
	if xt.User && (t.Kind == TPtr || t.Kind == TStruct || t.Kind == TString) {
		t.User = true
	}
	cc.memberOff[e] = int(off / 8)
	return t, nil
}

// resolvePointee gives a pointer that only has its C spelling (a
// tracepoint field's `struct __kernel_timespec *`) its kernel BTF type, so
// that its members can be selected without a cast.
func (cc *chainCtx) resolvePointee(e *dsl.Selector, t *Type) error {
	if t.Kind != TPtr || t.btf != nil {
		return nil
	}
	name := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(t.CType), "*"))
	name = strings.TrimSpace(strings.TrimPrefix(name, "const "))
	name, isStruct := strings.CutPrefix(name, "struct ")
	if !isStruct {
		name, isStruct = strings.CutPrefix(name, "union ")
	}
	if !isStruct {
		return nil
	}
	spec, err := cc.env.kernelBTF(e.SelPos, "reading "+t.CType)
	if err != nil {
		return err
	}
	st, err := lookupStruct(spec, strings.TrimSpace(name))
	if err != nil {
		return dsl.Errorf(e.SelPos, "the kernel's BTF has no %s", strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(t.CType), "*")))
	}
	t.btf = st
	return nil
}

// checkCast types (*T)(p): p read as a pointer to the kernel struct T,
// named at namePos. p has been checked to be a number.
func (cc *chainCtx) checkCast(e *dsl.Call, name string, namePos dsl.Pos) (*Type, error) {
	spec, err := cc.env.kernelBTF(namePos, "a cast to a kernel type")
	if err != nil {
		return nil, err
	}
	t, err := lookupStruct(spec, strings.TrimPrefix(strings.TrimPrefix(name, "struct_"), "union_"))
	if err != nil {
		e := dsl.Errorf(namePos, "the kernel has no type %q", name)
		e.Hint = dsl.DidYouMean(name, structNames(spec, name))
		if cc.t.bin != nil {
			e.Msg = fmt.Sprintf("neither %s nor the kernel has a type %q", cc.t.bin.Path, name)
		}
		return nil, e
	}
	// A user pointer, or a number on a probe whose addresses are user
	// addresses, points into user memory.
	at := cc.types[e.Args[0]]
	user := at.User || cc.t.userPtrs && at.Kind == TInt
	return &Type{Kind: TPtr, Size: 8, CType: cTypeName(t) + " *", btf: t, User: user}, nil
}

func lookupStruct(spec *btf.Spec, name string) (btf.Type, error) {
	var s *btf.Struct
	if err := spec.TypeByName(name, &s); err == nil {
		return s, nil
	}
	var u *btf.Union
	if err := spec.TypeByName(name, &u); err == nil {
		return u, nil
	}
	var td *btf.Typedef
	if err := spec.TypeByName(name, &td); err == nil {
		switch btf.UnderlyingType(td).(type) {
		case *btf.Struct, *btf.Union:
			return btf.UnderlyingType(td), nil
		}
	}
	return nil, errors.New("not found")
}

// structNames lists struct and union names sharing a prefix with name, as
// candidates for suggestions (all ~100k types would be slow to rank).
func structNames(spec *btf.Spec, name string) []string {
	return typeNames(spec, name, func(t btf.Type) bool {
		switch t.(type) {
		case *btf.Struct, *btf.Union:
			return true
		}
		return false
	})
}

// typeNames lists the names of the types keep accepts that share their
// first three letters with name.
func typeNames(spec *btf.Spec, name string, keep func(btf.Type) bool) []string {
	var out []string
	prefix := name
	if len(prefix) > 3 {
		prefix = prefix[:3]
	}
	for t, err := range spec.All() {
		if err != nil {
			break
		}
		if n := t.TypeName(); n != "" && strings.HasPrefix(n, prefix) && keep(t) {
			out = append(out, n)
		}
	}
	return out
}

// genBTFSelector reads x.sel from kernel memory: the address of a nested
// struct, or the member's value.
func (cc *chainCtx) genBTFSelector(e *dsl.Selector) val {
	g := cc.g
	t := cc.types[e]
	off := cc.memberOff[e]
	v := cc.genScalar(e.X) // the pointer, or the struct's address
	g.at(e.SelPos, dsl.ExprString(e))
	if t.Kind == TStruct {
		r := g.load(v, asm.R0)
		g.emit(asm.Add.Imm(r, int32(off)))
		g.store(v, r)
		return v
	}
	size := t.Size
	if t.bitSize > 0 {
		size = (t.bitOff + t.bitSize + 7) / 8
	}
	mark := g.stackMark()
	tmp := cc.readMem(v, off, size, cc.types[e.X].User)
	g.emit(asm.LoadMem(asm.R0, asm.R10, tmp, asm.DWord))
	g.release(mark)
	switch {
	case t.bitSize > 0:
		g.emit(asm.LSh.Imm(asm.R0, int32(64-t.bitOff-t.bitSize)))
		if t.Signed {
			g.emit(asm.ArSh.Imm(asm.R0, int32(64-t.bitSize)))
		} else {
			g.emit(asm.RSh.Imm(asm.R0, int32(64-t.bitSize)))
		}
	case t.Kind == TInt && t.Signed && size < 8:
		sh := int32(64 - 8*size)
		g.emit(asm.LSh.Imm(asm.R0, sh), asm.ArSh.Imm(asm.R0, sh))
	}
	g.store(v, asm.R0)
	return v
}

// readMem copies size (≤ 8) bytes at address v+off, in user or kernel
// memory, into a new zeroed 8-byte stack slot and returns it; the caller
// releases it.
func (cc *chainCtx) readMem(v val, off, size int, user bool) int16 {
	g := cc.g
	tmp := g.alloc(8)
	g.emit(storeDW(asm.R10, tmp, 0))
	g.loadInto(v, asm.R3)
	if off != 0 {
		g.emit(asm.Add.Imm(asm.R3, int32(off)))
	}
	g.stackPtr(asm.R1, tmp)
	g.emit(asm.Mov.Imm(asm.R2, int32(size)))
	if user {
		g.call(asm.FnProbeReadUser)
	} else {
		g.call(asm.FnProbeReadKernel)
	}
	return tmp
}

// genBTFString reads a char array member into dst.
func (cc *chainCtx) genBTFString(e *dsl.Selector, dst mem) {
	g := cc.g
	mark := g.stackMark()
	v := cc.genScalar(e.X)
	g.at(e.SelPos, dsl.ExprString(e))
	g.loadInto(v, asm.R3)
	g.freeVal(v)
	if off := cc.memberOff[e]; off != 0 {
		g.emit(asm.Add.Imm(asm.R3, int32(off)))
	}
	g.addr(dst, asm.R1)
	g.movImm(asm.R2, int64(cc.types[e].Size))
	if cc.types[e.X].User {
		g.call(asm.FnProbeReadUserStr)
	} else {
		g.call(asm.FnProbeReadKernelStr)
	}
	g.release(mark)
}
