// A cilium/ebpf loader for the btfembed tests: load a CO-RE program with
// KernelTypes from the generated package's embedded BTF (KernelSpec), attach
// it to raw_tp/sys_enter, make system calls, print what the program read
// from task_struct (the output format of examples/c-loader/loader.c).
//
// usage: loader [--force] OBJECT
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	embedded "btfembed_e2e"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func printable(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		if c > ' ' && c < 0x7f && c != '\\' {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "\\x%02x", c)
		}
	}
	return sb.String()
}

func main() {
	var opts embedded.Options
	object := ""
	for _, a := range os.Args[1:] {
		switch {
		case a == "--force":
			opts.Force = true
		case strings.HasPrefix(a, "-"):
			fail("usage: %s [--force] OBJECT", os.Args[0])
		default:
			object = a
		}
	}
	kernelTypes, d, err := embedded.KernelSpec(&opts)
	if err != nil {
		fail("btfembed: %v", err)
	}
	fmt.Printf("btfembed: status=%s key=%s match=%s exact=%t spec=%t\n", d.Status, d.Key.Key, d.Match, d.Exact,
		kernelTypes != nil)
	if err := rlimit.RemoveMemlock(); err != nil {
		fail("memlock: %v", err)
	}
	spec, err := ebpf.LoadCollectionSpec(object)
	if err != nil {
		fail("cannot open %s: %v", object, err)
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{KernelTypes: kernelTypes},
	})
	if err != nil {
		fail("cannot load %s: %v", object, err)
	}
	defer coll.Close()
	prog, target, report := coll.Programs["report_task"], coll.Maps["target"], coll.Maps["report"]
	if prog == nil || target == nil || report == nil {
		fail("%s: program or maps missing", object)
	}
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: prog})
	if err != nil {
		fail("cannot attach: %v", err)
	}
	defer l.Close()
	if err := target.Put(uint32(0), uint32(os.Getpid())); err != nil {
		fail("cannot set the target: %v", err)
	}
	for i := 0; i < 3; i++ {
		syscall.Getppid()
	}
	var rep [32]byte
	if err := report.Lookup(uint32(0), &rep); err != nil {
		fail("cannot read the report: %v", err)
	}
	le := binary.LittleEndian
	hits := le.Uint32(rep[12:])
	fmt.Printf("report: pid=%d tgid=%d ppid=%d comm=%s hits=%d\n", le.Uint32(rep[0:]), le.Uint32(rep[4:]),
		le.Uint32(rep[8:]), printable(rep[16:]), hits)
	// Any thread of this (multi-threaded) process may have made the last
	// system call: list them, for the test to check the pid against.
	var tids []int
	if entries, err := os.ReadDir("/proc/self/task"); err == nil {
		for _, e := range entries {
			if n, err := strconv.Atoi(e.Name()); err == nil {
				tids = append(tids, n)
			}
		}
	}
	sort.Ints(tids)
	fmt.Printf("threads: %s\n", strings.Trim(fmt.Sprint(tids), "[]"))
	if hits == 0 {
		os.Exit(3)
	}
}
