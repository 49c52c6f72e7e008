"""Text normalisation for matching: the public names of `worker.watchlists.textfold`.

`normalize(text)` gives the comparison form of a text (folded, case-folded words joined by
single spaces); `fold(text)` folds Unicode, quotes, dashes and spaces but keeps case and
punctuation; `words(folded)` splits folded text into `Word` values (cased form, case-folded
form, plural stem, span); `stem(word)` is the plural rule. The rules are described in the
docstring of `worker.watchlists.textfold`, where the implementation lives next to the
matcher that depends on it.
"""

from __future__ import annotations

from worker.watchlists.textfold import Word, fold, fold_with_offsets, normalize, stem, words

__all__ = ["Word", "fold", "fold_with_offsets", "normalize", "stem", "words"]
