# Cython declarations that augment internals_stats.py when setup compiles it (see plugins/rtcstats/compiled.py):
# the .py stays the one source, and runs unchanged as plain Python when the extension is not built.
# Only C types of locals and signatures are declared here, so both paths give the same values.

cimport cython


@cython.locals(kinds=int, kind=type)
cpdef int _number_kinds(list values) except -1

cpdef bint _only_str(list values) except -1
