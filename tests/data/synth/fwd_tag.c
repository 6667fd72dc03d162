// SPDX-License-Identifier: GPL-2.0
/*
 * fwd_tag.c - synthetic kernel for synth_fwd and synth_type_tag, plus BTF
 * kinds the other synthetic kernels do not contain.
 *   core_reloc_opaque_t    TYPEDEF -> PTR -> FWD
 *   core_reloc_user_int_t  TYPEDEF -> PTR -> TYPE_TAG("user") -> INT
 *   struct core_reloc_has_fwd_ptr, struct core_reloc_tagged: same as local
 * Extra kinds: DECL_TAG (on a struct, a member, a function and a
 * parameter), FLOAT, VOLATILE, RESTRICT, CONST, FUNC/FUNC_PROTO with named
 * parameters, TYPE_TAG inside a struct member.
 * Expected libbpf result: TYPE_EXISTS 1 / TYPE_SIZE 8 for both typedefs,
 * field relocations match.  bpftool 7.1 fails: "unsupported kind: fwd" /
 * "unsupported kind: type_tag".
 */
struct core_reloc_opaque;
typedef struct core_reloc_opaque *core_reloc_opaque_t;

typedef int __attribute__((btf_type_tag("user"))) *core_reloc_user_int_t;

struct core_reloc_has_fwd_ptr {
	struct core_reloc_opaque *o;
	int x;
};

struct core_reloc_tagged {
	long pad;
	int __attribute__((btf_type_tag("user"))) *uptr;
};

struct __attribute__((btf_decl_tag("synthetic"))) core_reloc_misc_kinds {
	float f;
	double d;
	volatile int vi;
	const char *cstr;
	int *__restrict rp;
	long tagged_member __attribute__((btf_decl_tag("member_tag")));
};

core_reloc_opaque_t tag_opaque;
core_reloc_user_int_t tag_user_int;
struct core_reloc_has_fwd_ptr tag_has_fwd_ptr;
struct core_reloc_tagged tag_tagged;

__attribute__((btf_decl_tag("kfunc_like"), noinline))
int core_reloc_misc_func(struct core_reloc_misc_kinds *m,
			 int scale __attribute__((btf_decl_tag("param_tag"))))
{
	return m->vi * scale + (int)m->tagged_member;
}
