"""Stage 1b, decoding: which encoding turns the bytes into text, and clean text out of cells.

Shapefile attributes and CSV files come as UTF-8 or as GBK (GB18030, its superset) with or
without a ``.cpg`` saying which; the choice is made by decoding a sample strictly and
counting the bytes each candidate cannot decode.  Cell text is normalised (NFKC: full-width
digits, letters and punctuation become their ASCII forms) and trimmed.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geo.errors import ImportDataError, PlannerError
from layers.imports.source import MB, Source, bad_input, read_bytes

__all__ = ["EncodingInfo", "normalise_encoding", "detect_encoding", "shapefile_encoding", "clean_text"]


@dataclass
class EncodingInfo:
    """How text bytes were decoded: the encoding used, how it was chosen, what else fits."""

    encoding: str | None
    how: str  # "declared" (user), "cpg", "bom", "detected", "ascii", "binary" (not text: GeoPackage...)
    candidates: dict[str, int] = field(default_factory=dict)  # encoding → undecodable bytes in the sample
    note: str = ""
_CPG = {"936": "GB18030", "gbk": "GB18030", "gb2312": "GB18030", "gb18030": "GB18030", "cp936": "GB18030",
        "65001": "UTF-8", "utf-8": "UTF-8", "utf8": "UTF-8", "utf-8-sig": "UTF-8", "1252": "CP1252",
        "iso-8859-1": "ISO-8859-1", "88591": "ISO-8859-1", "latin1": "ISO-8859-1", "big5": "BIG5", "950": "BIG5"}
_CANDIDATES = ("UTF-8", "GB18030")


def normalise_encoding(name: str) -> str:
    """Canonical codec name for a user's or a ``.cpg``'s encoding ("GBK"/"936" → "GB18030", its superset)."""
    key = name.strip().lower().replace("_", "-")
    key = re.sub(r"^(cp|windows-)(?=\d)", "", key) if key.startswith(("cp9", "cp6", "windows-")) else key
    out = _CPG.get(key) or _CPG.get(key.replace("-", ""))
    if out:
        return out
    import codecs

    try:
        return codecs.lookup(name.strip()).name.upper()
    except LookupError:
        raise bad_input(f"encoding {name!r} is not known; use UTF-8 or GB18030 (covers GBK/GB2312).",
                   f"未知编码 {name!r};请使用 UTF-8 或 GB18030(兼容 GBK/GB2312)。") from None


def _undecodable(data: bytes, enc: str) -> int:
    text = data.decode(enc, errors="replace")
    return text.count("\ufffd")


def detect_encoding(data: bytes) -> EncodingInfo:
    """UTF-8 or GB18030 for a sample of text bytes: strict UTF-8 first, then GB18030, then fewest errors.

    Counts the bytes each candidate cannot decode (``candidates``) so the preview can show
    how sure the choice is; pure ASCII is reported as such (both fit).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return EncodingInfo("UTF-8", "bom", {"UTF-8": 0})
    if not any(b >= 0x80 for b in data):
        return EncodingInfo("UTF-8", "ascii", {"UTF-8": 0, "GB18030": 0}, "only ASCII characters: UTF-8 and GBK read it the same")
    counts = {enc: _undecodable(data, enc) for enc in _CANDIDATES}
    if counts["UTF-8"] == 0:
        return EncodingInfo("UTF-8", "detected", counts)
    if counts["GB18030"] == 0:
        return EncodingInfo("GB18030", "detected", counts)
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[: 256 * 1024]).best()
        guess = normalise_encoding(best.encoding) if best is not None else None
    except (ImportError, LookupError, PlannerError):
        guess = None
    if guess and guess not in counts:
        counts[guess] = _undecodable(data, guess)
    enc = min(counts, key=lambda e: (counts[e], e != "GB18030"))
    return EncodingInfo(enc, "detected", counts,
                        f"no candidate decodes every byte ({counts}); {enc} fits best — check the preview and override if wrong")


def _dbf_sample(src: Source) -> bytes:
    """Field names and the first records of a .dbf (record-aligned, ≤ 2 MB), for encoding detection."""
    head = read_bytes(src, ".dbf", 2 * MB)
    if len(head) < 32:
        return b""
    header_len = int.from_bytes(head[8:10], "little")
    rec_len = max(int.from_bytes(head[10:12], "little"), 1)
    names = head[32:max(32, min(header_len, len(head)))]
    body = head[header_len:]
    body = body[: (len(body) // rec_len) * rec_len]
    return names + b" " + body


def shapefile_encoding(src: Source, declared: str | None) -> EncodingInfo:
    sample = _dbf_sample(src)
    detected = detect_encoding(sample)
    if declared:
        enc = normalise_encoding(declared)
        return EncodingInfo(enc, "declared", detected.candidates)
    if ".cpg" in src.sidecars:
        raw = read_bytes(src, ".cpg", 64).decode("ascii", errors="replace").strip()
        try:
            enc = normalise_encoding(raw)
        except ImportDataError:
            enc = None
        if enc and detected.candidates.get(enc, _undecodable(sample, enc)) == 0:
            return EncodingInfo(enc, "cpg", detected.candidates)
        return EncodingInfo(detected.encoding, "detected", detected.candidates,
                            f".cpg says {raw!r} but the attributes do not decode as that; using {detected.encoding} — "
                            "check the preview and override if wrong")
    return detected


def clean_text(series: pd.Series) -> pd.Series:
    """Values as trimmed NFKC strings; missing stays missing; whole floats lose their '.0'."""
    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
            return pd.NA
        if isinstance(v, bool):
            return "是" if v else "否"
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        s = unicodedata.normalize("NFKC", str(v)).strip()
        return s if s != "" else pd.NA

    return pd.Series([one(v) for v in series.to_numpy(dtype=object)], index=series.index, dtype="string")
