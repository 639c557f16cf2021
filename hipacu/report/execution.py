"""Executing notebooks with parameters, the way papermill does, on nbclient and nbformat alone.

A notebook declares its parameters in a code cell tagged ``parameters`` (its defaults, e.g.
``EVIDENCE = None``). :func:`execute_notebook` inserts a code cell tagged ``injected-parameters``
right after it that assigns the given values, so they override the defaults before any later cell
runs; a notebook without a ``parameters`` cell gets the injected cell first (papermill's rule). The
stored notebook is never modified.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any

__all__ = ["INJECTED_TAG", "PARAMETERS_TAG", "NotebookFailed", "execute_notebook", "inject_parameters"]

#: Tag of the cell holding a notebook's parameter defaults (papermill's convention).
PARAMETERS_TAG = "parameters"
#: Tag of the cell :func:`inject_parameters` inserts (papermill's name for it).
INJECTED_TAG = "injected-parameters"


class NotebookFailed(RuntimeError):
    """A notebook raised: carries the notebook, the cell index (in the stored notebook) and the error text."""

    def __init__(self, notebook: str, cell: int | None, error: str):
        self.notebook, self.cell, self.error = notebook, cell, error
        where = f"cell {cell}" if cell is not None else "before any cell"
        super().__init__(f"notebook {notebook} failed at {where}: {error}")


def _literal(name: str, value: Any) -> str:
    """``value`` as Python source; only plain literals, so the injected cell is readable and safe."""
    if isinstance(value, PurePath):
        value = str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_literal(name, v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(name, k)}: {_literal(name, v)}" for k, v in value.items()) + "}"
    raise TypeError(f"parameter {name!r} is a {type(value).__name__}; pass None, a bool, number, string, path, "
                    "or a list/tuple/dict of those")


def inject_parameters(nb, parameters: dict[str, Any]) -> int | None:
    """Insert the ``injected-parameters`` cell into ``nb`` (in place); return its index, or None
    when ``parameters`` is empty."""
    import nbformat

    if not parameters:
        return None
    for name in parameters:
        if not (isinstance(name, str) and name.isidentifier()):
            raise ValueError(f"parameter name {name!r} is not a Python identifier")
    source = "# Injected parameters\n" + "\n".join(f"{k} = {_literal(k, v)}" for k, v in parameters.items())
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = [INJECTED_TAG]
    if "id" in cell:
        cell.id = INJECTED_TAG
    at = next((i + 1 for i, c in enumerate(nb.cells)
               if c.get("cell_type") == "code" and PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])), 0)
    nb.cells.insert(at, cell)
    return at


def execute_notebook(path: str | Path, *, parameters: dict[str, Any] | None = None, timeout: int = 600,
                     cwd: Path | None = None):
    """Execute a notebook with nbclient and return the executed notebook node.

    Parameters
    ----------
    path : path
        The ``.ipynb`` file (read, never written).
    parameters : dict, optional
        Values injected after the cell tagged ``parameters`` (see the module docstring), e.g.
        ``{"EVIDENCE": "tests/data/bcg"}``; plain literals only.
    timeout : int
        Seconds allowed per cell.
    cwd : path, optional
        Working directory of the kernel (default: the notebook's folder).

    Raises
    ------
    NotebookFailed
        With the notebook's name, the index of the failing cell in the stored notebook and the
        error's last line.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    injected = inject_parameters(nb, parameters or {})
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(cwd or path.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        cell = next((i for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"
                     and any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        if cell is not None and injected is not None and cell > injected:
            cell -= 1  # count cells as the stored notebook has them
        elif cell is not None and cell == injected:
            cell = None
        text = str(exc).strip()
        raise NotebookFailed(path.name, cell, text.splitlines()[-1] if text else repr(exc)) from None
    except (TimeoutError, RuntimeError, OSError, KeyError) as exc:
        # a cell timed out (CellTimeoutError), the kernel died (DeadKernelError) or could not start
        # (RuntimeError, OSError, NoSuchKernel is a KeyError): reported with the notebook's name
        raise NotebookFailed(path.name, None, f"{type(exc).__name__}: {exc}") from None
    return nb
