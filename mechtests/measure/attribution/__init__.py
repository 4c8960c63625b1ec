"""Attribution over the graph embedding -> heads, MLPs -> logits: EAP and EAP-IG, edge and node level."""

from mechtests.measure.attribution.eap import Attribution, attribute, eap, eap_ig
from mechtests.measure.attribution.engine import GraphRun
from mechtests.measure.attribution.graph import Graph, graph_for
from mechtests.measure.attribution.layout import Layout
from mechtests.measure.attribution.patching import capture, patched_logits

__all__ = ["Attribution", "Graph", "GraphRun", "Layout", "attribute", "capture", "eap", "eap_ig", "graph_for", "patched_logits"]
