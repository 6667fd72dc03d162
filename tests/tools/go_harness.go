// A test program for the generated Go runtime: the command line and output
// of the C harness in tests/test_runtime_rules.py (key=value lines, key
// fields hex-encoded), so the same table of cases drives both.
package main

import (
	"fmt"
	"os"
	"strconv"

	rt "btfembed_rules"
)

func hex(name, s string) {
	fmt.Printf("%s=%x\n", name, s)
}

func main() {
	var opts rt.Options
	dump, keyOnly := "", false
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		val := func() string {
			if i+1 >= len(args) {
				fmt.Fprintf(os.Stderr, "%s needs a value\n", a)
				os.Exit(2)
			}
			i++
			return args[i]
		}
		switch a {
		case "--force":
			opts.Force = true
		case "--no-env":
			opts.NoEnv = true
		case "--key-only":
			keyOnly = true
		case "--os-release":
			opts.OSRelease = val()
		case "--key":
			opts.Key = val()
		case "--host-root":
			opts.HostRoot = val()
		case "--debug":
			opts.Debug = true
		case "--release":
			opts.Release = val()
		case "--machine":
			opts.Machine = val()
		case "--sysfs":
			opts.SysfsBTF = val()
		case "--dump":
			dump = val()
		case "--check-object":
			data, err := os.ReadFile(val())
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			if err := rt.CheckObject(data); err != nil {
				fmt.Printf("object=refused\n")
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Printf("object=ok\n")
			return
		default:
			fmt.Fprintf(os.Stderr, "bad argument %s\n", a)
			os.Exit(2)
		}
	}
	if keyOnly {
		k, err := rt.Running(&opts)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("rc=0")
		hex("arch", k.Arch)
		hex("distro", k.Distro)
		hex("version", k.DistroVersion)
		hex("release", k.Release)
		fmt.Printf("uname_ok=%d\nos_ok=%d\n", b2i(k.UnameOK), b2i(k.OSOK))
		return
	}
	d, blob, err := rt.Lookup(&opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("rc=%d\nstatus=%s\nstatus_name=%s\n", int(d.Status), d.Status.Describe(), d.Status)
	hex("arch", d.Key.Arch)
	hex("distro", d.Key.Distro)
	hex("version", d.Key.DistroVersion)
	hex("release", d.Key.Release)
	fmt.Printf("kernel=%d\nexact=%d\n", d.Entry, b2i(d.Exact))
	path := ""
	if blob != nil && dump != "" {
		if err := os.WriteFile(dump, blob, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		path = dump
	} else if blob != nil {
		path = "(memory:" + strconv.Itoa(len(blob)) + ")"
	}
	fmt.Printf("path=%s\n", path)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
