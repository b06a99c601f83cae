"""The characters a name may hold in the Dutch chain (NEN 1888, "Persoonsgegevens in
informatiesystemen"): the Latin letters, the letters with diacritics of the Dutch table of
diacritics (as in the BRP: Latin-1 and Latin Extended-A), and space, hyphen and apostrophe.

The NEN table itself is not freely published; this set is our reading of it (letters of Latin-1
Supplement and Latin Extended-A, leaving out the archaic kra, ŉ and long s and the middle-dot L),
and errs on the side of more characters, which an implementation must store unchanged."""

from __future__ import annotations

import string

_LATIN1 = "".join(chr(c) for c in range(0xC0, 0x100) if chr(c) not in "×÷")
_EXTENDED_A = "".join(chr(c) for c in range(0x100, 0x17F) if chr(c) not in "ĸŉĿŀ")
PUNCTUATION = " -'"
LETTERS = string.ascii_uppercase + string.ascii_lowercase + _LATIN1 + _EXTENDED_A
ALL = LETTERS + PUNCTUATION


def names(max_len: int = 60) -> list[tuple[str, str]]:
    """(roepnaam, achternaam) pairs that together hold every character of :data:`ALL`, each name
    within the field limits (roepnaam 64, achternaam 70) and starting with a capital letter."""
    letters = list(LETTERS)
    pairs = []
    while letters:
        chunk, letters = letters[: max_len - 4], letters[max_len - 4 :]
        text = "".join(chunk)
        # a realistic shape: a capital first, the punctuation inside the name
        last = "Ĳ" + text[: len(text) // 2] + "-" + text[len(text) // 2 :] + "'s"
        first = "Émile " + text[:3]
        pairs.append((first[:64], last[:70]))
    return pairs


def covered(pairs: list[tuple[str, str]]) -> set[str]:
    return {ch for pair in pairs for name in pair for ch in name}
