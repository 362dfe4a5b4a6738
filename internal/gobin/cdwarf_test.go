package gobin

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCSignature reads a C function's parameters and result from the
// DWARF gcc -g writes (examples/cworker's job_status(struct job *j, int
// base) returning int), with their System V registers and struct fields.
func TestCSignature(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("skipped: no gcc (apt-get install gcc)")
	}
	out := filepath.Join(t.TempDir(), "worker")
	if msg, err := exec.Command("gcc", "-O1", "-g", "-o", out, "../../examples/cworker/worker.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, msg)
	}
	b, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	params, res, err := b.CSignature("job_status")
	if err != nil {
		t.Fatal(err)
	}
	if len(params) != 2 || res == nil {
		t.Fatalf("params %+v, result %+v", params, res)
	}
	tests := []struct {
		got        Param
		name, typ  string
		kind       TypeKind
		size, reg0 int
	}{
		{params[0], "j", "job *", GoPointer, 8, 0},
		{params[1], "base", "int", GoInt32, 4, 1},
		{*res, "", "int", GoInt32, 4, 0},
	}
	for _, tt := range tests {
		p := tt.got
		if p.Name != tt.name || p.Type != tt.typ || p.GoType.Kind != tt.kind || p.Size != tt.size || len(p.Pieces) != 1 || p.Pieces[0].Reg != tt.reg0 {
			t.Errorf("%+v: want %s %s (%v, %d bytes) in register %d", p, tt.name, tt.typ, tt.kind, tt.size, tt.reg0)
		}
	}
	job := params[0].GoType.Elem
	want := []struct {
		name string
		off  int64
		kind TypeKind
	}{{"id", 0, GoInt64}, {"name", 8, GoPointer}, {"prio", 16, GoInt32}, {"next", 24, GoPointer}}
	if job == nil || len(job.Fields) != len(want) {
		t.Fatalf("struct job: %+v", job)
	}
	for i, w := range want {
		f := job.Fields[i]
		if f.Name != w.name || f.Offset != w.off || f.Type.Kind != w.kind {
			t.Errorf("field %d: %s at %d (%v), want %s at %d (%v)", i, f.Name, f.Offset, f.Type.Kind, w.name, w.off, w.kind)
		}
	}
	if name := job.Fields[1].Type.Elem; name == nil || name.Name != "char" {
		t.Errorf("name is a pointer to %+v, want char (const dropped)", name)
	}
	if _, _, err := b.CSignature("no_such_function"); err == nil {
		t.Error("a missing function has a signature")
	}
}
