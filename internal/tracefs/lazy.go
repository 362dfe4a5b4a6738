package tracefs

import "sync"

// Lazy opens (and if need be mounts) tracefs on first use, so that programs
// without tracepoints never touch it.
type Lazy struct {
	once sync.Once
	fs   *FS
	err  error
}

func (l *Lazy) get() (*FS, error) {
	l.once.Do(func() { l.fs, l.err = Open() })
	return l.fs, l.err
}

// Match is FS.Match on the lazily opened tracefs.
func (l *Lazy) Match(pattern string) ([]string, error) {
	fs, err := l.get()
	if err != nil {
		return nil, err
	}
	return fs.Match(pattern)
}

// Format is FS.Format on the lazily opened tracefs.
func (l *Lazy) Format(category, name string) (*Format, error) {
	fs, err := l.get()
	if err != nil {
		return nil, err
	}
	return fs.Format(category, name)
}

// Events is FS.Events on the lazily opened tracefs.
func (l *Lazy) Events() ([]string, error) {
	fs, err := l.get()
	if err != nil {
		return nil, err
	}
	return fs.Events()
}
