"""The TFLite runtime's time per frame for MediaPipe's face models, beside
`cargo bench -p m2f-benches --bench tracker` (which times the crate's interpreter plus the crop
and decoding around it; this times the models' `invoke` alone).

Usage: /tmp/tflenv/bin/python tools/bench_tracker_tflite.py MODELS_DIR [THREADS]
(the venv of tools/make_tracker_fixtures.py). Default 1 thread; XNNPACK (the runtime's
default CPU path) and the builtin kernels without it.
"""
import statistics
import sys
import time

import numpy as np
import tflite_runtime.interpreter as tfl


def main():
    models = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    for name, size in [("face_detection_short_range", 128), ("face_landmark", 192)]:
        for label, resolver in [("XNNPACK", tfl.OpResolverType.AUTO),
                                ("builtin", tfl.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)]:
            it = tfl.Interpreter(model_path=f"{models}/{name}.tflite", num_threads=threads,
                                 experimental_op_resolver_type=resolver)
            it.allocate_tensors()
            x = np.random.default_rng(0).uniform(0, 1, (1, size, size, 3)).astype(np.float32)
            it.set_tensor(it.get_input_details()[0]["index"], x)
            for _ in range(20):
                it.invoke()
            times = []
            for _ in range(10):
                t = time.perf_counter()
                for _ in range(20):
                    it.invoke()
                times.append((time.perf_counter() - t) / 20 * 1e3)
            print(f"{name} {label}, {threads} thread(s): median {statistics.median(times):.2f} ms "
                  f"(min {min(times):.2f}, max {max(times):.2f})")


if __name__ == "__main__":
    main()
