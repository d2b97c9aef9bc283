"""Small immutable records: tuples with named fields, declared as annotated classes.

    class VdsoInfo(Record):
        __slots__ = ()
        present: bool
        soname: str | None = None      # a default, as in typing.NamedTuple

The idea of ``typing.NamedTuple`` without importing ``typing`` or ``collections``, which
cost milliseconds in a fresh interpreter -- most of vdsotime's import budget. Type
checkers read the annotations: ``record.pyi`` marks ``Record`` with
``dataclass_transform``, so ``VdsoInfo(True, ...)`` is checked field by field, and each
record class gets an ``__init__`` with exactly its fields as parameters, so that
``help()``, ``inspect`` and ``stubtest`` see the same signature.
"""


def _own_annotations(cls):
    """The names a class body annotated, in order (not its bases'). Python 3.14 evaluates
    annotations lazily (PEP 649): the class's dict then holds no ``__annotations__``, and
    annotationlib reads them, as forward references where a name is not defined yet."""
    try:
        import annotationlib
    except ImportError:  # before 3.14
        return cls.__dict__.get("__annotations__", {})
    return annotationlib.get_annotations(cls, format=annotationlib.Format.FORWARDREF)


class Record(tuple):
    """Base of vdsotime's records: a tuple whose items are also attributes.

    Records compare, hash, sort, pickle and unpack as tuples, and have ``_fields``,
    ``_field_defaults``, ``_asdict()``, ``_replace(**changes)`` and ``_make(iterable)``
    as namedtuples do, and ``copy.replace()`` works on them (Python 3.13 and later).
    """

    __slots__ = ()
    _fields = ()
    _field_defaults = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        names = tuple(name for name in _own_annotations(cls) if not name.startswith("_"))
        fields = tuple(cls._fields) + names
        defaults = dict(cls._field_defaults)
        for name in names:
            if name in cls.__dict__:
                defaults[name] = cls.__dict__[name]
            elif defaults:
                raise TypeError(f"{cls.__name__}: field {name!r} without a default follows "
                                "fields with defaults")
        cls._fields = fields
        cls._field_defaults = defaults
        for index, name in enumerate(names, len(fields) - len(names)):
            setattr(cls, name, property(lambda self, _index=index: tuple.__getitem__(self, _index),
                                        doc=f"Field {index}: {name}"))
        # An __init__ with the fields as parameters (tuple.__new__ does the work; this
        # one only carries the signature), written as namedtuple writes its __new__.
        parameters = ", ".join(name + (f"=_defaults[{name!r}]" if name in defaults else "")
                               for name in fields)
        namespace = {"_defaults": defaults}
        exec(f"def __init__(self, {parameters}):\n    pass\n", namespace)
        namespace["__init__"].__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = namespace["__init__"]

    def __new__(cls, *args, **kwargs):
        fields = cls._fields
        if len(args) > len(fields):
            raise TypeError(f"{cls.__name__}() takes {len(fields)} arguments, got {len(args)}")
        values = list(args)
        for name in fields[len(args):]:
            if name in kwargs:
                values.append(kwargs.pop(name))
            elif name in cls._field_defaults:
                values.append(cls._field_defaults[name])
            else:
                raise TypeError(f"{cls.__name__}() is missing the argument {name!r}")
        if kwargs:
            name = next(iter(kwargs))
            raise TypeError(f"{cls.__name__}() got "
                            + (f"two values for {name!r}" if name in fields
                               else f"an unexpected argument {name!r}"))
        return tuple.__new__(cls, values)

    def __repr__(self):
        items = ", ".join(f"{name}={_short(value, _is_duration(name))}"
                          for name, value in zip(self._fields, self))
        return f"{type(self).__name__}({items})"

    def _asdict(self):
        return dict(zip(self._fields, self))

    def _replace(self, **changes):
        return type(self)(**{**self._asdict(), **changes})

    __replace__ = _replace  # copy.replace(record, field=value), Python 3.13 and later

    @classmethod
    def _make(cls, iterable):
        return cls(*iterable)

    def __getnewargs__(self):
        return tuple(self)


def _is_duration(name):
    """Whether a field holds a duration in ns, by vdsotime's naming: ``*_ns`` and
    ``*ns_per_call`` -- except ``start*_ns``, a clock reading (an instant, not a
    duration)."""
    return ((name.endswith("_ns") or name.endswith("ns_per_call"))
            and not name.startswith("start"))


def _short(value, duration=False):
    """repr() for people: a duration with its unit and fixed decimals ('20.2 ns',
    '850 ns', '12.35 us', '4.00 ms': one decimal for a float below 1 us, else
    ``format_ns``'s), other floats to 6 significant digits (1.02346, not
    1.0234567891 -- a percentile's binary fraction), tuples and lists item by item.
    ``_asdict()``, ``to_dict()``, JSON and the attributes keep the exact values."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if type(value) in (tuple, list):
        items = [_short(item, duration) for item in value]
        if type(value) is list:
            return f"[{', '.join(items)}]"
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    from numbers import Integral, Real  # here: numbers is not imported with vdsotime

    if duration and isinstance(value, Real):
        from vdsotime._core.formatting import format_ns

        if not isinstance(value, Integral) and abs(value) < 999.95:
            return format_ns(value, 1)
        return format_ns(value)
    if isinstance(value, float):
        text = format(value, ".6g")
        return text + ".0" if text.lstrip("-").isdigit() else text  # 1.0, not 1
    return repr(value)


def record(typename, field_names, doc=None, defaults=()):
    """A Record class named ``typename`` with the fields of the space-separated
    ``field_names`` (``defaults`` apply to the last ones): for the compiled modules,
    whose stubs declare the fields' types."""
    fields = field_names.split()
    namespace = {"__slots__": (), "__doc__": doc, "__module__": "vdsotime",
                 "__annotations__": {name: "object" for name in fields}}
    namespace.update(zip(fields[len(fields) - len(defaults):], defaults))
    return type(typename, (Record,), namespace)
