package compiler

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// The scope of a program: which tasks its probes see. With neither -p nor
// -c every task; with -p PID one process; with -c the command and all it
// starts, either by the cgroup it runs in (Env.CgroupID, one helper call
// and a compare per event) or, where no cgroup can be made, by a map of
// traced pids that two internal programs keep (Env.FollowForks).

// tracedPIDs names the map of pids followed under Env.FollowForks.
const tracedPIDs = "ebt_pids"

// maxTracedPIDs bounds the processes followed at once.
const maxTracedPIDs = 65536

// attachByPID reports whether probes that can be limited to one process
// at attach time (uprobes) are: only for -p. A cgroup or a set of pids
// is checked in the program instead.
func (pb *progBuilder) attachByPID() bool {
	return pb.env.PID != 0 && pb.env.CgroupID == 0 && !pb.env.FollowForks
}

// scopeFilter emits, at a probe's entry, the jump to the exit for events
// of tasks outside the scope. It runs before anything else, so an event
// out of scope costs a helper call and a compare (a map lookup when
// following forks by pid).
func (pb *progBuilder) scopeFilter(cc *chainCtx) error {
	g, env := cc.g, pb.env
	switch {
	case env.CgroupID != 0:
		g.call(asm.FnGetCurrentCgroupId)
		g.emit(asm.LoadImm(asm.R1, int64(env.CgroupID), asm.DWord), asm.JNE.Reg(asm.R0, asm.R1, cc.exit))
	case env.PID != 0 && env.FollowForks:
		if err := pb.needTracedPIDs(); err != nil {
			return err
		}
		mark := g.stackMark()
		key := g.alloc(8)
		g.call(asm.FnGetCurrentPidTgid)
		g.emit(asm.RSh.Imm(asm.R0, 32), asm.StoreMem(asm.R10, key, asm.R0, asm.Word))
		g.mapPtr(asm.R1, tracedPIDs)
		g.stackPtr(asm.R2, key)
		g.call(asm.FnMapLookupElem)
		g.emit(asm.JEq.Imm(asm.R0, 0, cc.exit))
		g.release(mark)
	case env.PID != 0 && !cc.t.pidAttach:
		g.call(asm.FnGetCurrentPidTgid)
		g.emit(asm.RSh.Imm(asm.R0, 32), asm.JNE.Imm(asm.R0, int32(env.PID), cc.exit))
	}
	return nil
}

// needTracedPIDs adds, once, the map of followed pids (holding Env.PID
// from the start) and the two internal programs that keep it: one adds
// the child of every fork by a followed process, the other drops a pid
// when its task is freed. sched_process_free fires after the last event
// a task can cause, so no probe of the user's (sched_process_exit
// included) misses the end of a followed process, whatever the order in
// which the kernel runs programs on one tracepoint.
func (pb *progBuilder) needTracedPIDs() error {
	if _, ok := pb.out.Spec.Maps[tracedPIDs]; ok {
		return nil
	}
	if pb.env.Tracepoints == nil {
		return fmt.Errorf("following the processes of -c needs tracefs, which is not available")
	}
	fork, err := pb.env.Tracepoints.Format("sched", "sched_process_fork")
	if err != nil {
		return fmt.Errorf("following the processes of -c: %w", err)
	}
	free, err := pb.env.Tracepoints.Format("sched", "sched_process_free")
	if err != nil {
		return fmt.Errorf("following the processes of -c: %w", err)
	}
	child, ok := fork.Field("child_pid")
	if !ok || child.Size != 4 {
		return fmt.Errorf("following the processes of -c: sched:sched_process_fork has no 4-byte child_pid")
	}
	freed, ok := free.Field("pid")
	if !ok || freed.Size != 4 {
		return fmt.Errorf("following the processes of -c: sched:sched_process_free has no 4-byte pid")
	}
	pb.out.Spec.Maps[tracedPIDs] = &ebpf.MapSpec{
		Name: tracedPIDs, Type: ebpf.Hash, KeySize: 4, ValueSize: 4, MaxEntries: maxTracedPIDs,
		Contents: []ebpf.MapKV{{Key: uint32(pb.env.PID), Value: uint32(1)}},
	}

	// On fork: if the forking task's process is followed, follow the
	// child. A new thread of a followed process is added by its thread
	// id too; that key goes when the thread is freed.
	g := newGen()
	g.emit(asm.Mov.Reg(regCtx, asm.R1))
	g.call(asm.FnGetCurrentPidTgid)
	g.emit(asm.RSh.Imm(asm.R0, 32), asm.StoreMem(asm.R10, -4, asm.R0, asm.Word))
	g.mapPtr(asm.R1, tracedPIDs)
	g.stackPtr(asm.R2, -4)
	g.call(asm.FnMapLookupElem)
	g.emit(
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R0, regCtx, int16(child.Offset), asm.Word),
		asm.StoreMem(asm.R10, -8, asm.R0, asm.Word),
		asm.StoreImm(asm.R10, -12, 1, asm.Word),
	)
	g.mapPtr(asm.R1, tracedPIDs)
	g.stackPtr(asm.R2, -8)
	g.stackPtr(asm.R3, -12)
	g.emit(asm.Mov.Imm(asm.R4, int32(ebpf.UpdateAny)))
	g.call(asm.FnMapUpdateElem)
	g.mark("out")
	if err := pb.addInternal("ebt_follow_fork", "sched:sched_process_fork", g); err != nil {
		return err
	}

	// On free: forget the task's id (its pid is about to be reused).
	g = newGen()
	g.emit(
		asm.LoadMem(asm.R0, asm.R1, int16(freed.Offset), asm.Word),
		asm.StoreMem(asm.R10, -4, asm.R0, asm.Word),
	)
	g.mapPtr(asm.R1, tracedPIDs)
	g.stackPtr(asm.R2, -4)
	g.call(asm.FnMapDeleteElem)
	return pb.addInternal("ebt_follow_free", "sched:sched_process_free", g)
}

// addInternal adds a tracepoint program the user did not write.
func (pb *progBuilder) addInternal(name, tracepoint string, g *gen) error {
	insns, err := g.finish()
	if err != nil {
		return err
	}
	insns[0] = insns[0].WithSymbol(name)
	pb.out.Spec.Programs[name] = &ebpf.ProgramSpec{
		Name: name, Type: ebpf.TracePoint, Instructions: insns, License: "GPL",
	}
	pb.out.Probes = append(pb.out.Probes, &Probe{
		Name:     "tracepoint:" + tracepoint,
		Program:  name,
		Attach:   Attach{Kind: AttachTracepoint, Target: tracepoint},
		Internal: true,
	})
	return nil
}
