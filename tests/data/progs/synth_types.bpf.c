// SPDX-License-Identifier: GPL-2.0
/*
 * synth_types.bpf.c - type-based relocations (TYPE_EXISTS, TYPE_SIZE,
 * TYPE_ID_LOCAL, TYPE_ID_TARGET) against the SYNTHETIC kernels (base.c,
 * types_changed.c, dup_*.c).
 *
 * Roots cover every kind a type relocation can start from: struct, union,
 * enum, a flavored struct (core_reloc_type_struct___flav), typedefs of an
 * int, a struct, a struct pointer, a function pointer (ptr -> func_proto,
 * compared parameter by parameter) and an array; a struct the kernel does
 * not have (core_reloc_type_missing); a struct that the kernel only
 * forward-declares in types_changed (core_reloc_type_fwd, local full
 * struct -> kind mismatch), and a typedef of a pointer to it.
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

struct core_reloc_type_struct {
	int a;
	long b;
};

union core_reloc_type_union {
	int i;
	char c[12];
};

enum core_reloc_type_enum {
	CORE_TE_A = 1,
	CORE_TE_B = 2,
};

struct core_reloc_type_struct___flav {
	int a;
};

typedef int core_reloc_int_t;
typedef struct core_reloc_type_struct core_reloc_struct_t;
typedef struct core_reloc_type_struct *core_reloc_struct_ptr_t;
typedef int (*core_reloc_func_t)(int, struct core_reloc_type_struct *);
typedef char core_reloc_arr_t[16];

struct core_reloc_type_missing {
	int x;
};

struct core_reloc_type_fwd {
	int x;
};

typedef struct core_reloc_type_fwd *core_reloc_fwd_ptr_t;

struct types_out {
	__u64 v[32];
};

struct types_out types_out;

SEC("raw_tp/core_reloc_types")
int types_probe(__u64 *ctx)
{
	__u64 *v = types_out.v;

	v[0] = bpf_core_type_exists(struct core_reloc_type_struct);
	v[1] = bpf_core_type_size(struct core_reloc_type_struct);
	v[2] = bpf_core_type_exists(union core_reloc_type_union);
	v[3] = bpf_core_type_size(union core_reloc_type_union);
	v[4] = bpf_core_type_exists(enum core_reloc_type_enum);
	v[5] = bpf_core_type_size(enum core_reloc_type_enum);
	v[6] = bpf_core_type_size(struct core_reloc_type_struct___flav);
	v[7] = bpf_core_type_exists(core_reloc_int_t);
	v[8] = bpf_core_type_size(core_reloc_int_t);
	v[9] = bpf_core_type_exists(core_reloc_struct_t);
	v[10] = bpf_core_type_size(core_reloc_struct_t);
	v[11] = bpf_core_type_exists(core_reloc_struct_ptr_t);
	v[12] = bpf_core_type_exists(core_reloc_func_t);
	v[13] = bpf_core_type_size(core_reloc_func_t);
	v[14] = bpf_core_type_exists(core_reloc_arr_t);
	v[15] = bpf_core_type_size(core_reloc_arr_t);
	v[16] = bpf_core_type_exists(struct core_reloc_type_missing);
	v[17] = bpf_core_type_size(struct core_reloc_type_missing);
	v[18] = bpf_core_type_exists(struct core_reloc_type_fwd);
	v[19] = bpf_core_type_exists(core_reloc_fwd_ptr_t);
	return 0;
}

SEC("raw_tp/core_reloc_type_ids")
int type_ids_probe(__u64 *ctx)
{
	__u64 *v = types_out.v;

	v[20] = bpf_core_type_id_local(struct core_reloc_type_struct);
	v[21] = bpf_core_type_id_local(core_reloc_func_t);
	v[22] = bpf_core_type_id_kernel(struct core_reloc_type_struct);
	v[23] = bpf_core_type_id_kernel(union core_reloc_type_union);
	v[24] = bpf_core_type_id_kernel(core_reloc_func_t);
	v[25] = bpf_core_type_id_kernel(struct core_reloc_type_missing);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
