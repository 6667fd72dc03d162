//go:build linux && btfembed_cilium

// The cilium/ebpf helper of the btfembed runtime: built only with
// -tags btfembed_cilium, so the rest of the package needs nothing but the
// standard library.

package btfembed

import (
	"bytes"
	"fmt"

	"github.com/cilium/ebpf/btf"
)

// KernelSpec returns the embedded BTF of the running kernel as a *btf.Spec
// for ebpf.ProgramOptions.KernelTypes (or ebpf.CollectionOptions.Programs),
// with the decision.  The spec is nil when the kernel has its own BTF or
// nothing matches (see Decision.Status): leave KernelTypes nil then and
// cilium/ebpf uses the kernel's BTF.
func KernelSpec(opts *Options) (*btf.Spec, Decision, error) {
	d, blob, err := Lookup(opts)
	if err != nil || blob == nil {
		return nil, d, err
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(blob))
	if err != nil {
		return nil, d, fmt.Errorf("btfembed: embedded BTF of %s: %w", d.Match, err)
	}
	return spec, d, nil
}
