"""Reading the clocks: the ELF reader, the auxiliary vector, the per-ABI key tables, the
vDSO resolution and its function table, the Python scalars, argument rules, records and
machine facts. Nothing here imports numpy; nothing here imports another wing."""
