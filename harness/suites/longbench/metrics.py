"""LongBench v1 metrics, written to score exactly as the official ``eval.py`` does.

Official behaviour reproduced on purpose (it decides published numbers):
- QA F1 normalizes English (lowercase, drop punctuation, drop a/an/the, squeeze spaces) or
  Chinese (jieba words, each stripped of punctuation and spaces, empty words dropped).
- Rouge-L follows the ``rouge`` 1.0.1 package the official code calls: the texts are split into
  sentences at ".", words are counted as *distinct* words, and the overlap is the number of
  distinct words in the union of one particular LCS (fixed tie-breaking) per sentence pair;
  F = 2PR/(P+R). An empty hypothesis or reference scores 0 (the package raises).
  One deliberate difference: the package reconstructs the LCS recursively and fails (scored 0)
  on sentence pairs longer than Python's recursion limit; we compute the true value.
- Classification keeps the official loop that removes class names contained in the gold
  label while iterating over the same list (so the element after each removal is skipped).
- Code similarity takes the first output line without a backquote, "#" or "//", and scores
  it like ``fuzzywuzzy.fuzz.ratio`` with python-Levenshtein: round(100 * (1 - d / (len1 +
  len2))) / 100, d being the edit distance with insertions/deletions only (substitution = 2).
- Scores are per gold answer; a prediction's score is the best over all gold answers.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache

_EN_PUNCT = frozenset(string.punctuation)
# Chinese and full-width punctuation stripped by the official Chinese normalizer (plus "." and ASCII)
_ZH_PUNCT = _EN_PUNCT | frozenset(
    "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏."
)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUMBER = re.compile(r"\d+")


@lru_cache(maxsize=1)
def _jieba():  # noqa: ANN202
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def zh_words(text: str) -> list[str]:
    """jieba's accurate-mode segmentation (what the official Chinese metrics use)."""
    return list(_jieba().cut(text, cut_all=False))


def normalize_en(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _EN_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def normalize_zh(text: str) -> str:
    return "".join("".join(ch for ch in text.lower() if ch not in _ZH_PUNCT).split())


def token_f1(prediction: Sequence[str], gold: Sequence[str]) -> float:
    """F1 over the multiset of tokens shared by prediction and gold."""
    same = sum((Counter(prediction) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision = same / len(prediction)
    recall = same / len(gold)
    return 2 * precision * recall / (precision + recall)


def qa_f1(prediction: str, gold: str, **_: object) -> float:
    return token_f1(normalize_en(prediction).split(), normalize_en(gold).split())


def qa_f1_zh(prediction: str, gold: str, **_: object) -> float:
    def words(text: str) -> list[str]:
        return [w for w in (normalize_zh(t) for t in zh_words(text)) if w]

    return token_f1(words(prediction), words(gold))


def _sentences(text: str) -> list[str]:
    return [" ".join(part.split()) for part in text.split(".") if part]


def lcs_tokens(ref: Sequence[str], hyp: Sequence[str]) -> list[str]:
    """One longest common subsequence, traced back like the rouge package (prefers moving in hyp)."""
    n, m = len(ref), len(hyp)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        row, prev = table[i], table[i - 1]
        for j in range(1, m + 1):
            row[j] = prev[j - 1] + 1 if ref[i - 1] == hyp[j - 1] else max(prev[j], row[j - 1])
    out: list[str] = []
    i, j = n, m
    while i > 0 and j > 0:
        if ref[i - 1] == hyp[j - 1]:
            out.append(ref[i - 1])
            i, j = i - 1, j - 1
        elif table[i - 1][j] > table[i][j - 1]:
            i -= 1
        else:
            j -= 1
    return out[::-1]


def rouge_l(prediction: str, gold: str, **_: object) -> float:
    hyp, ref = _sentences(prediction), _sentences(gold)
    if not hyp or not ref:
        return 0.0
    hyp_words = [s.split(" ") for s in hyp]
    ref_words = [s.split(" ") for s in ref]
    m = len({w for s in ref_words for w in s})
    n = len({w for s in hyp_words for w in s})
    union: set[str] = set()
    for r in ref_words:
        for h in hyp_words:
            union.update(lcs_tokens(r, h))
    recall, precision = len(union) / m, len(union) / n
    return 2.0 * precision * recall / (precision + recall + 1e-8)


def rouge_l_zh(prediction: str, gold: str, **_: object) -> float:
    return rouge_l(" ".join(zh_words(prediction)), " ".join(zh_words(gold)))


def _share_of(numbers: list[str], wanted: str) -> float:
    """Fraction of the numbers in the output that equal the wanted one (0 if none)."""
    return sum(n == wanted for n in numbers) / len(numbers) if numbers else 0.0


def count_score(prediction: str, gold: str, **_: object) -> float:
    return _share_of(_NUMBER.findall(prediction), str(gold))


def _retrieval(prediction: str, gold: str, label: str) -> float:
    found = re.findall(label + r"(\d+)", gold)
    return _share_of(_NUMBER.findall(prediction), found[0])


def retrieval_en(prediction: str, gold: str, **_: object) -> float:
    return _retrieval(prediction, gold, "Paragraph ")


def retrieval_zh(prediction: str, gold: str, **_: object) -> float:
    return _retrieval(prediction, gold, "段落")


def classification_score(
    prediction: str, gold: str, *, all_classes: Sequence[str], **_: object
) -> float:
    matches = [c for c in all_classes if c in prediction]
    i = 0
    while i < len(matches):
        if matches[i] in gold and matches[i] != gold:
            del matches[i]
        i += 1  # after a removal this skips the next name, as the official loop does
    return 1.0 / len(matches) if gold in matches else 0.0


def indel_distance(a: str, b: str) -> int:
    """Edit distance with insertions and deletions only (a substitution costs 2)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = prev[j - 1] if ca == cb else min(prev[j], cur[j - 1]) + 1
        prev = cur
    return prev[-1]


def edit_similarity(a: str, b: str) -> float:
    """fuzz.ratio semantics: identical -> 1, either empty -> 0, else the rounded indel ratio."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    total = len(a) + len(b)
    return int(round(100 * (total - indel_distance(a, b)) / total)) / 100


def code_sim(prediction: str, gold: str, **_: object) -> float:
    line = next(
        (
            ln
            for ln in prediction.lstrip("\n").split("\n")
            if "`" not in ln and "#" not in ln and "//" not in ln
        ),
        "",
    )
    return edit_similarity(line, gold)


MetricFn = Callable[..., float]
TASK_METRIC: dict[str, MetricFn] = {
    "narrativeqa": qa_f1, "qasper": qa_f1, "multifieldqa_en": qa_f1, "multifieldqa_zh": qa_f1_zh,
    "hotpotqa": qa_f1, "2wikimqa": qa_f1, "musique": qa_f1, "dureader": rouge_l_zh,
    "gov_report": rouge_l, "qmsum": rouge_l, "multi_news": rouge_l, "vcsum": rouge_l_zh,
    "trec": classification_score, "triviaqa": qa_f1, "samsum": rouge_l, "lsht": classification_score,
    "passage_count": count_score, "passage_retrieval_en": retrieval_en,
    "passage_retrieval_zh": retrieval_zh, "lcc": code_sim, "repobench-p": code_sim,
}  # fmt: skip
FIRST_LINE_TASKS = frozenset({"trec", "triviaqa", "samsum", "lsht"})


def score(
    task: str, prediction: str, answers: Sequence[str], all_classes: Sequence[str] | None = None
) -> float:
    """One prediction's score in [0, 1]: the task's metric, best over all gold answers."""
    if task in FIRST_LINE_TASKS:
        prediction = prediction.lstrip("\n").split("\n")[0]
    metric = TASK_METRIC[task]
    best = 0.0
    for gold in answers:
        best = max(best, metric(prediction, gold, all_classes=all_classes or ()))
    return best
