# Cython declarations that augment scores.py when setup compiles it (see plugins/rtcstats/compiled.py):
# the .py stays the one source and runs unchanged as plain Python. values_at_list's walk over the times
# of a series (float lists, checked by its caller) compares C doubles, the same IEEE comparisons and sums
# as Python's floats, without an object per step.

cimport cython

@cython.locals(count=cython.Py_ssize_t, found=cython.Py_ssize_t, time=cython.double, bound=cython.double,
               key=cython.double, last=cython.double, tolerance=cython.double)
cpdef list _walk_values_at(object keys, object values, object times)
@cython.locals(x=cython.double, previous=cython.double)
cpdef bint _finite_floats(object items, bint ordered)
