// SPDX-License-Identifier: GPL-2.0
/*
 * base.c - synthetic kernel: SAME layouts as the local programs
 * synth_fields, synth_bitfields, synth_enums, synth_types and synth_dup.
 * (clang 14; the ENUM64 / TYPE_MATCHES families live in base_c19.c.)
 *
 * Differences to the local programs, all deliberate:
 *   - no flavored types: local 'X___flav' roots resolve to the plain 'X';
 *     enum core_reloc_enum therefore also carries CORE_E_THREE = 3;
 *   - no preserve_access_index (this is "kernel" BTF).
 * Every type is anchored by a global variable so that it is emitted.
 * Expected libbpf result: every relocation matches with the local value.
 */

/* ---- synth_fields ---- */
enum core_reloc_kind {
	CORE_KIND_A = 1,
	CORE_KIND_B = 2,
};

struct core_reloc_inner {
	int x;
	int y;
};

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
};

typedef struct core_reloc_fields core_reloc_fields_t;

struct core_reloc_chain_c {
	int pad_c;
	int val;
};

struct core_reloc_chain_b {
	long pad_b;
	struct core_reloc_chain_c *c;
};

struct core_reloc_chain_a {
	int pad_a;
	struct core_reloc_chain_b *b;
};

core_reloc_fields_t *base_fields;
struct core_reloc_chain_a base_chain_a;
struct core_reloc_chain_b base_chain_b;
struct core_reloc_chain_c base_chain_c;

/* ---- synth_bitfields ---- */
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
};

struct core_reloc_bitfields base_bitfields;

/* ---- synth_enums ---- */
enum core_reloc_enum {
	CORE_E_ZERO = 0,
	CORE_E_ONE = 1,
	CORE_E_TWO = 2,
	CORE_E_NEG = -5,
	CORE_E_BIG = 0x7fffffff,
	CORE_E_THREE = 3,
};

typedef enum core_reloc_enum core_reloc_enum_t;

enum core_reloc_uenum {
	CORE_U_A = 0x80000000u,
	CORE_U_B = 0xffffffffu,
};

core_reloc_enum_t base_enum;
enum core_reloc_uenum base_uenum;

/* ---- synth_types ---- */
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

union core_reloc_type_union base_type_union;
enum core_reloc_type_enum base_type_enum;
core_reloc_int_t base_int_t;
core_reloc_struct_t base_struct_t;
core_reloc_struct_ptr_t base_struct_ptr_t;
core_reloc_func_t base_func_t;
core_reloc_arr_t base_arr_t;
struct core_reloc_type_missing base_type_missing;
core_reloc_fwd_ptr_t base_fwd_ptr_t;
struct core_reloc_type_fwd base_type_fwd;

/* ---- synth_dup ---- */
struct core_reloc_dup {
	int shared;
	int only_b;
};

struct core_reloc_dup base_dup;
