# Cython declarations that augment metrics_streams.py when setup compiles it (see plugins/rtcstats/compiled.py):
# the .py stays the one source and runs unchanged as plain Python. StreamPass becomes an extension type, so
# its attributes are slots read without a dictionary lookup (a stream reads them hundreds of times);
# their values are the same Python objects either way. Every attribute StreamPass sets must be listed
# here (Cython refuses to compile one that is not).

cimport cython


cdef class StreamPass:
    cdef public object ctx
    cdef public object track
    cdef public object goog
    cdef public object sm
    cdef public list idx
    cdef public object times
    cdef public bint all_kept
    cdef public object times_arr
    # the stream's float buffer and its interval masks, and their typed views, set up once per stream:
    # the loops below take rows of them without a memoryview set-up per call
    cdef public object buf
    cdef double[:, ::1] view
    cdef Py_ssize_t _used
    cdef public object flags
    cdef unsigned char[:, ::1] flag_view
    cdef public dict _rows
    cdef public dict _delta_rows
    cdef public Py_ssize_t _snapshots
    cdef public object dtx
    cdef public object fec


# Series filling of short streams: one loop over C doubles (the arrays' own buffers, no copy). A numpy
# bool array is read as unsigned char (its buffer format '?' is accepted for it).
@cython.locals(k=Py_ssize_t, value=double, kept_times=list, kept_values=list)
cpdef _extend_loop(series, const double[:] times, const double[:] values, const unsigned char[:] keep, bint masked)

@cython.locals(k=Py_ssize_t, a=double, b=double)
cpdef _deltas_into(const double[:] values, double[:] out)

@cython.locals(k=Py_ssize_t, n=Py_ssize_t, first=Py_ssize_t, last=Py_ssize_t, has_bytes=bint, flow=bint, step=double)
cpdef _interval_flags(const double[:] times, const double[:] byte_values, const double[:] d_packets,
                     const double[:] d_bytes, double[:] dt, unsigned char[:, :] flags)

@cython.locals(k=Py_ssize_t, idle_intervals=Py_ssize_t, idle_ms=double, span=double, step=double, kbps=double,
               kept_times=list, kept_values=list)
cpdef _bitrate_loop(sm, const double[:] times, const double[:] dt, const double[:] d_bytes,
                   const unsigned char[:] active, const unsigned char[:] carried)

@cython.locals(k=Py_ssize_t, step=double, span=double)
cpdef _rate_into(const double[:] deltas, const double[:] dt, double scale, double[:] out)

@cython.locals(k=Py_ssize_t, step=double, base=double)
cpdef _ratio_into(const double[:] d_num, const double[:] d_den, double scale, double[:] out)

@cython.locals(k=Py_ssize_t, a=double, b=double)
cpdef bint _steady(list values)

@cython.locals(k=Py_ssize_t, resets=Py_ssize_t, first=Py_ssize_t, last=Py_ssize_t, b=double)
cpdef _span_of(const double[:] values, const double[:] increments)

@cython.locals(k=Py_ssize_t, count=Py_ssize_t, l0=double, l1=double, s0=double, s1=double, d_lost=double,
               d_sent=double, missing=double, loss=double)
cpdef Py_ssize_t _loss_vs_sent_into(const double[:] times, const double[:] lost, const double[:] sent,
                                    double[:, :] out)

@cython.locals(k=Py_ssize_t, t=double, jitter=double, rtt=double, jitter_times=list, jitter_values=list,
               rtt_times=list, rtt_values=list)
cpdef tuple _receiver_values(sm, const double[:] times, const double[:] jitters, const double[:] rtts,
                             const double[:] measured, double start, double until)

@cython.locals(k=Py_ssize_t)
cpdef _floats_into(list values, double[:] out)

@cython.locals(k=Py_ssize_t, value=double, kept_times=list, kept_values=list)
cpdef _extend_at(series, const double[:] times, const double[:] snaps, const unsigned char[:] carried, list keys,
                 list values, double max_age_ms)

@cython.locals(k=Py_ssize_t)
cpdef _picked_into(list values, list idx, double[:] out)

@cython.locals(k=Py_ssize_t)
cpdef _scaled_into(const double[:] values, double scale, double[:] out)

@cython.locals(k=Py_ssize_t, step=double, d_lost=double, missing=double, expected=double, value=double)
cpdef _inbound_loss_into(const double[:] lost, const double[:] received, const double[:] d_packets,
                         double[:] loss, unsigned char[:] counted)

@cython.locals(k=Py_ssize_t, count=Py_ssize_t)
cpdef Py_ssize_t _count_stalled(const double[:] emitted, const unsigned char[:] carried)
