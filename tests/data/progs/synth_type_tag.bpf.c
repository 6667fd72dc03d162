// SPDX-License-Identifier: GPL-2.0
/*
 * synth_type_tag.bpf.c - TYPE_TAG reached by a type relocation, against the
 * SYNTHETIC kernel fwd_tag.c (and base.c, which lacks these types).
 *
 * core_reloc_user_int_t is TYPEDEF -> PTR -> TYPE_TAG("user") -> INT here
 * and in fwd_tag.c.  libbpf skips TYPE_TAG like a modifier: TYPE_EXISTS = 1,
 * TYPE_SIZE = 8.  bpftool 7.1: "unsupported kind: type_tag".
 * The field relocation reads a member whose type is a tagged pointer; field
 * relocations do not follow pointers, so it is harmless on its own.
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

typedef int __attribute__((btf_type_tag("user"))) *core_reloc_user_int_t;

struct core_reloc_tagged {
	long pad;
	int __attribute__((btf_type_tag("user"))) *uptr;
} __attribute__((preserve_access_index));

struct tag_out {
	__u64 v[4];
};

struct tag_out tag_out;

SEC("raw_tp/core_reloc_type_tag")
int type_tag_probe(__u64 *ctx)
{
	struct core_reloc_tagged *t = (struct core_reloc_tagged *)ctx[0];

	tag_out.v[0] = (__u64)BPF_CORE_READ(t, uptr);
	tag_out.v[1] = bpf_core_type_exists(core_reloc_user_int_t);
	tag_out.v[2] = bpf_core_type_size(core_reloc_user_int_t);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
