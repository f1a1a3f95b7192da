"""A cheap text classifier, TF-IDF features into logistic regression: the floor a fine-tuned model must clear,
and the model behind the label-noise audit's out-of-fold probabilities. Seconds on CPU, deterministic.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def tfidf_logreg():
    """An unfitted scikit-learn pipeline. Word 1-2-grams and character 2-4-grams (within words), so text
    written without spaces (Chinese, Japanese) gets features too; sublinear TF damps repeated words."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    features = make_union(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=200_000),
                          TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True,
                                          max_features=200_000))
    # lbfgs is deterministic; C=4 is mildly regularised, a good default for sparse text features
    return make_pipeline(features, LogisticRegression(C=4.0, max_iter=2000))


def fit_predict(train_texts: Sequence[str], train_labels: np.ndarray, texts: Sequence[str],
                n_classes: int) -> np.ndarray:
    """Class probabilities (n_texts x n_classes) for `texts` from a baseline fitted on the train split.
    A class absent from `train_labels` gets probability 0, so columns always line up with the label ids."""
    model = tfidf_logreg().fit(list(train_texts), train_labels)
    probs = np.zeros((len(texts), n_classes))
    probs[:, model.classes_] = model.predict_proba(list(texts))
    return probs
