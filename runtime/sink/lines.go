package sink

import "io"

// lines buffers output and writes it in whole lines: a traced command
// (-c) may write to the same terminal or file, and its output must not
// land in the middle of one of ours.
type lines struct {
	w   io.Writer
	buf []byte
}

// linesSize is how much is gathered before a write.
const linesSize = 64 << 10

func newLines(w io.Writer) *lines { return &lines{w: w, buf: make([]byte, 0, linesSize)} }

// Write adds p, which ends with a whole line, writing out what came
// before first when p does not fit.
func (l *lines) Write(p []byte) (int, error) {
	if len(l.buf)+len(p) > cap(l.buf) {
		if err := l.Flush(); err != nil {
			return 0, err
		}
		if len(p) > cap(l.buf) {
			return l.w.Write(p)
		}
	}
	l.buf = append(l.buf, p...)
	return len(p), nil
}

// WriteString is Write of a string.
func (l *lines) WriteString(s string) (int, error) {
	if len(l.buf)+len(s) > cap(l.buf) {
		if err := l.Flush(); err != nil {
			return 0, err
		}
		if len(s) > cap(l.buf) {
			return io.WriteString(l.w, s)
		}
	}
	l.buf = append(l.buf, s...)
	return len(s), nil
}

// Flush writes out what is buffered.
func (l *lines) Flush() error {
	if len(l.buf) == 0 {
		return nil
	}
	_, err := l.w.Write(l.buf)
	l.buf = l.buf[:0]
	return err
}
