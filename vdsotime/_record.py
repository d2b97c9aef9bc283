"""Small immutable records: tuples with named fields.

The idea of ``collections.namedtuple`` without importing ``collections``, which costs
about 3 ms in a fresh interpreter -- most of vdsotime's import budget.
"""


def record(typename, field_names, doc=None, defaults=()):
    """A tuple subclass named ``typename`` whose items are also attributes.

    ``field_names`` is a space-separated string; ``defaults`` apply to the last fields.
    Records compare, hash, sort and unpack as tuples, and have ``_fields``,
    ``_asdict()`` and ``_replace(**changes)`` as namedtuples do.
    """
    fields = tuple(field_names.split())
    defaults = tuple(defaults)
    required = len(fields) - len(defaults)

    def __new__(cls, *args, **kwargs):
        if len(args) > len(fields):
            raise TypeError(f"{typename}() takes {len(fields)} arguments, got {len(args)}")
        values = list(args) + [None] * (len(fields) - len(args))
        given = [True] * len(args) + [False] * (len(fields) - len(args))
        for name, value in kwargs.items():
            try:
                index = fields.index(name)
            except ValueError:
                raise TypeError(f"{typename}() got an unexpected argument {name!r}") from None
            if given[index]:
                raise TypeError(f"{typename}() got two values for {name!r}")
            values[index], given[index] = value, True
        for index in range(len(fields)):
            if not given[index]:
                if index < required:
                    raise TypeError(f"{typename}() is missing the argument {fields[index]!r}")
                values[index] = defaults[index - required]
        return tuple.__new__(cls, values)

    def __repr__(self):
        items = ", ".join(f"{name}={value!r}" for name, value in zip(fields, self))
        return f"{type(self).__name__}({items})"

    def _asdict(self):
        return dict(zip(fields, self))

    def _replace(self, **changes):
        return type(self)(**{**dict(zip(fields, self)), **changes})

    def __getnewargs__(self):
        return tuple(self)

    namespace = {
        "__slots__": (), "__doc__": doc, "_fields": fields, "__new__": __new__,
        "__repr__": __repr__, "_asdict": _asdict, "_replace": _replace,
        "__getnewargs__": __getnewargs__, "__module__": "vdsotime",
    }
    for index, name in enumerate(fields):
        namespace[name] = property(lambda self, _index=index: tuple.__getitem__(self, _index),
                                   doc=f"Field {index}: {name}")
    return type(typename, (tuple,), namespace)
