package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// handleSignals makes SIGINT and SIGTERM reach r.signal for as long as
// the REPL runs; the function it returns undoes that.
func (r *repl) handleSignals() (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for sig := range sigs {
			r.signal(sig)
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(sigs)
	}
}

// quitting reports that :quit or SIGTERM asked the REPL to end.
func (r *repl) quitting() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.quit
}

// signal stops the running input on SIGINT and SIGTERM; SIGTERM also ends
// the REPL, at once when nothing runs (nothing is attached then).
func (r *repl) signal(sig os.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sig == syscall.SIGTERM {
		r.quit = true
	}
	if r.cancel != nil {
		fmt.Fprintln(r.stderr) // after the ^C the terminal echoed
		r.cancel()
		return
	}
	if sig == syscall.SIGTERM {
		r.setMode(r.orig)
		os.Exit(0)
	}
}

// running registers (or, with nil, clears) the cancel of the input being
// run, so that Ctrl-C stops it.
func (r *repl) running(cancel context.CancelFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cancel = cancel
}
