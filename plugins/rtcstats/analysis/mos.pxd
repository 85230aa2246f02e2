# Cython declarations that augment mos.py when setup compiles it (see plugins/rtcstats/compiled.py): the
# per-interval E-model in C doubles. The .py stays the one source and runs unchanged as plain Python; the
# C operations are the Python ones in the same order, so both paths give the same floats (setup.py turns
# off fused multiply-add contraction, which would round differently).

cimport cython  # makes the @cython.locals below take effect (without it they are silently ignored)

cdef double _positive(double x)
cdef bint _finite(double x)

@cython.locals(d=double)
cdef double _delay_impairment(double one_way_delay_ms)

@cython.locals(pl=double)
cdef double _loss_impairment(double loss_pct, double bpl, double ie)

@cython.locals(mos=double)
cdef double _r_to_mos(double r)

@cython.locals(d=double)
cdef double _audio_mos(double loss, double rtt, double jitter, double buffer, double bpl)

cdef double _interval_mos(double loss, double rtt, double jitter, double buffer, double bpl)

@cython.locals(k=Py_ssize_t)
cdef list _audio_mos_each(list loss, list rtt, list jitter, list buffer, double bpl)

@cython.locals(k=Py_ssize_t)
cdef list _interval_mos_each(list loss, list rtt, list jitter, list buffer, double bpl)

# metrics_streams looks the transport RTT up with it too (a Python method call per interval there)
cdef class LatestCursor:
    cdef list keys
    cdef list values
    cdef Py_ssize_t lo
    cdef double last

    @cython.locals(keys=list, x=double, n=Py_ssize_t, lo=Py_ssize_t, hi=Py_ssize_t, mid=Py_ssize_t,
                   step=Py_ssize_t)
    cpdef double at(self, double time, double max_age_ms)

@cython.locals(k=Py_ssize_t, lost=double, t=double, r=double, j=double, value=double, rtt_at=LatestCursor,
               jitter_at=LatestCursor, kept_times=list, kept_values=list)
cpdef tuple interval_mos_scored(list times, list snaps, list carried, list loss, list buffer, tuple rtt,
                                tuple jitter, double bpl)
