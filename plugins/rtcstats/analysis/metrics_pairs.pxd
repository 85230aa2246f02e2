# Cython declarations that augment metrics_pairs.py when setup compiles it (see plugins/rtcstats/compiled.py):
# the .py stays the one source and runs unchanged as plain Python. The helpers the snapshot walk calls per
# sample or per snapshot become C functions (a compiled call to a def function goes through Python's call
# protocol, about 1,400 instructions); cdef functions are not importable when compiled, so the tests
# compare _selections and _walk_snapshots with the plain code they stand for.

cimport cython

cdef bint _selected(object value) except -1
cdef object _select(object walk, list ids, object selection, object t)
