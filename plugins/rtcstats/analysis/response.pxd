# Cython declarations that augment response.py when setup compiles it (see plugins/rtcstats/compiled.py):
# the .py stays the one source and runs unchanged as plain Python. The strict-JSON copy recurses through
# every dict and list of a response: cpdef makes those recursive calls C calls, and a dict argument lets
# Cython walk it with PyDict_Next. Values are untyped objects, so results are Python's.

cimport cython

cpdef object _clean(object value)
cpdef dict _clean_dict(dict value)
cpdef list _clean_list(object value)
