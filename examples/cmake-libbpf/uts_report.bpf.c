// SPDX-License-Identifier: GPL-2.0
/*
 * uts_report.bpf.c - CO-RE program of the CMake example.
 *
 * On every system call entry (raw tracepoint sys_enter: needs neither
 * kprobes nor tracefs) of the process whose tgid userspace put in `target`,
 * follow current->nsproxy->uts_ns and copy the UTS namespace's nodename
 * and release (what uname(2) returns) plus the task's pid and tgid into
 * `report`.  Every field offset on the way (task_struct, nsproxy,
 * uts_namespace, new_utsname) is a CO-RE relocation, resolved by libbpf
 * against the embedded BTF (or the kernel's own).
 *
 * Kernel types are declared locally with preserve_access_index (no
 * vmlinux.h).  The .o is checked in; rebuild it from this directory with
 *   clang -O2 -g -target bpfel -D__TARGET_ARCH_x86 -fdebug-prefix-map=$PWD=. -c uts_report.bpf.c -o uts_report.bpf.o
 */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

enum { EXAMPLE_MAP_TYPE_ARRAY = 2 }; /* BPF_MAP_TYPE_ARRAY in linux/bpf.h */

struct new_utsname {
	char sysname[65];
	char nodename[65];
	char release[65];
} __attribute__((preserve_access_index));

struct uts_namespace {
	struct new_utsname name;
} __attribute__((preserve_access_index));

struct nsproxy {
	struct uts_namespace *uts_ns;
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
	struct nsproxy *nsproxy;
} __attribute__((preserve_access_index));

struct uts_report {
	__u32 pid;
	__u32 tgid;
	__u32 hits;
	char nodename[65];
	char release[65];
};

struct {
	__uint(type, EXAMPLE_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} target SEC(".maps");

struct {
	__uint(type, EXAMPLE_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct uts_report);
} report SEC(".maps");

SEC("raw_tp/sys_enter")
int report_uts(void *ctx)
{
	__u32 zero = 0, me = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *t;
	struct uts_report *r;
	__u32 *want;

	want = bpf_map_lookup_elem(&target, &zero);
	if (!want || *want == 0 || *want != me)
		return 0;
	r = bpf_map_lookup_elem(&report, &zero);
	if (!r)
		return 0;
	t = (struct task_struct *)bpf_get_current_task();
	r->pid = BPF_CORE_READ(t, pid);
	r->tgid = BPF_CORE_READ(t, tgid);
	BPF_CORE_READ_STR_INTO(&r->nodename, t, nsproxy, uts_ns, name.nodename);
	BPF_CORE_READ_STR_INTO(&r->release, t, nsproxy, uts_ns, name.release);
	r->hits++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
