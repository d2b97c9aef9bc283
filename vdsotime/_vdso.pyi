from typing import Any

from vdsotime import Binding as Binding, ElfImage

NATIVE_ABI: str
TIME_T_BITS: int  # libc's time_t on this build; the table's seconds are 64-bit everywhere
API_FUNCTIONS: tuple[str, ...]
# abi: (version, elf_hash(version), ((function, symbol, elf_hash, gnu_hash, layout), ...))
KEY_TABLES: dict[str, tuple[str, int, tuple[tuple[str, str, int, int, str], ...]]]
TIME32_FUNCTIONS: frozenset[str]
LAYOUT_NOTES: dict[str, str | None]
CAPSULE_NAME: str
function_table: Any  # a PyCapsule

def resolve(data: bytes | bytearray | memoryview,
            abi: str | None = None) -> dict[str, Binding | str]: ...
def bindings() -> dict[str, Binding]: ...
def fallback_reason() -> str | None: ...
def live_image() -> ElfImage | None: ...
def address(name: str) -> int: ...
def sys_clock_gettime_ns(clock_id: int) -> int: ...
