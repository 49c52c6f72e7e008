"""Text folding for matching: how a query and a story agree on what a word is.

1. Unicode compatibility decomposition (NFKD, which includes every NFKC folding: full-width
   letters, ligatures, no-break and other odd spaces), then combining marks are dropped, so
   `Société` reads as `Societe`. A few letters without a decomposition are spelled out
   (`ø`→`o`, `æ`→`ae`, `ł`→`l`, `ß`→`ss`, ...).
2. Curly and low quotes fold to `'` and `"`; every dash and the minus sign fold to `-`;
   zero-width characters and the soft hyphen are removed.
3. Words are runs of letters and digits. Dashes and other punctuation separate words
   (`Nippon-Steel` = `Nippon Steel`). Dots between single letters are dropped
   (`U.S.` = `US`, `U.S.A.` = `USA`). A possessive `'s` is dropped (`Nippon's` = `Nippon`)
   and other apostrophes join (`don't` = `dont`).
4. Each word has a case-folded form and a *stem*, the simple plural rule of `stem`.

Folding works character by character, so a span in folded text maps back to the original
text (`fold_with_offsets`), which the snippets need. `fold` is idempotent.

Folded text is nearly always ASCII, and splitting it has fast paths (`raw_words`) that
give exactly the words `WORD_RE` gives.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_SPELLED = {
    "ø": "o",
    "Ø": "O",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "Ð": "D",
    "þ": "th",
    "Þ": "TH",
    "ı": "i",
    "ß": "ss",
    "ẞ": "SS",
}
_QUOTES_SINGLE = "\u2018\u2019\u201a\u201b\u2032\u02bc\u02bb\u0060\u00b4"
_QUOTES_DOUBLE = "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58\ufe63\uff0d"
_REMOVED = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
_SPACES = (
    "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000"
)

_PUNCT: dict[str, str] = {
    **dict.fromkeys(_QUOTES_SINGLE, "'"),
    **dict.fromkeys(_QUOTES_DOUBLE, '"'),
    **dict.fromkeys(_DASHES, "-"),
    **dict.fromkeys(_REMOVED, ""),
    **dict.fromkeys(_SPACES, " "),
}

# A word: single letters joined by dots (an initialism such as U.S.), or a run of letters
# and digits, possibly joined by apostrophes. The first lookahead only makes the common case
# fast; the last one keeps an apostrophe after an initialism joining as it does elsewhere,
# so that splitting gives the same words as splitting with every apostrophe removed.
WORD_RE = re.compile(
    r"(?=[^\W\d_]\.[^\W\d_])[^\W\d_](?:\.[^\W\d_](?![^\W_]))+\.?(?!'[^\W_])"
    r"|[^\W_]+(?:'[^\W_]+)*"
)

# The same pattern for ASCII text, where `[^\W_]` is `[A-Za-z0-9]` and `[^\W\d_]` is
# `[A-Za-z]`: it finds exactly the same words, but the regex engine tests a character set
# instead of Unicode categories, which is about twice as fast. Folded text is nearly always
# ASCII.
_ASCII_WORD_RE = re.compile(
    r"(?=[A-Za-z]\.[A-Za-z])[A-Za-z](?:\.[A-Za-z](?![A-Za-z0-9]))+\.?(?!'[A-Za-z0-9])"
    r"|[A-Za-z0-9]+(?:'[A-Za-z0-9]+)*"
)
# A `bytes.translate` table for ASCII text: every character that is not a letter or digit
# turns into a space (`bytes.translate` is several times faster than `str.translate`).
ASCII_SEPARATORS = bytes(code if chr(code).isalnum() else 32 for code in range(256))

# Words that look like plurals but are not: never stemmed.
_NOT_PLURAL = frozenset({"news", "series", "species", "always", "perhaps", "whereas", "lens"})


@lru_cache(maxsize=4096)
def fold_char(char: str) -> str:
    """Fold one character: decompose, drop marks, fold quotes, dashes and spaces."""
    if char in _PUNCT:
        return _PUNCT[char]
    if char in _SPELLED:
        return _SPELLED[char]
    out = []
    for part in unicodedata.normalize("NFKD", char):
        if unicodedata.combining(part):
            continue
        out.append(_PUNCT.get(part, _SPELLED.get(part, part)))
    return "".join(out)


class _FoldTable(dict[int, str]):
    """A `str.translate` table that folds each code point the first time it is seen."""

    def __missing__(self, codepoint: int) -> str:
        folded = fold_char(chr(codepoint))
        if len(self) < 65536:
            self[codepoint] = folded
        return folded


_TABLE = _FoldTable()


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_ASCII_BYTES = bytes(range(128))
# With more characters to change than this, one pass of `_NON_ASCII` beats a
# `str.replace` for each of them.
_MAX_REPLACES = 16


def _fold_run(match: re.Match[str]) -> str:
    return match.group().translate(_TABLE)


def _non_ascii(text: str) -> set[str]:
    """The distinct non-ASCII characters of `text`.

    Every byte of a non-ASCII character in UTF-8 is 0x80 or above, so deleting the ASCII
    bytes leaves exactly those characters; `bytes.translate` does that far faster than a
    regular expression scans the text.
    """
    others = text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES)
    return set(others.decode("utf-8", "surrogatepass"))


def fold(text: str) -> str:
    """Fold `text` as the module docstring says, keeping case and punctuation."""
    if text.isascii():
        return text
    changes = [(char, _TABLE[ord(char)]) for char in _non_ascii(text)]
    changes = [(char, folded) for char, folded in changes if folded != char]
    if len(changes) > _MAX_REPLACES:
        return _NON_ASCII.sub(_fold_run, text)
    # What a character folds to is already folded, so replacing one character at a time
    # gives what folding every character at once gives.
    for char, folded in changes:
        text = text.replace(char, folded)
    return text


def fold_offsets(text: str) -> list[int] | None:
    """Map each index of `fold(text)` back to its index in `text`.

    None when every character folds to exactly one character (indexes agree).
    """
    if text.isascii():
        return None
    table = _TABLE
    if all(len(table[ord(char)]) == 1 for char in _non_ascii(text)):
        return None
    offsets: list[int] = []
    for index, char in enumerate(text):
        offsets.extend([index] * (1 if char.isascii() else len(table[ord(char)])))
    offsets.append(len(text))
    return offsets


def fold_with_offsets(text: str) -> tuple[str, list[int] | None]:
    """Fold `text` as `fold` does and map each folded index back to its index in `text`
    (`fold_offsets`)."""
    return fold(text), fold_offsets(text)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The plural rule: a case-folded word ending in `s` loses it, simply.

    `tariffs`→`tariff`, `companies`→`company`, `taxes`→`tax`, `matches`→`match`. Words of
    three letters or fewer and words ending in `ss`, `us`, `is` are kept (`gas`, `boss`,
    `bus`, `analysis`), as are a few listed words (`news`). The query and the story go
    through the same rule, so an odd stem on both sides still agrees; `steely` stays.
    """
    if len(word) <= 3 or word[-1] != "s" or word[-2] in "sui'" or word in _NOT_PLURAL:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    return word[:-1]


class _StemTable(dict[str, str]):
    """`stem` as a mapping, so that a list of words is stemmed by one `map` call."""

    def __missing__(self, word: str) -> str:
        stemmed = stem(word)
        if len(self) < 200_000:
            self[word] = stemmed
        return stemmed


STEMS = _StemTable()


def clean_word(raw: str) -> str:
    """Drop the dots of an initialism, a possessive `'s`, and apostrophes inside a word."""
    if "." in raw:
        raw = raw.replace(".", "")
    if "'" in raw:
        if raw.endswith(("'s", "'S")):
            raw = raw[:-2]
        raw = raw.replace("'", "")
    return raw


@dataclass(frozen=True, slots=True)
class Word:
    """One word of folded text: its cased form, case-folded form, stem and span."""

    cased: str
    lower: str
    stem: str
    start: int
    end: int


def words(text: str) -> list[Word]:
    """Split already folded `text` into words (spans index into `text`)."""
    out = []
    for match in WORD_RE.finditer(text):
        cased = clean_word(match.group())
        if not cased:
            continue
        lower = cased.casefold()
        out.append(Word(cased, lower, stem(lower), match.start(), match.end()))
    return out


def word_spans(text: str) -> list[re.Match[str]]:
    """The raw word matches of already folded `text`, for callers that need speed."""
    pattern = _ASCII_WORD_RE if text.isascii() else WORD_RE
    return list(pattern.finditer(text))


def _has_initialism(text: str) -> bool:
    """Whether a dot stands between two letters somewhere in ASCII `text` (`U.S`)."""
    dot = text.find(".", 1)
    while dot != -1:
        if text[dot - 1].isalpha() and text[dot + 1 : dot + 2].isalpha():
            return True
        dot = text.find(".", dot + 1)
    return False


def is_plain(text: str) -> bool:
    """Whether the words of already folded `text` are just its runs of ASCII letters and
    digits: the text is ASCII, without apostrophes, and without initialisms."""
    return text.isascii() and "'" not in text and not ("." in text and _has_initialism(text))


def plain_words(text: str) -> list[str]:
    """The words of `text` for which `is_plain` holds, split without a regular expression."""
    return text.encode("ascii").translate(ASCII_SEPARATORS).decode("ascii").split()


def raw_words(text: str) -> list[str]:
    """The words of already folded `text` as `WORD_RE` finds them, before `clean_word`.

    Plain text (`is_plain`) is split by `bytes.translate` and `str.split`; other ASCII text
    goes through the ASCII form of the pattern. Both give what `WORD_RE.findall` gives,
    only faster.
    """
    if is_plain(text):
        return plain_words(text)
    pattern = _ASCII_WORD_RE if text.isascii() else WORD_RE
    return pattern.findall(text)


def normalize(text: str) -> str:
    """The comparison form of `text`: folded, case-folded words joined by single spaces."""
    return " ".join(word.lower for word in words(fold(text)))
