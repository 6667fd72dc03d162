// SPDX-License-Identifier: GPL-2.0
/*
 * synth_uenum.bpf.c - ENUMVAL_VALUE of unsigned 32-bit enumerators >= 2^31
 * (BTF_KIND_ENUM, kflag=0) against the SYNTHETIC kernel base.c.
 *
 * libbpf < 1.3 reads every ENUM value as signed s32: its local value
 * 0xffffffff80000000 differs from the instruction's 0x80000000, so
 * bpf_object__load() fails with "failed to patch insn" even against
 * identical BTF (fixed by libbpf commit b4c8def4, 1.3).  bpftool 7.1
 * gen min_core_btf never patches instructions and handles it fine.
 * A BTF minimizer only needs to keep the enum; a value checker must model
 * the signedness rule of the libbpf version it imitates.
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

enum core_reloc_uenum {
	CORE_U_A = 0x80000000u,
	CORE_U_B = 0xffffffffu,
};

struct uenum_out {
	__u64 v[4];
};

struct uenum_out uenum_out;

SEC("raw_tp/core_reloc_uenum")
int uenum_probe(__u64 *ctx)
{
	uenum_out.v[0] = bpf_core_enum_value_exists(enum core_reloc_uenum, CORE_U_A);
	uenum_out.v[1] = bpf_core_enum_value(enum core_reloc_uenum, CORE_U_A);
	uenum_out.v[2] = bpf_core_enum_value(enum core_reloc_uenum, CORE_U_B);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
