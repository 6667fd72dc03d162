// SPDX-License-Identifier: GPL-2.0
/*
 * fields_nested.c - synthetic kernel: the synth_fields members moved into
 * (or out of) anonymous structs and unions, names unchanged:
 *   a, b       -> inside an anonymous struct
 *   c, p       -> inside an anonymous union inside an anonymous struct
 *   arr        -> inside an anonymous union next to an alias 'arr_alias'
 *   u_int, lo, hi -> direct members (the local anonymous union/struct
 *                 levels are gone)
 *   chain_b.c  -> inside an anonymous union
 * Expected libbpf result: every relocation matches; the target access path
 * (raw spec) gains/loses the anonymous levels, offsets change.
 */
enum core_reloc_kind {
	CORE_KIND_A = 1,
	CORE_KIND_B = 2,
};

struct core_reloc_inner {
	int x;
	int y;
};

struct core_reloc_fields {
	struct {
		int a;
		char b;
	};
	struct {
		long pad0;
		union {
			struct {
				long c;
				void *p;
			};
			char raw[16];
		};
	};
	union {
		int arr[4];
		unsigned int arr_alias[4];
	};
	short mat[2][3];
	struct core_reloc_inner inner;
	int u_int;
	short lo;
	short hi;
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
	union {
		struct core_reloc_chain_c *c;
		unsigned long c_addr;
	};
};

struct core_reloc_chain_a {
	int pad_a;
	struct core_reloc_chain_b *b;
};

core_reloc_fields_t *nested_fields;
struct core_reloc_chain_a nested_chain_a;
struct core_reloc_chain_b nested_chain_b;
struct core_reloc_chain_c nested_chain_c;
