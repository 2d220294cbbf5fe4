"""A classical baseline beside every text fit: TF-IDF features and a linear model (scikit-learn), trained and
scored on the same split as the pretrained model, so a user sees whether the pretrained model earns its place."""
from __future__ import annotations

import time

from graft.metrics import classification_report

C_GRID = (0.1, 1.0, 10.0)  # the linear model's regularisation, chosen by 3-fold cross-validation on training data


def tfidf_baseline(train_texts: list[str], train_labels: list[int], val_texts: list[str], val_labels: list[int],
                   classes: list[str], seed: int = 0) -> dict:
    """Word 1-2-grams (sublinear tf-idf) into a linear SVM whose C is chosen by cross-validation; its report on
    the validation texts."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    start = time.perf_counter()
    pipeline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
                             LinearSVC(random_state=seed))
    folds = min(3, min(train_labels.count(c) for c in set(train_labels)))
    if folds >= 2:
        search = GridSearchCV(pipeline, {"linearsvc__C": list(C_GRID)}, cv=StratifiedKFold(folds, shuffle=True,
                                                                                               random_state=seed))
        model = search.fit(train_texts, train_labels).best_estimator_
        chosen = search.best_params_["linearsvc__C"]
    else:  # a class with a single example: no folds to choose C on
        model, chosen = pipeline.set_params(linearsvc__C=1.0).fit(train_texts, train_labels), 1.0
    report = classification_report(val_labels, model.predict(val_texts).tolist(), classes)
    return {"model": f"TF-IDF word 1-2-grams + linear SVM (scikit-learn), C={chosen:g} by {folds}-fold CV",
            "val_accuracy": report["accuracy"], "val_balanced_accuracy": report["balanced_accuracy"],
            "val_macro_f1": report["macro_f1"], "seconds": round(time.perf_counter() - start, 2)}
