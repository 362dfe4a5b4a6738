// Command govalues has parameters of the kinds the compiler's typed-value
// tests read: structs (with an embedded one), pointers, strings, slices,
// arrays, maps, interfaces, bools and floats.
package main

import (
	"errors"
	"fmt"
	"os"
)

type Embedded struct{ E int }

type Inner struct {
	A int32
	B string
}

type T struct {
	Embedded
	Name string
	N    int
	P    *Inner
	S    []int
	Arr  [4]uint16
	M    map[string]int
	I    error
	Any  any
	Ok   bool
	F    float64
}

//go:noinline
func use(t *T, v Inner, s []string, e error, f float64) (int, error) {
	if t.Ok && len(s) > 0 && e != nil && f > 0 {
		return t.N + int(v.A), nil
	}
	return 0, e
}

func main() {
	t := &T{Name: "t", N: 1, P: &Inner{A: 2, B: "b"}, S: []int{1, 2}, M: map[string]int{"a": 1}, I: errors.New("e"), Any: 3, Ok: true}
	n, err := use(t, Inner{A: 1, B: "x"}, os.Args, t.I, 1.5)
	fmt.Println(n, err)
}
