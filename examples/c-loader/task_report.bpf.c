// SPDX-License-Identifier: GPL-2.0
/*
 * task_report.bpf.c - the CO-RE program of the btfembed examples.
 *
 * On every system call entry (raw tracepoint sys_enter: needs neither
 * kprobes nor tracefs) of the process whose tgid userspace put in `target`,
 * read the current task's pid, tgid, parent's tgid and comm through
 * BPF_CORE_READ and store them in `report`.  The field offsets of
 * task_struct are CO-RE relocations: libbpf resolves them against the BTF
 * given as btf_custom_path (the embedded one) or the kernel's own BTF.
 *
 * Kernel types are declared locally with preserve_access_index (no
 * vmlinux.h), so the object is small and architecture independent.
 * Rebuild with `make task_report.bpf.o` (the .o is checked in).
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

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
	char comm[16];
} __attribute__((preserve_access_index));

struct report {
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	__u32 hits;
	char comm[16];
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
	__type(value, struct report);
} report SEC(".maps");

SEC("raw_tp/sys_enter")
int report_task(void *ctx)
{
	__u32 zero = 0, me = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *t;
	struct report *r;
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
	r->ppid = BPF_CORE_READ(t, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&r->comm, t, comm);
	r->hits++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
