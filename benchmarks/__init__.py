"""Side-by-side benchmarks: aiowsman vs a raw aiohttp+lxml floor vs pypsrp.

Run ``python -m benchmarks run`` (full) or ``python -m benchmarks run --smoke``
(CI); see ``benchmarks/README.md``.
"""
