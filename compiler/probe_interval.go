package compiler

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// interval("1s") fires every period on one CPU; profile(99) or
// profile("10ms") fires on every CPU at that rate. Both are perf events of
// the cpu-clock software counter.
func init() {
	register(&provider{name: "interval", usage: `interval("1s")`, expand: expandInterval})
	register(&provider{name: "profile", usage: `profile(99) or profile("10ms")`, expand: expandProfile})
}

func expandInterval(env *Env, call *dsl.Call) ([]*target, error) {
	if err := wantArgs(call, 1, 1); err != nil {
		return nil, err
	}
	d, err := durationArg(call, 0)
	if err != nil {
		return nil, err
	}
	return []*target{{
		name:        "interval:" + d.String(),
		attach:      Attach{Kind: AttachInterval, Period: d},
		progType:    ebpf.PerfEvent,
		noPIDFilter: true,
	}}, nil
}

func expandProfile(env *Env, call *dsl.Call) ([]*target, error) {
	if err := wantArgs(call, 1, 1); err != nil {
		return nil, err
	}
	t := &target{progType: ebpf.PerfEvent, attach: Attach{Kind: AttachProfile}}
	switch a := call.Args[0].(type) {
	case *dsl.IntLit:
		if a.Value == 0 || a.Value > 100000 {
			return nil, dsl.Errorf(a.Pos, "profile rate must be between 1 and 100000 Hz")
		}
		t.attach.Frequency = a.Value
		t.name = fmt.Sprintf("profile:%dhz", a.Value)
	default:
		d, err := durationArg(call, 0)
		if err != nil {
			return nil, err
		}
		t.attach.Period = d
		t.name = "profile:" + d.String()
	}
	return []*target{t}, nil
}

// durationArg reads a Go duration string argument.
func durationArg(call *dsl.Call, i int) (time.Duration, error) {
	s, err := stringArg(call, i, `a duration such as "1s"`)
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, dsl.Errorf(call.Args[i].Position(), "%q is not a positive duration (write e.g. \"500ms\", \"1s\", \"2m\")", s)
	}
	return d, nil
}
