package runtime

import (
	"errors"
	"fmt"
	"io"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ebpftrace/ebpftrace/compiler"
)

// interval and profile are cpu-clock software perf events with the program
// attached: interval on one CPU, profile on each.
func init() {
	attachers[compiler.AttachInterval] = func(prog *ebpf.Program, a compiler.Attach) (io.Closer, error) {
		return attachCPUClock(prog, []int{0}, a.Period, 0)
	}
	attachers[compiler.AttachProfile] = func(prog *ebpf.Program, a compiler.Attach) (io.Closer, error) {
		cpus, err := onlineCPUs()
		if err != nil {
			return nil, err
		}
		return attachCPUClock(prog, cpus, a.Period, a.Frequency)
	}
}

type perfEvents []int

func (p perfEvents) Close() error {
	var errs []error
	for _, fd := range p {
		errs = append(errs, unix.Close(fd))
	}
	return errors.Join(errs...)
}

func attachCPUClock(prog *ebpf.Program, cpus []int, period time.Duration, freq uint64) (io.Closer, error) {
	var fds perfEvents
	for _, cpu := range cpus {
		attr := &unix.PerfEventAttr{
			Type:   unix.PERF_TYPE_SOFTWARE,
			Config: unix.PERF_COUNT_SW_CPU_CLOCK,
			Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
			Sample: uint64(period.Nanoseconds()),
		}
		if freq > 0 {
			attr.Sample = freq
			attr.Bits |= unix.PerfBitFreq
		}
		fd, err := unix.PerfEventOpen(attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			fds.Close()
			return nil, fmt.Errorf("perf_event_open cpu-clock on cpu %d: %w", cpu, err)
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

func onlineCPUs() ([]int, error) {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	var cpus []int
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil {
		for i := 0; i < n; i++ {
			if set.IsSet(i) {
				cpus = append(cpus, i)
			}
		}
	}
	if len(cpus) == 0 {
		for i := 0; i < n; i++ {
			cpus = append(cpus, i)
		}
	}
	return cpus, nil
}
