"""Pure domain logic: state and functions, no faust, kafka or cassandra imports.

The classes made for every message or decoded state (readings, sample rows,
contributions, the envelope, and the parts of a charger's meter state and status) are
dataclasses with ``init=False`` and an ``__init__`` written out. The install compiles this
package with mypyc, but the ``__init__`` that ``@dataclass`` generates stays interpreted:
~0.25 us a call, ~1 us for a frozen class, against ~0.05 us compiled. A decoded meter
state makes one Point per reading held (bench/RESULTS.md, session 18). mypyc will not
compile an ``__init__`` that assigns a frozen field, so these classes are not frozen. The
ones that are values (Envelope, MeterReading, SampleRow, Contribution, StatusEvent, Point)
are still never changed once made. The rest are state the domain functions change.
The classes made less often (rules, alerts, faults, stage 2's changes and buckets) keep
the generated ``__init__``."""
