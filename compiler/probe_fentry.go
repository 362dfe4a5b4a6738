package compiler

// fentry("fn") and fexit("fn") are BTF-typed kernel function entry and
// return probes (trampolines); args.<param> by name, retval on fexit. Each
// has a kprobe/kretprobe twin as its fallback.
func init() {
	register(&provider{name: "fentry", usage: `fentry("function")`, expand: expandKernelFunc(AttachFentry)})
	register(&provider{name: "fexit", usage: `fexit("function")`, expand: expandKernelFunc(AttachFexit)})
}
