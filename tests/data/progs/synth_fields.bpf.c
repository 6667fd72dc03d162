// SPDX-License-Identifier: GPL-2.0
/*
 * synth_fields.bpf.c - field relocations against the SYNTHETIC kernels
 * (tests/data/synth/base.c and fields_*.c, dup_*.c).
 *
 * Exercises FIELD_BYTE_OFFSET / FIELD_BYTE_SIZE / FIELD_EXISTS / FIELD_SIGNED
 * on plain members of many types (int, char, long, pointer, enum), array
 * indexing (arr[2]), a 2-D array (mat[1][2]), a flexible array (flex[3]),
 * a nested named struct (inner.y), members inside an anonymous union and an
 * anonymous struct inside it (u_int, hi), a typedef root
 * (core_reloc_fields_t), and a pointer chain a->b->c->val.
 *
 * Program 'fields_core_read' uses BPF_CORE_READ (relocated ALU adds, probe
 * reads); 'fields_direct' does direct loads from a global buffer through
 * the typedef root (relocated LDX offsets); 'fields_chain' calls a global
 * subprogram that holds the pointer-chain relocations.
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

#define __pai __attribute__((preserve_access_index))

enum core_reloc_kind {
	CORE_KIND_A = 1,
	CORE_KIND_B = 2,
};

struct core_reloc_inner {
	int x;
	int y;
} __pai;

struct core_reloc_fields {
	int a;
	char b;
	long c;
	void *p;
	int arr[4];
	short mat[2][3];
	struct core_reloc_inner inner;
	union {
		int u_int;
		struct {
			short lo;
			short hi;
		};
	};
	enum core_reloc_kind kind;
	unsigned int only_new;
	int flex[];
} __pai;

typedef struct core_reloc_fields core_reloc_fields_t;

struct core_reloc_chain_c {
	int pad_c;
	int val;
} __pai;

struct core_reloc_chain_b {
	long pad_b;
	struct core_reloc_chain_c *c;
} __pai;

struct core_reloc_chain_a {
	int pad_a;
	struct core_reloc_chain_b *b;
} __pai;

struct fields_out {
	__s64 v[24];
};

struct fields_out fields_out;
char fields_buf[512];

SEC("raw_tp/core_reloc_fields")
int fields_core_read(__u64 *ctx)
{
	struct core_reloc_fields *f = (struct core_reloc_fields *)ctx[0];
	__s64 *v = fields_out.v;

	v[0] = BPF_CORE_READ(f, a);
	v[1] = BPF_CORE_READ(f, b);
	v[2] = BPF_CORE_READ(f, c);
	v[3] = (long)BPF_CORE_READ(f, p);
	v[4] = BPF_CORE_READ(f, arr[2]);
	v[5] = BPF_CORE_READ(f, mat[1][2]);
	v[6] = BPF_CORE_READ(f, inner.y);
	v[7] = BPF_CORE_READ(f, u_int);
	v[8] = BPF_CORE_READ(f, hi);
	v[9] = BPF_CORE_READ(f, kind);
	if (bpf_core_field_exists(f->only_new))
		v[10] = BPF_CORE_READ(f, only_new);
	v[11] = BPF_CORE_READ(f, flex[3]);
	v[12] = bpf_core_field_size(f->c);
	v[13] = bpf_core_field_size(f->inner);
	v[14] = __builtin_preserve_field_info(f->a, BPF_FIELD_SIGNED);
	v[15] = __builtin_preserve_field_info(f->kind, BPF_FIELD_SIGNED);
	v[16] = bpf_core_field_exists(f->lo);
	return 0;
}

SEC("raw_tp/core_reloc_fields_direct")
int fields_direct(__u64 *ctx)
{
	core_reloc_fields_t *f = (core_reloc_fields_t *)fields_buf;
	__s64 *v = fields_out.v;

	v[17] = f->c;
	v[18] = f->inner.x;
	v[19] = f->arr[1];
	v[20] = f->lo;
	v[21] = bpf_core_field_offset(core_reloc_fields_t, flex);
	return 0;
}

__noinline int fields_chain_val(__u64 chain_addr)
{
	struct core_reloc_chain_a *a = (struct core_reloc_chain_a *)chain_addr;

	return BPF_CORE_READ(a, b, c, val) + BPF_CORE_READ(a, pad_a);
}

SEC("raw_tp/core_reloc_chain")
int fields_chain(__u64 *ctx)
{
	fields_out.v[22] = fields_chain_val(ctx[0]);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
