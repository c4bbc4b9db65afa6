"""The quickstart notebook runs top to bottom (nbclient) with a small training budget."""
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[1] / "experiments" / "notebooks" / "quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_notebook_executes(monkeypatch, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("BELIEF_JAX_NOTEBOOK_STEPS", "51200")  # 2 PPO iterations of 256 envs
    monkeypatch.setenv("PYTHONPATH", str(NOTEBOOK.parents[2]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code"
               for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # learning curves and belief marginals
    text = "".join(o.get("text", "") for o in outputs)
    assert "total reward of these validation trials" in text
