// SPDX-License-Identifier: GPL-2.0
/*
 * synth_enum64_c19.bpf.c - ENUM64 relocations against the SYNTHETIC kernels
 * (base_c19.c, enum64_changed_c19.c, enums_changed.c).  Built with clang-19:
 * clang 14 encodes 64-bit enums as (truncated) BTF_KIND_ENUM.
 *
 * Roots: enum core_reloc_enum64 (unsigned ENUM64, kflag=0),
 * enum core_reloc_enum64_signed (signed ENUM64, kflag=1), and the 32-bit
 * enum core_reloc_enum32 (BTF_KIND_ENUM locally; an ENUM64 in
 * enum64_changed_c19 -> ENUM vs ENUM64 candidates are compatible).
 * Also TYPE_SIZE on an ENUM64 and FIELD_SIGNED on an ENUM64-typed member
 * (signedness of enums comes from the kflag).
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

enum core_reloc_enum64 {
	CORE_E64_SMALL = 1,
	CORE_E64_BIG = 0x1234567890ULL,
	CORE_E64_MAX = 0xffffffffffffffffULL,
};

enum core_reloc_enum64_signed {
	CORE_E64S_NEG = -0x100000000LL,
	CORE_E64S_POS = 0x100000000LL,
};

enum core_reloc_enum32 {
	CORE_E32_A = 1,
	CORE_E32_B = 2,
};

struct core_reloc_enum64_holder {
	int pad;
	enum core_reloc_enum64_signed se;
	enum core_reloc_enum64 ue;
} __attribute__((preserve_access_index));

struct enum64_out {
	__u64 v[16];
};

struct enum64_out enum64_out;

SEC("raw_tp/core_reloc_enum64")
int enum64_probe(__u64 *ctx)
{
	struct core_reloc_enum64_holder *h = (struct core_reloc_enum64_holder *)ctx[0];
	__u64 *v = enum64_out.v;

	v[0] = bpf_core_enum_value(enum core_reloc_enum64, CORE_E64_SMALL);
	v[1] = bpf_core_enum_value(enum core_reloc_enum64, CORE_E64_BIG);
	v[2] = bpf_core_enum_value_exists(enum core_reloc_enum64, CORE_E64_MAX);
	if (v[2])
		v[3] = bpf_core_enum_value(enum core_reloc_enum64, CORE_E64_MAX);
	v[4] = bpf_core_enum_value(enum core_reloc_enum64_signed, CORE_E64S_NEG);
	v[5] = bpf_core_enum_value(enum core_reloc_enum64_signed, CORE_E64S_POS);
	v[6] = bpf_core_enum_value(enum core_reloc_enum32, CORE_E32_B);
	v[7] = bpf_core_enum_value_exists(enum core_reloc_enum32, CORE_E32_A);
	v[8] = bpf_core_type_size(enum core_reloc_enum64);
	v[9] = __builtin_preserve_field_info(h->se, BPF_FIELD_SIGNED);
	v[10] = __builtin_preserve_field_info(h->ue, BPF_FIELD_SIGNED);
	v[11] = BPF_CORE_READ(h, ue);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
