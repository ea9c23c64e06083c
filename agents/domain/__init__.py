"""Pure domain logic: state and functions, no faust, kafka or cassandra imports.

The classes made per message (readings, rows, contributions, and the parts of a decoded
charger state) are dataclasses with ``init=False`` and an ``__init__`` written out. The
install compiles this package (mypyc), but the ``__init__`` that ``@dataclass`` generates
is interpreted still, and cost ~5x a compiled one (~6x a frozen one): ~8 % of the worker's
CPU (py-spy, bench/RESULTS.md, session 18). So these are not frozen either: mypyc will not
compile an ``__init__`` that assigns a frozen field. They are values all the same, never
changed once made unless their docstring says they are state. The classes made once per
run (rules) keep the generated ``__init__``."""
