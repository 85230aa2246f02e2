# Cython declarations that augment metrics_pc.py when setup compiles it (see plugins/rtcstats/compiled.py):
# the .py stays the one source and runs unchanged as plain Python. A call from compiled code to one of its
# own def functions still goes through Python's call protocol (about 1,400 instructions with its argument
# parsing); the helpers called per event, per candidate report or per property read become C functions
# here (cdef: not importable from Python when compiled, so tests reach them through the public functions).

cimport cython

cdef object _of_value(dict cache, object function, object value)
cdef object _newest(dict props, object prop)
cdef object _set(dict props, object prop)
cdef object _set_of(dict props, object prop, object alias)
cdef object _text(object value)
cdef object _lower(object value)
cdef object _event_candidate(object value, object time)
cdef object _event_to_candidate(dict parsed, object index, object side)
cdef bint _same_candidate(dict parsed, object stat, object foundation, object address) except -1
cpdef object state_value(object value)
