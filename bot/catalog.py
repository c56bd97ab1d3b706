"""The service catalog of one panel account, indexed for browsing and search.

Catalogs run to thousands of services; everything a handler needs (categories in panel order, a category's
services, lookup by id, word search) is precomputed once per fetch so that a button press is a dict lookup.
"""

from __future__ import annotations

import re
import time
import unicodedata
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field

from bot.panel import Service

_WORD = re.compile(r"\w+", re.UNICODE)
_TAGS = re.compile(r"\[[^\]]*\]|\([^)]*\)|\{[^}]*\}")
SIMILAR = 0.6  # word-set similarity (Jaccard) from which two names are taken for the same kind of service


class _DropCombining(dict[int, int | None]):
    """A str.translate table that drops combining marks, filled in as characters are met."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


_DROP_COMBINING = _DropCombining()


def _fold(text: str) -> str:
    """Lower case without accents: 'Türkiye' and 'turkiye' match, 'İ' too."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return decomposed if decomposed.isascii() else decomposed.translate(_DROP_COMBINING)


def words(text: str) -> list[str]:
    return _WORD.findall(_fold(text))


def name_key(name: str) -> frozenset[str]:
    """A service name reduced for comparing across panels: lower case, without emoji, punctuation and
    bracketed tags ([Refill 30D], (Fast) ...), as a set of words. A name of tags only keeps their words."""
    core = frozenset(words(_TAGS.sub(" ", name)))
    return core or frozenset(words(name))


def type_key(service_type: str | None) -> str:
    return " ".join(words(service_type or "")) or "default"


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass
class Catalog:
    services: list[Service]
    fetched_at: float = field(default_factory=time.monotonic)
    by_id: dict[int, Service] = field(init=False)
    categories: list[str] = field(init=False)
    by_category: dict[str, list[Service]] = field(init=False)
    _names: list[str] = field(init=False, repr=False)
    _cats: list[str] = field(init=False, repr=False)
    # Built on first use: service id -> (category index, position in the category).
    _where: dict[int, tuple[int, int]] | None = field(init=False, default=None, repr=False)
    # The last few search answers, so that paging through results does not scan the catalog again.
    _found: OrderedDict[str, list[Service]] = field(init=False, default_factory=OrderedDict, repr=False)
    # Search index: the folded names as one text (a row per service) and where each row starts, so that a
    # word is found with str.find over the whole catalog instead of a Python loop over every service.
    _blob: str = field(init=False, repr=False)
    _starts: list[int] = field(init=False, repr=False)
    _rows_of_cat: dict[str, list[int]] = field(init=False, repr=False)
    # Built on first comparison: type key -> [(service, name key)].
    _kinds: dict[str, list[tuple[Service, frozenset[str]]]] | None = field(
        init=False, default=None, repr=False
    )

    def __post_init__(self) -> None:
        self.by_id = {s.id: s for s in self.services}
        self.by_category = {}
        for service in self.services:
            self.by_category.setdefault(service.category or "—", []).append(service)
        self.categories = list(self.by_category)
        self._names = [" ".join(words(s.name)) for s in self.services]
        folded = {c: " ".join(words(c)) for c in {s.category or "" for s in self.services}}
        self._cats = [folded[s.category or ""] for s in self.services]
        self._blob = "\n".join(self._names)
        self._starts, at = [], 0
        for name in self._names:
            self._starts.append(at)
            at += len(name) + 1
        self._rows_of_cat = {}
        for row, cat in enumerate(self._cats):
            self._rows_of_cat.setdefault(cat, []).append(row)

    def get(self, service_id: int) -> Service | None:
        return self.by_id.get(service_id)

    def category(self, index: int) -> tuple[str, list[Service]] | None:
        if 0 <= index < len(self.categories):
            name = self.categories[index]
            return name, self.by_category[name]
        return None

    def search(self, query: str, limit: int | None = None) -> list[Service]:
        """Ranked: the id itself, then services whose name has every word, then those whose category has
        them (a word may also match in the other field). Panel order within a rank."""
        query = query.strip()
        exact: list[Service] = []
        if query.lstrip("#").isdecimal() and len(query) < 19:  # int() fails on "²" and on 5,000 digits
            hit = self.by_id.get(int(query.lstrip("#")))
            if hit:
                exact.append(hit)
        terms = words(query)
        if not terms:
            return exact
        # Rows for the longest word (likely the rarest) from the index, then the other words on those rows.
        first, *rest = sorted(set(terms), key=len, reverse=True)
        names, cats = self._names, self._cats
        any_rows = [
            r
            for r in self._rows_with(first) | self._rows_in_categories(first)
            if all(t in names[r] or t in cats[r] for t in rest)
        ]
        name_rows = {r for r in any_rows if first in names[r] and all(t in names[r] for t in rest)}
        other_rows = set(any_rows) - name_rows
        skip = exact[0] if exact else None
        services = self.services
        found = exact + [services[r] for r in sorted(name_rows) if services[r] is not skip]
        if limit is None or len(found) < limit:
            found += [services[r] for r in sorted(other_rows) if services[r] is not skip]
        return found[:limit] if limit is not None else found

    def _rows_with(self, term: str) -> set[int]:
        """Rows (service positions) whose folded name contains `term` (a word: it never spans rows)."""
        starts, find = self._starts, self._blob.find
        rows: set[int] = set()
        last = len(starts) - 1
        at = find(term)
        while at != -1:
            row = bisect_right(starts, at) - 1
            rows.add(row)
            at = find(term, starts[row + 1]) if row < last else -1
        return rows

    def _rows_in_categories(self, term: str) -> set[int]:
        rows: set[int] = set()
        for cat, cat_rows in self._rows_of_cat.items():  # a few hundred distinct categories at most
            if term in cat:
                rows.update(cat_rows)
        return rows

    def locate(self, service_id: int) -> tuple[int, int] | None:
        """(category index, position within that category) of a service, e.g. to find its page."""
        if self._where is None:
            self._where = {}
            for ci, name in enumerate(self.categories):
                for pos, service in enumerate(self.by_category[name]):
                    self._where[service.id] = (ci, pos)
        return self._where.get(service_id)

    def similar_to(self, service: Service, threshold: float = SIMILAR) -> list[tuple[Service, float]]:
        """Services of this catalog of the same type as `service` (maybe from another panel) whose names
        match it (name_key similarity >= threshold), the most similar first."""
        if self._kinds is None:
            self._kinds = {}
            for s in self.services:
                self._kinds.setdefault(type_key(s.type), []).append((s, name_key(s.name)))
        key = name_key(service.name)
        found = [(s, similarity(key, k)) for s, k in self._kinds.get(type_key(service.type), [])]
        found = [(s, score) for s, score in found if score >= threshold]
        found.sort(key=lambda pair: -pair[1])
        return found

    def find(self, query: str, keep: int = 32) -> list[Service]:
        """`search(query)` with the last `keep` answers remembered (the list is shared: do not modify it)."""
        key = query.strip()
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = self.search(key)
            while len(self._found) > keep:
                self._found.popitem(last=False)
        else:
            self._found.move_to_end(key)
        return found
