// SPDX-License-Identifier: GPL-2.0
/*
 * umask_report.bpf.c - CO-RE program of the setuptools example.
 *
 * On every system call entry (raw tracepoint sys_enter: needs neither
 * kprobes nor tracefs) of the process whose tgid userspace put in `target`,
 * read the current task's file mode creation mask (current->fs->umask),
 * its pid, its parent's tgid and its comm into `report`.  task_struct and
 * fs_struct offsets are CO-RE relocations, resolved by libbpf against the
 * embedded BTF (or the kernel's own).
 *
 * Kernel types are declared locally with preserve_access_index (no
 * vmlinux.h).  The .o is checked in; rebuild it from this directory with
 *   clang -O2 -g -target bpfel -D__TARGET_ARCH_x86 -fdebug-prefix-map=$PWD=. -c umask_report.bpf.c -o umask_report.bpf.o
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

struct fs_struct {
	int umask;
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	struct task_struct *real_parent;
	int tgid;
	struct fs_struct *fs;
	char comm[16];
} __attribute__((preserve_access_index));

struct umask_report {
	__u32 umask;
	__u32 pid;
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
	__type(value, struct umask_report);
} report SEC(".maps");

SEC("raw_tp/sys_enter")
int report_umask(void *ctx)
{
	__u32 zero = 0, me = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *t;
	struct umask_report *r;
	__u32 *want;

	want = bpf_map_lookup_elem(&target, &zero);
	if (!want || *want == 0 || *want != me)
		return 0;
	r = bpf_map_lookup_elem(&report, &zero);
	if (!r)
		return 0;
	t = (struct task_struct *)bpf_get_current_task();
	r->umask = BPF_CORE_READ(t, fs, umask);
	r->pid = BPF_CORE_READ(t, pid);
	r->ppid = BPF_CORE_READ(t, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&r->comm, t, comm);
	r->hits++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
