# Cython declarations that augment metrics_model.py when setup compiles it (see plugins/rtcstats/compiled.py):
# the .py stays the one source and runs unchanged as plain Python. _float_squares squares C doubles with
# the C library's pow(), the function Python's ** calls for floats; _TWO is a C variable so that the
# compiler cannot replace pow(d, 2.0) by d * d.

cimport cython

cdef double _TWO

cdef double _power(double base, double exponent)

@cython.locals(k=Py_ssize_t, m=double, deviation=double, square=double, out=list)
cpdef list _float_squares(values, mean)
