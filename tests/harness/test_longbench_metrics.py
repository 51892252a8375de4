"""LongBench metrics on hand-worked examples (expected values computed by hand in comments)."""

from __future__ import annotations

import pytest

from harness.suites.longbench import metrics as M


def test_qa_f1_english_normalization():
    # pred -> "cat sat on mat" (articles, punctuation, case gone); gold -> "cat sat"
    # overlap 2: precision 2/4, recall 2/2, F1 = 2*0.5*1/1.5 = 2/3
    assert M.qa_f1("The cat sat on the mat.", "A cat sat.") == pytest.approx(2 / 3)
    assert M.normalize_en("  The  Answer, is: AN apple! ") == "answer is apple"
    assert M.qa_f1("Paris", "London") == 0.0
    # multiset overlap: pred "a1 a1 b" vs gold "a1 b b": common {a1:1, b:1} = 2, P = R = 2/3
    assert M.qa_f1("a1 a1 b", "a1 b b") == pytest.approx(2 / 3)


def test_qa_f1_chinese_via_jieba():
    # jieba: 我爱北京天安门 -> 我 / 爱 / 北京 / 天安门 ; 我在北京工作。 -> 我 / 在 / 北京 / 工作 / 。
    assert M.zh_words("我爱北京天安门") == ["我", "爱", "北京", "天安门"]
    assert M.zh_words("我在北京工作。") == ["我", "在", "北京", "工作", "。"]
    # "。" normalizes to "" and is dropped: pred 4 words, gold 4 words, common {我, 北京} = 2
    # P = R = 1/2 -> F1 = 1/2
    assert M.qa_f1_zh("我爱北京天安门", "我在北京工作。") == pytest.approx(0.5)
    assert M.normalize_zh("Ａ，北 京！") == "ａ北京"


def test_rouge_l_counts_distinct_words_like_the_rouge_package():
    # ref words {the, cat, was, under, bed} (m = 5), hyp adds "found" (n = 6);
    # LCS = the cat was under the bed -> distinct {the, cat, was, under, bed} = 5
    # R = 5/5, P = 5/6, F = 2PR/(P+R) = 10/11
    assert M.rouge_l(
        "the cat was found under the bed", "the cat was under the bed"
    ) == pytest.approx(10 / 11, abs=1e-7)
    # sentences split at ".": ref [c d, a b], hyp [a b, c d]; union of LCS words = {a, b, c, d}
    assert M.rouge_l("a b. c d", "c d. a b") == pytest.approx(1.0, abs=1e-7)
    # empty hypothesis: the package raises, the official code scores 0
    assert M.rouge_l("", "a b") == 0.0
    assert M.rouge_l("...", "a b") == 0.0


def test_lcs_traceback_tie_breaking():
    # ref = a a b, hyp = a b a: LCS length 2, either "a a" or "a b".
    # table row i=3 (b): T[2][3] = 2, T[3][2] = 2 -> not greater -> move in hyp, then match b, then a.
    assert M.lcs_tokens(["a", "a", "b"], ["a", "b", "a"]) == ["a", "b"]
    # so both distinct words count: m = n = 2, overlap 2 -> F = 1 (with "a a" it would be 0.5)
    assert M.rouge_l("a b a", "a a b") == pytest.approx(1.0, abs=1e-7)
    assert M.lcs_tokens(["a", "b"], ["b", "a"]) == ["b"]


def test_rouge_l_chinese():
    # jieba: 北京是中国的首都 -> 北京 是 中国 的 首都 ; 今天天气很好 -> 今天天气 很 好 (no overlap)
    assert M.rouge_l_zh("今天天气很好", "北京是中国的首都") == 0.0
    # 我爱北京天安门 vs 我在北京工作: ref words {我, 在, 北京, 工作} (4), hyp {我, 爱, 北京, 天安门} (4)
    # LCS = 我 北京 -> 2; P = R = 1/2 -> F = 1/2
    assert M.rouge_l_zh("我爱北京天安门", "我在北京工作") == pytest.approx(0.5, abs=1e-7)


def test_classification_including_the_official_skip():
    classes = ["Human", "Human being", "Location"]
    # both "Human" and "Human being" appear; "Human" is inside the gold and removed -> [Human being] -> 1
    assert M.classification_score("Type: Human being", "Human being", all_classes=classes) == 1.0
    # "Location or Human": two matches, neither inside "Location" -> 1/2
    assert M.classification_score("Location or Human", "Location", all_classes=classes) == 0.5
    assert M.classification_score("no idea", "Location", all_classes=classes) == 0.0
    # the official loop skips the element after a removal: [a, ab, abc] -> remove "a", skip "ab",
    # keep "abc" -> [ab, abc] -> 1/2 (a clean filter would give 1)
    assert M.classification_score("abc", "abc", all_classes=["a", "ab", "abc"]) == 0.5


def test_retrieval_and_count():
    # numbers 3 and 12, one equals the gold paragraph 3 -> 1/2
    assert M.retrieval_en("Paragraph 3, not Paragraph 12", "Paragraph 3") == 0.5
    assert M.retrieval_en("I do not know", "Paragraph 3") == 0.0
    assert M.retrieval_zh("答案是：段落5", "段落5") == 1.0
    assert M.retrieval_zh("段落5或段落15", "段落15") == 0.5
    # numbers 12, 12, 30 -> two of three equal 12
    assert M.count_score(
        "There are 12 unique paragraphs, 12 in total out of 30", "12"
    ) == pytest.approx(2 / 3)
    assert M.count_score("none", "12") == 0.0


def test_code_similarity_first_clean_line_and_levenshtein():
    # first line without "#", "`" or "//" is "    return x + 1" (16 chars); gold "    return x+1" (14)
    # gold is a subsequence of it: indel distance 2 -> 100 * (30 - 2) / 30 = 93.33 -> 93 -> 0.93
    assert M.indel_distance("    return x + 1", "    return x+1") == 2
    assert M.code_sim("\n# comment\n```\n    return x + 1\n", "    return x+1") == 0.93
    # substitution costs 2: "kitten" vs "sitting" -> LCS "ittn" (4) -> d = 6 + 7 - 8 = 5
    assert M.indel_distance("kitten", "sitting") == 5
    assert M.edit_similarity("kitten", "sitting") == 0.62  # 100 * 8 / 13 = 61.5 -> 62
    assert M.code_sim("// only comments", "x = 1") == 0.0
    assert M.edit_similarity("same", "same") == 1.0


def test_score_best_answer_and_first_line_rule():
    # triviaqa keeps only the first line: "55" -> F1 1 with gold "55"; "fifty-five" scores 0
    assert M.score("triviaqa", "\n55\nQuestion: next", ["fifty-five", "55"]) == 1.0
    # hotpotqa keeps everything: pred "55 question next" vs "55" -> P = 1/3, R = 1 -> F1 = 1/2
    assert M.score("hotpotqa", "55\nQuestion: next", ["fifty-five", "55"]) == pytest.approx(0.5)
    assert M.score("trec", "Human\nLocation", ["Human"], ["Human", "Location"]) == 1.0
    assert M.score("lsht", "教育\n体育", ["教育"], ["教育", "体育"]) == 1.0
    assert M.score("gov_report", "", ["a summary"]) == 0.0


def test_every_task_has_a_metric():
    from harness.suites.longbench.data import MAX_NEW_TOKENS
    from harness.suites.longbench.declaration import TASKS

    assert len(TASKS) == 21
    assert set(M.TASK_METRIC) == set(TASKS) == set(MAX_NEW_TOKENS)
