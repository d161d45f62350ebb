"""The real lmms-eval CLI with ``avem_av`` observed, and optionally answers fed to it.

Run as ``python answer_driver.py ANSWERS RECORD_FILE <lmms-eval arguments>``. The model
is ``avem_av`` as a user runs it (the tiny Qwen2.5-Omni: its processor, chat template,
adapter decoding and stop strings); the driver wraps the Hugging Face model's ``generate``
of each batch to record, as one JSON line per batch in ``RECORD_FILE``:

- ``ids``: the requests (``task/doc_id``);
- ``inputs``: the token ids the model received, decoded (the prompt inside the model's
  own template), one string per request, padding removed;
- ``generate_kwargs``: the non-tensor arguments ``generate`` got (``max_new_tokens``,
  ``do_sample``, ``temperature``, ...).

``ANSWERS`` is ``-`` (the model generates as usual) or a JSON file
``{"<task family>": {"<doc id>": answer}}`` (family ``emorealm`` for the emorealm tasks,
``dfew`` for every other task; doc id the doc's own ``id`` field): then ``generate`` returns the prompt followed by the tokens of
that answer instead of sampling from the random-weight tiny model, so a test controls
which strings the scorers see. Everything else (lmms-eval's requests, the chat template,
``avem_av``'s decoding and ``until`` handling, lmms-eval's filters, scoring and logged
samples) is the real code path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from avem_plugins.lmms import model as avem_model


def _doc(lm: Any, example_id: str) -> dict[str, Any]:
    task, _, doc_id = example_id.rpartition("/")
    splits = lm.task_dict[task]
    split = "train" if "train" in splits else next(iter(splits))
    return splits[split][int(doc_id)]


def main() -> None:
    answers_file, record, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    table = None if answers_file == "-" else json.loads(Path(answers_file).read_text())
    original_generate = avem_model.AvemAV._generate

    def generate(self: Any, examples: list[Any], gen_kwargs: dict[str, Any]) -> list[str]:
        import torch

        hf_model = self.model
        real = hf_model.generate
        tok = self.tokenizer

        def observed(**kwargs: Any) -> Any:
            ids, mask = kwargs["input_ids"], kwargs.get("attention_mask")
            rows = [ids[i][mask[i].bool()] if mask is not None else ids[i] for i in range(len(ids))]
            entry = {
                "ids": [ex.id for ex in examples],
                "inputs": [tok.decode(r.tolist(), skip_special_tokens=False) for r in rows],
                "generate_kwargs": {
                    k: v
                    for k, v in kwargs.items()
                    if not isinstance(v, torch.Tensor) and k != "input_ids"
                },
            }
            with open(record, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, default=str) + "\n")
            if table is None:
                return real(**kwargs)
            fed = []
            for ex in examples:
                family = "emorealm" if ex.id.startswith("emorealm") else "dfew"
                answer = table[family][str(_doc(self, ex.id)["id"])]
                fed.append(tok(answer, add_special_tokens=False)["input_ids"])
            eos = self._eos_ids()[0]
            width = max(1, *(len(f) for f in fed))
            new = torch.tensor([f + [eos] * (width - len(f)) for f in fed], dtype=ids.dtype)
            return torch.cat([ids, new.to(ids.device)], dim=1)

        hf_model.generate = observed
        try:
            return original_generate(self, examples, gen_kwargs)
        finally:
            del hf_model.generate  # back to the class's method

    avem_model.AvemAV._generate = generate  # type: ignore[method-assign]

    from lmms_eval.__main__ import cli_evaluate

    sys.argv = ["lmms-eval", *args]
    cli_evaluate()


if __name__ == "__main__":
    main()
