// SPDX-License-Identifier: GPL-2.0
/*
 * synth_fwd.bpf.c - FWD reached by a type relocation, against the SYNTHETIC
 * kernel fwd_tag.c (and base.c, which lacks these types).
 *
 * core_reloc_opaque_t is TYPEDEF -> PTR -> FWD both here and in fwd_tag.c.
 * libbpf: TYPE_EXISTS = 1, TYPE_SIZE = 8.  bpftool 7.1: "unsupported kind:
 * fwd".  The field relocation on core_reloc_has_fwd_ptr (a struct with a
 * pointer-to-FWD member) is harmless: field relocations never follow
 * pointers, so bpftool handles that one alone.
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

struct core_reloc_opaque;
typedef struct core_reloc_opaque *core_reloc_opaque_t;

struct core_reloc_has_fwd_ptr {
	struct core_reloc_opaque *o;
	int x;
} __attribute__((preserve_access_index));

struct fwd_out {
	__u64 v[4];
};

struct fwd_out fwd_out;

SEC("raw_tp/core_reloc_fwd")
int fwd_probe(__u64 *ctx)
{
	struct core_reloc_has_fwd_ptr *h = (struct core_reloc_has_fwd_ptr *)ctx[0];

	fwd_out.v[0] = BPF_CORE_READ(h, x);
	fwd_out.v[1] = (__u64)BPF_CORE_READ(h, o);
	fwd_out.v[2] = bpf_core_type_exists(core_reloc_opaque_t);
	fwd_out.v[3] = bpf_core_type_size(core_reloc_opaque_t);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
