"""Does XLA:CPU run two independent computations at once in one process?
`python -m experiments.benchmark.overlap [--steps N] [--rounds R]`.

Times one single-threaded loop (a scan of `steps` small matmuls, 16 x 512 by 512 x 512, the
size of a PPO minibatch's LSTM step) against two independent ones: in one jitted program, on
two host devices dispatched back to back, and on two host devices from two Python threads.
A ratio near 1 means the pair overlapped on the two cores, near 2 that it ran one after the
other. On the 2-core CPU of this project (2026-12-07) every way gave 2.0-2.2 while two
separate processes ran side by side at full speed: why splitting a training loop over two
host devices buys little here (README, *Benchmark*).
"""
from __future__ import annotations

import os

# Two host devices and single-threaded ops (so that one loop leaves the second core idle);
# set before JAX creates its CPU backend.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_"
                           "device_count=2 --xla_cpu_multi_thread_eigen=false").strip()

import argparse  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import belief_jax  # noqa: E402,F401  (the project's XLA flags, as in training)


def loop(w: jax.Array, h: jax.Array, steps: int) -> jax.Array:
    return jax.lax.scan(lambda h, _: (jnp.tanh(h @ w), None), h, None, length=steps)[0]


def best_ms(run, rounds: int) -> float:
    jax.block_until_ready(run())
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        jax.block_until_ready(run())
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    if len(jax.devices()) < 2:  # JAX was set up before this module could ask for two
        raise SystemExit("overlap needs two host devices: run it as its own process, "
                         "`python -m experiments.benchmark.overlap`")
    one = jax.jit(lambda w, h: loop(w, h, args.steps))
    # the second loop's weights differ so that XLA cannot merge the two into one
    both = jax.jit(lambda w, h: (loop(w, h, args.steps), loop(w * 0.5, h, args.steps)))
    kw, kh = jax.random.split(jax.random.key(0))
    w, h = jax.random.normal(kw, (512, 512)) / 23, jax.random.normal(kh, (16, 512))
    a, b = [(jax.device_put(w, d), jax.device_put(h, d)) for d in jax.devices()[:2]]
    with ThreadPoolExecutor(2) as pool:
        def threads():
            futures = [pool.submit(lambda x: jax.block_until_ready(one(*x)), x)
                       for x in (a, b)]
            return [f.result() for f in futures]

        base = best_ms(lambda: one(*a), args.rounds)
        ratios = {"one program": best_ms(lambda: both(*a), args.rounds) / base,
                  "two devices": best_ms(lambda: (one(*a), one(*b)), args.rounds) / base,
                  "two devices, two threads": best_ms(threads, args.rounds) / base}
    print(f"one loop: {base:.1f} ms; two independent loops, time / one loop's:")
    for name, ratio in ratios.items():
        print(f"  {name}: {ratio:.2f}")
    return ratios


if __name__ == "__main__":
    main()
