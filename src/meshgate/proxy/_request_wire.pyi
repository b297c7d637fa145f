# Types of the C module built from _request_wire.c (see request_wire.py, its Python reference).
_Fields = tuple[
    int, bytes, bytes, int, bytes, bytes, bytes, bool, bytes, bool, bytes, bytes, bytes, int, bool, bool
]

def request_fields(head: bytes, start: int, /) -> _Fields | None: ...
def lone_request(data: bytes, /) -> _Fields | None: ...
