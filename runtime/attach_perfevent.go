package runtime

import (
	"errors"
	"fmt"
	"io"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ebpftrace/ebpftrace/compiler"
)

// software() and hardware() probes are perf events of one counter on
// every CPU, each running the program once per period (or at a rate).
// The program itself keeps only the -p/-c process's events.
func init() {
	attachers[compiler.AttachSoftware] = func(prog *ebpf.Program, a compiler.Attach) (io.Closer, error) {
		return attachCounter(prog, unix.PERF_TYPE_SOFTWARE, a)
	}
	attachers[compiler.AttachHardware] = func(prog *ebpf.Program, a compiler.Attach) (io.Closer, error) {
		return attachCounter(prog, unix.PERF_TYPE_HARDWARE, a)
	}
	explainers[compiler.AttachHardware] = explainHardware
}

func attachCounter(prog *ebpf.Program, typ uint32, a compiler.Attach) (io.Closer, error) {
	cpus, err := onlineCPUs()
	if err != nil {
		return nil, err
	}
	var fds perfEvents
	for _, cpu := range cpus {
		attr := &unix.PerfEventAttr{
			Type:   typ,
			Config: a.PerfConfig,
			Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
			Sample: a.PerfPeriod,
		}
		if a.Frequency > 0 {
			attr.Sample = a.Frequency
			attr.Bits |= unix.PerfBitFreq
		}
		fd, err := unix.PerfEventOpen(attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			fds.Close()
			return nil, fmt.Errorf("perf_event_open on cpu %d: %w", cpu, err)
		}
		fds = append(fds, fd)
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_BPF, prog.FD()); err != nil {
			fds.Close()
			return nil, fmt.Errorf("attach to perf event on cpu %d: %w", cpu, err)
		}
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
			fds.Close()
			return nil, fmt.Errorf("enable perf event on cpu %d: %w", cpu, err)
		}
	}
	return fds, nil
}

// explainHardware names the usual cause of a hardware counter that will
// not open: a machine (most VMs) without a PMU the kernel can use.
func explainHardware(err error) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENODEV):
		return fmt.Errorf("this machine has no hardware performance counter for it (a virtual machine without a virtual PMU, or a CPU that lacks the event): %w", err)
	}
	return err
}
