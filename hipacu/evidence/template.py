"""``hipacu init DIR``: a minimal, valid evidence folder to fill in.

The folder holds the five files a folder needs to be read and reported (``topic.toml``, ``studies.csv``,
``outcomes.csv``, ``analyses.toml``, ``README.md``) with commented guidance and **one** example row:
trial 1 of the BCG vaccine trials (Aronson 1948; Colditz et al. 1994), copied with its source from
hipacu's test folder ``tests/data/bcg`` (``tests/evidence/test_init.py`` checks that the rows are the
same). No number in it is invented.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["TEMPLATE", "TEMPLATE_FILES", "init_folder"]

#: The packaged template folder.
TEMPLATE = Path(__file__).resolve().parents[1] / "data" / "init"
TEMPLATE_FILES = ("topic.toml", "studies.csv", "outcomes.csv", "analyses.toml", "README.md")


def init_folder(folder: str | Path) -> list[Path]:
    """Write the template into ``folder`` (created if needed) and return the files written.

    Raises
    ------
    FileExistsError
        ``folder`` already holds one of the template's files (nothing is overwritten).
    """
    folder = Path(folder)
    clash = [name for name in TEMPLATE_FILES if (folder / name).exists()]
    if clash:
        raise FileExistsError(f"{folder} already has {', '.join(clash)}; hipacu init writes only into a folder without "
                              "them (nothing was overwritten)")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TEMPLATE_FILES:
        shutil.copyfile(TEMPLATE / name, folder / name)
        written.append(folder / name)
    return written
