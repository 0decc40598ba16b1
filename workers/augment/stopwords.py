"""The stop-word list that decides which words may never be replaced.

The default is the common English list TinyBERT used (about 180 words). Negations stay in it on purpose
("not", "no", "nor", "never", "n't" forms): replacing them could flip a sentiment label. A team can
supply its own list (one word per line) or switch the filter off with an empty source.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

DEFAULT_STOP_WORDS: frozenset[str] = frozenset(
    """
    i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves
    he him his himself she she's her hers herself it it's its itself they them their theirs themselves
    what which who whom this that that'll these those am is are was were be been being have has had
    having do does did doing a an the and but if or because as until while of at by for with about
    against between into through during before after above below to from up down in out on off over
    under again further then once here there when where why how all any both each few more most other
    some such no nor not only own same so than too very s t can will just don don't should should've
    now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn
    hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn
    shouldn't wasn wasn't weren weren't won won't wouldn wouldn't 's 're
    never neither nobody none nothing nowhere cannot
    """.split()
)


@lru_cache(maxsize=16)
def load_stop_words(source: str | None) -> frozenset[str]:
    """None: the built-in list; '': no stop words; otherwise a UTF-8 file with one word per line.

    Blank lines and lines starting with '#' are ignored; words are compared in lower case.
    """
    if source is None:
        return DEFAULT_STOP_WORDS
    if source == "":
        return frozenset()
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"stop-word file not found: {source}")
    words = (line.strip().lower() for line in path.read_text(encoding="utf-8-sig").splitlines())
    return frozenset(w for w in words if w and not w.startswith("#"))
