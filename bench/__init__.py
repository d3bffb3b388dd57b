"""eapbench: profiling, timing, metrics, data, training, results and reports for HDR networks.

One module per concern (``complexity``, ``timing``, ``metrics``, ``data``, ``simulate``, ``train``,
``evaluate``, ``results``, ``report``, ``plots``...); ``bench.cli`` is the command line.
"""
