package tracefs

import (
	"fmt"
	"strconv"
	"strings"
)

// Format is the parsed content of a tracepoint's events/<cat>/<name>/format
// file: the layout of the raw record the kernel hands to a BPF tracepoint
// program.
type Format struct {
	// Category is the event's subsystem, e.g. "syscalls". The format file
	// does not name it, so ParseFormat leaves it empty; FS.Format sets it.
	Category string
	// Name is the event name from the "name:" line, e.g. "sys_enter_openat".
	Name string
	// ID is the event ID from the "ID:" line (the perf_event config value).
	ID uint64
	// Fields are the event-specific fields in file order, excluding the
	// common_* header fields.
	Fields []Field
	// Common are the common_* header fields shared by every event
	// (common_type, common_flags, common_preempt_count, common_pid).
	Common []Field
	// Size is the end of the last field (the largest offset+size over all
	// fields, common ones included). Dynamic __data_loc payloads and
	// flexible arrays extend past it.
	Size int
}

// Field describes one field of a tracepoint record.
type Field struct {
	// Name is the field name, without any array suffix.
	Name string
	// Type is the C type as written in the format file, without the field
	// name and array suffix, e.g. "const char *", "char", "unsigned long",
	// "__data_loc char[]". Runs of white space are collapsed to one space.
	Type string
	// Offset is the byte offset of the field in the record.
	Offset int
	// Size is the size of the field in bytes: the whole array for arrays,
	// 4 (the offset/length word) for __data_loc fields, and 0 for flexible
	// array members such as "char buf[]".
	Size int
	// Signed reports the "signed:1" attribute.
	Signed bool
	// ArrayLen is the number of elements of a fixed-size array, e.g. 16 for
	// "char comm[16]"; 0 when the field is not an array. Flexible array
	// members ("[]") also have ArrayLen 0 (and Size 0). For multi-dimensional
	// arrays it is the total number of elements.
	ArrayLen int
	// DataLoc reports a __data_loc field: a u32 whose low 16 bits are the
	// offset of the data from the start of the record and whose high 16 bits
	// are its length in bytes.
	DataLoc bool
	// IsPointer reports a pointer type (the value is a kernel or user
	// address, not the pointed-to data).
	IsPointer bool
	// IsString reports a field that holds or points to a C string: char
	// arrays (fixed or flexible), "__data_loc char[]", and pointers to char
	// (e.g. "const char *"). Pointers to pointers such as
	// "const char *const *" are not strings.
	IsString bool
}

// Field returns the field (common or event-specific) called name.
func (f *Format) Field(name string) (Field, bool) {
	for _, fl := range f.Fields {
		if fl.Name == name {
			return fl, true
		}
	}
	for _, fl := range f.Common {
		if fl.Name == name {
			return fl, true
		}
	}
	return Field{}, false
}

// ParseFormat parses the text of a tracepoint format file, such as
//
//	name: sys_enter_openat
//	ID: 782
//	format:
//		field:unsigned short common_type;	offset:0;	size:2;	signed:0;
//		...
//		field:const char * filename;	offset:24;	size:8;	signed:0;
//
//	print fmt: "..."
//
// Fields whose name starts with "common_" go to Common, the others to
// Fields. The "print fmt:" line is not interpreted. Category is left empty.
func ParseFormat(text string) (*Format, error) {
	f := &Format{}
	var haveName, haveID bool
	for i, line := range strings.Split(text, "\n") {
		lineno := i + 1
		s := strings.TrimSpace(line)
		switch {
		case s == "", s == "format:":
			continue
		case strings.HasPrefix(s, "print fmt:"):
			// The print format is last and may contain anything.
			return finishFormat(f, haveName, haveID)
		case strings.HasPrefix(s, "name:"):
			f.Name = strings.TrimSpace(strings.TrimPrefix(s, "name:"))
			haveName = f.Name != ""
		case strings.HasPrefix(s, "ID:"):
			v := strings.TrimSpace(strings.TrimPrefix(s, "ID:"))
			id, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("tracefs: parse format: line %d: bad ID %q: %w", lineno, v, err)
			}
			f.ID, haveID = id, true
		case strings.HasPrefix(s, "field:"), strings.HasPrefix(s, "field special:"):
			fl, err := parseFieldLine(s)
			if err != nil {
				return nil, fmt.Errorf("tracefs: parse format: line %d: %w", lineno, err)
			}
			if strings.HasPrefix(fl.Name, "common_") {
				f.Common = append(f.Common, fl)
			} else {
				f.Fields = append(f.Fields, fl)
			}
			if end := fl.Offset + fl.Size; end > f.Size {
				f.Size = end
			}
		default:
			// Unknown lines (none exist today) are ignored so that new
			// kernels do not break parsing.
		}
	}
	return finishFormat(f, haveName, haveID)
}

func finishFormat(f *Format, haveName, haveID bool) (*Format, error) {
	switch {
	case !haveName:
		return nil, fmt.Errorf("tracefs: parse format: missing \"name:\" line")
	case !haveID:
		return nil, fmt.Errorf("tracefs: parse format %s: missing \"ID:\" line", f.Name)
	case len(f.Fields) == 0 && len(f.Common) == 0:
		return nil, fmt.Errorf("tracefs: parse format %s: no fields", f.Name)
	}
	return f, nil
}

// parseFieldLine parses one trimmed field line:
//
//	field:const char * filename;	offset:24;	size:8;	signed:0;
func parseFieldLine(s string) (Field, error) {
	parts := strings.Split(s, ";")
	decl, ok := strings.CutPrefix(parts[0], "field:")
	if !ok {
		decl = strings.TrimPrefix(parts[0], "field special:")
	}
	fl, err := parseDecl(decl)
	if err != nil {
		return Field{}, err
	}

	var haveOffset, haveSize bool
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		key, val, ok := strings.Cut(p, ":")
		if !ok {
			return Field{}, fmt.Errorf("field %s: malformed attribute %q", fl.Name, p)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "offset", "size", "signed":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return Field{}, fmt.Errorf("field %s: bad %s %q", fl.Name, key, val)
			}
			switch key {
			case "offset":
				fl.Offset, haveOffset = n, true
			case "size":
				fl.Size, haveSize = n, true
			case "signed":
				fl.Signed = n != 0
			}
		default:
			// Unknown attributes are ignored.
		}
	}
	if !haveOffset || !haveSize {
		return Field{}, fmt.Errorf("field %s: missing offset or size", fl.Name)
	}
	if fl.ArrayLen < 0 { // array length given as a symbol; derive it
		n, ok := arrayLenFromSize(fl.Type, fl.Size)
		if !ok {
			return Field{}, fmt.Errorf("field %s: cannot determine the length of array of %q", fl.Name, fl.Type)
		}
		fl.ArrayLen = n
	}
	return fl, nil
}

// parseDecl splits a C declaration such as "const char * filename",
// "char comm[16]" or "__data_loc char[] name" into a Field with Name, Type,
// ArrayLen and the derived flags set. ArrayLen is -1 when an array length
// is not a number.
func parseDecl(decl string) (Field, error) {
	d := strings.TrimSpace(decl)
	if d == "" {
		return Field{}, fmt.Errorf("empty field declaration")
	}

	// Array suffixes after the name: "[16]", "[]", "[2][3]".
	var dims []string
	for strings.HasSuffix(d, "]") {
		open := strings.LastIndexByte(d, '[')
		if open < 0 {
			return Field{}, fmt.Errorf("unbalanced ']' in field declaration %q", decl)
		}
		dims = append(dims, strings.TrimSpace(d[open+1:len(d)-1]))
		d = strings.TrimSpace(d[:open])
	}

	// The name is the trailing identifier.
	i := len(d)
	for i > 0 && isIdentByte(d[i-1]) {
		i--
	}
	name := d[i:]
	typ := strings.Join(strings.Fields(d[:i]), " ")
	if name == "" || typ == "" || (name[0] >= '0' && name[0] <= '9') {
		return Field{}, fmt.Errorf("cannot split field declaration %q into type and name", decl)
	}

	fl := Field{Name: name, Type: typ}
	isArray := len(dims) > 0
	if isArray {
		fl.ArrayLen = 1
		for _, dim := range dims {
			if dim == "" { // flexible array member
				fl.ArrayLen = 0
				break
			}
			n, err := strconv.Atoi(dim)
			if err != nil || n < 0 {
				fl.ArrayLen = -1
				break
			}
			fl.ArrayLen *= n
		}
	}

	switch {
	case strings.HasPrefix(typ, "__data_loc "):
		fl.DataLoc = true
		elem := strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(typ, "__data_loc ")), "[]")
		fl.IsString = baseType(elem) == "char"
	case strings.HasPrefix(typ, "__rel_loc "):
		// Relative dynamic data (offset counted from the end of the field);
		// reported as written, without DataLoc/IsString.
	case strings.Contains(typ, "*"):
		fl.IsPointer = !isArray
		if strings.Count(typ, "*") == 1 && !isArray {
			before, after, _ := strings.Cut(typ, "*")
			fl.IsString = baseType(before) == "char" && baseType(after) == ""
		}
	case isArray:
		fl.IsString = baseType(typ) == "char"
	}
	return fl, nil
}

// baseType strips const/volatile qualifiers and white space from a type.
func baseType(t string) string {
	var out []string
	for _, w := range strings.Fields(t) {
		if w != "const" && w != "volatile" {
			out = append(out, w)
		}
	}
	return strings.Join(out, " ")
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// arrayLenFromSize derives an array's element count from its total size for
// element types of well-known size; it is used when the format file gives
// the length as a symbol (e.g. "char comm[TASK_COMM_LEN]").
func arrayLenFromSize(elemType string, size int) (int, bool) {
	var elem int
	switch baseType(elemType) {
	case "char", "signed char", "unsigned char", "u8", "__u8", "s8", "__s8", "bool":
		elem = 1
	case "short", "unsigned short", "u16", "__u16", "s16", "__s16":
		elem = 2
	case "int", "unsigned int", "unsigned", "u32", "__u32", "s32", "__s32", "pid_t":
		elem = 4
	case "long long", "unsigned long long", "u64", "__u64", "s64", "__s64":
		elem = 8
	default:
		return 0, false
	}
	if size%elem != 0 {
		return 0, false
	}
	return size / elem, true
}
