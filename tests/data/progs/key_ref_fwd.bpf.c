// SPDX-License-Identifier: GPL-2.0
/*
 * key_ref_fwd.bpf.c - a type-based relocation whose type graph reaches a FWD
 * in REAL kernels.
 *
 * In every kernel, key_ref_t is 'typedef struct __key_reference_with_attributes
 * *key_ref_t;' and the struct is never defined, so kernel BTF holds
 * TYPEDEF -> PTR -> FWD.  The local copy below has the same shape.
 * libbpf: TYPE_EXISTS = 1 and TYPE_SIZE = 8 (FWD vs FWD is compatible).
 * bpftool 7.1 gen min_core_btf: fails with "unsupported kind: fwd" on every
 * kernel, because marking a type relocation follows the pointer to the FWD.
 * The third relocation (task_struct.pid) is an ordinary field relocation.
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

struct __key_reference_with_attributes;
typedef struct __key_reference_with_attributes *key_ref_t;

struct task_struct {
	int pid;
} __attribute__((preserve_access_index));

struct keyinfo {
	__u32 has_key_ref;
	__u32 key_ref_size;
	__u32 pid;
};

struct keyinfo keyinfo;

SEC("kprobe/lookup_user_key")
int key_ref_probe(void *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	keyinfo.has_key_ref = bpf_core_type_exists(key_ref_t);
	keyinfo.key_ref_size = bpf_core_type_size(key_ref_t);
	keyinfo.pid = BPF_CORE_READ(t, pid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
