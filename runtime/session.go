package runtime

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

// Options says where and how a session writes what it reads.
type Options struct {
	Stdout io.Writer
	Stderr io.Writer
	// JSON writes one JSON object a line instead of text.
	JSON bool
}

// Session is a program loaded and attached in the kernel.
type Session struct {
	prog  *compiler.Program
	opts  Options
	l     *loaded
	links []io.Closer
	rd    *ringbuf.Reader
	clock clock
	dec   *decoder

	mu     sync.Mutex // serialises writes to Stdout
	closed bool
	// next is set by HandOver: the session that replaces this one.
	next atomic.Pointer[Session]
}

// HandOver makes Run, once its context ends, stop without running end()
// or printing: it detaches, prints the events still in its ring buffer,
// adds its aggregations into next's aggregations of the same name and
// shape, and closes. Hot reload calls it after next has attached, so no
// event goes unseen (events in the instant both are attached count twice).
func (s *Session) HandOver(next *Session) { s.next.Store(next) }

// Start loads p, attaches every probe and runs the begin() probes. On error
// nothing stays loaded or attached.
func Start(p *compiler.Program, opts Options) (*Session, error) {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	s := &Session{prog: p, opts: opts, clock: newClock()}
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
	links, err := attachAll(p, l)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.links = links
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

func newClock() clock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	now := time.Now()
	return clock{wallMinusMono: time.Duration(now.UnixNano() - ts.Nano())}
}

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

// Run reads events and prints periodic aggregations until ctx ends or an
// exit() stage fires, then runs end(), prints what is left in the ring
// buffer and the aggregations, and detaches and unloads everything.
func (s *Session) Run(ctx context.Context) error {
	defer s.Close()
	ctx, stop := context.WithCancel(ctx)
	defer stop()

	readerDone := make(chan error, 1)
	draining := make(chan struct{})
	if s.rd != nil {
		go func() { readerDone <- s.readEvents(stop, draining) }()
	} else {
		close(readerDone)
	}

	var tickers []*time.Ticker
	tick := make(chan *compiler.Aggregation)
	for _, a := range s.prog.Aggregations {
		if a.Every <= 0 {
			continue
		}
		t := time.NewTicker(a.Every)
		tickers = append(tickers, t)
		go func(a *compiler.Aggregation, t *time.Ticker) {
			for {
				select {
				case <-t.C:
					select {
					case tick <- a:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}(a, t)
	}
	defer func() {
		for _, t := range tickers {
			t.Stop()
		}
	}()

	var errs []error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case a := <-tick:
			if err := s.printAggregationAt(a, time.Now()); err != nil {
				errs = append(errs, err)
			}
			if err := clearAggregation(a, s.l.maps[a.Map]); err != nil {
				errs = append(errs, fmt.Errorf("clear @%s: %w", a.Name, err))
			}
		case err := <-readerDone:
			if err != nil {
				errs = append(errs, err)
			}
			readerDone = nil
		}
	}

	next := s.next.Load()
	if next != nil {
		// Hot reload: detach first so that nothing counted here after the
		// hand-over is lost, then drain.
		errs = append(errs, closeAll(s.links))
		s.links = nil
	} else {
		// Print before detaching: detaching a tracepoint waits for an RCU
		// grace period in the kernel, serialised across probes (seconds
		// for a wildcard), and the results should not wait for that.
		// The events of a -c command are all in by now.
		errs = append(errs, s.runOnce(compiler.AttachEnd))
	}
	if s.rd != nil && readerDone != nil {
		close(draining)
		if err := s.rd.Flush(); err != nil {
			errs = append(errs, err)
		}
		select {
		case err := <-readerDone:
			errs = append(errs, err)
		case <-time.After(5 * time.Second):
			errs = append(errs, errors.New("timed out draining the event ring buffer"))
		}
	}
	if next != nil {
		// Hot reload: the new version prints; give it what we counted.
		errs = append(errs, handOverAggregations(s, next))
		return errors.Join(errs...)
	}
	for _, a := range s.prog.Aggregations {
		if a.Every > 0 && s.isEmpty(a) {
			continue
		}
		errs = append(errs, s.printAggregation(a))
	}
	if n := s.lost(0); n > 0 {
		fmt.Fprintf(s.opts.Stderr, "ebpftrace: %d events were lost: the ring buffer was full (print less, aggregate in the kernel, or give --buffer more room)\n", n)
	}
	if n := s.lost(1); n > 0 {
		fmt.Fprintf(s.opts.Stderr, "ebpftrace: %d aggregation updates were lost: a map was full (%d keys); aggregate by fewer keys\n", n, compiler.MaxKeys)
	}
	return errors.Join(errs...)
}

// readEvents prints ring buffer records until the buffer is closed, or it
// is flushed once draining is closed. An exit() record calls stop.
func (s *Session) readEvents(stop func(), draining <-chan struct{}) error {
	var rec ringbuf.Record
	for {
		err := s.rd.ReadInto(&rec)
		switch {
		case errors.Is(err, ringbuf.ErrFlushed):
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
		ev := s.prog.Events[binary.LittleEndian.Uint32(rec.RawSample)]
		if ev == nil {
			continue
		}
		switch ev.Kind {
		case compiler.EventExit:
			stop()
		case compiler.EventPrint:
			line := s.formatEvent(ev, rec.RawSample)
			s.mu.Lock()
			io.WriteString(s.opts.Stdout, line)
			s.mu.Unlock()
		}
	}
}

func (s *Session) printAggregation(a *compiler.Aggregation) error {
	return s.printAggregationAt(a, time.Time{})
}

// printAggregationAt prints an aggregation; a non-zero at is the time of a
// periodic print: a HH:MM:SS line above the text, a "time" in JSON.
func (s *Session) printAggregationAt(a *compiler.Aggregation, at time.Time) error {
	agg, err := readAggregation(a, s.l.maps[a.Map], s.dec)
	if err != nil {
		return err
	}
	agg.Time = at
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.JSON {
		return sink.WriteJSON(s.opts.Stdout, agg)
	}
	if !at.IsZero() {
		fmt.Fprintln(s.opts.Stdout, at.Format("15:04:05"))
	}
	return sink.WriteText(s.opts.Stdout, agg)
}

func (s *Session) isEmpty(a *compiler.Aggregation) bool {
	agg, err := readAggregation(a, s.l.maps[a.Map], s.dec)
	if err != nil {
		return false
	}
	for _, r := range agg.Rows {
		if r.Count != 0 || r.Sum != 0 || len(r.Buckets) > 0 {
			return false
		}
	}
	return true
}

// lost sums a per-CPU count of lost work: slot 0 counts records lost to a
// full ring buffer, slot 1 aggregation updates lost to a full map.
func (s *Session) lost(slot uint32) uint64 {
	if s.prog.Drops == "" {
		return 0
	}
	var vals cpuValues
	if err := s.l.maps[s.prog.Drops].Lookup(slot, &vals); err != nil {
		return 0
	}
	return sumWord0(vals)
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
