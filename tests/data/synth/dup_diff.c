// SPDX-License-Identifier: GPL-2.0
/*
 * dup_diff.c - synthetic kernel with DUPLICATE, DIFFERENT types: each root
 * exists as 'X' (base.c layout) and as the flavored 'X___2' that differs:
 *   core_reloc_fields___2      'a' at offset 4 instead of 0
 *                               -> "field offset ambiguity" (first relo)
 *   core_reloc_bitfields___2   'sb4' unsigned (same bit offset/size)
 *                               -> "relocation decision ambiguity" on the
 *                                  FIELD_SIGNED of sb4
 *   core_reloc_enum___2        CORE_E_ONE = 100
 *                               -> "relocation decision ambiguity" on
 *                                  ENUMVAL_VALUE(CORE_E_ONE)
 *   core_reloc_type_struct___2 24 bytes instead of 16
 *                               -> TYPE_EXISTS fine, then "relocation
 *                                  decision ambiguity" on TYPE_SIZE
 *   core_reloc_dup___2         'only_b' at offset 8 instead of 4
 *                               -> relo #0 ('shared') fine, relo #1
 *                                  "field offset ambiguity"
 * Expected libbpf result: the load fails with -EINVAL at the relocation
 * named above; bpftool gen min_core_btf fails the same way.
 */
struct core_reloc_inner {
	int x;
	int y;
};

enum core_reloc_kind {
	CORE_KIND_A = 1,
	CORE_KIND_B = 2,
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

struct core_reloc_fields___2 {
	int pad_front;
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

struct core_reloc_bitfields___2 {
	unsigned char ub1: 1;
	unsigned char ub2: 2;
	unsigned int ub7: 7;
	unsigned int ub12: 12;
	unsigned char sb4: 4;
	int sb20: 20;
	unsigned long long u40: 40;
	long long s23: 23;
	unsigned int trailing;
};

enum core_reloc_enum {
	CORE_E_ZERO = 0,
	CORE_E_ONE = 1,
	CORE_E_TWO = 2,
	CORE_E_NEG = -5,
	CORE_E_BIG = 0x7fffffff,
	CORE_E_THREE = 3,
};

enum core_reloc_enum___2 {
	CORE_E_ZERO___2 = 0,
	CORE_E_ONE___2 = 100,
	CORE_E_TWO___2 = 2,
	CORE_E_NEG___2 = -5,
	CORE_E_BIG___2 = 0x7fffffff,
	CORE_E_THREE___2 = 3,
};

struct core_reloc_type_struct {
	int a;
	long b;
};

struct core_reloc_type_struct___2 {
	int a;
	long b;
	long c;
};

struct core_reloc_dup {
	int shared;
	int only_b;
};

struct core_reloc_dup___2 {
	int shared;
	int pad;
	int only_b;
};

struct core_reloc_fields *diff_fields;
struct core_reloc_fields___2 *diff_fields_2;
struct core_reloc_bitfields diff_bitfields;
struct core_reloc_bitfields___2 diff_bitfields_2;
enum core_reloc_enum diff_enum;
enum core_reloc_enum___2 diff_enum_2;
struct core_reloc_type_struct diff_type_struct;
struct core_reloc_type_struct___2 diff_type_struct_2;
struct core_reloc_dup diff_dup;
struct core_reloc_dup___2 diff_dup_2;
