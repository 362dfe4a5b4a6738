package runtime

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

// Options says where a session's output goes.
type Options struct {
	// Sinks receive events, aggregations and lost counts, each in order.
	Sinks []sink.Sink
}

// Session is a program loaded and attached in the kernel.
type Session struct {
	prog  *compiler.Program
	l     *loaded
	links []io.Closer
	rd    *ringbuf.Reader
	dec   *decoder

	// cpid is the -c command's pid once SetCommandPID told the probes,
	// for the --watch versions after this one.
	cpid atomic.Int64

	mu    sync.Mutex // serialises calls to the sinks
	sinks []sink.Sink
	// carried are the values of earlier --watch versions, by aggregation
	// and key meaning (handover.go).
	carried map[*compiler.Aggregation]map[string]sink.Row
	cmu     sync.Mutex

	// skipped are probes of wildcards that could not attach while others
	// of the same source did.
	skipped []*ProbeError

	closed bool
	// next is set by HandOver: the session that replaces this one.
	next atomic.Pointer[Session]
}

// HandOver makes Run, once its context ends, stop without running end()
// or printing: it detaches, hands the events still in its ring buffer to
// the sinks, gives its aggregations to next (by name and key), and
// closes. Hot reload calls it after next has attached, so no event goes
// unseen (events in the instant both are attached count twice).
func (s *Session) HandOver(next *Session) { s.next.Store(next) }

// Start loads p, attaches every probe and runs the begin() probes. On error
// nothing stays loaded or attached.
func Start(p *compiler.Program, opts Options) (*Session, error) {
	s := &Session{prog: p, sinks: opts.Sinks, carried: map[*compiler.Aggregation]map[string]sink.Row{}}
	l, err := load(p)
	if err != nil {
		return nil, err
	}
	s.l = l
	s.dec = newDecoder(p.ProbeNames, l.maps[p.Stacks])
	if p.RingBuf != "" {
		rd, err := ringbuf.NewReader(l.maps[p.RingBuf])
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("open the event ring buffer: %w", err)
		}
		s.rd = rd
	}
	links, skipped, err := attachAll(p, l)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.links, s.skipped = links, skipped
	if err := s.runOnce(compiler.AttachBegin); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// UsesUserSymbols reports whether the output names user addresses
// (ustack, usym), which needs the memory maps of the traced processes.
func (s *Session) UsesUserSymbols() bool {
	user := func(fs []compiler.Field) bool {
		for _, f := range fs {
			if f.Show == "ustack" || f.Show == "usym" {
				return true
			}
		}
		return false
	}
	for _, ev := range s.prog.Events {
		if user(ev.Fields) {
			return true
		}
	}
	for _, a := range s.prog.Aggregations {
		if user(a.Keys) {
			return true
		}
	}
	return false
}

// RememberProcess reads pid's memory maps now, so that its addresses can
// be named after it has exited.
func (s *Session) RememberProcess(pid int) { s.dec.user.Snapshot(pid) }

// Attached is the number of the user's probes in the kernel (begin, end
// and internal probes excluded).
func (s *Session) Attached() int {
	n := len(s.links)
	for _, pr := range s.prog.Probes {
		if pr.Internal && n > 0 {
			n--
		}
	}
	return n
}

// Skipped lists the probes of wildcards and globs that could not attach
// (others of the same source did).
func (s *Session) Skipped() []*ProbeError { return s.skipped }

// runOnce runs the begin() or end() programs through BPF_PROG_TEST_RUN.
func (s *Session) runOnce(kind compiler.AttachKind) error {
	for _, pr := range s.prog.Probes {
		if pr.Attach.Kind != kind {
			continue
		}
		if _, err := s.l.progs[pr.Program].Run(&ebpf.RunOptions{Context: make([]byte, 8)}); err != nil {
			return fmt.Errorf("run %s: %w", pr.Name, err)
		}
	}
	return nil
}

// toSinks calls f on every sink, under the sinks' lock.
func (s *Session) toSinks(f func(sink.Sink) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, k := range s.sinks {
		if err := f(k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run hands events and periodic aggregations to the sinks until ctx ends,
// an exit() stage fires or a sink fails. Then, in this order: it stops
// every probe in the kernel, runs end(), hands over what is left in the
// ring buffer, then the aggregations, then the lost counts, and detaches
// and unloads everything. Every event produced is either handed to the
// sinks or counted lost.
func (s *Session) Run(ctx context.Context) error {
	defer s.Close()
	// Sinks that read when they choose (a scrape) read this session until
	// it has handed over its results.
	s.live(s)
	defer s.live(nil)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var errs []error
	var emu sync.Mutex
	fail := func(err error) {
		if err == nil {
			return
		}
		emu.Lock()
		errs = append(errs, err)
		emu.Unlock()
		stop()
	}

	readerDone := make(chan struct{})
	draining := make(chan struct{})
	if s.rd != nil {
		go func() {
			defer close(readerDone)
			fail(s.readEvents(stop, draining))
		}()
	} else {
		close(readerDone)
	}

	var wg sync.WaitGroup
	for _, a := range s.prog.Aggregations {
		if a.Every <= 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(a.Every)
			defer t.Stop()
			for {
				select {
				case now := <-t.C:
					fail(s.emitAggregation(a, now))
					fail(s.clearAggregation(a))
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	if s.rd != nil {
		// Lines an interactive user waits for leave the buffers often.
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(sink.FlushInterval)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					fail(s.toSinks(sink.Sink.Flush))
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	<-ctx.Done()
	wg.Wait()

	next := s.next.Load()
	// Stop producing: every probe checks the control word first, so from
	// here on nothing new is counted or printed; what is already in the
	// ring buffer is drained below. (Detaching waits for an RCU grace
	// period per probe, so it comes last, after the results.)
	fail(s.stopProbes())
	if next == nil {
		fail(s.runOnce(compiler.AttachEnd))
	}
	if s.rd != nil {
		close(draining)
		fail(s.rd.Flush())
		<-readerDone
	}
	if next != nil {
		// Hot reload: the new version prints; give it what we counted.
		handOver(s, next)
	} else {
		for _, a := range s.prog.Aggregations {
			if a.Every > 0 && s.isEmpty(a) {
				continue
			}
			fail(s.emitAggregation(a, time.Time{}))
		}
		lost := s.Lost()
		fail(s.toSinks(func(k sink.Sink) error { return k.Lost(lost) }))
	}
	fail(s.toSinks(sink.Sink.Flush))
	return errors.Join(errs...)
}

// live tells the sinks that read when they choose which session to read
// (nil: none any more).
func (s *Session) live(src sink.Source) {
	for _, k := range s.sinks {
		if l, ok := k.(sink.Live); ok {
			l.Live(src)
		}
	}
}

// SetCommandPID tells the probes the pid of the -c command (cpid).
func (s *Session) SetCommandPID(pid int) error {
	s.cpid.Store(int64(pid))
	if s.prog.Control == "" {
		return nil
	}
	var v [16]byte
	if err := s.l.maps[s.prog.Control].Lookup(uint32(0), &v); err != nil {
		return fmt.Errorf("read the control words: %w", err)
	}
	binary.LittleEndian.PutUint64(v[compiler.ControlCPID:], uint64(pid))
	if err := s.l.maps[s.prog.Control].Update(uint32(0), v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("set the command's pid: %w", err)
	}
	return nil
}

// CommandPID is the pid SetCommandPID was given; 0 before.
func (s *Session) CommandPID() int { return int(s.cpid.Load()) }

// stopProbes sets the control word, then waits for the programs already
// past it to finish (a few microseconds).
func (s *Session) stopProbes() error {
	if s.prog.Control == "" {
		return nil
	}
	var v [16]byte
	if err := s.l.maps[s.prog.Control].Lookup(uint32(0), &v); err != nil {
		return fmt.Errorf("stop the probes: %w", err)
	}
	binary.LittleEndian.PutUint64(v[:], 1)
	if err := s.l.maps[s.prog.Control].Update(uint32(0), v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("stop the probes: %w", err)
	}
	time.Sleep(time.Millisecond)
	return nil
}

// readEvents hands ring buffer records to the sinks until the buffer is
// closed, or, once draining is closed, until it is empty. An exit()
// record (its stage has stopped the probes already) calls stop.
func (s *Session) readEvents(stop func(), draining <-chan struct{}) error {
	var rec ringbuf.Record
	ev := &sink.Event{R: s.dec}
	for {
		err := s.rd.ReadInto(&rec)
		switch {
		case errors.Is(err, ringbuf.ErrFlushed):
			// Flush returns once everything before it was read; after the
			// probes stopped that is everything.
			select {
			case <-draining:
				return nil
			default:
				continue
			}
		case errors.Is(err, ringbuf.ErrClosed):
			return nil
		case err != nil:
			return fmt.Errorf("read events: %w", err)
		}
		if len(rec.RawSample) < 8 {
			continue
		}
		layout := s.prog.Events[binary.LittleEndian.Uint32(rec.RawSample)]
		if layout == nil {
			continue
		}
		switch layout.Kind {
		case compiler.EventExit:
			stop()
		case compiler.EventPrint:
			ev.Layout, ev.Raw = layout, rec.RawSample
			s.mu.Lock()
			for _, k := range s.sinks {
				if err := k.Event(ev); err != nil {
					s.mu.Unlock()
					return err
				}
			}
			s.mu.Unlock()
		case compiler.EventSpan:
			ev.Layout, ev.Raw = layout, rec.RawSample
			s.mu.Lock()
			for _, k := range s.sinks {
				if sp, ok := k.(sink.SpanSink); ok {
					if err := sp.Span(ev); err != nil {
						s.mu.Unlock()
						return err
					}
				}
			}
			s.mu.Unlock()
		}
	}
}

// Close detaches and unloads everything. It is safe to call more than once.
func (s *Session) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := closeAll(s.links)
	s.links = nil
	if s.rd != nil {
		s.rd.Close()
	}
	if s.l != nil {
		s.l.close()
	}
	return err
}
