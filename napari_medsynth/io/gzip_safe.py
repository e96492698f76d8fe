"""Verified, bounded reading of gzip files.

:class:`GunzipReader` hands out the decompressed bytes of a gzip file in order, a chunk at a
time, so the caller decides how much it accepts: nothing is decompressed ahead of what is asked
for (beyond one output chunk). Each member's CRC-32 and length trailer is verified by zlib when
the member ends; a stream that ends before its trailer is reported as truncated. Files of several
members (``cat a.gz b.gz``, BGZF) are read as one stream, and zero padding between or after
members is skipped, as Python's :mod:`gzip` does.
"""

from __future__ import annotations

import zlib

#: zlib window bits for a gzip wrapper (header, CRC-32 and ISIZE trailer).
GZIP_WBITS = 16 + zlib.MAX_WBITS

#: Bytes of compressed input read from the file at a time.
IN_CHUNK = 256 * 1024

#: At most this many decompressed bytes are produced per step.
OUT_CHUNK = 4 * 1024 * 1024


class GzipCorrupt(Exception):
    """The compressed data are damaged: zlib refused them or a CRC-32/length check failed."""


class GzipTruncated(Exception):
    """The file ends inside a gzip member (before its CRC-32/length trailer)."""


class GunzipReader:
    """Sequential reader of a gzip file's decompressed bytes (``read``, ``readinto``, ``skip``).

    ``fh`` is a binary file object positioned at the start of the gzip data. ``produced`` counts
    the decompressed bytes handed out so far.
    """

    def __init__(self, fh, in_chunk: int = IN_CHUNK, out_chunk: int = OUT_CHUNK):
        self._fh = fh
        self._in_chunk = in_chunk
        self._out_chunk = out_chunk
        self._chunks = self._inflate()
        self._pending = memoryview(b"")
        self._done = False
        self.produced = 0

    def _inflate(self):
        d = zlib.decompressobj(GZIP_WBITS)
        data = b""
        file_done = False
        while True:
            if not data and not file_done:
                data = self._fh.read(self._in_chunk)
                file_done = not data
            if d.eof:  # between members: skip zero padding, then start the next member
                data = data.lstrip(b"\x00")
                if not data:
                    if file_done:
                        return
                    continue
                d = zlib.decompressobj(GZIP_WBITS)
            try:
                out = d.decompress(data, self._out_chunk)
            except zlib.error as exc:  # bad deflate data, CRC-32 or length mismatch, not gzip
                raise GzipCorrupt(str(exc)) from exc
            data = d.unused_data if d.eof else d.unconsumed_tail
            if out:
                yield out
            elif file_done and not data and not d.eof:
                raise GzipTruncated("the file ends inside the compressed data, before the gzip trailer")

    def _next(self) -> bool:
        """Refill ``_pending``; False at the end of the stream (everything verified)."""
        if self._done:
            return False
        try:
            self._pending = memoryview(next(self._chunks))
        except StopIteration:
            self._done = True
            return False
        return True

    def readinto(self, view) -> int:
        """Fill ``view`` (a writable buffer of bytes) as far as the stream goes; return the count."""
        view = memoryview(view).cast("B")
        pos, size = 0, len(view)
        while pos < size:
            if not self._pending and not self._next():
                break
            k = min(size - pos, len(self._pending))
            view[pos:pos + k] = self._pending[:k]
            self._pending = self._pending[k:]
            pos += k
            self.produced += k
        return pos

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end of the stream)."""
        buf = bytearray(n)
        got = self.readinto(buf)
        return bytes(buf[:got])

    def skip(self, n: int) -> int:
        """Decompress and discard up to ``n`` bytes; return how many there were."""
        skipped = 0
        while skipped < n:
            if not self._pending and not self._next():
                break
            k = min(n - skipped, len(self._pending))
            self._pending = self._pending[k:]
            skipped += k
            self.produced += k
        return skipped
