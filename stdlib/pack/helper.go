package pack

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Helper is a Target's helper object loaded into the kernel.
type Helper struct {
	// Collection holds the helper's programs and maps.
	Collection *ebpf.Collection
	// Event is the EventMap the chain programs read.
	Event *ebpf.Map
	// Chain is the ChainMap the chain programs are put in.
	Chain *ebpf.Map

	target *Target
	links  []link.Link
}

// Load loads the target's helper. Nothing is attached yet; the caller
// Closes the Helper.
func (t *Target) Load() (*Helper, error) {
	return t.LoadWith(nil)
}

// LoadWith loads the target's helper using the given maps, by name, in
// place of creating its own: typically StackMap, replaced by the
// program's own stack trace map so that the stack ids of the events and
// of the program's ustack values index one map. Each replacement must
// have the type, key and value sizes, entries and flags of the helper's
// map spec; the helper holds its own reference, so the caller may close
// it independently. Names the helper has no map of are ignored, so a
// runtime may offer its stack map to every helper. Nothing is attached
// yet; the caller Closes the Helper.
func (t *Target) LoadWith(replace map[string]*ebpf.Map) (*Helper, error) {
	var use map[string]*ebpf.Map
	for name, m := range replace {
		if t.Spec.Maps[name] != nil {
			if use == nil {
				use = map[string]*ebpf.Map{}
			}
			use[name] = m
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(t.Spec, ebpf.CollectionOptions{MapReplacements: use})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("%s: load the helper for %s: %+v", t.Source, t.Path, ve)
		}
		return nil, fmt.Errorf("%s: load the helper for %s: %w", t.Source, t.Path, err)
	}
	h := &Helper{Collection: coll, Event: coll.Maps[EventMap], Chain: coll.Maps[ChainMap], target: t}
	if h.Event == nil || h.Chain == nil {
		coll.Close()
		return nil, fmt.Errorf("%s: the helper lacks %s or %s", t.Source, EventMap, ChainMap)
	}
	return h, nil
}

// SetChain puts a chain program at slot of the ChainMap.
func (h *Helper) SetChain(slot int, prog *ebpf.Program) error {
	if slot < 0 || slot >= ChainSlots {
		return fmt.Errorf("%s: chain slot %d out of range 0..%d", h.target.Source, slot, ChainSlots-1)
	}
	if err := h.Chain.Put(uint32(slot), prog); err != nil {
		return fmt.Errorf("%s: put chain program at slot %d: %w", h.target.Source, slot, err)
	}
	return nil
}

// Attach attaches every probe of the target, to the process pid only when
// pid > 0. It attaches all or nothing: after an error nothing it attached
// stays.
func (h *Helper) Attach(pid int) error {
	ex, err := link.OpenExecutable(h.target.Path)
	if err != nil {
		return fmt.Errorf("%s: %w", h.target.Source, err)
	}
	var links []link.Link
	for _, p := range h.target.Probes {
		prog := h.Collection.Programs[p.Program]
		if prog == nil {
			err = fmt.Errorf("%s: no program %s", h.target.Source, p.Program)
			break
		}
		// Address is a file offset; the symbol name only labels it.
		l, e := ex.Uprobe(p.Func, prog, &link.UprobeOptions{Address: p.Offset, PID: pid})
		if e != nil {
			err = fmt.Errorf("%s: attach %s at %s+%#x in %s: %w", h.target.Source, p.Program, p.Func, p.Offset, h.target.Path, e)
			break
		}
		links = append(links, l)
	}
	if err != nil {
		for _, l := range links {
			l.Close()
		}
		return err
	}
	h.links = append(h.links, links...)
	return nil
}

// Detach removes every probe attached by Attach.
func (h *Helper) Detach() error {
	var errs []error
	for _, l := range h.links {
		errs = append(errs, l.Close())
	}
	h.links = nil
	return errors.Join(errs...)
}

// Close detaches and unloads the helper.
func (h *Helper) Close() error {
	err := h.Detach()
	h.Collection.Close()
	return err
}
