from collections.abc import Iterable

STATUS_BITS: dict[str, int]
CLOCK_STATES: dict[int, str]

def adjtimex_read() -> dict[str, int]: ...
def syscall_probe(clock_ids: Iterable[int]) -> tuple[list[bool | int] | None, str | None]: ...
