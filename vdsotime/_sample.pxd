from libc.stdint cimport int32_t

# The CPU this thread runs on (rdpid, rdtscp's TSC_AUX, or getcpu), or -1.
cdef int32_t current_cpu() noexcept nogil
