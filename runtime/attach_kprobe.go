package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/ebpftrace/ebpftrace/compiler"
)

func init() {
	attachers[compiler.AttachKprobe] = func(prog *ebpf.Program, a compiler.Attach) (io.Closer, error) {
		return link.Kprobe(a.Target, prog, nil)
	}
	attachers[compiler.AttachKretprobe] = func(prog *ebpf.Program, a compiler.Attach) (io.Closer, error) {
		return link.Kretprobe(a.Target, prog, nil)
	}
	explainers[compiler.AttachKprobe] = explainKprobe
	explainers[compiler.AttachKretprobe] = explainKprobe
}

// kprobesAvailable: the kernel has a kprobe PMU or tracefs kprobe_events.
func kprobesAvailable() bool {
	for _, p := range []string{"/sys/bus/event_source/devices/kprobe", "/sys/kernel/tracing/kprobe_events", "/sys/kernel/debug/tracing/kprobe_events"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

func explainKprobe(err error) error {
	if !kprobesAvailable() {
		return errors.New("this kernel has no kprobes (CONFIG_KPROBES is off)")
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("the function cannot be probed (not in /proc/kallsyms, inlined, or blacklisted): %w", err)
	}
	return err
}
