#!/usr/bin/python3
"""Test helper for the sponge fixture: builds the kuangliu model with the fixture's weights
(make_case.py's DIR/weights) and writes two traces of DIR/inputs.npy through torch2trace's library
API, in one process: DIR/trace0 (forward pass on the whole batch) and DIR/trace1 (one image at a time).
Usage: fixture_traces.py ARCH DIR EATSIM_BINARY"""
import os
import sys

import numpy as np

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'tools')
sys.path.insert(0, TOOLS)
import kuangliu_models  # noqa: E402
import torch2trace  # noqa: E402

arch, d, eatsim = sys.argv[1:4]
model = torch2trace.load_weights(kuangliu_models.build(arch), os.path.join(d, 'weights'))
graph = torch2trace.resolved_graph(arch, eatsim=eatsim)
x = np.load(os.path.join(d, 'inputs.npy'))
for fb in (0, 1):
    torch2trace.write_trace(model, graph, x, os.path.join(d, f'trace{fb}'), forward_batch=fb,
                            meta={'dataset': 'sponge-fixture'}, durable=False)
