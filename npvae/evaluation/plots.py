"""Figures. Each function takes arrays (and an optional ``ax``) and returns the matplotlib figure;
none of them picks a backend or writes a file (the command line does both)."""

import textwrap

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator


def _axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def tile(images, image_shape, n_cols, gap=0.0):
    """Images (N, H*W) -> one array (rows*H + gaps, n_cols*W + gaps) with 1-pixel gaps of value
    ``gap``, which frame each image."""
    h, w = image_shape
    n_rows = -(-len(images) // n_cols)
    canvas = np.full((n_rows * (h + 1) - 1, n_cols * (w + 1) - 1), gap)
    for i, image in enumerate(images):
        r, c = divmod(i, n_cols)
        canvas[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = image.reshape(h, w)
    return canvas


def image_grid(images, image_shape, n_cols, title, ax=None, row_labels=None):
    """Images (N, H*W) with values in [0, 1] as a grid, black on white, ``n_cols`` per row."""
    n_rows = -(-len(images) // n_cols)
    scale = 0.5 if image_shape[0] > 10 else 0.35  # inches per image
    fig, ax = _axes(ax, (max(3.0, n_cols * scale + 1.0), n_rows * scale + 0.6))
    ax.imshow(1 - tile(images, image_shape, n_cols, gap=0.35), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")  # pixels black on white, mid-grey frames between them
    ax.set_title(textwrap.fill(title, max(24, int(10 * fig.get_figwidth()))))  # on the figure
    ax.set_xticks([])
    if row_labels is None:
        ax.set_yticks([])
    else:
        h = image_shape[0]
        ax.set_yticks([r * (h + 1) + h / 2 for r in range(len(row_labels))], row_labels)
    fig.tight_layout()
    return fig


def label_grid_axes(ax, image_shape, column_values, row_values, xlabel, ylabel):
    """Ticks at the centres of an ``image_grid``'s columns and rows, labelled with the values
    they stand for (a latent grid's z), and the axes' names."""
    h, w = image_shape
    ax.set_xticks([c * (w + 1) + w / 2 for c in range(len(column_values))],
                  [f"{round(v, 2) + 0.0:g}" for v in column_values], fontsize="small", rotation=90)
    ax.set_yticks([r * (h + 1) + h / 2 for r in range(len(row_values))],
                  [f"{round(v, 2) + 0.0:g}" for v in row_values], fontsize="small")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def image_grids(grids, image_shape, n_cols):
    """Several ``image_grid`` panels one above the other: ``grids`` a list of (images (N, H*W),
    title) pairs."""
    heights = [-(-len(images) // n_cols) for images, _ in grids]
    scale = 0.5 if image_shape[0] > 10 else 0.35
    fig, axes = plt.subplots(len(grids), 1, squeeze=False, gridspec_kw={"height_ratios": heights},
                             figsize=(max(3.0, n_cols * scale + 1.0), sum(heights) * scale
                                      + 0.8 * len(grids)))
    for ax, (images, title) in zip(axes[:, 0], grids):
        image_grid(images, image_shape, n_cols, title, ax=ax)
    return fig


def loss_curves(history, beta_name="beta"):
    """``fit``'s history in three panels, per epoch: the negative ELBO (train, validation, and the
    test set where the history has it; for an IWAE run, minus its bound too), its reconstruction
    part and its KL part (nats), with
    beta, the KL's weight in training, on the KL panel's right axis. Every panel has its own
    legend; beta's line is grey and dashed, beside its own axis. ``beta_name``: what beta
    weighs, for a model where it is not the whole KL (beta-TCVAE: the total correlation)."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
    epochs = [r["epoch"] for r in history]
    below = dict(loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2, fontsize="small",
                 frameon=False)  # under the panel, where it hides no line
    panels = [("loss", "negative ELBO"), ("reconstruction", "reconstruction"), ("kl", "KL")]
    for ax, (key, title) in zip(axes, panels):
        for split, style in (("train", "o-"), ("val", "s-"), ("test", "^")):
            points = [(r["epoch"], r[f"{split}_{key}"]) for r in history if f"{split}_{key}" in r]
            if points:
                label = {"val": "validation", "test": "test (once, at the end)"}.get(split, split)
                ax.plot(*zip(*points), style, label=label, markersize=5 if split == "test" else 4)
        bound = [(r["epoch"], r["train_bound"]) for r in history if "train_bound" in r]
        if key == "loss" and bound:  # an IWAE run: minus the bound it trains on
            ax.plot(*zip(*bound), "d--", markersize=4, label="train, minus the bound trained on")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per example")
        if len(epochs) < 3:  # whole epochs (for one, matplotlib would mark 0.95, 0.96, ...)
            ax.set_xticks(epochs)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(**below)
    if "beta" in history[0]:
        kl_axis = axes[2]
        beta_axis = kl_axis.twinx()
        beta_axis.plot(epochs, [r["beta"] for r in history], "--", color="0.45", linewidth=1.5,
                       marker="." if len(epochs) == 1 else None, label=f"{beta_name} (right axis)")
        beta_axis.set_ylabel(f"{beta_name} (mean of the epoch)", color="0.35")
        beta_axis.tick_params(axis="y", colors="0.35")
        beta_axis.set_ylim(0, 1.15 * max(1.0, max(r["beta"] for r in history)))
        lines = kl_axis.get_legend_handles_labels()
        beta = beta_axis.get_legend_handles_labels()
        kl_axis.legend(lines[0] + beta[0], lines[1] + beta[1], **below)
    fig.tight_layout()
    return fig


def latent_scatter(points, labels, title, xlabel="z1", ylabel="z2", ax=None, names=None):
    """Points (N, 2) coloured by integer label (N,), with a legend of the labels present
    (``names``: a name for each label, e.g. the sprites' shapes)."""
    fig, ax = _axes(ax, (5.5, 4.5))
    colours = plt.get_cmap("tab10" if labels.max() < 10 else "tab20")
    for label in np.unique(labels):
        shown = labels == label
        ax.scatter(points[shown, 0], points[shown, 1], s=6, alpha=0.7,
                   color=colours(int(label) % colours.N),
                   label=str(label) if names is None else names[int(label)])
    ax.legend(title="label", loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2.5,
              fontsize="small", frameon=False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(textwrap.fill(title, 48))  # a long title would be clipped at the figure's edge
    fig.tight_layout()
    return fig


def bar_chart(values, title, xlabel, ylabel, ax=None, line=None):
    """One bar per entry of ``values`` (K,); ``line``: a dashed horizontal line at that value."""
    fig, ax = _axes(ax, (max(4.0, 0.3 * len(values) + 1.5), 3.5))
    ax.bar(np.arange(len(values)), values)
    if line is not None:
        ax.axhline(line, color="k", linestyle="--", linewidth=0.8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole dimensions
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def histograms(named_scores, threshold, title, xlabel, ax=None):
    """Overlaid histograms of several score arrays (dict name -> (N,)), and a threshold line
    (none if ``threshold`` is None)."""
    fig, ax = _axes(ax, (5.5, 3.5))
    everything = np.concatenate(list(named_scores.values()))
    bins = np.linspace(everything.min(), everything.max(), 50)
    for name, scores in named_scores.items():  # outlines: overlaid, they stay apart
        ax.hist(scores, bins=bins, density=True, histtype="step", linewidth=1.5, label=name)
    if threshold is not None:
        ax.axvline(threshold, color="k", linestyle="--", label="threshold")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize="small",
              frameon=False)  # under the panel, where it hides no bar
    fig.tight_layout()
    return fig


def histogram_panels(panels, title):
    """One ``histograms`` panel per entry of ``panels``, two to a row: each entry a dict
    ``{"scores": {name: (N,)}, "threshold": float or None, "title": str, "xlabel": str}``."""
    n_rows = -(-len(panels) // 2)
    n_cols = min(2, len(panels))
    height = 4.2 * n_rows + 0.4
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(5 * n_cols, height), squeeze=False)
    for ax, panel in zip(axes.ravel(), panels):
        histograms(panel["scores"], panel["threshold"], panel["title"], panel["xlabel"], ax=ax)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / height))  # the top 0.4 inch for the title
    return fig


def predictive_maps(X, mean, sd, image_shape, title):
    """Three rows: the images X, the mean of the decoder's output over draws from q(z | x), and
    its standard deviation as a heat map with its own colour scale.
    Shapes: X, mean, sd (N, H*W)."""
    n = len(X)
    fig, axes = plt.subplots(3, 1, figsize=(max(4.0, 0.7 * n + 1.8), 3 * 0.75 + 0.6),
                             layout="constrained")
    for ax, images, label in zip(axes[:2], (X, mean), ("input", "mean")):
        ax.imshow(1 - tile(images, image_shape, n, gap=0.35), cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_ylabel(label)
    spread = axes[2].imshow(np.ma.masked_less(tile(sd, image_shape, n, gap=-1.0), 0),
                            cmap="magma", vmin=0, interpolation="nearest")  # gaps: blank
    axes[2].set_ylabel("std. dev.")
    fig.colorbar(spread, ax=axes, shrink=0.8, label="std. dev.")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_title(title)
    return fig


def rate_distortion(rates, distortions, betas, ax=None):
    """Rate (KL, nats) against distortion (reconstruction, nats), one point per beta."""
    fig, ax = _axes(ax, (5, 4))
    ax.plot(rates, distortions, "o-")
    for i, (rate, distortion, beta) in enumerate(zip(rates, distortions, betas)):
        ax.annotate(f"β={beta:g}", (rate, distortion), textcoords="offset points",
                    xytext=(6, 6) if i % 2 else (-6, -12), ha="left" if i % 2 else "right")
    ax.margins(0.15)  # room for the labels at the ends
    ax.set_xlabel("rate: KL(q(z|x) || p(z)) (nats per example)")
    ax.set_ylabel("distortion: -E log p(x|z) (nats)")
    ax.set_title("Rate-distortion trade-off of beta-VAEs (test set)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def variance_curves(sample_counts, named_variances, title, ax=None):
    """Log-log lines of variance against the number of samples, one per entry of
    ``named_variances`` (dict name -> (len(sample_counts),))."""
    fig, ax = _axes(ax, (5.5, 4))
    for name, variances in named_variances.items():
        ax.loglog(sample_counts, variances, "o-", label=name)
    ax.set_xlabel("samples S per estimate")
    ax.set_ylabel("variance of the estimate")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    return fig
