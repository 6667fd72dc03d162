// SPDX-License-Identifier: GPL-2.0
/*
 * fields_retyped.c - synthetic kernel: the synth_fields members keep their
 * names and order but change type:
 *   a      int            -> long            (compatible, 8 bytes)
 *   b      char           -> unsigned char   (compatible)
 *   c      long           -> int             (compatible, 4 bytes)
 *   p      void *         -> unsigned long   (pointer -> int: incompatible)
 *   arr    int[4]         -> int[2]          (arr[2] out of bounds: no match)
 *   mat    short[2][3]    -> short[2][4]     (row stride changes)
 *   inner  struct         -> union {x; y;}   (struct/union are compatible)
 *   u_int  int            -> enum            (int -> enum: incompatible)
 *   kind   enum           -> int             (enum -> int: incompatible)
 *   only_new unsigned int -> unsigned short
 *   flex   int[]          -> long long[]     (element size 8)
 *   chain_c.val int       -> unsigned int
 * Expected libbpf result: see README (matches with new offsets/sizes, or
 * poison for the incompatible ones).
 */
enum core_reloc_kind {
	CORE_KIND_A = 1,
	CORE_KIND_B = 2,
};

enum core_reloc_u_int_kind {
	CORE_UK_X = 0,
};

union core_reloc_inner {
	int x;
	int y;
};

struct core_reloc_fields {
	long a;
	unsigned char b;
	int c;
	unsigned long p;
	int arr[2];
	short mat[2][4];
	union core_reloc_inner inner;
	union {
		enum core_reloc_u_int_kind u_int;
		struct {
			short lo;
			short hi;
		};
	};
	int kind;
	unsigned short only_new;
	long long flex[];
};

typedef struct core_reloc_fields core_reloc_fields_t;

struct core_reloc_chain_c {
	int pad_c;
	unsigned int val;
};

struct core_reloc_chain_b {
	long pad_b;
	struct core_reloc_chain_c *c;
};

struct core_reloc_chain_a {
	int pad_a;
	struct core_reloc_chain_b *b;
};

core_reloc_fields_t *retyped_fields;
struct core_reloc_chain_a retyped_chain_a;
struct core_reloc_chain_b retyped_chain_b;
struct core_reloc_chain_c retyped_chain_c;
