package scripts

import (
	"strings"
	"testing"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// Every script parses and has the header the docs promise.
func TestScriptsParseAndHaveHeaders(t *testing.T) {
	all := All()
	if len(all) < 6 {
		t.Fatalf("only %d scripts", len(all))
	}
	for _, s := range all {
		if _, err := dsl.Parse("scripts/"+s.Name+".ebt", s.Text); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
		if !strings.HasPrefix(s.Text, "// "+s.Name+": ") || s.Summary == "" {
			t.Errorf("%s: the first line must be `// %s: what it shows`", s.Name, s.Name)
		}
		for _, part := range []string{"// Prints:", "// Usage:"} {
			if !strings.Contains(s.Text, part) {
				t.Errorf("%s: the header lacks %q", s.Name, part)
			}
		}
	}
	if _, ok := Get("execsnoop.ebt"); !ok {
		t.Error("Get does not accept the .ebt name")
	}
}
