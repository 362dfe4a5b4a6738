package compiler

import (
	"strings"
	"time"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// .export("name") publishes the aggregation before it as a Prometheus
// metric when ebpftrace runs with --metrics (runtime/sink/prometheus
// decides the metric's type from the kind: agg.Kind.Metric). The stage
// generates no code: it names the metric, and refuses what a metric cannot
// hold (stack keys) here, at its place in the program, rather than at the
// first scrape.

func init() {
	stages["export"] = &stage{
		name: "export", usage: `export("metric_name")`, minArgs: 1, maxArgs: 1, check: checkExport,
		doc: "publish the aggregation before it as a Prometheus metric (with --metrics)",
	}
}

func checkExport(cc *chainCtx, call *dsl.Call) error {
	a, err := cc.lastAgg(call)
	if err != nil {
		return err
	}
	name, err := stringArg(call, 0, `a metric name such as "http_requests"`)
	if err != nil {
		return err
	}
	if msg := metricNameError(name); msg != "" {
		return dsl.Errorf(call.Args[0].Position(), "%q is not a Prometheus metric name: %s", name, msg)
	}
	// A label holds a short value; a stack is many frames. Point at the
	// key, which is where the program must change.
	for _, u := range cc.aggs {
		if u.a != a {
			continue
		}
		for _, k := range u.keys {
			if t := cc.types[k]; t != nil && t.Kind == TStack {
				e := dsl.Errorf(k.Position(), "%s cannot be a label of metric %s: a stack is not a short value", dsl.ExprString(k), name)
				e.Hint = "aggregate by stacks without .export() and write them as a profile with --pprof FILE"
				return e
			}
		}
	}
	a.Export = name
	// The unit in the name says what the value is (Prometheus' own
	// convention): a metric the user calls *_seconds is fed nanoseconds.
	if strings.HasSuffix(name, "_seconds") && a.Kind.Value {
		a.Duration = true
	}
	return nil
}

// metricNameError says why name cannot be a metric name; "" when it can.
// Colons are left to recording rules, and "__" names to Prometheus.
func metricNameError(name string) string {
	switch {
	case name == "":
		return "it is empty"
	case strings.HasPrefix(name, "__"):
		return "names starting with __ are reserved"
	case name[0] >= '0' && name[0] <= '9':
		return "it must not start with a digit"
	}
	for _, c := range name {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "use letters, digits and _ (e.g. \"http_request_duration_seconds\")"
		}
	}
	return ""
}

// isDuration reports whether e is a time in nanoseconds: `elapsed`, a
// stdlib event's `duration` field, or a Go value of type time.Duration
// (a bound name stands for its value).
func (cc *chainCtx) isDuration(e dsl.Expr) bool {
	switch e := e.(type) {
	case *dsl.Paren:
		return cc.isDuration(e.X)
	case *dsl.Ident:
		if v, ok := cc.prog.values[e.Name]; ok {
			return cc.isDuration(v)
		}
		if e.Name == "elapsed" {
			return true
		}
		if sel, ok := cc.fieldRefs[e]; ok {
			return cc.isDuration(sel)
		}
	case *dsl.Selector:
		if !isArgs(e.X) {
			break
		}
		if a := cc.t.arg(e.Sel); a != nil {
			return a.event && e.Sel == "duration" || a.typ != nil && a.typ.CType == "time.Duration"
		}
	}
	if t := cc.types[e]; t != nil && t.CType == "time.Duration" {
		return true
	}
	return false
}

// checkExports refuses two aggregations published under one metric name.
func (pb *progBuilder) checkExports() error {
	by := map[string]*Aggregation{}
	for _, a := range pb.out.Aggregations {
		if a.Export == "" {
			continue
		}
		if first, dup := by[a.Export]; dup {
			return dsl.Errorf(a.Pos, "metric %s is already exported by @%s at %d:%d; give this one another name", a.Export, first.Name, first.Pos.Line, first.Pos.Col)
		}
		by[a.Export] = a
	}
	return nil
}

// samplePeriod is the CPU time one event of a profile() target stands
// for; 0 for other probes.
func samplePeriod(t *target) time.Duration {
	switch {
	case t.attach.Kind != AttachProfile:
		return 0
	case t.attach.Frequency > 0:
		return time.Second / time.Duration(t.attach.Frequency)
	}
	return t.attach.Period
}
