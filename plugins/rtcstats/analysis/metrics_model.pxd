# Cython declarations that augment metrics_model.py when setup compiles it (see plugins/rtcstats/compiled.py):
# the .py stays the one source and runs unchanged as plain Python. _float_squares squares C doubles with
# the C library's pow(), the function Python's ** calls for floats; _TWO is a C variable so that the
# compiler cannot replace pow(d, 2.0) by d * d.

cimport cython

cdef double _TWO

cdef double _power(double base, double exponent)

@cython.locals(k=Py_ssize_t, m=double, deviation=double, square=double, out=list)
cpdef list _float_squares(values, mean)

# Series.summary of a list: sorted once, then C arithmetic for the mean and the ranks.
@cython.locals(position=double, index=Py_ssize_t)
cdef Py_ssize_t _rank(Py_ssize_t n, double share)

@cython.locals(ordered=list, n=Py_ssize_t, few=bint, avg=double)
cpdef dict _list_summary(values)
cpdef object summarize(values)

# math.fsum's algorithm on C doubles: `partials` a C array, every step C arithmetic (no FMA: setup.py).
@cython.locals(
    partials=cython.double[64], count=Py_ssize_t, kept=Py_ssize_t, k=Py_ssize_t, j=Py_ssize_t,
    m=double, last=double, square=double, x=double, y=double, high=double, low=double, total=double,
)
cpdef object _float_fsum(list values, double mean, bint squares)
