"""Spreadsheet safety: text that a spreadsheet would run as a formula is neutralised.

A cell whose text starts with ``=``, ``+``, ``-`` or ``@`` (or a tab / carriage return,
which some spreadsheet programs strip before looking) is read by Excel, WPS and
LibreOffice as a formula — ``=HYPERLINK(...)`` or ``=cmd|' /c calc'!A0`` from an imported
firm name or a note would run on an official's machine (CSV/formula injection, OWASP).
Such text gets a leading apostrophe, the OWASP-recommended neutraliser: the cell shows
the text as typed and is never evaluated.  Numbers are never touched, so ``-3.5`` stays
a negative number.
"""
from __future__ import annotations

import re

__all__ = ["FORMULA_TRIGGERS", "neutralise_formula", "strip_control"]

#: Leading characters that make a spreadsheet treat a cell as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# XML 1.0 forbids these control characters; openpyxl refuses them and CSV readers choke.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def strip_control(text: str) -> str:
    """Remove control characters that are illegal in XML (keeps tab, LF and CR)."""
    return _CONTROL.sub("", text)


def neutralise_formula(value):
    """Return ``value`` safe to put in a spreadsheet cell.

    Strings starting with one of :data:`FORMULA_TRIGGERS` are prefixed with ``'``; control
    characters illegal in XML are dropped.  Anything that is not a string is returned
    unchanged.

    >>> neutralise_formula("=1+2"), neutralise_formula("-x"), neutralise_formula(-3.5), neutralise_formula("厂房")
    ("'=1+2", "'-x", -3.5, '厂房')
    """
    if not isinstance(value, str):
        return value
    value = strip_control(value)
    if value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value
