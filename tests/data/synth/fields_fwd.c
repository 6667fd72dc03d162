// SPDX-License-Identifier: GPL-2.0
/*
 * fields_fwd.c - synthetic kernel: core_reloc_fields exists only as a
 * forward declaration (BTF_KIND_FWD), reached directly and through the
 * typedef core_reloc_fields_t, while the program has the full struct.
 * The chain types are complete.
 * Expected libbpf result: a STRUCT root has no candidate (kind mismatch)
 * and the typedef root's candidate does not resolve to a composite, so
 * every core_reloc_fields relocation is poisoned / FIELD_EXISTS = 0; the
 * chain relocations match.
 */
struct core_reloc_fields;

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

core_reloc_fields_t *fwd_fields;
struct core_reloc_fields *fwd_fields_plain;
struct core_reloc_chain_a fwd_chain_a;
struct core_reloc_chain_b fwd_chain_b;
struct core_reloc_chain_c fwd_chain_c;
