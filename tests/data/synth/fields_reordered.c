// SPDX-License-Identifier: GPL-2.0
/*
 * fields_reordered.c - synthetic kernel: the synth_fields types with their
 * members in a different order (flexible array still last), the anonymous
 * struct's members swapped, and FLAVORED kernel type names
 * (core_reloc_fields___reordered, ...): candidate search compares essential
 * names on the kernel side too.
 * Expected libbpf result: every relocation matches, at the new offsets.
 */
enum core_reloc_kind {
	CORE_KIND_A = 1,
	CORE_KIND_B = 2,
};

struct core_reloc_inner___reordered {
	int y;
	int x;
};

struct core_reloc_fields___reordered {
	unsigned int only_new;
	enum core_reloc_kind kind;
	struct core_reloc_inner___reordered inner;
	union {
		struct {
			short hi;
			short lo;
		};
		int u_int;
	};
	short mat[2][3];
	void *p;
	int arr[4];
	long c;
	char b;
	int a;
	int flex[];
};

typedef struct core_reloc_fields___reordered core_reloc_fields_t;

struct core_reloc_chain_c___reordered {
	int val;
	int pad_c;
};

struct core_reloc_chain_b___reordered {
	struct core_reloc_chain_c___reordered *c;
	long pad_b;
};

struct core_reloc_chain_a___reordered {
	struct core_reloc_chain_b___reordered *b;
	int pad_a;
};

core_reloc_fields_t *reordered_fields;
struct core_reloc_chain_a___reordered reordered_chain_a;
struct core_reloc_chain_b___reordered reordered_chain_b;
struct core_reloc_chain_c___reordered reordered_chain_c;
