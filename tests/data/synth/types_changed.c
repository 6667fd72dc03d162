// SPDX-License-Identifier: GPL-2.0
/*
 * types_changed.c - synthetic kernel for synth_types:
 *   struct core_reloc_type_struct   grows to 24 bytes
 *   union core_reloc_type_union     grows to 32 bytes
 *   enum core_reloc_type_enum       packed: 1 byte
 *   core_reloc_int_t                typedef of long (INT vs INT: compatible)
 *   core_reloc_struct_t             typedef of a UNION (struct vs union: no)
 *   core_reloc_struct_ptr_t         pointer to another struct name (names
 *                                   are not compared behind pointers: yes)
 *   core_reloc_func_t               3 parameters instead of 2 (no)
 *   core_reloc_arr_t                char[32] (dimensions ignored: yes, 32)
 *   struct core_reloc_type_missing  absent
 *   struct core_reloc_type_fwd      only a FWD (local STRUCT vs FWD: no
 *                                   candidate); core_reloc_fwd_ptr_t is
 *                                   ptr -> FWD (local ptr -> STRUCT: no)
 * Expected libbpf result: see README.
 */
struct core_reloc_type_struct {
	int a;
	long b;
	long added;
};

union core_reloc_type_union {
	int i;
	char c[32];
};

enum __attribute__((packed)) core_reloc_type_enum {
	CORE_TE_A = 1,
	CORE_TE_B = 2,
};

union core_reloc_type_struct_as_union {
	int a;
	long b;
};

struct core_reloc_other_struct {
	char z;
};

struct core_reloc_type_fwd;

typedef long core_reloc_int_t;
typedef union core_reloc_type_struct_as_union core_reloc_struct_t;
typedef struct core_reloc_other_struct *core_reloc_struct_ptr_t;
typedef int (*core_reloc_func_t)(int, struct core_reloc_type_struct *, long);
typedef char core_reloc_arr_t[32];
typedef struct core_reloc_type_fwd *core_reloc_fwd_ptr_t;

struct core_reloc_type_struct changed_type_struct;
union core_reloc_type_union changed_type_union;
enum core_reloc_type_enum changed_type_enum;
core_reloc_int_t changed_int_t;
core_reloc_struct_t changed_struct_t;
core_reloc_struct_ptr_t changed_struct_ptr_t;
core_reloc_func_t changed_func_t;
core_reloc_arr_t changed_arr_t;
core_reloc_fwd_ptr_t changed_fwd_ptr_t;
