"""codehearth benchmarks: latency, context, quality. Entry point: ``python -m benchmarks.run [--smoke|--full]``."""
