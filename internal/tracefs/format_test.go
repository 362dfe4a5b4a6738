package tracefs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// commonFields is the header shared by every event on x86-64 6.x kernels.
var commonFields = []Field{
	{Name: "common_type", Type: "unsigned short", Offset: 0, Size: 2},
	{Name: "common_flags", Type: "unsigned char", Offset: 2, Size: 1},
	{Name: "common_preempt_count", Type: "unsigned char", Offset: 3, Size: 1},
	{Name: "common_pid", Type: "int", Offset: 4, Size: 4, Signed: true},
}

func readTestFormat(t *testing.T, category, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "tracefs", "events", category, name, "format"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// The expectations below were copied from the real format files of a
// 6.18 x86-64 kernel (the files under testdata/tracefs/events).
func TestParseFormatTestdata(t *testing.T) {
	tests := []struct {
		category, name string
		id             uint64
		size           int
		fields         []Field
	}{
		{
			category: "syscalls", name: "sys_enter_openat", id: 782, size: 48,
			fields: []Field{
				{Name: "__syscall_nr", Type: "int", Offset: 8, Size: 4, Signed: true},
				// Syscall arguments are stored as 8-byte words whatever
				// their declared type, and are never marked signed.
				{Name: "dfd", Type: "int", Offset: 16, Size: 8},
				{Name: "filename", Type: "const char *", Offset: 24, Size: 8, IsPointer: true, IsString: true},
				{Name: "flags", Type: "int", Offset: 32, Size: 8},
				{Name: "mode", Type: "umode_t", Offset: 40, Size: 8},
			},
		},
		{
			category: "syscalls", name: "sys_enter_execve", id: 862, size: 40,
			fields: []Field{
				{Name: "__syscall_nr", Type: "int", Offset: 8, Size: 4, Signed: true},
				{Name: "filename", Type: "const char *", Offset: 16, Size: 8, IsPointer: true, IsString: true},
				{Name: "argv", Type: "const char *const *", Offset: 24, Size: 8, IsPointer: true},
				{Name: "envp", Type: "const char *const *", Offset: 32, Size: 8, IsPointer: true},
			},
		},
		{
			category: "syscalls", name: "sys_enter_landlock_create_ruleset", id: 2086, size: 40,
			fields: []Field{
				{Name: "__syscall_nr", Type: "int", Offset: 8, Size: 4, Signed: true},
				{Name: "attr", Type: "const struct landlock_ruleset_attr *const", Offset: 16, Size: 8, IsPointer: true},
				{Name: "size", Type: "const size_t", Offset: 24, Size: 8},
				{Name: "flags", Type: "const __u32", Offset: 32, Size: 8},
			},
		},
		{
			category: "syscalls", name: "sys_enter_openat2", id: 780, size: 48,
			fields: []Field{
				{Name: "__syscall_nr", Type: "int", Offset: 8, Size: 4, Signed: true},
				{Name: "dfd", Type: "int", Offset: 16, Size: 8},
				{Name: "filename", Type: "const char *", Offset: 24, Size: 8, IsPointer: true, IsString: true},
				{Name: "how", Type: "struct open_how *", Offset: 32, Size: 8, IsPointer: true},
				{Name: "usize", Type: "size_t", Offset: 40, Size: 8},
			},
		},
		{
			category: "sched", name: "sched_switch", id: 372, size: 64,
			fields: []Field{
				{Name: "prev_comm", Type: "char", Offset: 8, Size: 16, ArrayLen: 16, IsString: true},
				{Name: "prev_pid", Type: "pid_t", Offset: 24, Size: 4, Signed: true},
				{Name: "prev_prio", Type: "int", Offset: 28, Size: 4, Signed: true},
				{Name: "prev_state", Type: "long", Offset: 32, Size: 8, Signed: true},
				{Name: "next_comm", Type: "char", Offset: 40, Size: 16, ArrayLen: 16, IsString: true},
				{Name: "next_pid", Type: "pid_t", Offset: 56, Size: 4, Signed: true},
				{Name: "next_prio", Type: "int", Offset: 60, Size: 4, Signed: true},
			},
		},
		{
			category: "sched", name: "sched_process_exec", id: 365, size: 20,
			fields: []Field{
				{Name: "filename", Type: "__data_loc char[]", Offset: 8, Size: 4, DataLoc: true, IsString: true},
				{Name: "pid", Type: "pid_t", Offset: 12, Size: 4, Signed: true},
				{Name: "old_pid", Type: "pid_t", Offset: 16, Size: 4, Signed: true},
			},
		},
		{
			category: "raw_syscalls", name: "sys_enter", id: 443, size: 64,
			fields: []Field{
				{Name: "id", Type: "long", Offset: 8, Size: 8, Signed: true},
				{Name: "args", Type: "unsigned long", Offset: 16, Size: 48, ArrayLen: 6},
			},
		},
		{
			category: "bridge", name: "br_fdb_add", id: 2258, size: 26,
			fields: []Field{
				{Name: "ndm_flags", Type: "u8", Offset: 8, Size: 1},
				{Name: "dev", Type: "__data_loc char[]", Offset: 12, Size: 4, DataLoc: true, IsString: true},
				// unsigned char arrays are bytes (a MAC address), not strings.
				{Name: "addr", Type: "unsigned char", Offset: 16, Size: 6, ArrayLen: 6},
				{Name: "vid", Type: "u16", Offset: 22, Size: 2},
				{Name: "nlh_flags", Type: "u16", Offset: 24, Size: 2},
			},
		},
		{
			category: "dma", name: "dma_map_sg", id: 431, size: 48,
			fields: []Field{
				{Name: "device", Type: "__data_loc char[]", Offset: 8, Size: 4, DataLoc: true, IsString: true},
				{Name: "full_nents", Type: "int", Offset: 12, Size: 4, Signed: true},
				{Name: "full_ents", Type: "int", Offset: 16, Size: 4, Signed: true},
				{Name: "truncated", Type: "bool", Offset: 20, Size: 1},
				{Name: "phys_addrs", Type: "__data_loc u64[]", Offset: 24, Size: 4, DataLoc: true},
				{Name: "dma_addrs", Type: "__data_loc u64[]", Offset: 28, Size: 4, DataLoc: true},
				{Name: "lengths", Type: "__data_loc unsigned int[]", Offset: 32, Size: 4, DataLoc: true},
				{Name: "dir", Type: "enum dma_data_direction", Offset: 36, Size: 4},
				{Name: "attrs", Type: "unsigned long", Offset: 40, Size: 8},
			},
		},
		{
			category: "ftrace", name: "print", id: 5, size: 16,
			fields: []Field{
				{Name: "ip", Type: "unsigned long", Offset: 8, Size: 8},
				// Flexible array member: ArrayLen 0, Size 0.
				{Name: "buf", Type: "char", Offset: 16, Size: 0, IsString: true},
			},
		},
		{
			category: "ftrace", name: "function", id: 1, size: 24,
			fields: []Field{
				{Name: "ip", Type: "unsigned long", Offset: 8, Size: 8},
				{Name: "parent_ip", Type: "unsigned long", Offset: 16, Size: 8},
				{Name: "args", Type: "unsigned long", Offset: 24, Size: 0},
			},
		},
		{
			category: "ftrace", name: "kernel_stack", id: 4, size: 80,
			fields: []Field{
				{Name: "size", Type: "int", Offset: 8, Size: 4, Signed: true},
				{Name: "caller", Type: "unsigned long", Offset: 16, Size: 64, ArrayLen: 8},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.category+":"+tt.name, func(t *testing.T) {
			f, err := ParseFormat(readTestFormat(t, tt.category, tt.name))
			if err != nil {
				t.Fatalf("ParseFormat: %v", err)
			}
			if f.Category != "" {
				t.Errorf("Category = %q, want empty (not in the file)", f.Category)
			}
			if f.Name != tt.name || f.ID != tt.id || f.Size != tt.size {
				t.Errorf("Name, ID, Size = %q, %d, %d; want %q, %d, %d", f.Name, f.ID, f.Size, tt.name, tt.id, tt.size)
			}
			if !reflect.DeepEqual(f.Common, commonFields) {
				t.Errorf("Common =\n%+v\nwant\n%+v", f.Common, commonFields)
			}
			if len(f.Fields) != len(tt.fields) {
				t.Fatalf("got %d fields, want %d: %+v", len(f.Fields), len(tt.fields), f.Fields)
			}
			for i := range tt.fields {
				if f.Fields[i] != tt.fields[i] {
					t.Errorf("field %d =\n%+v\nwant\n%+v", i, f.Fields[i], tt.fields[i])
				}
			}
		})
	}
}

func TestParseFormatSynthetic(t *testing.T) {
	const header = "name: ev\nID: 7\nformat:\n"
	tests := []struct {
		line string
		want Field
	}{
		{"\tfield:char *s;\toffset:8;\tsize:8;\tsigned:0;",
			Field{Name: "s", Type: "char *", Offset: 8, Size: 8, IsPointer: true, IsString: true}},
		{"\tfield:unsigned  long   v;\toffset:8;\tsize:8;\tsigned:0;",
			Field{Name: "v", Type: "unsigned long", Offset: 8, Size: 8}},
		{"\tfield:char comm[TASK_COMM_LEN];\toffset:8;\tsize:16;\tsigned:1;",
			Field{Name: "comm", Type: "char", Offset: 8, Size: 16, Signed: true, ArrayLen: 16, IsString: true}},
		{"\tfield:u32 m[2][3];\toffset:8;\tsize:24;\tsigned:0;",
			Field{Name: "m", Type: "u32", Offset: 8, Size: 24, ArrayLen: 6}},
		{"\tfield:void * ptrs[2];\toffset:8;\tsize:16;\tsigned:0;",
			Field{Name: "ptrs", Type: "void *", Offset: 8, Size: 16, ArrayLen: 2}},
		{"\tfield:__rel_loc char[] r;\toffset:8;\tsize:4;\tsigned:0;",
			Field{Name: "r", Type: "__rel_loc char[]", Offset: 8, Size: 4}},
		// Very old kernels have no signed attribute.
		{"\tfield:int x;\toffset:8;\tsize:4;",
			Field{Name: "x", Type: "int", Offset: 8, Size: 4}},
		{"\tfield special:const char * name;\toffset:8;\tsize:8;\tsigned:0;",
			Field{Name: "name", Type: "const char *", Offset: 8, Size: 8, IsPointer: true, IsString: true}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			f, err := ParseFormat(header + tt.line + "\n\nprint fmt: \"x\"\n")
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Fields) != 1 || f.Fields[0] != tt.want {
				t.Fatalf("Fields = %+v, want [%+v]", f.Fields, tt.want)
			}
		})
	}
}

func TestParseFormatErrors(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"no name", "ID: 1\nformat:\n\tfield:int x;\toffset:0;\tsize:4;\tsigned:1;\n", `missing "name:"`},
		{"no id", "name: x\nformat:\n\tfield:int x;\toffset:0;\tsize:4;\tsigned:1;\n", `missing "ID:"`},
		{"bad id", "name: x\nID: abc\n", "line 2: bad ID"},
		{"no fields", "name: x\nID: 1\nformat:\n\nprint fmt: \"\"\n", "no fields"},
		{"no offset", "name: x\nID: 1\nformat:\n\tfield:int x;\tsize:4;\tsigned:1;\n", "line 4: field x: missing offset"},
		{"bad size", "name: x\nID: 1\nformat:\n\tfield:int x;\toffset:0;\tsize:-4;\tsigned:1;\n", `bad size "-4"`},
		{"no name in decl", "name: x\nID: 1\nformat:\n\tfield:int;\toffset:0;\tsize:4;\tsigned:1;\n", "cannot split"},
		{"unknown array len", "name: x\nID: 1\nformat:\n\tfield:struct foo a[N];\toffset:0;\tsize:4;\tsigned:1;\n", "cannot determine the length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFormat(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestFormatFieldLookup(t *testing.T) {
	f, err := ParseFormat(readTestFormat(t, "sched", "sched_switch"))
	if err != nil {
		t.Fatal(err)
	}
	if fl, ok := f.Field("next_pid"); !ok || fl.Offset != 56 {
		t.Errorf("Field(next_pid) = %+v, %v", fl, ok)
	}
	if fl, ok := f.Field("common_pid"); !ok || fl.Offset != 4 {
		t.Errorf("Field(common_pid) = %+v, %v", fl, ok)
	}
	if _, ok := f.Field("nope"); ok {
		t.Error("Field(nope) found")
	}
}
