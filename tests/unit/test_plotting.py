"""coursekit.plotting's block diagrams draw what they are asked to, on a headless backend."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from coursekit.plotting import draw_block


def texts(ax):
    return [t.get_text() for t in ax.texts]


def test_residual_block_draws_branch_addition_and_shortcut():
    fig, ax = plt.subplots()
    branch = ["conv 3x3", "BN", "ReLU", "conv 3x3", "BN"]
    drawn = draw_block(ax, branch, after_add=["ReLU"], title="basic")
    assert drawn == branch + ["+", "ReLU"]
    assert "identity" in texts(ax) and "+" in texts(ax)
    assert texts(ax)[0] == "x" and texts(ax)[-1] == "y"
    # one rectangle per box, one circle for the addition
    kinds = [type(p).__name__ for p in ax.patches]
    assert kinds.count("Rectangle") == len(branch) + 1 and kinds.count("Circle") == 1
    assert ax.get_title() == "basic"
    plt.close(fig)


def test_plain_chain_has_no_addition():
    fig, ax = plt.subplots()
    drawn = draw_block(ax, ["conv", "BN"], shortcut=False, output_label="z")
    assert drawn == ["conv", "BN"]
    assert "+" not in texts(ax) and "identity" not in texts(ax) and texts(ax)[-1] == "z"
    assert not any(type(p).__name__ == "Circle" for p in ax.patches)
    plt.close(fig)
