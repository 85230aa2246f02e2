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
# The event candidates are dicts (_event_candidate, _sdp_candidates; _event_to_candidate and
# _same_candidate take nothing else): typed, their .get() calls in the de-duplication loop are C calls.
@cython.locals(parsed=dict)
cpdef list merge_candidates(object events, object tracks, object side)
cdef bint _failure_name(str name) except -1
