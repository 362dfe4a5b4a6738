package compiler

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

// timeLayout checks a strftime layout and returns it as Go's time layout:
// a Go layout ("15:04:05") is kept; one with C's % directives
// ("%H:%M:%S", what bpftrace scripts use) is translated.
func timeLayout(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf(`empty layout; write e.g. "15:04:05" or "%%H:%%M:%%S"`)
	}
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("layout %q ends with %%", s)
		}
		i++
		g, ok := cTimeDirectives[s[i]]
		if !ok {
			return "", fmt.Errorf("%%%c is not a time directive I know (%%Y %%m %%d %%H %%M %%S %%f %%y %%b %%a %%p %%Z %%z %%%%)", s[i])
		}
		b.WriteString(g)
	}
	return b.String(), nil
}

// cTimeDirectives are C strftime's directives in Go layout; %f is
// bpftrace's microseconds.
var cTimeDirectives = map[byte]string{
	'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'e': "_2", 'H': "15", 'I': "03",
	'M': "04", 'S': "05", 'f': "000000", 'p': "PM", 'b': "Jan", 'h': "Jan", 'B': "January",
	'a': "Mon", 'A': "Monday", 'j': "002", 'Z': "MST", 'z': "-0700", 'T': "15:04:05",
	'D': "01/02/06", 'F': "2006-01-02", 'R': "15:04", '%': "%",
}

// onlineCPUCount is the number of online CPUs (`ncpus`), from
// /sys/devices/system/cpu/online ("0-3,5"), else what Go sees.
func onlineCPUCount() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for _, r := range strings.Split(strings.TrimSpace(string(b)), ",") {
		var lo, hi int
		if c, _ := fmt.Sscanf(r, "%d-%d", &lo, &hi); c == 2 {
			n += hi - lo + 1
		} else if c == 1 {
			n++
		}
	}
	if n == 0 {
		return runtime.NumCPU()
	}
	return n
}

// shownAsText reports a number the runtime shows only as text (a name or
// a time), which numeric verbs cannot print.
func (t *Type) shownAsText() bool {
	return t.Show == "probe" || t.Show == "username" || t.Show == "gotype" || strings.HasPrefix(t.Show, "strftime:")
}
