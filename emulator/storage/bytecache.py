"""A least-recently-used cache of byte strings bounded by their total size."""

from __future__ import annotations

from collections import OrderedDict


class ByteCache:
    """LRU map from keys to bytes, evicting the oldest entries above `max_bytes`.

    Attributes:
        max_bytes: Total size the cache keeps (one entry larger than this is not kept).
        size_bytes: Current total size.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size_bytes = 0
        self._entries: OrderedDict[str, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> bytes | None:
        """The bytes under `key` (marking them recently used), or None."""
        data = self._entries.get(key)
        if data is not None:
            self._entries.move_to_end(key)
        return data

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, evicting least recently used entries as needed."""
        if len(data) > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.size_bytes -= len(old)
        self._entries[key] = data
        self.size_bytes += len(data)
        while self.size_bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.size_bytes -= len(evicted)

    def clear(self) -> None:
        """Drop every entry."""
        self._entries.clear()
        self.size_bytes = 0
