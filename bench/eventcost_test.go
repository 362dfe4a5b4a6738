package bench

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BenchmarkEventCost measures what one event costs inside the kernel, from
// the kernel's own accounting: with kernel.bpf_stats_enabled=1 the kernel
// adds up, for every BPF program, how often it ran (run_cnt) and how long
// it ran (run_time_ns: sched_clock() read before and after the program).
//
// An iteration makes `syscaller getppid N` (-events, default 200000) fire
// syscalls:sys_enter_getppid N times, and takes the difference of the
// counters of the program under test over that run. For the tracers an
// iteration is a pair of measurements: the tracer (started for the
// iteration, found among the programs it holds, stopped after) and, alone
// after or before it (the order alternates), a fresh hand-written program,
// so that both see the same state of the machine. They are never attached
// together: the kernel runs the programs of a tracepoint one after the
// other, and the first pays for warming the caches (on the test machine a
// second, identical program measured 30% less).
//
// BenchmarkEventCost/empty/handwritten is a program that does nothing:
// the floor of the kernel's accounting under every other figure.
//
// Reported: ns/event (run_time_ns/run_cnt over all iterations); for the
// tracers hw-ns/event, the hand-written program over the same iterations,
// and x-handwritten, the ratio of the two. ns/op is the wall time of one
// syscaller run with the program attached, and says little.
func BenchmarkEventCost(b *testing.B) {
	needRoot(b)
	enableBPFStats(b)
	for _, agg := range []struct {
		name      string
		ebpftrace string
		bpftrace  string
	}{
		{"count", `tracepoint("syscalls:sys_enter_getppid").count()`, `tracepoint:syscalls:sys_enter_getppid { @ = count(); }`},
		{"by_comm", `tracepoint("syscalls:sys_enter_getppid").by(comm).count()`, `tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); }`},
		{"empty", "", ""},
	} {
		b.Run(agg.name, func(b *testing.B) {
			b.Run("handwritten", func(b *testing.B) {
				_, syscaller := build(b)
				benchEvents(b, agg.name, "handwritten", syscaller, nil)
			})
			if agg.ebpftrace == "" {
				return // the floor: hand-written only
			}
			b.Run("ebpftrace", func(b *testing.B) {
				ebpftrace, syscaller := build(b)
				benchEvents(b, agg.name, "ebpftrace", syscaller, func() (*tracer, error) {
					return startTracer("Attached", isEbpftraceProg, ebpftrace, "-e", agg.ebpftrace)
				})
			})
			b.Run("bpftrace", func(b *testing.B) {
				bpftrace := needBpftrace(b)
				_, syscaller := build(b)
				benchEvents(b, agg.name, "bpftrace", syscaller, func() (*tracer, error) {
					return startTracer("Attaching", isTracepointProg, bpftrace, "-e", agg.bpftrace)
				})
			})
		})
	}
}

const statsSysctl = "/proc/sys/kernel/bpf_stats_enabled"

// enableBPFStats sets kernel.bpf_stats_enabled=1 until b ends, then puts
// back what was there.
func enableBPFStats(b *testing.B) {
	b.Helper()
	old, err := os.ReadFile(statsSysctl)
	if err != nil {
		skip(b, fmt.Sprintf("skipped: the kernel has no BPF run-time statistics (%v)", err))
	}
	if err := os.WriteFile(statsSysctl, []byte("1\n"), 0o644); err != nil {
		skip(b, fmt.Sprintf("skipped: cannot enable BPF run-time statistics: %v", err))
	}
	b.Cleanup(func() {
		if err := os.WriteFile(statsSysctl, old, 0o644); err != nil {
			b.Errorf("restore %s to %q: %v", statsSysctl, bytes.TrimSpace(old), err)
		}
	})
}

// sample is the sum of the kernel's counters over some programs.
type sample struct {
	runs, misses uint64
	ns           time.Duration
}

func (s sample) sub(o sample) sample {
	return sample{runs: s.runs - o.runs, misses: s.misses - o.misses, ns: s.ns - o.ns}
}

func (s *sample) add(o sample) {
	s.runs += o.runs
	s.misses += o.misses
	s.ns += o.ns
}

func (s sample) perEvent() float64 { return float64(s.ns) / float64(s.runs) }

func sampleOf(progs []*ebpf.Program) (sample, error) {
	var s sample
	for _, p := range progs {
		st, err := p.Stats()
		if err != nil {
			return s, err
		}
		s.runs += st.RunCount
		s.misses += st.RecursionMisses
		s.ns += st.Runtime
	}
	return s, nil
}

// series collects the measurements of one program.
type series struct {
	total sample
	per   []float64 // ns/event of each run
}

func (s *series) add(d sample) {
	s.total.add(d)
	s.per = append(s.per, d.perEvent())
}

func (s *series) String() string {
	per := append([]float64(nil), s.per...)
	sort.Float64s(per)
	out := fmt.Sprintf("%.2f ns/event over %d events in %d runs (per run min %.2f, median %.2f, max %.2f)",
		s.total.perEvent(), s.total.runs, len(per), per[0], per[len(per)/2], per[len(per)-1])
	if s.total.misses > 0 {
		out += fmt.Sprintf(", %d recursion misses", s.total.misses)
	}
	return out
}

// benchEvents measures the hand-written program for agg, or, when start
// is not nil, the tracer it starts paired with the hand-written program.
func benchEvents(b *testing.B, agg, name, syscaller string, start func() (*tracer, error)) {
	cpu, err := syscallerCPU()
	if err != nil {
		b.Fatal(err)
	}
	run := func(progs []*ebpf.Program) sample {
		b.Helper()
		d, err := runEvents(progs, syscaller, *events, cpu)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		return d
	}
	var hw, tr series
	// measureHandwritten measures a fresh hand-written program, timing
	// only the syscaller run when timed.
	measureHandwritten := func(timed bool) {
		b.Helper()
		h, err := attachHandwritten(agg)
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		if len(hw.per) == 0 {
			b.Logf("handwritten: %s", describe(h.prog))
		}
		if timed {
			b.StartTimer()
		}
		d := run([]*ebpf.Program{h.prog})
		if timed {
			b.StopTimer()
		}
		hw.add(d)
	}
	i := 0
	for b.Loop() {
		b.StopTimer()
		if start == nil {
			measureHandwritten(true)
			b.StartTimer()
			continue
		}
		if i%2 == 1 {
			measureHandwritten(false)
		}
		t, err := start()
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			for _, p := range t.progs {
				b.Logf("%s: %s", name, describe(p))
			}
		}
		b.StartTimer()
		d, err := runEvents(t.progs, syscaller, *events, cpu)
		b.StopTimer()
		if err := t.stop(); err != nil {
			b.Errorf("%s: %v", name, err)
		}
		if err != nil {
			b.Fatalf("%s: %v\n%s", name, err, t.output())
		}
		tr.add(d)
		if i%2 == 0 {
			measureHandwritten(false)
		}
		b.StartTimer()
		i++
	}
	if start == nil {
		b.ReportMetric(hw.total.perEvent(), "ns/event")
		b.Logf("%s handwritten: %s", agg, &hw)
		return
	}
	ratio := tr.total.perEvent() / hw.total.perEvent()
	b.ReportMetric(tr.total.perEvent(), "ns/event")
	b.ReportMetric(hw.total.perEvent(), "hw-ns/event")
	b.ReportMetric(ratio, "x-handwritten")
	b.Logf("%s %s: %s", agg, name, &tr)
	b.Logf("%s handwritten, paired: %s", agg, &hw)
	b.Logf("%s %s: %.3fx the hand-written program (%+.2f ns/event%s; target <= 1.10x)",
		agg, name, ratio, tr.total.perEvent()-hw.total.perEvent(), pairedSpread(tr.per, hw.per))
}

// pairedSpread describes how far the ratio of paired runs is known: the
// mean of the per-iteration ratios and about a 95% interval for it (two
// standard errors), once there are enough pairs.
func pairedSpread(tr, hw []float64) string {
	n := min(len(tr), len(hw))
	if n < 5 {
		return ""
	}
	var sum, sq float64
	for i := range n {
		r := tr[i] / hw[i]
		sum += r
		sq += r * r
	}
	mean := sum / float64(n)
	se := math.Sqrt(max(sq/float64(n)-mean*mean, 0) / float64(n-1))
	return fmt.Sprintf("; per-pair ratios %.3f ± %.3f", mean, 2*se)
}

// runEvents runs `syscaller getppid n` on cpu (-1: anywhere) and returns
// how much the counters of progs grew meanwhile.
func runEvents(progs []*ebpf.Program, syscaller string, n, cpu int) (sample, error) {
	s0, err := sampleOf(progs)
	if err != nil {
		return sample{}, err
	}
	cmd := exec.Command(syscaller, "getppid", strconv.Itoa(n))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := startOnCPU(cmd, cpu); err != nil {
		return sample{}, err
	}
	err = cmd.Wait()
	s1, err1 := sampleOf(progs)
	if want := fmt.Sprintf("called getppid %d times", n); err != nil || !strings.Contains(out.String(), want) {
		return sample{}, fmt.Errorf("syscaller getppid %d: %v\n%s", n, err, out.String())
	}
	if err1 != nil {
		return sample{}, err1
	}
	d := s1.sub(s0)
	if d.runs < uint64(n) {
		return d, fmt.Errorf("the probe ran %d times (%d recursion misses) for %d getppid calls; is kernel.bpf_stats_enabled still 1?", d.runs, d.misses, n)
	}
	return d, nil
}

// syscallerCPU is the CPU -syscaller-cpu names, or -1 for none.
func syscallerCPU() (int, error) {
	switch *pinCPU {
	case "none":
		return -1, nil
	case "last":
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			return -1, err
		}
		for c := len(set)*64 - 1; c >= 0; c-- {
			if set.IsSet(c) {
				return c, nil
			}
		}
		return -1, errors.New("no CPU in this process's affinity mask")
	}
	c, err := strconv.Atoi(*pinCPU)
	if err != nil || c < 0 {
		return -1, fmt.Errorf("-syscaller-cpu %q: want last, none or a CPU number", *pinCPU)
	}
	return c, nil
}

// startOnCPU starts cmd bound to cpu (unless cpu < 0): from a thread of
// its own bound to that CPU, whose affinity the child inherits. The
// thread is never unlocked, so it ends with its goroutine.
func startOnCPU(cmd *exec.Cmd, cpu int) error {
	if cpu < 0 {
		return cmd.Start()
	}
	errc := make(chan error)
	go func() {
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("bind to CPU %d: %w", cpu, err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// describe names a program with its size as the kernel runs it.
func describe(p *ebpf.Program) string {
	info, err := p.Info()
	if err != nil {
		return p.String()
	}
	id, _ := info.ID()
	s := fmt.Sprintf("prog id %d %q (%s)", id, info.Name, info.Type)
	if insns, err := info.Instructions(); err == nil {
		s += fmt.Sprintf(", %d instructions as loaded", len(insns))
	}
	if n, err := info.JitedSize(); err == nil {
		s += fmt.Sprintf(", %d bytes JITed", n)
	}
	return s
}

func isEbpftraceProg(info *ebpf.ProgramInfo) bool {
	return info.Type == ebpf.TracePoint && strings.HasPrefix(info.Name, "ebt_p")
}

func isTracepointProg(info *ebpf.ProgramInfo) bool { return info.Type == ebpf.TracePoint }

// tracerPrograms opens the BPF programs process pid holds, through a
// program or link file descriptor, that keep accepts.
func tracerPrograms(pid int, keep func(*ebpf.ProgramInfo) bool) ([]*ebpf.Program, error) {
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	ids := map[ebpf.ProgramID]bool{}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "prog_id:"); ok {
				if id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
					ids[ebpf.ProgramID(id)] = true
				}
			}
		}
	}
	var progs []*ebpf.Program
	for id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue // unloaded meanwhile
		}
		info, err := p.Info()
		if err != nil || !keep(info) {
			p.Close()
			continue
		}
		progs = append(progs, p)
	}
	return progs, nil
}

// tracer is a running ebpftrace or bpftrace and the programs it attached.
type tracer struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	exited         chan struct{}
	progs          []*ebpf.Program
}

func (t *tracer) output() string {
	return fmt.Sprintf("stdout:\n%s\nstderr:\n%s", t.stdout.String(), t.stderr.String())
}

// stop closes the programs and stops the tracer with SIGINT.
func (t *tracer) stop() error {
	for _, p := range t.progs {
		p.Close()
	}
	t.progs = nil
	t.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-t.exited:
	case <-time.After(20 * time.Second):
		t.cmd.Process.Kill()
		<-t.exited
		return fmt.Errorf("%s did not stop within 20s of SIGINT\n%s", t.name, t.output())
	}
	if !t.cmd.ProcessState.Success() {
		return fmt.Errorf("%s: %v\n%s", t.name, t.cmd.ProcessState, t.output())
	}
	return nil
}

// startTracer runs a tracer. It waits for a line on its stdout or stderr
// that starts with ready, then for the tracer's programs (those keep
// accepts) to show up and to run on a getppid of ours.
func startTracer(ready string, keep func(*ebpf.ProgramInfo) bool, path string, args ...string) (*tracer, error) {
	// bpftrace says "Attaching" on stdout, ebpftrace "Attached" on stderr.
	readyc := make(chan struct{})
	var once sync.Once
	isReady := func() { once.Do(func() { close(readyc) }) }
	t := &tracer{
		name:   fmt.Sprintf("%s %q", filepath.Base(path), args),
		cmd:    exec.Command(path, args...),
		stdout: &lockedBuffer{ready: ready, onReady: isReady},
		stderr: &lockedBuffer{ready: ready, onReady: isReady},
		exited: make(chan struct{}),
	}
	t.cmd.Stdout, t.cmd.Stderr = t.stdout, t.stderr
	if err := t.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		t.cmd.Wait()
		close(t.exited)
	}()
	fail := func(format string, a ...any) (*tracer, error) {
		err := fmt.Errorf("%s: %s", t.name, fmt.Sprintf(format, a...))
		if serr := t.stop(); serr != nil {
			return nil, fmt.Errorf("%w; stopping it: %v", err, serr)
		}
		return nil, fmt.Errorf("%w\n%s", err, t.output())
	}
	select {
	case <-readyc:
	case <-t.exited:
		return fail("exited before attaching (%v)", t.cmd.ProcessState)
	case <-time.After(60 * time.Second):
		return fail("no %q line in 60s", ready)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		found, err := tracerPrograms(t.cmd.Process.Pid, keep)
		if err != nil {
			return fail("list its programs: %v", err)
		}
		if attached(found) {
			t.progs = found
			return t, nil
		}
		for _, p := range found {
			p.Close()
		}
		if time.Now().After(deadline) {
			return fail("found %d tracepoint programs of it, none of which runs on getppid", len(found))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// attached reports whether one of progs runs when this process calls
// getppid.
func attached(progs []*ebpf.Program) bool {
	if len(progs) == 0 {
		return false
	}
	s0, err := sampleOf(progs)
	if err != nil {
		return false
	}
	for i := 0; i < 10; i++ {
		unix.Getppid()
	}
	s1, err := sampleOf(progs)
	return err == nil && s1.runs >= s0.runs+10
}

// lockedBuffer collects a tracer's output; onReady is called once a line
// starts with ready.
type lockedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	ready   string
	onReady func()
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.buf.Write(p)
	if l.onReady != nil {
		s := l.buf.String()
		if strings.HasPrefix(s, l.ready) || strings.Contains(s, "\n"+l.ready) {
			l.onReady()
			l.onReady = nil
		}
	}
	return n, err
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
