package main

import (
	"errors"
	"strings"

	"golang.org/x/sys/unix"
)

// errPrivileges is the one line an unprivileged user gets, before
// anything fails deeper down (a map that cannot be created, tracefs that
// cannot be read).
var errPrivileges = errors.New("needs root, or CAP_BPF and CAP_PERFMON (to load BPF programs and open perf events) with read access to tracefs; run it with sudo")

// needsPrivileges reports whether what the command line asks for loads
// BPF programs or reads root-only kernel files: everything but --help,
// --dump ast, listing the functions of a binary and the ready tools.
func needsPrivileges(c *config) bool {
	if c.listSet {
		kind, _, _ := strings.Cut(c.list, ":")
		return kind != "uprobe" && kind != "uretprobe" && c.list != "scripts"
	}
	return c.dump != "ast"
}

// havePrivileges reports whether the effective capabilities are enough to
// load and attach tracing programs: CAP_SYS_ADMIN (all a kernel before 5.8
// knows), or CAP_BPF with CAP_PERFMON.
func havePrivileges() (bool, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false, err
	}
	has := func(c int) bool { return data[c/32].Effective&(1<<(uint(c)%32)) != 0 }
	return has(unix.CAP_SYS_ADMIN) || has(unix.CAP_BPF) && has(unix.CAP_PERFMON), nil
}
