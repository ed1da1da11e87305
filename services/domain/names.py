"""Name keys: one key for every spelling of a name that a reader would call the same.

"Abu Kamal", "ALBU KAMAL", "Al-Bukamal" and "Āl-bū Kamāl" are the same town to a reader. The key
ignores case, diacritics, punctuation, spacing and Arabic/English articles; the gazetteer's
alternate names then cover transliterations that differ in letters.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

from rapidfuzz import fuzz, process

# Articles dropped wherever they stand as a word: the Arabic "al"/"el" with their sun-letter forms
# ("ar Raqqah", "Deir ez-Zor"), the French "le"/"la" and the English "the".
_ARTICLES = frozenset(
    {"al", "ad", "adh", "an", "ar", "as", "ash", "at", "ath", "az"}
    | {"el", "ed", "edh", "en", "er", "es", "esh", "et", "eth", "ez"}
    | {"l", "le", "la", "the"}
)
# Apostrophes and ayn/hamza marks vanish inside a word ("Qa'im" is "Qaim"); other punctuation
# separates words ("Deir ez-Zor").
_JOINERS = re.compile(r"[\u0027\u2018\u2019\u02bb\u02bc\u02be\u02bf\u0060\u00b4]")
_SEPARATORS = re.compile(r"[^\w]+|_")

# What the registries hold (migration 0001): ids of up to 200 characters, name keys of up to 500.
# Names may be 500 characters, and Unicode normalisation can lengthen them (one character of
# NFKD may become eighteen), so derived ids and keys are cut to fit, deterministically.
ID_MAX = 200
KEY_MAX = 500
# A slug leaves room for what a place id adds to it: "-sy" and, when taken, "-2", "-3", ...
SLUG_MAX = ID_MAX - 20
_DIGEST = 12


def name_key(name: str) -> str:
    """The matching key of a name; two names with the same key name the same thing."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = _JOINERS.sub("", text)
    words = [w for w in _SEPARATORS.split(text) if w and w not in _ARTICLES]
    return fitted("".join(words), KEY_MAX, "")


def fitted(text: str, limit: int, joiner: str = "-") -> str:
    """`text` when it has at most `limit` characters, else its head and a digest of the whole.

    The same text always gives the same result, and two long texts that differ anywhere give
    different ones (up to the digest's 48 bits), so ids and keys stay stable and distinct.
    """
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:_DIGEST]
    return f"{text[: limit - _DIGEST - len(joiner)].rstrip('-')}{joiner}{digest}"


def slugify(name: str) -> str:
    """A stable, URL-safe slug: lower-case ASCII words joined by hyphens.

    A name with no Latin letter or digit (say, in Arabic script) gets a slug from its hash; a
    slug longer than SLUG_MAX is cut, with a hash of the whole (see `fitted`).
    """
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = _JOINERS.sub("", text)
    words = [w for w in re.split(r"[^a-z0-9]+", text.encode("ascii", "ignore").decode()) if w]
    return fitted("-".join(words), SLUG_MAX) or "n-" + hashlib.sha256(name.encode()).hexdigest()[:10]


def nearest_names(name: str, candidates: Iterable[str], limit: int = 5) -> list[str]:
    """The candidates spelled most like `name`, best first (for "did you mean" answers)."""
    return nearest_keyed(name, names_by_key(candidates), limit)


def names_by_key(names: Iterable[str]) -> dict[str, str]:
    """Each name key of `names`, to the first of them that has it: what `nearest_keyed` searches,
    made once where the same names are searched again and again."""
    by_key: dict[str, str] = {}
    for name in names:
        by_key.setdefault(name_key(name), name)
    return by_key


def nearest_keyed(name: str, by_key: dict[str, str], limit: int = 5) -> list[str]:
    """The names of `by_key` (see `names_by_key`) spelled most like `name`, best first."""
    return [by_key[k] for k in nearest_keys(name, by_key, limit)]


# How alike two keys must be to suggest one for the other: rapidfuzz's ratio, 100 for the same.
# The ratio is difflib's `SequenceMatcher.ratio` with the longest common subsequence in place of
# its matching blocks (so at least as high), at C speed: a misspelt name searched thousands of
# keys in 10-15 ms of Python with difflib, any client's unknown name paying that much of the CPU.
ALIKE = 60


def nearest_keys(name: str, keys: Iterable[str], limit: int = 5) -> list[str]:
    """The name keys spelled most like `name`'s, best first (ties in the order of `keys`)."""
    found = process.extract(name_key(name), list(keys), scorer=fuzz.ratio, limit=limit, score_cutoff=ALIKE)
    return [key for key, _score, _index in found]
