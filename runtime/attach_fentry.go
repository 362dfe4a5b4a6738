package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/ebpftrace/ebpftrace/compiler"
)

func init() {
	tracing := func(prog *ebpf.Program, a compiler.Attach) (io.Closer, error) {
		return link.AttachTracing(link.TracingOptions{Program: prog})
	}
	attachers[compiler.AttachFentry] = tracing
	attachers[compiler.AttachFexit] = tracing
	explainers[compiler.AttachFentry] = explainFentry
	explainers[compiler.AttachFexit] = explainFentry
}

// explainFentry names the likely cause of a refused fentry/fexit program.
func explainFentry(err error) error {
	if _, serr := os.Stat("/sys/kernel/btf/vmlinux"); serr != nil {
		return errors.New("this kernel has no BTF (/sys/kernel/btf/vmlinux), which fentry needs")
	}
	if b, rerr := os.ReadFile("/sys/kernel/security/lockdown"); rerr == nil && !strings.Contains(string(b), "[none]") {
		return fmt.Errorf("kernel lockdown (%s) refuses fentry programs: %w", strings.TrimSpace(string(b)), err)
	}
	if errors.Is(err, os.ErrPermission) {
		return errors.New("the kernel refused to load the fentry program (operation not permitted: BPF trampolines are disabled or not allowed on this kernel)")
	}
	return err
}
