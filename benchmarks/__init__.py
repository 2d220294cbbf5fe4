"""graft's benchmarks: speed, accuracy vs labelled data, and scaling, run with ``python -m benchmarks``.

Every measurement runs in its own subprocess (so the glibc allocator setting graft makes is never shared
with a baseline, and each peak RSS belongs to one measurement). Results go to ``benchmarks/results/``.
"""
