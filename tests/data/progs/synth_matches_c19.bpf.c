// SPDX-License-Identifier: GPL-2.0
/*
 * synth_matches_c19.bpf.c - TYPE_MATCHES relocations against the SYNTHETIC
 * kernels base_c19.c (everything identical -> 1) and matches_differ_c19.c
 * (see the README for the per-root result).  Built with clang-19: clang 14
 * cannot emit TYPE_MATCHES.
 *
 * Roots: structs (members matched by name, layout ignored; member types
 * compared recursively, pointee composites only by kind/name), a union,
 * enums (local enumerator names must exist; values ignored), an ENUM64,
 * typedef roots of a struct, of an int and of function pointers, a struct
 * with a fixed-size array member, and a struct whose pointer member points
 * to a struct the kernel only forward-declares.
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

struct core_reloc_match_inner {
	char c;
};

struct core_reloc_match_opaque {
	int secret;
};

/* kernel variant: same members, reordered, one extra member */
struct core_reloc_match_ok {
	int a;
	unsigned long b;
	struct core_reloc_match_inner *p;
	struct core_reloc_match_inner in;
};

/* kernel variant: 'b' is signed long */
struct core_reloc_match_bad {
	int a;
	unsigned long b;
};

/* kernel variant: lacks 'b' */
struct core_reloc_match_fewer {
	int a;
	unsigned long b;
};

/* kernel variant: union with one more member */
union core_reloc_match_u {
	int i;
	char c[4];
};

/* kernel variant: v[5] */
struct core_reloc_match_arr {
	int v[4];
};

/* kernel variant: core_reloc_match_opaque is only a FWD (behind a pointer) */
struct core_reloc_match_ptrs {
	struct core_reloc_match_opaque *o;
	struct core_reloc_match_ok *self;
};

/* kernel variant: extra enumerator, different values */
enum core_reloc_match_e {
	CORE_ME_A,
	CORE_ME_B,
};

/* kernel variant: lacks CORE_MEM_C */
enum core_reloc_match_e_missing {
	CORE_MEM_A,
	CORE_MEM_B,
	CORE_MEM_C,
};

/* kernel variant: ENUM64 with other values */
enum core_reloc_match_e64 {
	CORE_ME64_A = 0x100000000ULL,
	CORE_ME64_B = 7,
};

typedef struct core_reloc_match_ok core_reloc_match_ok_t;
/* kernel variant: unsigned int */
typedef int core_reloc_match_int_t;
/* kernel variant: 3 parameters */
typedef int (*core_reloc_match_fn_t)(struct core_reloc_match_ok *, long);
/* kernel variant: identical, but core_reloc_match_opaque is a FWD there */
typedef void (*core_reloc_match_fn2_t)(struct core_reloc_match_opaque *, unsigned int);

struct matches_out {
	__u32 v[16];
};

struct matches_out matches_out;

SEC("raw_tp/core_reloc_matches")
int matches_probe(__u64 *ctx)
{
	__u32 *v = matches_out.v;

	v[0] = bpf_core_type_matches(struct core_reloc_match_ok);
	v[1] = bpf_core_type_matches(struct core_reloc_match_bad);
	v[2] = bpf_core_type_matches(struct core_reloc_match_fewer);
	v[3] = bpf_core_type_matches(union core_reloc_match_u);
	v[4] = bpf_core_type_matches(struct core_reloc_match_arr);
	v[5] = bpf_core_type_matches(struct core_reloc_match_ptrs);
	v[6] = bpf_core_type_matches(enum core_reloc_match_e);
	v[7] = bpf_core_type_matches(enum core_reloc_match_e_missing);
	v[8] = bpf_core_type_matches(enum core_reloc_match_e64);
	v[9] = bpf_core_type_matches(core_reloc_match_ok_t);
	v[10] = bpf_core_type_matches(core_reloc_match_int_t);
	v[11] = bpf_core_type_matches(core_reloc_match_fn_t);
	v[12] = bpf_core_type_matches(core_reloc_match_fn2_t);
	/* the same roots through the other type-based kinds */
	v[13] = bpf_core_type_exists(struct core_reloc_match_bad);
	v[14] = bpf_core_type_exists(core_reloc_match_fn_t);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
