package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
	ebpfrt "github.com/ebpftrace/ebpftrace/runtime"
)

// watchInterval is how often --watch looks at the script.
const watchInterval = 200 * time.Millisecond

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

// watch runs the script in file and reloads it when it changes: the new
// version attaches before the old detaches, and aggregations of the same
// name and shape carry their values over. A version that does not compile
// or load is reported and the old one keeps running. It returns when ctx
// ends or the program exits (exit()).
func watch(ctx context.Context, file string, src []byte, sess *ebpfrt.Session, newEnv func() *compiler.Env, opts ebpfrt.Options, stderr io.Writer) int {
	cur := startRunning(ctx, sess)
	last := src
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	for {
		select {
		case err := <-cur.done:
			// ctx ended (the session printed its aggregations) or exit().
			if err != nil {
				fmt.Fprintf(stderr, "ebpftrace: %v\n", err)
				return 1
			}
			return 0
		case <-tick.C:
			text, err := os.ReadFile(file)
			if err != nil || bytes.Equal(text, last) {
				continue
			}
			last = text
			next, err := loadVersion(file, string(text), newEnv(), opts)
			if err != nil {
				fmt.Fprintf(stderr, "ebpftrace: %s changed but does not load; the previous version keeps running:\n", file)
				fmt.Fprint(stderr, dsl.Render(err, &dsl.Source{Name: file, Text: string(text)}))
				continue
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
