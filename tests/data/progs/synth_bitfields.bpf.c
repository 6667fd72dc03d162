// SPDX-License-Identifier: GPL-2.0
/*
 * synth_bitfields.bpf.c - bitfield relocations against the SYNTHETIC kernels
 * (tests/data/synth/base.c, bitfields_moved.c, bitfields_err.c, dup_*.c).
 *
 * Every read goes through BPF_CORE_READ_BITFIELD_PROBED (program
 * 'bitfields_probed': probe read of FIELD_BYTE_SIZE bytes at
 * FIELD_BYTE_OFFSET) or BPF_CORE_READ_BITFIELD (program 'bitfields_direct':
 * direct load from a global buffer), so each read emits FIELD_BYTE_OFFSET,
 * FIELD_BYTE_SIZE, FIELD_LSHIFT_U64, FIELD_SIGNED and FIELD_RSHIFT_U64.
 * The struct has kflag=1 (it has bitfields); members cover unsigned and
 * signed bitfields, 1..40 bit widths, fields that straddle byte boundaries,
 * and a plain member ('trailing') that is not a bitfield.
 *
 * Local layout (bit offset/size):
 *   ub1 0/1, ub2 1/2, ub7 3/7, ub12 10/12, sb4 24/4, sb20 32/20,
 *   u40 64/40, s23 104/23, trailing 128 (u32, not a bitfield)
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

struct core_reloc_bitfields {
	unsigned char ub1: 1;
	unsigned char ub2: 2;
	unsigned int ub7: 7;
	unsigned int ub12: 12;
	signed char sb4: 4;
	int sb20: 20;
	unsigned long long u40: 40;
	long long s23: 23;
	unsigned int trailing;
} __attribute__((preserve_access_index));

struct bitfields_out {
	__u64 v[20];
};

struct bitfields_out bitfields_out;
char bitfields_buf[256];

SEC("raw_tp/core_reloc_bitfields")
int bitfields_probed(__u64 *ctx)
{
	struct core_reloc_bitfields *s = (struct core_reloc_bitfields *)ctx[0];
	__u64 *v = bitfields_out.v;

	v[0] = BPF_CORE_READ_BITFIELD_PROBED(s, ub1);
	v[1] = BPF_CORE_READ_BITFIELD_PROBED(s, ub2);
	v[2] = BPF_CORE_READ_BITFIELD_PROBED(s, ub7);
	v[3] = BPF_CORE_READ_BITFIELD_PROBED(s, ub12);
	v[4] = BPF_CORE_READ_BITFIELD_PROBED(s, sb4);
	v[5] = BPF_CORE_READ_BITFIELD_PROBED(s, sb20);
	v[6] = BPF_CORE_READ_BITFIELD_PROBED(s, u40);
	v[7] = BPF_CORE_READ_BITFIELD_PROBED(s, s23);
	v[8] = BPF_CORE_READ(s, trailing);
	return 0;
}

SEC("raw_tp/core_reloc_bitfields_direct")
int bitfields_direct(__u64 *ctx)
{
	struct core_reloc_bitfields *s = (struct core_reloc_bitfields *)bitfields_buf;
	__u64 *v = bitfields_out.v;

	v[10] = BPF_CORE_READ_BITFIELD(s, ub7);
	v[11] = BPF_CORE_READ_BITFIELD(s, sb4);
	v[12] = BPF_CORE_READ_BITFIELD(s, u40);
	v[13] = bpf_core_field_exists(s->sb20);
	v[14] = s->trailing;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
