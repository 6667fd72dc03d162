"""BTF itself: the wire format, string tables, the type model, the lazy
reader, the writer and the text dump.

Owns: ``wire`` (header, info bits, per-kind record layouts), ``strings``,
``types`` (decoded types), ``reader`` (class ``BTF``: lazy, indexed),
``writer`` (``Builder``), ``dump`` (bpftool-style text).
May import: ``btfembed.errors`` only.  Knows nothing of files, ELF or CO-RE.
"""
