package bpf

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"
)

// TestHelpersLoad loads every helper into the kernel: the verifier
// accepts it with its default constants. Attaching is tested by the packs.
func TestHelpersLoad(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root (CAP_BPF)")
	}
	for _, tc := range []struct {
		name string
		spec func() (*ebpf.CollectionSpec, error)
	}{
		{"http", HTTP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := tc.spec()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []string{"ebt_std_event", "ebt_std_chain"} {
				if spec.Maps[m] == nil {
					t.Errorf("helper %s has no map %s (the compiler contract)", tc.name, m)
				}
			}
			if ms := spec.Maps["ebt_std_chain"]; ms != nil && ms.Type != ebpf.ProgramArray {
				t.Errorf("ebt_std_chain is %v, want a program array", ms.Type)
			}
			if ms := spec.Maps["ebt_std_event"]; ms != nil && (ms.Type != ebpf.PerCPUArray || ms.MaxEntries != 1) {
				t.Errorf("ebt_std_event is %v with %d entries, want a per-CPU array of 1", ms.Type, ms.MaxEntries)
			}
			coll, err := ebpf.NewCollection(spec)
			if err != nil {
				var ve *ebpf.VerifierError
				if errors.As(err, &ve) {
					t.Fatalf("%+v", ve)
				}
				t.Fatal(err)
			}
			coll.Close()
		})
	}
}
