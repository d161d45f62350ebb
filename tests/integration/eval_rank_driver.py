"""The real lmms-eval CLI with ``avem_av``, recording each rank's generate batches.

``python eval_rank_driver.py RECORD KILL_AT <lmms-eval arguments>`` runs ``cli_evaluate``
unchanged, except that ``AvemAV._generate`` appends ``{"rank": r, "ids": [...]}`` to
``RECORD`` for every batch it really generates (answers taken from the journal make no
batch). With ``KILL_AT`` > 0, rank 0 SIGKILLs itself as it starts its ``KILL_AT``-th batch
(torchrun then stops the other ranks): a run killed mid-evaluation.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from avem_plugins.lmms import model as avem_model


def main() -> None:
    record, kill_at, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    rank = int(os.environ.get("RANK", "0"))
    original = avem_model.AvemAV._generate
    calls = [0]

    def generate(self: Any, examples: list[Any], gen_kwargs: dict[str, Any]) -> list[str]:
        calls[0] += 1
        if kill_at and rank == 0 and calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        out = original(self, examples, gen_kwargs)
        with open(record, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"rank": rank, "ids": [ex.id for ex in examples]}) + "\n")
        return out

    avem_model.AvemAV._generate = generate  # type: ignore[method-assign]
    from lmms_eval.__main__ import cli_evaluate

    sys.argv = ["lmms-eval", *args]
    cli_evaluate()


if __name__ == "__main__":
    main()
