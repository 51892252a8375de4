"""LongBench v1 task facts and data loading (offline mini set or the hub's data.zip).

The prompt templates and generation lengths are LongBench's protocol (THUDM/LongBench, MIT
licence: ``config/dataset2prompt.json``, ``dataset2maxlen.json``; the paper's task table is in
``declaration``); they must match the official ones character for character, so they are
data here, not prose. ``longbench-mini`` items come already formatted with these templates.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from skipbench.errors import InvalidInput

HUB_REPO = "THUDM/LongBench"
MINI_DIR = "longbench_mini"

# LongBench-E: the 13 tasks with length-balanced "_e" sets on the hub
E_TASKS: tuple[str, ...] = (
    "qasper", "multifieldqa_en", "hotpotqa", "2wikimqa", "gov_report", "multi_news",
    "trec", "triviaqa", "samsum", "passage_count", "passage_retrieval_en", "lcc", "repobench-p",
)  # fmt: skip
# few-shot and code tasks are completions: the official code never wraps them in a chat template
NO_CHAT_TASKS = frozenset({"trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p"})
MAX_NEW_TOKENS: dict[str, int] = {
    "narrativeqa": 128, "qasper": 128, "multifieldqa_en": 64, "multifieldqa_zh": 64,
    "hotpotqa": 32, "2wikimqa": 32, "musique": 32, "dureader": 128,
    "gov_report": 512, "qmsum": 512, "multi_news": 512, "vcsum": 512,
    "trec": 64, "triviaqa": 32, "samsum": 128, "lsht": 64,
    "passage_count": 32, "passage_retrieval_en": 32, "passage_retrieval_zh": 32,
    "lcc": 64, "repobench-p": 64,
}  # fmt: skip

_MULTI_QA = (
    "Answer the question based on the given passages. Only give me the answer and do not output any other words.\n\n"
    "The following are given passages.\n{context}\n\n"
    "Answer the question based on the given passages. Only give me the answer and do not output any other words.\n\n"
    "Question: {input}\nAnswer:"
)
_QASPER_RULE = (
    "as concisely as you can, using a single phrase or sentence if possible. If the question cannot be answered "
    'based on the information in the article, write "unanswerable". If the question is a yes/no question, answer '
    '"yes", "no", or "unanswerable". Do not provide any explanation.'
)
_STORY_RULE = (
    "as concisely as you can, using a single phrase if possible. Do not provide any explanation."
)
TEMPLATES: dict[str, str] = {
    "narrativeqa": (
        "You are given a story, which can be either a novel or a movie script, and a question. Answer the question "
        f"{_STORY_RULE}\n\nStory: {{context}}\n\nNow, answer the question based on the story {_STORY_RULE}\n\n"
        "Question: {input}\n\nAnswer:"
    ),
    "qasper": (
        f"You are given a scientific article and a question. Answer the question {_QASPER_RULE}\n\n"
        f"Article: {{context}}\n\n Answer the question based on the above article {_QASPER_RULE}\n\n"
        "Question: {input}\n\nAnswer:"
    ),
    "multifieldqa_en": (
        "Read the following text and answer briefly.\n\n{context}\n\nNow, answer the following question based on "
        "the above text, only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:"
    ),
    "multifieldqa_zh": "阅读以下文字并用中文简短回答：\n\n{context}\n\n现在请基于上面的文章回答下面的问题，只告诉我答案，不要输出任何其他字词。\n\n问题：{input}\n回答：",
    "hotpotqa": _MULTI_QA,
    "2wikimqa": _MULTI_QA,
    "musique": _MULTI_QA,
    "dureader": "请基于给定的文章回答下述问题。\n\n文章：{context}\n\n请基于上述文章回答下面的问题。\n\n问题：{input}\n回答：",
    "gov_report": (
        "You are given a report by a government agency. Write a one-page summary of the report.\n\n"
        "Report:\n{context}\n\nNow, write a one-page summary of the report.\n\nSummary:"
    ),
    "qmsum": (
        "You are given a meeting transcript and a query containing a question or instruction. Answer the query in "
        "one or more sentences.\n\nTranscript:\n{context}\n\nNow, answer the query based on the above meeting "
        "transcript in one or more sentences.\n\nQuery: {input}\nAnswer:"
    ),
    "multi_news": (
        "You are given several news passages. Write a one-page summary of all news. \n\nNews:\n{context}\n\n"
        "Now, write a one-page summary of all the news.\n\nSummary:"
    ),
    "vcsum": "下面有一段会议记录，请你阅读后，写一段总结，总结会议的内容。\n会议记录：\n{context}\n\n会议总结：",
    "trec": "Please determine the type of the question below. Here are some examples of questions.\n\n{context}\n{input}",
    "triviaqa": (
        "Answer the question based on the given passage. Only give me the answer and do not output any other words. "
        "The following are some examples.\n\n{context}\n\n{input}"
    ),
    "samsum": "Summarize the dialogue into a few short sentences. The following are some examples.\n\n{context}\n\n{input}",
    "lsht": "请判断给定新闻的类别，下面是一些例子。\n\n{context}\n{input}",
    "passage_count": (
        "There are some paragraphs below sourced from Wikipedia. Some of them may be duplicates. Please carefully "
        "read these paragraphs and determine how many unique paragraphs there are after removing duplicates. In "
        "other words, how many non-repeating paragraphs are there in total?\n\n{context}\n\nPlease enter the final "
        "count of unique paragraphs after removing duplicates. The output format should only contain the number, "
        "such as 1, 2, 3, and so on.\n\nThe final answer is: "
    ),
    "passage_retrieval_en": (
        "Here are 30 paragraphs from Wikipedia, along with an abstract. Please determine which paragraph the "
        "abstract is from.\n\n{context}\n\nThe following is an abstract.\n\n{input}\n\nPlease enter the number of "
        'the paragraph that the abstract is from. The answer format must be like "Paragraph 1", "Paragraph 2", '
        "etc.\n\nThe answer is: "
    ),
    "passage_retrieval_zh": (
        "以下是若干段落文字，以及其中一个段落的摘要。请确定给定的摘要出自哪一段。\n\n{context}\n\n下面是一个摘要\n\n{input}\n\n"
        '请输入摘要所属段落的编号。答案格式必须是"段落1"，"段落2"等格式\n\n答案是：'
    ),
    "lcc": "Please complete the code given below. \n{context}Next line of code:\n",
    "repobench-p": "Please complete the code given below. \n{context}{input}Next line of code:\n",
}


@dataclass
class TaskData:
    items: list[dict[str, Any]]  # each with prompt, answers, all_classes, optional _id and length
    files: dict[str, str] = field(default_factory=dict)  # data file -> sha256


def resolve_dataset(choice: str) -> str:
    """``auto``: the offline mini set when its folder exists, else the full hub set."""
    from skipbench.settings import get_settings

    settings = get_settings()
    mini_present = (settings.data_dir / MINI_DIR).is_dir()
    if choice == "auto":
        choice = "longbench-mini" if mini_present else "longbench"
    if choice == "longbench-mini" and not mini_present:
        raise InvalidInput(
            f"{settings.data_dir / MINI_DIR} not found; set SKIPBENCH_SHARED_DIR or use dataset=longbench"
        )
    if choice != "longbench-mini" and settings.offline:
        raise InvalidInput(
            f"dataset={choice} needs the hub, which SKIPBENCH_OFFLINE=1 forbids; use longbench-mini"
        )
    return choice


def load_items(dataset: str, task: str, limit: int | None) -> TaskData:
    """The first ``limit`` items of ``task``, each with its formatted (untruncated) prompt."""
    from harness.data import read_jsonl, sha256_file
    from skipbench.settings import get_settings

    if dataset == "longbench-mini":
        rel = f"{MINI_DIR}/{task}.jsonl"
        path = get_settings().data_dir / rel
        if not path.is_file():
            raise InvalidInput(f"LongBench-mini file {path} not found")
        rows = read_jsonl(path)[:limit]
        return TaskData(rows, {rel: sha256_file(str(path))})
    name = f"{task}_e" if dataset == "longbench-e" else task
    archive, digest = _hub_archive()
    with zipfile.ZipFile(archive) as zf, zf.open(f"data/{name}.jsonl") as f:
        rows = [json.loads(line) for line in io.TextIOWrapper(f, encoding="utf-8") if line.strip()][
            :limit
        ]
    for row in rows:
        row["prompt"] = TEMPLATES[task].format(**row)
    return TaskData(rows, {f"hub:{HUB_REPO}/data.zip": digest})


def _hub_archive() -> tuple[str, str]:
    from huggingface_hub import hf_hub_download

    from harness.data import sha256_file

    path = hf_hub_download(HUB_REPO, "data.zip", repo_type="dataset")
    return path, sha256_file(path)
