# Cython declarations that augment lines.py when setup compiles it (see plugins/rtcstats/compiled.py):
# the .py stays the one source, and runs unchanged as plain Python when the extension is not built.
# The helpers a parser calls per event line are cpdef: still Python functions for the other modules, but
# their calls to each other (make_event -> event_name, normalize_state; add_event -> is_client_method)
# are C calls, not a global lookup and a vectorcall each.

cpdef as_number(value)
cpdef normalize_state(value)
cpdef is_client_method(name)
cpdef event_name(raw_name)
cpdef make_event(raw_name, value, extra, time)
cpdef add_event(dump, pc_id, event)
cdef _remember(dict cache, key, answer)
cdef object _new_event
