// SPDX-License-Identifier: GPL-2.0
/*
 * kernel_c19.bpf.c - TYPE_MATCHES and ENUM64 relocations against REAL kernels.
 * Needs clang >= 15 (built with clang-19): clang 14 has no
 * bpf_core_type_matches() support and never emits BTF_KIND_ENUM64.
 *
 * TYPE_MATCHES roots (local definitions mirror the kernel's):
 *   struct list_head         struct, self pointers            -> 1 everywhere
 *   struct callback_head     struct with a func-pointer member -> 1 everywhere
 *   rcu_callback_t           typedef -> ptr -> func_proto      -> 1 everywhere
 *   pid_t                    typedef -> int                    -> 1 everywhere
 *   enum pid_type            enum (all local enumerators exist) -> 1
 *   key_ref_t                typedef -> ptr -> FWD (fine for matches) -> 1
 *   struct task_struct___bad 'pid' declared as long: never matches   -> 0
 *   struct qstr              anonymous union/struct members; its u64 member
 *                            is INT 'unsigned long long' locally but 'long
 *                            long unsigned int' in gcc-built kernels -> 0
 *   struct qstr___no64       same without the u64 member        -> 1
 * ENUM64: enum perf_callchain_context has 64-bit values; it is ENUM64 in
 * kernels built with pahole >= 1.24 (6.x) and a size-8 ENUM before.
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

typedef __u32 u32;
typedef __u64 u64;
typedef int pid_t;

struct list_head {
	struct list_head *next;
	struct list_head *prev;
};

struct callback_head {
	struct callback_head *next;
	void (*func)(struct callback_head *head);
};

typedef void (*rcu_callback_t)(struct callback_head *head);

enum pid_type {
	PIDTYPE_PID,
	PIDTYPE_TGID,
	PIDTYPE_PGID,
	PIDTYPE_SID,
	PIDTYPE_MAX,
};

struct __key_reference_with_attributes;
typedef struct __key_reference_with_attributes *key_ref_t;

struct task_struct___bad {
	long pid;
};

struct qstr {
	union {
		struct {
			u32 hash;
			u32 len;
		};
		u64 hash_len;
	};
	const unsigned char *name;
};

/* the same without the u64 member: clang names the INT 'unsigned long long',
 * gcc-built kernel BTF names it 'long long unsigned int'; TYPE_MATCHES
 * compares INT names, so only this flavor matches gcc-built kernels */
struct qstr___no64 {
	union {
		struct {
			u32 hash;
			u32 len;
		};
	};
	const unsigned char *name;
};

enum perf_callchain_context {
	PERF_CONTEXT_HV = (__u64)-32,
	PERF_CONTEXT_KERNEL = (__u64)-128,
	PERF_CONTEXT_USER = (__u64)-512,
	PERF_CONTEXT_GUEST = (__u64)-2048,
	PERF_CONTEXT_GUEST_KERNEL = (__u64)-2176,
	PERF_CONTEXT_GUEST_USER = (__u64)-2560,
	PERF_CONTEXT_MAX = (__u64)-4095,
};

struct task_struct {
	int pid;
} __attribute__((preserve_access_index));

struct match_results {
	__u32 list_head;
	__u32 callback_head;
	__u32 rcu_callback;
	__u32 pid_t_;
	__u32 pid_type;
	__u32 key_ref;
	__u32 task_bad;
	__u32 qstr;
	__u32 qstr_no64;
	__u32 has_ctx_user;
	__u32 perf_ctx_matches;
	__u64 ctx_user;
	__u64 ctx_max;
	__u32 pid;
};

struct match_results match_results;

SEC("raw_tp/sched_process_fork")
int kernel_type_matches(__u64 *ctx)
{
	struct task_struct *child = (struct task_struct *)ctx[1];

	match_results.list_head = bpf_core_type_matches(struct list_head);
	match_results.callback_head = bpf_core_type_matches(struct callback_head);
	match_results.rcu_callback = bpf_core_type_matches(rcu_callback_t);
	match_results.pid_t_ = bpf_core_type_matches(pid_t);
	match_results.pid_type = bpf_core_type_matches(enum pid_type);
	match_results.key_ref = bpf_core_type_matches(key_ref_t);
	match_results.task_bad = bpf_core_type_matches(struct task_struct___bad);
	match_results.qstr = bpf_core_type_matches(struct qstr);
	match_results.qstr_no64 = bpf_core_type_matches(struct qstr___no64);
	match_results.pid = BPF_CORE_READ(child, pid);
	return 0;
}

SEC("raw_tp/sys_enter")
int kernel_enum64(__u64 *ctx)
{
	match_results.perf_ctx_matches = bpf_core_type_matches(enum perf_callchain_context);
	match_results.has_ctx_user =
		bpf_core_enum_value_exists(enum perf_callchain_context, PERF_CONTEXT_USER);
	if (match_results.has_ctx_user)
		match_results.ctx_user =
			bpf_core_enum_value(enum perf_callchain_context, PERF_CONTEXT_USER);
	if (bpf_core_enum_value_exists(enum perf_callchain_context, PERF_CONTEXT_MAX))
		match_results.ctx_max =
			bpf_core_enum_value(enum perf_callchain_context, PERF_CONTEXT_MAX);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
