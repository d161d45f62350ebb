"""Functions of the throwaway lmms-eval task used by tests/integration/test_avem_av.py.

The test copies this file next to a task YAML it writes into a temporary folder (lmms-eval
resolves ``!function av_utils.fn`` relative to the YAML). Docs carry absolute media paths:
``video`` (an mp4 with its own audio track) and optionally ``audio`` (a separate file).
"""

from __future__ import annotations


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return doc["question"]


def doc_to_visual(doc):
    visuals = [doc["video"]]
    if doc.get("audio"):
        visuals.append(doc["audio"])
    return visuals


def doc_to_messages(doc, lmms_eval_specific_kwargs=None):
    content = [{"type": "video", "url": doc["video"]}]
    content.append({"type": "audio", "url": doc.get("audio") or doc["video"]})
    content.append({"type": "text", "text": doc["question"]})
    return [{"role": "user", "content": content}]


def process_results(doc, results):
    answer = results[0]
    return {"answered": float(bool(answer) and answer != "<avem_av generation error>")}
