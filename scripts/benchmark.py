"""Time one training epoch of npvae against the same model in PyTorch, on the same CPU threads.

    python scripts/benchmark.py [--threads 2] [--runs 3] [--data-dir DIR] [--reference-engine]
                                [--steps 200] [--paper-discriminator]

Model 784-400-400-20, Bernoulli (grey-level BCE), Adam 1e-3, batch 128, 60,000 examples per epoch
(random pixels unless --data-dir names MNIST-format IDX files; speed does not depend on the
values). All of them are timed in turn in each run, so machine noise hits each alike; the table
gives medians and ratios. The "GEMM floor" is this machine's time for the 20 matrix products of a
training step (forward 7, backward 13) on 128 rows and --threads BLAS threads, times the steps of
an epoch: how much of an epoch the products alone take. It is a reference, not a strict bound: with
another memory layout of their arrays, or split otherwise over the threads (npvae's two 64-row
shares, one thread each, say), the same products can run faster. "The same 20, PyTorch BLAS" runs
those products through PyTorch's matmul instead: where its BLAS (MKL in PyPI's CPU build) is faster
than NumPy's (OpenBLAS in PyPI's wheels) on this CPU, PyTorch starts with that advantage, whatever
the rest of the code does. So the table also gives npvae / PyTorch "over their floors": each epoch
divided by its own BLAS's floor, the comparison of everything but the BLAS. "No Adam step" is
npvae's epoch with an optimizer that changes nothing: the forward and backward passes alone, to
show what Adam's update costs. Without PyTorch installed the comparison is skipped and said so.
With --reference-engine, one more epoch (once, in the first run) trains with
`fit(engine="reference")`: npvae/reference.py's plain functions, to say how much the speed tricks
buy.

The disentangling models' steps: a beta-TCVAE step (MSS) and a FactorVAE step (its default
discriminator, 2 x 256) against a plain VAE step of the same 784-400-400-20 model at batch 128,
each timed as `fit` runs it (engine, Adam, the discriminator's own step) over --steps batches,
alternating in each run; the table gives the median ratio. With --paper-discriminator, once, a
FactorVAE with Kim & Mnih's 6 x 1000 discriminator too. And the IWAE objective's steps with K =
5 and 50 draws per image (DReG's gradient; K = 50 over a tenth of the batches) against the
same plain VAE step, beside their budget: the encoder once per image and the decoder K times,
(1 + K) / 2 one-sample steps for this model, whose encoder and decoder cost the same.
"""

import argparse
import statistics
import time
import tracemalloc

import numpy as np
from threadpoolctl import threadpool_limits

from npvae import SGD, TCVAE, VAE, FactorVAE, evaluate, fit
from npvae.data.dataset import DataError
from npvae.data.mnist import load_idx_dir

SIZES = (784, 400, 400, 20)


def data(args):
    if args.data_dir:
        d = load_idx_dir(args.data_dir)
        return d.X_train[:args.examples], d.X_test
    rng = np.random.default_rng(0)
    return (rng.random((args.examples, 784), dtype=np.float32),
            rng.random((10_000, 784), dtype=np.float32))


class NoStep(SGD):
    """An optimizer that leaves the parameters alone: an epoch with it times the forward and
    backward passes (and the batches) without Adam's update."""

    def step(self):
        pass


def npvae_epoch(X, dtype, seed, no_step=False, engine="fast"):
    model = VAE(784, SIZES[1:3], SIZES[3], dtype=dtype, random_state=seed)
    optimizer = NoStep(model.params) if no_step else None
    began = time.perf_counter()
    fit(model, X, epochs=1, batch_size=128, lr=1e-3, optimizer=optimizer, engine=engine)
    return time.perf_counter() - began, model


def gemm_floor(n_examples, batch=128, repeats=30, library="numpy"):
    """Seconds per epoch for the 20 products of a step, with preallocated outputs, by NumPy's
    BLAS or (``library="torch"``) by PyTorch's on the same arrays."""
    rng = np.random.default_rng(0)
    D, H1, H2, K = SIZES
    shapes = [(D, H1), (H1, H2), (H2, K), (H2, K), (K, H2), (H2, H1), (H1, D)]  # W (in, out)
    Ws = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    acts = {n: rng.standard_normal((batch, n), dtype=np.float32) for n in {D, H1, H2, K}}
    products = []
    for i, W in enumerate(Ws):
        n_in, n_out = W.shape
        x, dy = acts[n_in], acts[n_out]
        products.append((x, W, np.empty((batch, n_out), np.float32)))  # forward x @ W
        products.append((x.T, dy, np.empty_like(W)))  # dW = x^T dy
        if i > 0:  # dx = dy W^T; the first layer needs no gradient for the data
            products.append((dy, W.T, np.empty((batch, n_in), np.float32)))
    assert len(products) == 20
    matmul = np.matmul
    if library == "torch":
        import torch

        products = [tuple(map(torch.from_numpy, p)) for p in products]
        matmul = torch.matmul
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        for a, b, out in products:
            matmul(a, b, out=out)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * -(-n_examples // batch)


def blas_names(torch_version):
    """Which BLAS does NumPy's products, and which PyTorch's."""
    from threadpoolctl import threadpool_info

    numpy_blas = ", ".join(f"{lib['internal_api']} {lib['version']} ({lib.get('architecture')})"
                           for lib in threadpool_info() if lib["user_api"] == "blas")
    if not torch_version:
        return f"NumPy's BLAS: {numpy_blas}"
    import torch

    config = torch.__config__.show()
    torch_blas = "MKL" if "BLAS_INFO=mkl" in config else "its own build's"
    return f"NumPy's BLAS: {numpy_blas}; PyTorch's: {torch_blas}"


def torch_epoch(X, seed):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    D, H1, H2, K = SIZES
    encoder = nn.Sequential(nn.Linear(D, H1), nn.ReLU(), nn.Linear(H1, H2), nn.ReLU())
    mu_head, logvar_head = nn.Linear(H2, K), nn.Linear(H2, K)
    decoder = nn.Sequential(nn.Linear(K, H2), nn.ReLU(), nn.Linear(H2, H1), nn.ReLU(),
                            nn.Linear(H1, D))
    modules = nn.ModuleList([encoder, mu_head, logvar_head, decoder])
    opt = torch.optim.Adam(modules.parameters(), lr=1e-3)
    X = torch.from_numpy(X)
    began = time.perf_counter()
    order = torch.randperm(len(X))
    for start in range(0, len(X), 128):
        x = X[order[start:start + 128]]
        h = encoder(x)
        mu, logvar = mu_head(h), logvar_head(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = nn.functional.binary_cross_entropy_with_logits(decoder(z), x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu * mu - logvar.exp())
        loss = (rec + kl) / len(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - began


def disentangling_step(X, kind, steps, seed):
    """Seconds per training step (batch 128, fit's engine and Adam) of a model of SIZES: "vae",
    "tcvae" (MSS), "factorvae" (default discriminator), "factorvae-paper" (6 x 1000), or
    "iwae-K" (the IWAE bound with K draws, DReG)."""
    D, H1, H2, K = SIZES
    X = X[:steps * 128]
    if kind == "vae":
        model = VAE(D, (H1, H2), K, random_state=seed)
    elif kind.startswith("iwae-"):
        model = VAE(D, (H1, H2), K, random_state=seed, objective="iwae",
                    k=int(kind.split("-")[1]), gradient="dreg")
    elif kind == "tcvae":
        model = TCVAE(D, (H1, H2), K, dataset_size=len(X), random_state=seed)
    else:
        hidden = (1000,) * 6 if kind == "factorvae-paper" else (256, 256)
        model = FactorVAE(D, (H1, H2), K, discriminator_hidden=hidden, random_state=seed)
    began = time.perf_counter()
    fit(model, X, epochs=1, batch_size=128, lr=1e-3)
    return (time.perf_counter() - began) / steps


def peak_training_memory(X):
    """Peak bytes NumPy allocates during one epoch, beyond the data set itself (tracemalloc)."""
    model = VAE(784, SIZES[1:3], SIZES[3], random_state=0)
    tracemalloc.start()
    tracemalloc.reset_peak()
    fit(model, X, epochs=1, batch_size=128, lr=1e-3)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", help="MNIST-format IDX files instead of random pixels")
    parser.add_argument("--reference-engine", action="store_true",
                        help="also time one epoch of fit(engine='reference')")
    parser.add_argument("--examples", type=int, default=60_000,
                        help="examples per epoch (fewer for a quick try of the script)")
    parser.add_argument("--steps", type=int, default=200,
                        help="batches per timing of the disentangling models' steps")
    parser.add_argument("--paper-discriminator", action="store_true",
                        help="also time FactorVAE with Kim & Mnih's 6 x 1000 discriminator once")
    args = parser.parse_args()
    try:
        X, X_test = data(args)
    except DataError as error:  # one line, no traceback, as on npvae's command line
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    try:
        import torch
        torch.set_num_threads(args.threads)
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    times = {"npvae float32": [], "npvae float64": [], "PyTorch float32": [],
             "npvae float32, no Adam step": [], "GEMM floor": [], "GEMM floor, PyTorch": [],
             "reference engine": []}
    steps = {"vae": [], "tcvae": [], "factorvae": [], "factorvae-paper": [], "iwae-5": [],
             "iwae-50": []}
    with threadpool_limits(args.threads):
        for run in range(args.runs):
            times["GEMM floor"].append(gemm_floor(len(X)))
            times["npvae float32"].append(npvae_epoch(X, np.float32, run)[0])
            if torch_version:
                times["PyTorch float32"].append(torch_epoch(X, run))
                times["GEMM floor, PyTorch"].append(gemm_floor(len(X), library="torch"))
            times["npvae float64"].append(npvae_epoch(X.astype(np.float64), np.float64, run)[0])
            no_adam = npvae_epoch(X, np.float32, run, no_step=True)[0]
            times["npvae float32, no Adam step"].append(no_adam)
            if args.reference_engine and run == 0:
                reference = npvae_epoch(X, np.float32, run, engine="reference")[0]
                times["reference engine"].append(reference)
            for kind in ("vae", "tcvae", "factorvae", "iwae-5"):
                steps[kind].append(disentangling_step(X, kind, args.steps, run))
            steps["iwae-50"].append(disentangling_step(X, "iwae-50", max(1, args.steps // 10),
                                                       run))
            if args.paper_discriminator and run == 0:
                steps["factorvae-paper"].append(disentangling_step(X, "factorvae-paper",
                                                                   args.steps, run))
        _, model = npvae_epoch(X, np.float32, 0)
        eval_times = []
        for _ in range(args.runs):
            began = time.perf_counter()
            evaluate(model, X_test, batch_size=2000)
            eval_times.append(time.perf_counter() - began)
    memory = peak_training_memory(X)

    med = {name: statistics.median(t) for name, t in times.items() if t}
    f32, floor = med["npvae float32"], med["GEMM floor"]
    print(f"{len(X)} examples per epoch, batch 128, model {'-'.join(map(str, SIZES))}, "
          f"{args.threads} threads, median of {args.runs} alternating runs")
    print(f"{'':<28}{'seconds':>9}  ratio")
    print(f"{'GEMM floor (20 products)':<28}{floor:9.2f}  npvae / floor = {f32 / floor:.2f}")
    print(f"{'npvae float32 epoch':<28}{f32:9.2f}")
    print(f"{'npvae float64 epoch':<28}{med['npvae float64']:9.2f}  float64 / float32 = "
          f"{med['npvae float64'] / f32:.2f}")
    bare = med["npvae float32, no Adam step"]
    bare_ratios = f"no Adam / floor = {bare / floor:.2f}"
    if torch_version:
        torch_f32 = med["PyTorch float32"]
        print(f"{'PyTorch ' + torch_version + ' epoch':<28}{torch_f32:9.2f}  "
              f"npvae / PyTorch = {f32 / torch_f32:.2f}")
        bare_ratios += f", no Adam / PyTorch = {bare / torch_f32:.2f}"
        torch_floor = med["GEMM floor, PyTorch"]
        print(f"{'the same 20, PyTorch BLAS':<28}{torch_floor:9.2f}  floor / PyTorch's = "
              f"{floor / torch_floor:.2f}; PyTorch / its floor = {torch_f32 / torch_floor:.2f}, "
              f"so npvae / PyTorch over their floors = "
              f"{(f32 / floor) / (torch_f32 / torch_floor):.2f}")
    else:
        print("PyTorch is not installed: no comparison with it, only with the floor")
    print(f"{'npvae float32, no Adam step':<28}{bare:9.2f}  {bare_ratios}")
    if times["reference engine"]:
        print(f"{'reference engine, float32':<28}{med['reference engine']:9.2f}  "
              f"reference / npvae = {med['reference engine'] / f32:.1f}")
    print(f"{'evaluate 10,000 (no grads)':<28}{statistics.median(eval_times):9.2f}")
    print(blas_names(torch_version))
    print(f"peak NumPy memory in training beyond the data: {memory / 2**20:.0f} MB "
          f"(data set {X.nbytes / 2**20:.0f} MB)")
    for name, t in times.items():
        if t:
            print(f"  {name} runs: {', '.join(f'{s:.2f}' for s in t)}")
    print(f"training steps of the same model at batch 128, fit's engine, {args.steps} per timing "
          "(ratios to the plain VAE's step of the same run, median):")
    for kind, name in (("tcvae", "beta-TCVAE (MSS)"), ("factorvae", "FactorVAE, 2 x 256"),
                       ("factorvae-paper", "FactorVAE, 6 x 1000")):
        if steps[kind]:
            ratios = [t / v for t, v in zip(steps[kind], steps["vae"])]
            print(f"  {name:<22} {statistics.median(steps[kind]) * 1e3:7.2f} ms  "
                  f"{name.split(',')[0]} / VAE = {statistics.median(ratios):.2f}")
    print(f"  {'plain VAE':<22} {statistics.median(steps['vae']) * 1e3:7.2f} ms")
    for k in (5, 50):
        ratios = [t / v for t, v in zip(steps[f"iwae-{k}"], steps["vae"])]
        print(f"  {f'IWAE, K = {k}, DReG':<22} {statistics.median(steps[f'iwae-{k}']) * 1e3:7.2f} "
              f"ms  IWAE K={k} / VAE = {statistics.median(ratios):.2f} (budget (1 + K) / 2 = "
              f"{(1 + k) / 2:.1f})")


if __name__ == "__main__":
    main()
