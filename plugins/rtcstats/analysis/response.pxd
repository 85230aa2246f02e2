# Cython declarations that augment response.py when setup compiles it (see plugins/rtcstats/compiled.py):
# the .py stays the one source and runs unchanged as plain Python. The strict-JSON copy recurses through
# every dict and list of a response: cpdef makes those recursive calls C calls, and a dict argument lets
# Cython walk it with PyDict_Next. Values are untyped objects, so results are Python's, except the floats
# of the rounding: C doubles (x in the loops, _round2's value), the same IEEE arithmetic as Python's
# float without an object or a Python call per value (thousands of them in a response).

cimport cython

cpdef object _clean(object value)
@cython.locals(x=cython.double)
cpdef dict _clean_dict(dict value)
@cython.locals(x=cython.double)
cpdef dict _clean_dict_keys(dict value)
@cython.locals(x=cython.double)
cpdef list _clean_list(object value)
@cython.locals(scaled=cython.double, whole=cython.double, fraction=cython.double)
cpdef double _round2(double value)

# The helpers that each section calls per field, per stream or per candidate: C calls instead of calls
# through Python (thousands per response).
@cython.locals(clock=cython.longlong, day=cython.longlong, second=cython.longlong)
cpdef object iso_ms(object ms)
@cython.locals(whole=cython.double, fraction=cython.double)
cpdef object _whole(double value)
cpdef object _epoch(object ms)
cpdef object _duration(object start, object end)
cpdef object _summary(object series, dict memo=*)
cpdef dict _candidate(object c)
cpdef list _states(list items)
