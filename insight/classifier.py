"""The call-note outcome classifier (issue 20): the provider interface, the offline provider and its evaluation.

A provider reads the note an operator wrote after a call and answers one of the four outcomes of
`insight.choices.Outcome` with a confidence. The offline provider is the default: TF-IDF features and a logistic
regression (scikit-learn), trained inside the process from the notes shipped in `insight/data/`. Nothing is
downloaded, no service is called, and no trained model is stored on disk (a pickle is code execution waiting for a
tampered file; retraining costs about 0.2 s). docs/ai.md records why this model, how it scores and what it costs.

scikit-learn, SciPy and NumPy weigh about 110 MB of memory and a second to import. They are imported only when a
model is trained or scored, so a web process that imports this module for `Outcome` or `Classification` does not pay
for them: that is the reason for the function-local imports below.
"""

from __future__ import annotations

import csv
import io
import statistics
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final, Protocol

from insight.choices import Outcome

DATA_DIR: Final = Path(__file__).resolve().parent / "data"
TRAIN_CSV: Final = DATA_DIR / "call_notes_train.csv"
EVAL_CSV: Final = DATA_DIR / "call_notes_eval.csv"

# Below this probability the top label is only a suggestion and the call stays "No clasificado". Chosen by
# cross-validation on the training notes only (docs/ai.md, "Confidence threshold"): 0.40 was the best value there,
# it turns about 1% of notes into No clasificado, and every higher value lost macro-F1.
CONFIDENCE_THRESHOLD: Final = 0.40
# Notes are a few lines; a pasted e-mail or transcript is cut here so one note cannot cost seconds of n-grams.
MAX_NOTE_CHARS: Final = 5_000
# Every table and matrix lists the outcomes in this order.
OUTCOMES: Final[tuple[Outcome, ...]] = tuple(Outcome)
# Bump when the features or the model below change: the version string then changes, and the job that classifies
# each note once per model version classifies them again.
RECIPE: Final = "tfidf-lr-v1"

# Classification.reason of the offline provider (a code, translated where it is shown).
REASON_EMPTY: Final = "empty_note"
REASON_LOW_CONFIDENCE: Final = "low_confidence"


@dataclass(frozen=True)
class Classification:
    """One note's answer. `suggestion` is the provider's best label, always shown; `outcome` is the suggestion, or
    No clasificado when `confidence` (the suggestion's probability, 0 to 1) is below the threshold. `model` names the
    exact model that answered (provider-specific version string). `reason` is empty, a code of the offline provider
    (`REASON_EMPTY`, `REASON_LOW_CONFIDENCE`) or a provider's own short explanation."""

    outcome: Outcome
    confidence: float
    provider: str
    model: str
    suggestion: Outcome
    reason: str = ""


class Provider(Protocol):
    """What the classification job needs from a provider. `classify_many` answers in the order of `texts`."""

    name: str
    model: str

    def classify(self, text: str) -> Classification: ...

    def classify_many(self, texts: Sequence[str]) -> list[Classification]: ...


# --- labelled notes ---------------------------------------------------------------------------------------------

class LabelledFileError(ValueError):
    """A labelled CSV with bad rows: every problem, each with its line number (nothing is skipped silently)."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: {len(errors)} problem(s):\n" + "\n".join(errors))


def load_labelled(path: Path) -> list[tuple[str, Outcome]]:
    """The (text, outcome) rows of a labelled CSV (UTF-8, header with `text` and `outcome` columns, as in
    insight/data/README.md). Raises LabelledFileError listing every bad row by its line number."""
    return parse_labelled(path.read_bytes(), source=str(path))


def parse_labelled(data: bytes, *, source: str) -> list[tuple[str, Outcome]]:
    try:
        content = data.decode("utf-8-sig")  # a BOM, as spreadsheets write it, is not part of the first column name
    except UnicodeDecodeError as exc:
        raise LabelledFileError(source, [f"not UTF-8 (byte {exc.start})"]) from None
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise LabelledFileError(source, [f"line 1: {exc}"]) from None
    if not header:
        raise LabelledFileError(source, ["line 1: no header (expected the columns text,outcome)"])
    columns = [name.strip() for name in header]
    missing = [name for name in ("text", "outcome") if name not in columns]
    if missing:
        raise LabelledFileError(source, [f"line 1: missing column(s) {', '.join(missing)} in the header "
                                         f"({','.join(columns)})"])
    text_at, outcome_at = columns.index("text"), columns.index("outcome")
    rows: list[tuple[str, Outcome]] = []
    errors: list[str] = []
    end = reader.line_num
    while True:
        line = end + 1  # a quoted note may span several lines: report the line where its row starts
        try:
            row = next(reader, None)
        except csv.Error as exc:
            errors.append(f"line {line}: {exc}")
            break
        end = reader.line_num
        if row is None:
            break
        if not row:
            continue  # a blank line
        problems = []
        if len(row) > len(columns):
            problems.append(f"{len(row)} fields where the header has {len(columns)} (an unquoted comma?)")
        text = row[text_at] if text_at < len(row) else None
        label = row[outcome_at].strip() if outcome_at < len(row) else None
        if text is None:
            problems.append("no text field")
        elif not text.strip():
            problems.append("empty text")
        if label is None:
            problems.append("no outcome field")
        elif label not in Outcome.values:
            problems.append(f"unknown outcome {label!r} (expected one of {', '.join(Outcome.values)})")
        if problems:
            errors.append(f"line {line}: {'; '.join(problems)}")
        elif text is not None and label is not None:
            rows.append((text, Outcome(label)))
    if errors:
        raise LabelledFileError(source, errors)
    return rows


# --- the offline model ------------------------------------------------------------------------------------------

def fold(text: str) -> str:
    """Lower case without accents, so "Contraentrega", "contraentrega" and "CONTRAENTREGÁ" are one feature
    (operators skip accents as often as they type them)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class TrainedModel:
    """A fitted TF-IDF + logistic-regression pipeline. Read-only once built, so threads may share it."""

    def __init__(self, pipeline: Any) -> None:
        self._pipeline = pipeline
        self.classes: tuple[Outcome, ...] = tuple(Outcome(c) for c in pipeline.classes_)

    def best(self, texts: Sequence[str]) -> list[tuple[Outcome, float]]:
        """Each text's most probable outcome and its probability."""
        probabilities = self._pipeline.predict_proba(list(texts))
        top = probabilities.argmax(axis=1)
        return [(self.classes[i], float(probabilities[row, i])) for row, i in enumerate(top)]


def train(rows: Sequence[tuple[str, Outcome]]) -> TrainedModel:
    """Fits the model on labelled notes; deterministic (the same rows give the same model, bit for bit).

    The settings are the ones docs/ai.md recommends: word 1-2-grams (the words and their pairs: "no interesa",
    "pagó resto") and char_wb 2-5-grams (robust to typos, abbreviations and missing accents), both on folded
    text with sublinear term frequency; C=30 (the middle of the cross-validation plateau 10 to 100); balanced class
    weights."""
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415 - heavy, see the module docstring
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 - same
    from sklearn.pipeline import FeatureUnion, make_pipeline  # noqa: PLC0415 - same

    missing = [o.value for o in OUTCOMES if o not in {outcome for _, outcome in rows}]
    if missing:
        raise ValueError(f"training notes need every outcome; none for: {', '.join(missing)}")
    pipeline = make_pipeline(
        FeatureUnion([
            ("word", TfidfVectorizer(preprocessor=fold, analyzer="word", ngram_range=(1, 2),
                                     token_pattern=r"(?u)\b\w+\b", sublinear_tf=True)),  # noqa: S106 - a regex
            ("char", TfidfVectorizer(preprocessor=fold, analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
        ]),
        LogisticRegression(C=30, class_weight="balanced", max_iter=5000, random_state=0),
    )
    pipeline.fit([text for text, _ in rows], [outcome.value for _, outcome in rows])
    return TrainedModel(pipeline)


# Trained models of this process by the SHA-256 of their training file: trained once, on first use, and shared by
# every provider and thread. The lock makes concurrent first uses train once instead of once per thread.
_TRAINED: dict[str, TrainedModel] = {}
_TRAINING_LOCK = threading.Lock()


def forget_trained_models() -> None:
    """Drops this process's trained models (tests, and timing a cold start)."""
    with _TRAINING_LOCK:
        _TRAINED.clear()


def model_version(training_data: bytes, *, threshold: float = CONFIDENCE_THRESHOLD) -> str:
    """The offline model's version: changes with the training notes, the recipe, the threshold or scikit-learn.
    Computed without importing scikit-learn."""
    digest = sha256(training_data).hexdigest()[:10]
    return f"{RECIPE}-{digest}-t{threshold}-sklearn{version('scikit-learn')}"


class OfflineProvider:
    """The default provider: runs in the worker's process on the CPU, trained from `train_path` on first use.

    `threshold` is the confidence below which the outcome stays No clasificado (the suggestion is kept)."""

    name: str = "offline"

    def __init__(self, train_path: Path = TRAIN_CSV, *, threshold: float = CONFIDENCE_THRESHOLD) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
        # The file is read once here, so the version and the model trained later come from the same bytes.
        self._data = train_path.read_bytes()
        self._source = str(train_path)
        self._key = sha256(self._data).hexdigest()
        self.threshold = threshold
        self.model: str = model_version(self._data, threshold=threshold)

    def load(self) -> None:
        """Trains the model now if this process has not yet (otherwise the first classification does)."""
        self._trained()

    def classify(self, text: str) -> Classification:
        return self.classify_many([text])[0]

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        notes = [text.strip()[:MAX_NOTE_CHARS] for text in texts]
        to_score = [note for note in notes if note]
        scored = iter(self._trained().best(to_score) if to_score else [])
        return [self._answer(*next(scored)) if note else self._empty() for note in notes]

    def _trained(self) -> TrainedModel:
        model = _TRAINED.get(self._key)
        if model is None:
            with _TRAINING_LOCK:
                model = _TRAINED.get(self._key)
                if model is None:
                    model = _TRAINED[self._key] = train(parse_labelled(self._data, source=self._source))
        return model

    def _answer(self, suggestion: Outcome, confidence: float) -> Classification:
        unsure = confidence < self.threshold
        return Classification(
            outcome=Outcome.UNCLASSIFIED if unsure else suggestion, confidence=confidence, provider=self.name,
            model=self.model, suggestion=suggestion, reason=REASON_LOW_CONFIDENCE if unsure else "",
        )

    def _empty(self) -> Classification:
        # Nothing to read: certain, and no model call (the labelling guide's rule 1).
        return Classification(outcome=Outcome.UNCLASSIFIED, confidence=1.0, provider=self.name, model=self.model,
                              suggestion=Outcome.UNCLASSIFIED, reason=REASON_EMPTY)


# --- evaluation -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Mistake:
    text: str
    expected: Outcome
    answer: Classification


@dataclass(frozen=True)
class Evaluation:
    """Scores of a provider on labelled notes. `confusion[i][j]` counts notes labelled OUTCOMES[i] that the
    provider answered OUTCOMES[j] (its final outcome, after the threshold)."""

    size: int
    accuracy: float
    macro_f1: float
    per_class: dict[Outcome, ClassScores]
    confusion: list[list[int]]
    mistakes: list[Mistake] = field(default_factory=list)

    def report(self) -> str:
        """The scores, the per-class table and the confusion matrix as plain text (the command, test failures)."""
        width = max(len(o.value) for o in OUTCOMES)
        lines = [f"{self.size} notes: accuracy {self.accuracy:.3f}, macro-F1 {self.macro_f1:.3f}", "",
                 f"{'outcome':<{width}}  precision  recall     F1  support"]
        for outcome in OUTCOMES:
            s = self.per_class[outcome]
            lines.append(f"{outcome.value:<{width}}  {s.precision:9.3f}  {s.recall:6.3f}  {s.f1:5.3f}  {s.support:7d}")
        lines += ["", "confusion matrix (rows: label, columns: classifier's outcome)",
                  " " * width + "".join(f"  {o.value:>{len(o.value)}}" for o in OUTCOMES)]
        for outcome, counts in zip(OUTCOMES, self.confusion, strict=True):
            lines.append(f"{outcome.value:<{width}}" + "".join(
                f"  {n:>{len(o.value)}d}" for o, n in zip(OUTCOMES, counts, strict=True)))
        return "\n".join(lines)


def evaluate(provider: Provider, rows: Sequence[tuple[str, Outcome]]) -> Evaluation:
    """Classifies the labelled notes in one batch and scores the final outcomes (low confidence counts as the
    No clasificado it is shown as)."""
    from sklearn.metrics import (  # noqa: PLC0415 - heavy, see the module docstring
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    answers = provider.classify_many([text for text, _ in rows])
    labels = [o.value for o in OUTCOMES]
    expected = [outcome.value for _, outcome in rows]
    given = [answer.outcome.value for answer in answers]
    precision, recall, f1, support = precision_recall_fscore_support(
        expected, given, labels=labels, zero_division=0)
    return Evaluation(
        size=len(rows),
        accuracy=float(accuracy_score(expected, given)),
        macro_f1=float(f1_score(expected, given, labels=labels, average="macro", zero_division=0)),
        per_class={o: ClassScores(precision=float(precision[i]), recall=float(recall[i]), f1=float(f1[i]),
                                  support=int(support[i])) for i, o in enumerate(OUTCOMES)},
        confusion=[[int(n) for n in row] for row in confusion_matrix(expected, given, labels=labels)],
        mistakes=[Mistake(text=text, expected=outcome, answer=answer)
                  for (text, outcome), answer in zip(rows, answers, strict=True) if answer.outcome != outcome],
    )


# --- cost -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cost:
    notes: int
    single_p50_ms: float
    single_p95_ms: float
    batch_notes_per_second: float


def measure_cost(provider: Provider, texts: Sequence[str], *, rounds: int = 3) -> Cost:
    """Latency of one note at a time (p50, p95 over `rounds` passes) and throughput of one batch; train first, or
    the first note pays for the training."""
    timings = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            provider.classify(text)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    batch = []
    for _ in range(rounds):
        started = time.perf_counter()
        provider.classify_many(texts)
        batch.append(time.perf_counter() - started)
    return Cost(notes=len(texts), single_p50_ms=statistics.median(timings),
                single_p95_ms=timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))],
                batch_notes_per_second=len(texts) / min(batch))


def memory_mb(field_name: str = "VmRSS") -> float | None:
    """This process's resident memory (VmRSS) or its peak (VmHWM) in MB, from /proc (None where there is none)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(f"{field_name}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
