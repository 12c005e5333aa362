"""spaCy NER through Presidio's NLP engine, with only the components NER needs, batched."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from libs.pii.errors import PiiConfigError
from libs.pii.names import NerTagger
from libs.pii.policy import NamesPolicy

log = logging.getLogger(__name__)


def load_spacy(model: str) -> Any:
    """The model's ``Language`` object, loaded by Presidio's ``SpacyNlpEngine``. A model that is not
    installed is an error here (Presidio would try to download it)."""
    import spacy
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    if not spacy.util.is_package(model):
        raise PiiConfigError(
            f"spaCy model {model!r} is not installed (python -m spacy download {model}); "
            "set names.model in the policy file"
        )
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model}])
    engine.load()
    if engine.nlp is None:
        raise PiiConfigError(f"Presidio's NLP engine did not load {model!r}")
    return engine.nlp["en"]


class SpacyNerTagger:
    """``core.names.NerTagger``: ``nlp.pipe`` over many texts with every other component disabled."""

    def __init__(self, nlp: Any, batch_size: int = 256) -> None:
        needed = {"ner"}
        for name, pipe in nlp.pipeline:  # a shared tok2vec that NER listens to must stay on
            if "ner" in getattr(pipe, "listening_components", ()):
                needed.add(name)
        if "ner" not in nlp.pipe_names:
            raise PiiConfigError("the spaCy model has no 'ner' component")
        self._disabled = [name for name in nlp.pipe_names if name not in needed]
        self._nlp = nlp
        self._batch_size = batch_size

    @classmethod
    def load(cls, model: str, batch_size: int = 256) -> SpacyNerTagger:
        return cls(load_spacy(model), batch_size)

    def common_words(self) -> frozenset[str]:
        """The lemmatizer's dictionary (WordNet lemmas in the English pipelines), if the model has one."""
        if "lemmatizer" not in self._nlp.pipe_names:
            return frozenset()
        lookups = getattr(self._nlp.get_pipe("lemmatizer"), "lookups", None)
        if lookups is None or not lookups.has_table("lemma_index"):
            return frozenset()
        words: set[str] = set()
        for entries in dict(lookups.get_table("lemma_index").items()).values():
            words.update(w for w in entries if w.isalpha())
        return frozenset(words)

    def tag(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        with self._nlp.select_pipes(disable=self._disabled):
            return [
                [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]
                for doc in self._nlp.pipe(texts, batch_size=self._batch_size)
            ]


def load_ner(names: NamesPolicy) -> NerTagger | None:
    """The NER model the names policy asks for; None when name finding is off."""
    if not names.enabled:
        return None
    return SpacyNerTagger.load(names.model, names.batch_size)
