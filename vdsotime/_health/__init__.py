"""Clock health: the doctor (``doctor``) and its system-call probe and adjtimex reader
(``probe``). A sibling of ``_bench``: it uses ``_core`` and ``_loops`` only."""
