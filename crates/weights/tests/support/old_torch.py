"""Legacy torch.save files as PyTorch 0.3 and 0.4 wrote them under Python 2.7.

Current PyTorch and Python 3 can no longer write these, so they are built opcode by opcode,
the way Python 2.7's cPickle (protocol 2) laid them out: the layout below is that of files
shipped in the wild (lpips 0.1.4's `weights/v0.0/*.pth`, saved by PyTorch 0.3, and
`weights/v0.1/*.pth`, saved by 0.4, both under Python 2 with storages on cuda:0):

- Python 2 `str` keys are SHORT_BINSTRING (`U`), memoized with BINPUT unless shorter than
  two bytes;
- an OrderedDict is `REDUCE(collections.OrderedDict, ([[key, value], ...],))`: its items
  are one argument, a list of two-item *lists* (Python 2's pure-Python `__reduce__`), and
  an instance attribute such as a state dict's `_metadata` follows as `BUILD({...})`;
- PyTorch 0.3 pickles a tensor as `_rebuild_tensor(storage, offset, size, stride)` with
  the sizes as Python 2 `long`s (LONG1); 0.4 as `_rebuild_tensor_v2(..., requires_grad,
  backward_hooks)` with `int`s (BININT1/BININT2) and `None` or `OrderedDict()` for hooks;
- 0.4 pickles an `nn.Parameter` as `REDUCE(torch.nn.parameter.Parameter, (tensor,
  requires_grad))`;
- tuples are not memoized; a 1-tuple is TUPLE1, longer ones MARK ... TUPLE.
"""

import struct

import numpy as np

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001


class Long(int):
    """A Python 2 `long`: always LONG1, however small."""


class Py2Pickle:
    """One protocol 2 pickle, written one value at a time as cPickle would."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")
        self.memo = {}  # key -> memo index, for globals and strings that repeat
        self._n = 0

    def next_index(self):
        self._n += 1
        assert self._n < 256
        return self._n

    def memoized(self, key, write):
        if key in self.memo:
            self.out += b"h" + bytes([self.memo[key]])
            return
        write()
        i = self.next_index()
        self.out += b"q" + bytes([i])
        self.memo[key] = i

    def glob(self, module, name):
        line = b"c%s\n%s\n" % (module.encode(), name.encode())
        self.memoized(("g", module, name), lambda: self.out.extend(line))

    def str(self, s, share=True):
        data = s.encode("ascii")

        def write():
            if len(data) < 256:
                self.out.extend(b"U" + bytes([len(data)]) + data)
            else:
                self.out.extend(b"T" + struct.pack("<I", len(data)) + data)

        if len(data) < 2:
            write()  # cPickle's fast path: strings under 2 bytes are never memoized
        elif share:
            self.memoized(("s", s), write)
        else:
            write()
            self.out += b"q" + bytes([self.next_index()])

    def value(self, v):
        if v is None:
            self.out += b"N"
        elif v is True or v is False:
            self.out += b"\x88" if v else b"\x89"
        elif isinstance(v, Long):
            n = (v.bit_length() + 8) // 8 if v else 0
            self.out += b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)
        elif isinstance(v, int):
            if 0 <= v < 256:
                self.out += b"K" + bytes([v])
            elif 0 <= v < 65536:
                self.out += b"M" + struct.pack("<H", v)
            else:
                self.out += b"J" + struct.pack("<i", v)
        elif isinstance(v, str):
            self.str(v)
        elif callable(v):
            v(self)
        else:
            raise TypeError(type(v))

    def tuple(self, *items):
        if 1 <= len(items) <= 3:
            for v in items:
                self.value(v)
            self.out += bytes([0x84 + len(items)])
        else:
            self.out += b"("
            for v in items:
                self.value(v)
            self.out += b"t"

    def list(self, items):
        self.out += b"]"
        self.out += b"q" + bytes([self.next_index()])
        if len(items) == 1:
            self.value(items[0])
            self.out += b"a"
        elif items:
            self.out += b"("
            for v in items:
                self.value(v)
            self.out += b"e"

    def dict(self, items):
        self.out += b"}"
        self.out += b"q" + bytes([self.next_index()])
        if len(items) == 1:
            self.value(items[0][0])
            self.value(items[0][1])
            self.out += b"s"
        elif items:
            self.out += b"("
            for k, v in items:
                self.value(k)
                self.value(v)
            self.out += b"u"

    def reduce(self, module, name, *args):
        self.glob(module, name)
        self.tuple(*args)
        self.out += b"R"
        self.out += b"q" + bytes([self.next_index()])

    def ordered_dict(self, items, metadata=None):
        """Python 2.7's OrderedDict: items as [[k, v], ...], attributes by BUILD."""
        pairs = [(lambda k, v: lambda p: p.list([k, v]))(k, v) for k, v in items]
        self.reduce("collections", "OrderedDict", lambda p: p.list(pairs))
        if metadata is not None:
            self.dict([("_metadata", lambda p: p.ordered_dict(metadata))])
            self.out += b"b"

    def bytes(self):
        return bytes(self.out) + b"."


class Storage:
    """A storage as legacy torch.save writes it: a persistent id, then its bytes at the end."""

    def __init__(self, key, values, location="cuda:0"):
        self.key = key
        self.values = np.ascontiguousarray(values, dtype="<f4").reshape(-1)
        self.location = location

    def persistent_id(self, p):
        p.tuple("storage", lambda q: q.glob("torch", "FloatStorage"),
                lambda q: q.str(self.key, share=False), lambda q: q.str(self.location, share=False),
                Long(self.values.size), None)
        p.out += b"Q"


def tensor03(storage, offset, size, stride):
    """PyTorch 0.3: _rebuild_tensor(storage, offset, size, stride), sizes as Python 2 longs."""

    def write(p):
        p.glob("torch._utils", "_rebuild_tensor")
        p.tuple(lambda q: storage.persistent_id(q), offset,
                lambda q: q.tuple(*map(Long, size)), lambda q: q.tuple(*map(Long, stride)))
        p.out += b"R"
        p.out += b"q" + bytes([p.next_index()])

    return write


def tensor04(storage, offset, size, stride, empty_hooks=False):
    """PyTorch 0.4: _rebuild_tensor_v2(storage, offset, size, stride, False, hooks), where
    hooks is None (0.4.0) or an empty OrderedDict (0.4.1)."""
    hooks = (lambda q: q.ordered_dict([])) if empty_hooks else None

    def write(p):
        p.glob("torch._utils", "_rebuild_tensor_v2")
        p.tuple(lambda q: storage.persistent_id(q), offset,
                lambda q: q.tuple(*size), lambda q: q.tuple(*stride), False, hooks)
        p.out += b"R"
        p.out += b"q" + bytes([p.next_index()])

    return write


def plain_dict(d):
    """A dict of plain values (`{'version': 1}` in a state dict's _metadata)."""
    return lambda p: p.dict(list(d.items()))


def parameter04(tensor):
    """PyTorch 0.4's Parameter.__reduce_ex__: (Parameter, (data, requires_grad))."""
    return lambda p: p.reduce("torch.nn.parameter", "Parameter", tensor, True)


def header():
    """The three small pickles a legacy file opens with: magic, version, system info."""
    magic = Py2Pickle()
    magic.value(Long(MAGIC))
    version = Py2Pickle()
    version.value(PROTOCOL_VERSION)
    info = Py2Pickle()
    sizes = lambda p: p.dict([("int", 4), ("short", 2), ("long", 4)])
    info.dict([("protocol_version", PROTOCOL_VERSION), ("type_sizes", sizes),
               ("little_endian", True)])
    return magic.bytes() + version.bytes() + info.bytes()


def legacy_file(root, storages):
    """Header, the main pickle, the storage keys, then each storage: an int64 count and bytes."""
    main = Py2Pickle()
    root(main)
    keys = Py2Pickle()
    keys.list([s.key for s in storages])
    out = header() + main.bytes() + keys.bytes()
    for s in storages:
        out += struct.pack("<q", s.values.size) + s.values.tobytes()
    return out
