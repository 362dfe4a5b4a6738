package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
	ebpfrt "github.com/ebpftrace/ebpftrace/runtime"
)

// watchInterval is how often --watch looks at the script.
const watchInterval = 200 * time.Millisecond

// maxScript is the largest program ebpftrace reads, from a file or
// standard input: far above any real script, and a bound on what a
// device such as /dev/zero given as a script can take.
const maxScript = 1 << 20

// readLimited reads r, refusing more than maxScript bytes.
func readLimited(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxScript+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxScript {
		return nil, fmt.Errorf("%s is larger than 1 MiB, which no program is", name)
	}
	return b, nil
}

// readRegular reads a script that must be a regular file (--watch): a
// FIFO with no writer or a device is refused at once, without blocking
// on it, as is a file over maxScript.
func readRegular(path string) ([]byte, os.FileInfo, error) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is %s, not a regular file", path, fileKind(st.Mode()))
	}
	if st.Size() > maxScript {
		return nil, nil, fmt.Errorf("%s is larger than 1 MiB (%d bytes), which no program is", path, st.Size())
	}
	b, err := readLimited(f, path)
	return b, st, err
}

// fileKind names what a non-regular file is.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}

// running is one version of a watched script.
type running struct {
	sess   *ebpfrt.Session
	cancel context.CancelFunc
	done   chan error
}

func startRunning(ctx context.Context, sess *ebpfrt.Session) *running {
	rctx, cancel := context.WithCancel(ctx)
	r := &running{sess: sess, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- sess.Run(rctx) }()
	return r
}

// scriptChange is a new text of the watched script, or why it cannot be
// read.
type scriptChange struct {
	text []byte
	err  error
}

// pollScript sends each new text of file (first compared with last), and
// each new reason it cannot be read, until ctx ends. It runs apart from
// watch's loop, so that a read that hangs never holds up Ctrl-C.
func pollScript(ctx context.Context, file string, last []byte, changes chan<- scriptChange) {
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		text, _, err := readRegular(file)
		var c scriptChange
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // an editor between writing and renaming
		case err != nil:
			if err.Error() == lastErr {
				continue
			}
			lastErr = err.Error()
			c.err = err
		default:
			lastErr = ""
			if bytes.Equal(text, last) {
				continue
			}
			last = text
			c.text = text
		}
		select {
		case changes <- c:
		case <-ctx.Done():
			return
		}
	}
}

// watch runs the script in file and reloads it when it changes: the new
// version attaches before the old detaches, and aggregations of the same
// name and shape carry their values over. A version that does not compile
// or load, or a file that cannot be read, is reported and the old version
// keeps running. It returns when ctx ends or the program exits (exit()).
func watch(ctx context.Context, file string, src []byte, sess *ebpfrt.Session, newEnv func() *compiler.Env, opts ebpfrt.Options, stderr io.Writer) int {
	cur := startRunning(ctx, sess)
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	changes := make(chan scriptChange)
	go pollScript(pollCtx, file, src, changes)
	for {
		select {
		case err := <-cur.done:
			// ctx ended (the session printed its aggregations) or exit().
			if err != nil {
				fmt.Fprintf(stderr, "ebpftrace: %v\n", err)
				return 1
			}
			return 0
		case c := <-changes:
			if c.err != nil {
				fmt.Fprintf(stderr, "ebpftrace: --watch: %v; the previous version keeps running\n", c.err)
				continue
			}
			next, err := loadVersion(file, string(c.text), newEnv(), opts)
			if err != nil {
				fmt.Fprintf(stderr, "ebpftrace: %s changed but does not load; the previous version keeps running:\n", file)
				fmt.Fprint(stderr, dsl.Render(err, &dsl.Source{Name: file, Text: string(c.text)}))
				continue
			}
			// The -c command runs on: the new version's cpid is its pid.
			if pid := cur.sess.CommandPID(); pid != 0 {
				if err := next.SetCommandPID(pid); err != nil {
					fmt.Fprintf(stderr, "ebpftrace: --watch: %v; the previous version keeps running\n", err)
					next.Close()
					continue
				}
			}
			cur.sess.HandOver(next)
			cur.cancel()
			if err := <-cur.done; err != nil {
				fmt.Fprintf(stderr, "ebpftrace: stopping the previous version: %v\n", err)
			}
			cur = startRunning(ctx, next)
			fmt.Fprintf(stderr, "Reloaded %s: attached %d probe%s\n", file, next.Attached(), plural(next.Attached()))
		}
	}
}

// loadVersion parses, compiles, loads and attaches one version of a script.
func loadVersion(file, text string, env *compiler.Env, opts ebpfrt.Options) (*ebpfrt.Session, error) {
	prog, err := dsl.Parse(file, text)
	if err != nil {
		return nil, err
	}
	p, err := compiler.Compile(prog, env)
	if err != nil {
		return nil, err
	}
	return start(p, opts)
}
