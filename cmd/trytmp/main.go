package main

import (
	"fmt"
	"os"

	"github.com/ebpftrace/ebpftrace/dsl"
)

func main() {
	for _, s := range os.Args[1:] {
		p, err := dsl.Parse("", s)
		if err != nil {
			fmt.Print(dsl.Render(err, nil))
			continue
		}
		for _, st := range p.Statements {
			if st.Chain != nil {
				ch := st.Chain
				if ch.Source != nil {
					fmt.Printf("%s: name=%q source %s %q(%d args)", st.Pos, st.Name, ch.Source.Pos, ch.Source.Name, len(ch.Source.Args))
				} else {
					fmt.Printf("%s: name=%q ref %s", st.Pos, st.Name, ch.Ref.Name)
				}
				for _, sg := range ch.Stages {
					fmt.Printf(" .%s@%s(", sg.Name, sg.Pos)
					for _, a := range sg.Args {
						fmt.Printf("%s@%s, ", dsl.ExprString(a), a.Position())
					}
					fmt.Printf(")")
				}
				fmt.Println()
			} else {
				fmt.Printf("%s: name=%q value %s\n", st.Pos, st.Name, dsl.ExprString(st.Value))
			}
		}
	}
}
