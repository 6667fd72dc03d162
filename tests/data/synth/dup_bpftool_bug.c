// SPDX-License-Identifier: GPL-2.0
/*
 * dup_bpftool_bug.c - synthetic kernel for synth_dup: two candidates share
 * the essential name 'core_reloc_dup':
 *   A = struct core_reloc_dup      { int shared; int other_a; }  (lower id)
 *   B = struct core_reloc_dup___b  { int shared; long pad; int only_b; }
 * libbpf on THIS BTF: relo #0 (shared) matches A and B at offset 0, relo #1
 * (only_b) matches B only -> offset 16.
 * bpftool 7.1 output keeps A{shared} and B{only_b}; libbpf on that output:
 * relo #0 matches only A (B lost 'shared'), the candidate list is pruned to
 * [A], relo #1 finds no match and is POISONED.
 */
struct core_reloc_dup {
	int shared;
	int other_a;
};

struct core_reloc_dup___b {
	int shared;
	long pad;
	int only_b;
};

struct core_reloc_dup bug_dup_a;
struct core_reloc_dup___b bug_dup_b;
