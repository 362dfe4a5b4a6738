package goroutine

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"math/bits"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/ebpftrace/ebpftrace/internal/symbolize"
	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// The example's settings in the tests: blocks of each kind, and how long
// each lasts. 40 ms sits well inside its power-of-two bucket [2^25,
// 2^26) ns = [33.6 ms, 67.1 ms): a wake-up may come up to 27 ms late.
const (
	blocks    = 5
	blockTime = 40 * time.Millisecond
)

// blockKind is one way the example blocks.
type blockKind struct {
	kind string // the example's name for it
	fn   string // the function that blocks
	// reason is the wait reason the runtime of Go 1.minor gives it.
	reason func(minor int) string
	// caller is a function between gopark and fn that a frame-pointer
	// walk from gopark's entry would skip (gopark's direct caller) or
	// that only a walk that includes it can reach.
	caller string
}

func always(r string) func(int) string { return func(int) string { return r } }

var blockKinds = []blockKind{
	{"chan", "main.blockOnChan", always("chan receive"), "runtime.chanrecv"},
	// sync.Mutex has had its own wait reason since Go 1.20.
	{"mutex", "main.blockOnMutex", func(minor int) string {
		if minor >= 20 {
			return "sync.Mutex.Lock"
		}
		return "semacquire"
	}, "runtime.semacquire1"},
	{"sleep", "main.blockOnSleep", always("sleep"), "time.Sleep"},
	{"socket", "main.blockOnSocket", always("IO wait"), "runtime.netpollblock"},
}

// blocker is a running examples/blocker started with -wait.
type blocker struct {
	cmd   *exec.Cmd
	pid   int
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startBlocker starts bin with -wait and the test's settings and returns
// once it printed its pid.
func startBlocker(t testing.TB, bin string, args ...string) *blocker {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-wait", "-n", strconv.Itoa(blocks), "-d", blockTime.String()}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	b := &blocker{cmd: cmd, pid: cmd.Process.Pid, stdin: stdin, out: bufio.NewReader(stdout)}
	line, err := b.out.ReadString('\n')
	if want := fmt.Sprintf("pid %d\n", b.pid); err != nil || line != want {
		t.Fatalf("%s printed %q (%v), want %q", bin, line, err, want)
	}
	return b
}

var blockedLine = regexp.MustCompile(`^(\w+) goroutine (\d+) blocked (\d+) times for \S+; took ([\d ]+)$`)

// round is what the blocker reported of one round, by kind.
type round struct {
	goids map[string]uint64
	// took are the durations of the blocking calls, as the program
	// measured them around each call, in order.
	took map[string][]uint64
}

// run lets the blocker run its round and returns what it reported.
func (b *blocker) run(t testing.TB) round {
	t.Helper()
	if _, err := io.WriteString(b.stdin, "\n"); err != nil {
		t.Fatal(err)
	}
	r := round{goids: map[string]uint64{}, took: map[string][]uint64{}}
	for {
		line, err := b.out.ReadString('\n')
		if err != nil {
			t.Fatalf("blocker: %v after %v", err, r.goids)
		}
		if line == "done\n" {
			return r
		}
		m := blockedLine.FindStringSubmatch(strings.TrimSuffix(line, "\n"))
		if m == nil {
			t.Fatalf("blocker printed %q", line)
		}
		g, _ := strconv.ParseUint(m[2], 10, 64)
		r.goids[m[1]] = g
		for _, f := range strings.Fields(m[4]) {
			ns, _ := strconv.ParseUint(f, 10, 64)
			r.took[m[1]] = append(r.took[m[1]], ns)
		}
	}
}

var minorRE = regexp.MustCompile(`go1\.(\d+)`)

// goMinor is 19 for "go1.19.8".
func goMinor(t testing.TB, v string) int {
	m := minorRE.FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("Go version %q", v)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// bucket is the power-of-two histogram bucket of v: [2^k, 2^(k+1)).
func bucket(v uint64) int { return bits.Len64(v) - 1 }

// TestBlocker traces examples/blocker built every way (Go 1.26 and 1.19;
// DWARF, stripped, PIE, -trimpath; more toolchains with
// GOROUTINE_TEST_TOOLCHAINS) and checks, for each way it blocks: the
// count, the wait reason (name and number), the duration, and that the
// stack resolves to the blocking function through gopark's direct
// caller.
//
// The duration of each block lies between the example's -d (the waker
// sleeps that long after it saw the goroutine parked; a sleep lasts it
// from its call, a moment before the park, so for sleeps the bucket's
// lower edge) and the example's own measurement around the blocking call,
// which encloses the park and the resume. Hence it is in -d's
// power-of-two bucket whenever the program's measurement is, which is
// checked as well without asserting how late a wake-up on a loaded
// machine may come.
func TestBlocker(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	for _, v := range append(variants, toolchainVariants()...) {
		t.Run(v.name, func(t *testing.T) {
			bin := build(t, "blocker", v, dir)
			traceBlocker(t, bin)
		})
	}
}

func traceBlocker(t *testing.T, bin string) {
	b := startBlocker(t, bin)
	tr := newTracer(t, Blocked(), bin)
	if err := tr.helper.Attach(b.pid); err != nil {
		t.Fatal(err)
	}
	minor := goMinor(t, tr.target.GoVersion)
	names := ReasonNames(tr.target)
	u := symbolize.NewUser()
	defer u.Close()
	if err := u.Snapshot(b.pid); err != nil {
		t.Fatal(err)
	}

	r := b.run(t)
	goids := r.goids
	kindOf := map[uint64]blockKind{}
	for _, k := range blockKinds {
		g, ok := goids[k.kind]
		if !ok {
			t.Fatalf("the blocker reported no %s goroutine: %v", k.kind, goids)
		}
		kindOf[g] = k
	}
	events := tr.readUntil(t, func(evs []event) bool {
		n := 0
		for _, e := range evs {
			if _, ok := kindOf[e.Goid]; ok {
				n++
			}
		}
		return n >= blocks*len(blockKinds)
	})

	type got struct {
		reasons map[string]int
		stacks  map[string]int // the stack, frames joined with " < "
		blocks  []event        // the events of the expected reason
	}
	byKind := map[string]*got{}
	for _, k := range blockKinds {
		byKind[k.kind] = &got{reasons: map[string]int{}, stacks: map[string]int{}}
	}
	for _, e := range events {
		// Every event, the runtime's own included: the name is the
		// binary's name of the number.
		if name, ok := names[uint8(e.ReasonID)]; !ok || name != e.Reason {
			t.Errorf("event reason %q for value %d; the binary names it %q", e.Reason, e.ReasonID, name)
		}
		if e.Goid == 0 || e.Duration == 0 || e.Start == 0 {
			t.Errorf("event %+v", e)
		}
		k, ok := kindOf[e.Goid]
		if !ok {
			continue
		}
		g := byKind[k.kind]
		g.reasons[e.Reason]++
		if e.Reason == k.reason(minor) {
			g.blocks = append(g.blocks, e)
		}
		if e.StackPID() != b.pid {
			t.Errorf("%s: stack of pid %d, want %d", k.kind, e.StackPID(), b.pid)
		}
		g.stacks[strings.Join(tr.frames(t, u, e), " < ")]++
	}
	inBucket := 0
	lowEdge, highEdge := uint64(1)<<bucket(uint64(blockTime)), uint64(2)<<bucket(uint64(blockTime))
	for _, k := range blockKinds {
		g := byKind[k.kind]
		want := map[string]int{k.reason(minor): blocks}
		if fmt.Sprint(g.reasons) != fmt.Sprint(want) {
			t.Errorf("%s (goroutine %d): reasons %v, want %v", k.kind, goids[k.kind], g.reasons, want)
		}
		took := r.took[k.kind]
		slices.SortFunc(g.blocks, func(a, b event) int { return cmp.Compare(a.Start, b.Start) })
		for i, e := range g.blocks {
			if i >= len(took) {
				break
			}
			// The waker's sleep of blockTime may end a little early on a
			// loaded VM (its timer), as the program's own measurement shows.
			low := uint64(blockTime) * 95 / 100
			if k.kind == "sleep" {
				low = lowEdge
			}
			if e.Duration < low || e.Duration > took[i] {
				t.Errorf("%s block %d: %v, want between %v and the program's own %v", k.kind, i,
					time.Duration(e.Duration), time.Duration(low), time.Duration(took[i]))
			}
			if took[i] < highEdge && bucket(e.Duration) != bucket(uint64(blockTime)) {
				t.Errorf("%s block %d: %v, outside the bucket [%v, %v) of the example's %v", k.kind, i, time.Duration(e.Duration),
					time.Duration(lowEdge), time.Duration(highEdge), blockTime)
			}
			if bucket(e.Duration) == bucket(uint64(blockTime)) {
				inBucket++
			}
		}
		for stack, n := range g.stacks {
			// The first frame is gopark's, where the probe is: on Go 1.17
			// to 1.20 that is code of acquirem, inlined into gopark.
			frames := strings.Split(stack, " < ")
			for len(frames) > 1 && strings.HasSuffix(frames[0], " (inlined)") {
				frames = frames[1:]
			}
			plain := make([]string, len(frames))
			for i, f := range frames {
				plain[i] = strings.TrimSuffix(f, " (inlined)")
			}
			if plain[0] != "runtime.gopark" || !slices.Contains(plain, k.fn) || !slices.Contains(plain, k.caller) {
				t.Errorf("%s: %d stacks %s; want runtime.gopark first, then %s, %s", k.kind, n, stack, k.caller, k.fn)
			}
		}
		t.Logf("%s: %v; stacks %v", k.kind, g.reasons, g.stacks)
	}
	t.Logf("%d events from %s (%s); %d of %d blocks in the bucket of %v", len(events), tr.target.GoVersion, tr.target.FactsFrom,
		inBucket, blocks*len(blockKinds), blockTime)
}

// TestProgramStackMap loads the helper with a stack map made as the
// compiler makes its own (compiler/stacks.go) in place of ebt_std_stacks,
// as a runtime does so that the events' stack ids and the program's
// ustack values index one map: the stacks of the example's blocks are
// then in that map.
func TestProgramStackMap(t *testing.T) {
	needRoot(t)
	bin := build(t, "blocker", variants[0], t.TempDir())
	stacks, err := ebpf.NewMap(&ebpf.MapSpec{Name: "ebt_stacks", Type: ebpf.StackTrace,
		KeySize: 4, ValueSize: 8 * 127, MaxEntries: 16384})
	if err != nil {
		t.Fatal(err)
	}
	defer stacks.Close()
	target, err := Blocked().Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	h, err := target.LoadWith(map[string]*ebpf.Map{pack.StackMap: stacks})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rb, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	prog := chainProgram(t, h.Event, rb, target.Schema.Size, h.Chain, 1)
	defer prog.Close()
	if err := h.SetChain(0, prog); err != nil {
		t.Fatal(err)
	}
	rd, err := ringbuf.NewReader(rb)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	tr := &tracer{target: target, helper: h, rd: rd}

	b := startBlocker(t, bin)
	if err := h.Attach(b.pid); err != nil {
		t.Fatal(err)
	}
	goids := b.run(t).goids
	events := tr.readUntil(t, func(evs []event) bool {
		n := 0
		for _, e := range evs {
			if e.Goid == goids["chan"] {
				n++
			}
		}
		return n >= blocks
	})
	found := 0
	for _, e := range events {
		if e.Goid != goids["chan"] {
			continue
		}
		var pcs [pack.StackDepth]uint64
		if err := stacks.Lookup(uint32(e.StackID()), &pcs); err != nil || pcs[0] == 0 {
			t.Errorf("stack %d is not in the program's map: %v", e.StackID(), err)
			continue
		}
		found++
	}
	if found != blocks {
		t.Errorf("%d chan stacks in the program's map, want %d", found, blocks)
	}
}
