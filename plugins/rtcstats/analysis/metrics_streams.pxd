# Cython declarations that augment metrics_streams.py when setup compiles it (see plugins/rtcstats/compiled.py):
# the .py stays the one source and runs unchanged as plain Python. StreamPass becomes an extension type, so
# its attributes are slots read without a dictionary lookup (a stream reads them hundreds of times);
# their values are the same Python objects either way. Every attribute StreamPass sets must be listed
# here (Cython refuses to compile one that is not).

cimport cython


cdef class StreamPass:
    cdef public object ctx
    cdef public object track
    cdef public object goog
    cdef public object sm
    cdef public list idx
    cdef public object times
    cdef public bint all_kept
    cdef public object times_arr
    cdef public dict _arrays
    cdef public dict _deltas
    cdef public object _snapshots
    cdef public object dtx
    cdef public object fec
