package runtime_test

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
)

// TestKprobeProgramsLoad verifies the code generated for kernel function
// probes with a real load, where the kernel permits one: kprobe programs
// load even on a kernel without kprobes; fentry needs trampolines, which
// some kernels refuse (EPERM) — then the test says so.
func TestKprobeProgramsLoad(t *testing.T) {
	needRoot(t)
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Skipf("skipped: no kernel BTF: %v", err)
	}
	for _, src := range []string{
		`kprobe("do_sys_open").filter(args.flags & 0x80000).print("%d %s %d", args.dfd, str(args.filename), args.mode)`,
		`kretprobe("do_sys_open").hist(retval)`,
		`fentry("do_sys_open").by(str(args.filename)).count()`,
		`fexit("do_sys_open").filter(retval < 0).by(comm).count()`,
	} {
		p, err := dsl.Parse("", src)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := compiler.Compile(p, &compiler.Env{KernelBTF: func() (*btf.Spec, error) { return spec, nil }})
		if err != nil {
			t.Fatalf("%s: %s", src, dsl.Render(err, p.Source))
		}
		coll, err := ebpf.NewCollection(withoutFallbacks(prog))
		if err != nil {
			var ve *ebpf.VerifierError
			if prog.Probes[0].Attach.Kind == compiler.AttachFentry || prog.Probes[0].Attach.Kind == compiler.AttachFexit {
				if errors.Is(err, os.ErrPermission) && !errors.As(err, &ve) {
					t.Logf("%s: this kernel refuses fentry programs (%v); their code is verified where it allows them", src, err)
					continue
				}
			}
			t.Fatalf("%s: %v", src, err)
		}
		coll.Close()
	}
}

// withoutFallbacks keeps the primary programs of p (fallbacks are loaded
// only when needed).
func withoutFallbacks(p *compiler.Program) *ebpf.CollectionSpec {
	spec := p.Spec.Copy()
	for _, pr := range p.Probes {
		if pr.Fallback != nil {
			delete(spec.Programs, pr.Fallback.Program)
		}
	}
	return spec
}
