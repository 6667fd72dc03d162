// SPDX-License-Identifier: GPL-2.0
/*
 * synth_enums.bpf.c - ENUMVAL_EXISTS / ENUMVAL_VALUE on 32-bit enums against
 * the SYNTHETIC kernels (base.c, enums_changed.c, enum64_changed_c19.c,
 * dup_*.c).  Built with clang 14, so every local enum is BTF_KIND_ENUM.
 *
 * Roots: enum core_reloc_enum (incl. a negative value), the flavored
 * enum core_reloc_enum___flav with the flavored enumerator
 * CORE_E_THREE___flav (essential names: core_reloc_enum / CORE_E_THREE),
 * and the typedef root core_reloc_enum_t.  (Unsigned values >= 2^31 are in
 * synth_uenum.bpf.c: libbpf 1.1 cannot patch those.)
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

enum core_reloc_enum {
	CORE_E_ZERO = 0,
	CORE_E_ONE = 1,
	CORE_E_TWO = 2,
	CORE_E_NEG = -5,
	CORE_E_BIG = 0x7fffffff,
};

enum core_reloc_enum___flav {
	CORE_E_THREE___flav = 3,
};

typedef enum core_reloc_enum core_reloc_enum_t;

struct enums_out {
	__s64 v[20];
};

struct enums_out enums_out;

SEC("raw_tp/core_reloc_enums")
int enums_probe(__u64 *ctx)
{
	__s64 *v = enums_out.v;

	v[0] = bpf_core_enum_value_exists(enum core_reloc_enum, CORE_E_ZERO);
	v[1] = bpf_core_enum_value(enum core_reloc_enum, CORE_E_ONE);
	v[2] = bpf_core_enum_value(enum core_reloc_enum, CORE_E_TWO);
	v[3] = bpf_core_enum_value(enum core_reloc_enum, CORE_E_NEG);
	v[4] = bpf_core_enum_value_exists(enum core_reloc_enum, CORE_E_BIG);
	if (v[4])
		v[5] = bpf_core_enum_value(enum core_reloc_enum, CORE_E_BIG);
	v[6] = bpf_core_enum_value_exists(enum core_reloc_enum___flav, CORE_E_THREE___flav);
	if (v[6])
		v[7] = bpf_core_enum_value(enum core_reloc_enum___flav, CORE_E_THREE___flav);
	v[8] = bpf_core_enum_value_exists(core_reloc_enum_t, CORE_E_TWO);
	v[9] = bpf_core_enum_value(core_reloc_enum_t, CORE_E_ONE);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
