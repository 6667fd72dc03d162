#!/usr/bin/env bash
# Rebuild the CO-RE test corpus in tests/data/ from its sources.
#
#   tests/data/progs/<name>.bpf.c -> tests/data/objs/<name>.el.o   (-target bpfel)
#                                    tests/data/objs/<name>.eb.o   (-target bpfeb)
#   tests/data/progs/tracer.bpf.c -> tests/data/objs/tracer.arm64.el.o
#                                    (-D__TARGET_ARCH_arm64 instead of _x86)
#   tests/data/objs/task_small.el.o -> tests/data/objs/task_small.nobtfext.el.o
#                                    (.BTF.ext removed)
#   tests/data/synth/<name>.c     -> tests/data/synth/<name>.o    (ELF, .BTF)
#                                    tests/data/synth/<name>.btf  (raw .BTF bytes)
#
# Sources whose name ends in "_c19" are built with clang-19 (TYPE_MATCHES
# and ENUM64 need clang >= 15); everything else with the default clang (14
# on Debian bookworm).  Override with CLANG=... / CLANG19=... / OBJCOPY=...
#
# Outputs are reproducible: the script always runs from the repository root,
# passes relative source paths and maps the build directory to "." in the
# debug info (BTF line info and DWARF contain file names), so rebuilding
# gives identical bytes.  It is idempotent: it rewrites every output.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

CLANG=${CLANG:-clang}
CLANG19=${CLANG19:-clang-19}
OBJCOPY=${OBJCOPY:-llvm-objcopy}

die() {
	echo "build-test-data: error: $*" >&2
	exit 1
}

for tool in "$CLANG" "$CLANG19" "$OBJCOPY"; do
	command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH (needed to rebuild tests/data)"
done
clang19_major=$("$CLANG19" -dumpversion | cut -d. -f1)
[ "$clang19_major" -ge 15 ] || die "'$CLANG19' is clang $clang19_major; clang >= 15 is needed for *_c19 sources"

PROGS=tests/data/progs
SYNTH=tests/data/synth
OBJS=tests/data/objs
mkdir -p "$OBJS"

COMMON=(-O2 -g -Wall -fdebug-prefix-map="$ROOT"=.)

compiler_for() {
	case "$1" in
	*_c19) echo "$CLANG19" ;;
	*) echo "$CLANG" ;;
	esac
}

run() {
	echo "  $*"
	"$@"
}

echo "== BPF programs ($PROGS -> $OBJS)"
shopt -s nullglob
progs=("$PROGS"/*.bpf.c)
[ ${#progs[@]} -gt 0 ] || die "no sources in $PROGS"
for src in "${progs[@]}"; do
	name=$(basename "$src" .bpf.c)
	cc=$(compiler_for "$name")
	run "$cc" "${COMMON[@]}" -target bpfel -D__TARGET_ARCH_x86 -c "$src" -o "$OBJS/$name.el.o"
	run "$cc" "${COMMON[@]}" -target bpfeb -D__TARGET_ARCH_x86 -c "$src" -o "$OBJS/$name.eb.o"
done

# arm64 flavour of the large tracer: pt_regs accesses become user_pt_regs /
# pt_regs___arm64 relocations.
run "$CLANG" "${COMMON[@]}" -target bpfel -D__TARGET_ARCH_arm64 \
	-c "$PROGS/tracer.bpf.c" -o "$OBJS/tracer.arm64.el.o"

# An object with .BTF but without .BTF.ext (the .rel.BTF.ext section goes
# with it).  no_core.el.o is the object with .BTF.ext but no CO-RE records.
run "$OBJCOPY" --remove-section=.BTF.ext --remove-section=.rel.BTF.ext \
	"$OBJS/task_small.el.o" "$OBJS/task_small.nobtfext.el.o"

echo "== synthetic kernels ($SYNTH)"
kernels=("$SYNTH"/*.c)
[ ${#kernels[@]} -gt 0 ] || die "no sources in $SYNTH"
for src in "${kernels[@]}"; do
	name=$(basename "$src" .c)
	cc=$(compiler_for "$name")
	run "$cc" "${COMMON[@]}" -target bpfel -c "$src" -o "$SYNTH/$name.o"
	run "$OBJCOPY" --dump-section .BTF="$SYNTH/$name.btf" "$SYNTH/$name.o"
	[ -s "$SYNTH/$name.btf" ] || die "$SYNTH/$name.o has no .BTF section"
done

echo "== done: $(ls "$OBJS"/*.o | wc -l) objects, ${#kernels[@]} synthetic kernels"
