package main

import (
	"strings"
	"testing"
)

// TestCgroup2Mount finds cgroup2 in mountinfo tables of a hybrid host, a
// pure cgroup v2 host, a container that mounts a subtree, and one
// without cgroup2.
func TestCgroup2Mount(t *testing.T) {
	tests := []struct {
		name, mountinfo string
		mnt, root       string
		ok              bool
	}{
		{"hybrid", `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`, "/sys/fs/cgroup/unified", "/", true},
		{"v2 with optional fields", `35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`, "/sys/fs/cgroup", "/", true},
		{"container subtree, escaped path", `612 600 0:30 /system.slice/docker-1.scope /sys/fs/cgroup\040x ro,nosuid - cgroup2 cgroup rw
`, "/sys/fs/cgroup x", "/system.slice/docker-1.scope", true},
		{"none", `22 1 0:21 / /proc rw - proc proc rw
`, "", "", false},
		{"garbage", "x\n\n- cgroup2\n", "", "", false},
	}
	for _, tt := range tests {
		mnt, root, ok := cgroup2Mount(strings.NewReader(tt.mountinfo))
		if mnt != tt.mnt || root != tt.root || ok != tt.ok {
			t.Errorf("%s: %q %q %v, want %q %q %v", tt.name, mnt, root, ok, tt.mnt, tt.root, tt.ok)
		}
	}
}

// TestOwnCgroupDir places ebpftrace's cgroup under the cgroup2 mount.
func TestOwnCgroupDir(t *testing.T) {
	tests := []struct {
		proc, mnt, root string
		want, err       string
	}{
		{"4:memory:/x\n0::/\n", "/sys/fs/cgroup/unified", "/", "/sys/fs/cgroup/unified", ""},
		{"0::/user.slice/session-1.scope\n", "/sys/fs/cgroup", "/", "/sys/fs/cgroup/user.slice/session-1.scope", ""},
		{"0::/system.slice/docker-1.scope/app\n", "/sys/fs/cgroup", "/system.slice/docker-1.scope", "/sys/fs/cgroup/app", ""},
		{"0::/system.slice/docker-1.scopes\n", "/sys/fs/cgroup", "/system.slice/docker-1.scope", "", "outside the cgroup2 mount"},
		{"0::/other\n", "/sys/fs/cgroup", "/system.slice", "", "outside the cgroup2 mount"},
		{"1:name=systemd:/\n", "/sys/fs/cgroup", "/", "", "in no cgroup v2"},
	}
	for _, tt := range tests {
		got, err := ownCgroupDir(tt.proc, tt.mnt, tt.root)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("ownCgroupDir(%q, %q, %q) = %q, %v; want %q, %q", tt.proc, tt.mnt, tt.root, got, err, tt.want, tt.err)
		}
	}
}
