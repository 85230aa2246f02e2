# Cython declarations that augment legacy_tracks.py when setup compiles it (see plugins/rtcstats/compiled.py):
# the .py stays the one source, and runs unchanged as plain Python when the extension is not built.
# Only C types of locals, attributes and signatures are declared here, so both paths give the same values.
# `cimport cython` is what makes the @cython.locals below take effect (without it they are ignored).

cimport cython

cdef object _ABSENT
cdef object _new_track


cdef class _Stat:
    cdef public object track
    cdef public Py_ssize_t alive_from
    cdef public Py_ssize_t offset
    cdef public list runs
    cdef public dict first
    cdef public Py_ssize_t first_index
    cdef public dict changes
    cdef public object stamp
    cdef public list stamps
    cdef public bint sent_again

    cpdef Py_ssize_t samples(self, Py_ssize_t snapshot)


cdef class LegacyStats:
    cdef public object pc
    cdef public object count
    cdef public object decide
    cdef public dict stats
    cdef public dict alive

    # index stays a Python int: it is appended once per value, so it is boxed once per report
    # key: str, as every key of a JSON object is, so the compares against literals are C compares
    @cython.locals(snapshot=Py_ssize_t, stat=_Stat, alive=dict, delta=dict, changes_of=dict,
                   changes=list, stamps=list, index=object, known=bint, key=str, size=Py_ssize_t,
                   alive_before=Py_ssize_t, found=Py_ssize_t, timestamp_key=str, stamp_time=object,
                   first=dict)
    cpdef add(self, lineno, dict value, time, stamp, int remove_absent)

    @cython.locals(stat=_Stat, index=Py_ssize_t, tracks=dict, fields=dict)
    cdef tuple _other(self, lineno, stat_id, report, stamp, Py_ssize_t snapshot)

    @cython.locals(stat=_Stat, end=Py_ssize_t, total=Py_ssize_t, first=Py_ssize_t, props=dict,
                   changes=list, changes_of=dict)
    cpdef finish(self)


@cython.locals(columns=dict, key=str, size=Py_ssize_t)
cdef dict _first_values(object track, dict delta)

@cython.locals(first=dict, changes_of=dict, merged=dict)
cdef _merge_first(_Stat stat)

@cython.locals(first=Py_ssize_t, count=Py_ssize_t, last=Py_ssize_t, column=list)
cdef list _fill_present(list changes, Py_ssize_t total)

@cython.locals(count=Py_ssize_t, position=Py_ssize_t, stop=Py_ssize_t, sample=Py_ssize_t, column=list)
cdef list _fill(list changes, Py_ssize_t total)
