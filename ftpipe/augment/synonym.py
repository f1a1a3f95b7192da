"""WordNet synonym replacement through nlpaug's SynonymAug, with a pluggable POS tagger and POS agreement."""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from ftpipe.augment.resources import load_wordnet
from ftpipe.augment.seeds import reseed
from ftpipe.augment.tagger import Tagged, load_tagger

# Penn tags that have a WordNet part of speech. Proper nouns are left out on purpose: WordNet would turn
# names into other names ("Washington" -> "George Washington"), which changes meaning, not wording.
CONTENT_TAGS = frozenset({"NN", "NNS", "VB", "VBD", "VBG", "VBN", "VBP", "VBZ",
                          "JJ", "JJR", "JJS", "RB", "RBR", "RBS"})

# Function words WordNet nonetheless knows as nouns or adjectives ("it" -> "information technology",
# "us" -> "United States", "in" -> "inch"): never replaced. Extend through `stopwords` in the config.
DEFAULT_STOPWORDS = (
    "i me my mine myself we us our ours ourselves you your yours yourself yourselves he him his himself she "
    "her hers herself it its itself they them their theirs themselves this that these those who whom whose "
    "which what a an the and but or nor so yet if then than as of at by for with about against between into "
    "through during before after above below to from up down in out on off over under again further once "
    "here there when where why how all any both each few more most other some such no not only own same too "
    "very can will just should would could may might must shall do does did doing done be is am are was were "
    "been being have has had having get got t s d ll m re ve n't 's 'm 're 'll 'd"
).split()


class SpacingTokenizer:
    """Words (contractions and possessives kept whole) and punctuation, with the original spacing restored.

    nlpaug's default tokenizer splits on every non-word character and rejoins with spaces, which turns
    "movie's" into "movie ' s". This pair remembers the whitespace of the text it last tokenised; nlpaug
    tokenises a text right before it rebuilds it (one text at a time), and substitution keeps the count.
    """

    TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")

    def __init__(self) -> None:
        self.gaps: list[str] = []

    def tokenize(self, text: str) -> list[str]:
        matches = list(self.TOKEN.finditer(text))
        ends = [0] + [m.end() for m in matches]
        starts = [m.start() for m in matches] + [len(text)]
        self.gaps = [text[end:start] for end, start in zip(ends, starts)]
        return [m.group() for m in matches]

    def detokenize(self, tokens: Sequence[str]) -> str:
        if len(tokens) + 1 != len(self.gaps):
            return " ".join(tokens)
        return "".join(gap + token for gap, token in zip(self.gaps, tokens)) + self.gaps[-1]


def build_synonym_augmenter(aug_p: float, aug_min: int, aug_max: int, stopwords: Sequence[str],
                            tagger: Callable[[Sequence[str]], Tagged]) -> Any:
    """An nlpaug SynonymAug on WordNet 3.0 whose POS tags come from `tagger` instead of nltk's download."""
    load_wordnet()  # fail with the set-up command before nlpaug tries `nltk.download`
    import nlpaug.model.word_dict as nmw
    from nlpaug.augmenter.word import SynonymAug

    class TaggedWordNet(nmw.WordNet):
        def pos_tag(self, tokens):  # nlpaug calls nltk.pos_tag here
            return tagger(tokens)

    class AgreeingSynonymAug(SynonymAug):
        def is_stop_words(self, token):  # case-blind: "It" at a sentence start is still a stop-word
            return token.lower() in self.stopwords

        def skip_aug(self, token_idxes, tokens):  # only words whose tag maps to a WordNet POS
            return [i for i in token_idxes if tokens[i][1] in CONTENT_TAGS]

    spacing = SpacingTokenizer()
    aug = AgreeingSynonymAug(aug_src="wordnet", aug_p=aug_p, aug_min=aug_min, aug_max=aug_max,
                             stopwords={w.lower() for w in stopwords}, tokenizer=spacing.tokenize,
                             reverse_tokenizer=spacing.detokenize)
    aug.model = TaggedWordNet(lang="eng", is_synonym=True)
    aug.include_detail = True  # return the change log too, for the samples report and the tests
    return aug


class SynonymAugmenter:
    """One paraphrase per (row, copy); each text is seeded on its own so results ignore batch order."""

    name = "synonym"

    def __init__(self, cfg: Any):
        stopwords = list(DEFAULT_STOPWORDS) + list(cfg.get("stopwords") or [])
        self.copies = int(cfg.get("copies", 1))
        self.batch_size = int(cfg.get("batch_size", 256))
        load_wordnet()  # the cheaper check first: a missing resource fails in seconds
        self.tagger = load_tagger(cfg.get("tagger"))
        self.aug = build_synonym_augmenter(float(cfg.get("aug_p", 0.1)), int(cfg.get("aug_min", 1)),
                                           int(cfg.get("aug_max", 10)), stopwords, self.tagger)

    def augment_detailed(self, texts: Sequence[str], seeds: Sequence[int]) -> list[tuple[str, list[tuple[str, str]]]]:
        """(new text, [(old word, new word), ...]) for each text."""
        if hasattr(self.tagger, "tag_many"):  # one tagger call for the whole batch
            self.tagger.forget()
            self.tagger.tag_many([self.aug.tokenizer(t) for t in texts])
        results = []
        for text, seed in zip(texts, seeds):
            reseed(seed)
            out = self.aug.augment(text) if text.strip() else [text]
            new, log = out[0] if out and isinstance(out[0], tuple) else (text, [])
            results.append((new, [(c["orig_token"], c["new_token"]) for c in log]))
        return results

    def augment(self, texts: Sequence[str], seeds: Sequence[int], copy: int = 0) -> list[str]:
        return [new for new, _ in self.augment_detailed(texts, seeds)]
