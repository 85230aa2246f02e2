# Cython declarations that augment metrics_values.py when setup compiles it (see plugins/rtcstats/compiled.py):
# the .py stays the one source and runs unchanged as plain Python. num() is called per value from this
# module's own loops (nums): cpdef makes those C calls, other modules still call it as a Python function.

cimport cython

@cython.locals(x=double)
cpdef object num(object value)

@cython.locals(k=Py_ssize_t, x=double, got=list, seq=list)
cpdef list nums_into(values, double[:] out)

@cython.locals(k=Py_ssize_t)
cpdef bint _increasing_floats(list times, list values)

@cython.locals(k=Py_ssize_t, t=double)
cpdef bint _epoch_floats_increasing(own, Py_ssize_t n)
