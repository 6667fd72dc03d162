"""Getting bytes in: file access, ELF, BTF containers and archives,
``.BTF.ext`` and BPF objects.

Owns: ``files`` (bounded reads, atomic writes), ``elf`` (section access),
``containers`` (raw/xz/gz/tar/ELF BTF sources, sysfs), ``ext`` (.BTF.ext
parsing), ``objects`` (``BpfObject``, which satisfies ``core.CoreObject``),
``kernel`` (``open_kernel``: a kernel and its modules as a ``Target``).
May import: ``btfembed.errors``, ``btfembed.btf``, ``btfembed.core`` (its
plain records).
"""
