package shellwords

import (
	"reflect"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{in: "", want: nil},
		{in: "/bin/true", want: []string{"/bin/true"}},
		{in: "  dd  if=/dev/zero   bs=1 ", want: []string{"dd", "if=/dev/zero", "bs=1"}},
		{in: `sh -c 'echo "a b"; exit 3'`, want: []string{"sh", "-c", `echo "a b"; exit 3`}},
		{in: `echo "x \"y\" \$HOME \\ \z"`, want: []string{"echo", `x "y" $HOME \ \z`}},
		{in: `a\ b c`, want: []string{"a b", "c"}},
		{in: `''`, want: []string{""}},
		{in: `a"b"'c'`, want: []string{"abc"}},
		{in: `'open`, err: true},
		{in: `"open`, err: true},
	}
	for _, tt := range tests {
		got, err := Split(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("Split(%q) error = %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if !tt.err && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Split(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
