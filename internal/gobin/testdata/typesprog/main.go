// Command typesprog has functions whose parameters are the kinds of Go
// values a tracer reads (net/http requests, maps, slices, interfaces,
// named ints and bools, generics, embedded fields). Run with "layout",
// it prints what its own runtime (reflect and the interface words) says
// about those types, one JSON object a line, then waits for its standard
// input to close, so that a test can read its memory maps.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"unsafe"
)

// Level is a named int.
type Level int16

// Flag is a named bool.
type Flag bool

// Inner is embedded in Outer.
type Inner struct {
	A uint32
	B string
}

// Outer has an embedded struct, an embedded pointer and a mutex.
type Outer struct {
	Inner
	*strings.Builder
	sync.Mutex
	Tags   map[string][]int
	Ch     chan *Inner
	Arr    [3]Level
	Fn     func(int) error
	Any    any
	Err    error
	Next   *Outer
	Ptr    unsafe.Pointer
	F      float32
	C      complex128
	On     Flag
	Values []float64
}

// Box is generic.
type Box[T any] struct {
	V   T
	Len int
}

// MyErr is an error type with a pointer receiver.
type MyErr struct{ Code int }

func (e *MyErr) Error() string { return fmt.Sprint("code ", e.Code) }

//go:noinline
func handle(w http.ResponseWriter, r *http.Request, o *Outer, lvl Level, f Flag, b Box[string], hdr http.Header, m map[int]string) error {
	if r != nil && o != nil && lvl > 0 && bool(f) && b.Len > 0 && len(hdr) > 0 && len(m) > 0 {
		return &MyErr{Code: int(lvl)}
	}
	return nil
}

// desc is one type as reflect sees it.
type desc struct {
	Name   string  `json:"name"`
	Kind   string  `json:"kind"`
	Size   uintptr `json:"size"`
	Elem   string  `json:"elem,omitempty"`
	Key    string  `json:"key,omitempty"`
	Len    int     `json:"len,omitempty"`
	Fields []field `json:"fields,omitempty"`
}

type field struct {
	Name     string  `json:"name"`
	Offset   uintptr `json:"offset"`
	Type     string  `json:"type"`
	Embedded bool    `json:"embedded,omitempty"`
}

// dyn is a value held in an interface: the address of its type
// descriptor, read from the interface's words, and its full name.
type dyn struct {
	Addr  uintptr `json:"addr"`
	Name  string  `json:"name"`
	Iface bool    `json:"iface"` // read through an itab
}

// fullName spells t as the compiler prints it, with package paths.
func fullName(t reflect.Type) string {
	if t.Name() != "" && t.PkgPath() != "" {
		s := t.String() // "http.Request", "main.Box[string]"
		return t.PkgPath() + s[strings.IndexByte(s, '.'):]
	}
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + fullName(t.Elem())
	case reflect.Slice:
		return "[]" + fullName(t.Elem())
	case reflect.Array:
		return fmt.Sprintf("[%d]%s", t.Len(), fullName(t.Elem()))
	case reflect.Map:
		return "map[" + fullName(t.Key()) + "]" + fullName(t.Elem())
	case reflect.Chan:
		switch t.ChanDir() {
		case reflect.RecvDir:
			return "<-chan " + fullName(t.Elem())
		case reflect.SendDir:
			return "chan<- " + fullName(t.Elem())
		}
		return "chan " + fullName(t.Elem())
	}
	return t.String()
}

func describe(t reflect.Type) desc {
	d := desc{Name: fullName(t), Kind: t.Kind().String(), Size: t.Size()}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Chan, reflect.Array, reflect.Map:
		d.Elem = fullName(t.Elem())
	}
	if t.Kind() == reflect.Map {
		d.Key = fullName(t.Key())
	}
	if t.Kind() == reflect.Array {
		d.Len = t.Len()
	}
	if t.Kind() == reflect.Struct {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			d.Fields = append(d.Fields, field{f.Name, f.Offset, fullName(f.Type), f.Anonymous})
		}
	}
	return d
}

// typeWord returns the first word of an interface value.
func typeWord(p unsafe.Pointer) uintptr { return *(*uintptr)(p) }

func main() {
	if len(os.Args) < 2 || os.Args[1] != "layout" {
		fmt.Println(handle(nil, nil, nil, 1, true, Box[string]{}, nil, nil))
		return
	}
	out := json.NewEncoder(os.Stdout)
	for _, v := range []any{http.Request{}, Outer{}, Inner{}, Box[string]{}, Level(0), Flag(false), http.Header{}, map[int]string{}, []string{}, [3]Level{}} {
		out.Encode(describe(reflect.TypeOf(v)))
	}
	// Dynamic types: in an empty interface the first word is the
	// *_type; in a non-empty one it is the itab, whose second word is
	// the *_type.
	values := []any{&http.Request{}, http.Header{}, Level(3), &Outer{}, []string{"a"}, map[string][]int{}, Box[int]{}, errors.New("x"), &MyErr{}}
	for _, v := range values {
		out.Encode(dyn{Addr: typeWord(unsafe.Pointer(&v)), Name: fullName(reflect.TypeOf(v))})
	}
	var err error = &MyErr{Code: 1}
	itab := typeWord(unsafe.Pointer(&err))
	out.Encode(dyn{Addr: *(*uintptr)(unsafe.Pointer(itab + 8)), Name: fullName(reflect.TypeOf(err)), Iface: true})
	var rw io.Writer = &strings.Builder{}
	itab = typeWord(unsafe.Pointer(&rw))
	out.Encode(dyn{Addr: *(*uintptr)(unsafe.Pointer(itab + 8)), Name: fullName(reflect.TypeOf(rw)), Iface: true})
	fmt.Println("ready")
	io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	handle(nil, nil, nil, 0, false, Box[string]{}, nil, nil)
}
