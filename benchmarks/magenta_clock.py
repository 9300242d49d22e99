"""Runs one of the Magenta reference's timing scripts with the process CPU clock recorded next
to its wall clock (run by the reference venv's Python 3.8; compare_magenta.py calls it).

Usage: MAGENTA_PYTHON magenta_clock.py train REFERENCE/train_timed.py FLAGS...
       MAGENTA_PYTHON magenta_clock.py generate REFERENCE/bench_generate.py FLAGS...

The scripts are imported unchanged; only their timers are wrapped. Prints one line
`CLOCK {json}`: per-step (train) or per-call (generate) wall and CPU seconds.
"""

import json
import os
import sys
import time


def _train(module):
    cpu = []
    before, after = module.StepTimer.before_run, module.StepTimer.after_run

    def before_run(self, run_context):
        self._cpu0 = time.process_time()
        before(self, run_context)

    def after_run(self, run_context, run_values):
        after(self, run_context, run_values)
        cpu.append(time.process_time() - self._cpu0)

    module.StepTimer.before_run, module.StepTimer.after_run = before_run, after_run
    module.tf.disable_v2_behavior()
    try:
        module.tf.app.run(module.main)
    finally:
        wall = [b - a for a, b in module.TIMER.times]
        print("CLOCK " + json.dumps({"wall_s": wall, "cpu_s": cpu}), flush=True)


def _generate(module):
    calls = {}

    def timeit(fn, repeats):
        fn()  # warm-up
        wall, cpu = [], []
        for _ in range(repeats):
            w, c = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
        calls[len(calls)] = {"wall_s": wall, "cpu_s": cpu}
        return {"median_s": sorted(wall)[len(wall) // 2], "repeats": repeats}

    module.timeit = timeit
    try:
        module.main()
    finally:
        print("CLOCK " + json.dumps(calls), flush=True)


def main():
    mode, script = sys.argv[1], sys.argv[2]
    sys.argv = [script] + sys.argv[3:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    name = os.path.splitext(os.path.basename(script))[0]
    module = __import__(name)
    (_train if mode == "train" else _generate)(module)


if __name__ == "__main__":
    main()
