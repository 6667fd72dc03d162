// SPDX-License-Identifier: GPL-2.0
/*
 * synth_dup.bpf.c - the bpftool "first candidate only" bug (reference notes
 * A.11.2), against the SYNTHETIC kernel dup_bpftool_bug.c (and base.c).
 *
 * Both relocations share the root struct core_reloc_dup, so libbpf keeps one
 * candidate list for them and prunes it after each relocation:
 *   relo #0 reads 'shared' : kernel candidates A (core_reloc_dup) and
 *                            B (core_reloc_dup___b) both match at offset 0
 *                            -> the list stays [A, B];
 *   relo #1 reads 'only_b' : only B has it -> resolved against B.
 * bpftool keeps only A's 'shared' (first match of relo #0) and B's 'only_b',
 * so on bpftool's output relo #0 matches A only, the list is pruned to [A]
 * and relo #1 is poisoned.  The order of the two reads matters.
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

struct core_reloc_dup {
	int shared;
	int only_b;
} __attribute__((preserve_access_index));

struct dup_out {
	__u64 shared;
	__u64 only_b;
};

struct dup_out dup_out;

SEC("raw_tp/core_reloc_dup")
int dup_probe(__u64 *ctx)
{
	struct core_reloc_dup *d = (struct core_reloc_dup *)ctx[0];

	dup_out.shared = BPF_CORE_READ(d, shared);
	dup_out.only_b = BPF_CORE_READ(d, only_b);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
