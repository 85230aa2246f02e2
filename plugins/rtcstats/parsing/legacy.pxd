# Cython declarations that augment legacy.py when setup compiles it (see plugins/rtcstats/compiled.py):
# the .py stays the one source, and runs unchanged as plain Python when the extension is not built.
# The parser becomes an extension type: its attributes are C fields (no instance-dict lookup per line) and
# the per-line methods are C calls (no method lookup and vectorcall per line); _count and _decide stay
# callable from Python (LegacyStats holds them as bound methods).

cimport cython


cdef class _LegacyParser:
    cdef public object raw
    cdef public object dump
    cdef public object semantics
    cdef public set seen_heads
    cdef public dict stats
    cdef public dict last_stats_time
    cdef public object client_user_agent
    cdef public object info_user_agent
    cdef public list connection_info
    cdef public dict counts
    cdef public dict kinds

    @cython.locals(size=Py_ssize_t, pos=Py_ssize_t, end=Py_ssize_t, lineno=Py_ssize_t, lines=Py_ssize_t,
                   watching=bint)
    cpdef run(self)
    cdef _finish(self)
    cpdef _count(self, text, lineno)
    cdef _line(self, lineno, item)
    cdef _watch(self, item, Py_ssize_t start, Py_ssize_t end)
    cpdef _decide(self)
    cdef _kind(self, method)
    cdef _untimed(self, lineno, kind, value)
    cdef _connection_info(self, lineno, value, time)
    cdef _client_event(self, lineno, method, kind, value, time, extra, pc_id)
    cdef _identity(self, value)
    @cython.locals(fields=dict)
    cdef _getstats(self, lineno, pc_id, value, time)
