// SPDX-License-Identifier: GPL-2.0
/*
 * task_small.bpf.c - the "small" object of the corpus (< 10 relocations).
 *
 * One kprobe program reading the current task with BPF_CORE_READ: pid, tgid,
 * comm (array member), and the pointer chain real_parent->tgid.  Only
 * FIELD_BYTE_OFFSET relocations, all against struct task_struct, which every
 * real kernel has (4.18 .. 7.1, x86_64 and arm64; no pt_regs access, so the
 * object is architecture independent).
 *
 * Also the source of two derived objects (see scripts/build-test-data.sh):
 *   task_small.nobtfext.el.o - .BTF.ext section removed
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

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
	char comm[16];
} __attribute__((preserve_access_index));

struct small_out {
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	char comm[16];
};

struct small_out small_out;

SEC("kprobe/do_nanosleep")
int small_nanosleep(void *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	small_out.pid = BPF_CORE_READ(t, pid);
	small_out.tgid = BPF_CORE_READ(t, tgid);
	small_out.ppid = BPF_CORE_READ(t, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&small_out.comm, t, comm);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
