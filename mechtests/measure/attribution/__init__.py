"""Attribution over the graph embedding -> heads, MLPs -> logits: EAP and EAP-IG, edge and node level."""

from mechtests.measure.attribution.eap import Attribution, attribute, eap, eap_ig, repeat_posed
from mechtests.measure.attribution.engine import GraphRun, Layout, capture, patched_logits
from mechtests.measure.attribution.graph import Graph, graph_for

__all__ = ["Attribution", "Graph", "GraphRun", "Layout", "attribute", "capture", "eap", "eap_ig", "graph_for", "patched_logits", "repeat_posed"]
