// SPDX-License-Identifier: GPL-2.0
/*
 * fields_missing.c - synthetic kernel: the synth_fields types with members
 * removed: core_reloc_fields lacks 'b', 'inner', 'only_new' and the
 * anonymous struct's 'hi'; core_reloc_chain_b lacks 'c'; everything else
 * keeps the base layout order.
 * Expected libbpf result: reads of a missing member are poisoned
 * (FIELD_BYTE_OFFSET/_SIZE/_SIGNED), FIELD_EXISTS gives 0, the rest match.
 */
enum core_reloc_kind {
	CORE_KIND_A = 1,
	CORE_KIND_B = 2,
};

struct core_reloc_fields {
	int a;
	long c;
	void *p;
	int arr[4];
	short mat[2][3];
	union {
		int u_int;
		struct {
			short lo;
		};
	};
	enum core_reloc_kind kind;
	int flex[];
};

typedef struct core_reloc_fields core_reloc_fields_t;

struct core_reloc_chain_c {
	int pad_c;
	int val;
};

struct core_reloc_chain_b {
	long pad_b;
};

struct core_reloc_chain_a {
	int pad_a;
	struct core_reloc_chain_b *b;
};

core_reloc_fields_t *missing_fields;
struct core_reloc_chain_a missing_chain_a;
struct core_reloc_chain_b missing_chain_b;
struct core_reloc_chain_c missing_chain_c;
