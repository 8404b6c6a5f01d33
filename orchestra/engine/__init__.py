"""The workflow engine: graph format and validation, node types, and execution on LangGraph.

Framework-free: plain data and callables in, plain data out (see hooks.py).
"""

from orchestra.engine.execution import compile_graph, run_graph
from orchestra.engine.graph import CalledWorkflow, Graph, GraphError, GraphInvalid
from orchestra.engine.hooks import NOT_SET, CallAbandoned, ModelCall, ModelReply, RunHooks, RunOutcome, WorkflowWaiting
from orchestra.engine.nodes import node_type_catalog
from orchestra.engine.validation import parse_graph, validate_graph, validate_inputs
from orchestra.engine.versions import with_versions

__all__ = [
    "NOT_SET",
    "CallAbandoned",
    "CalledWorkflow",
    "Graph",
    "GraphError",
    "GraphInvalid",
    "ModelCall",
    "ModelReply",
    "RunHooks",
    "RunOutcome",
    "compile_graph",
    "node_type_catalog",
    "parse_graph",
    "run_graph",
    "validate_graph",
    "validate_inputs",
    "with_versions",
    "WorkflowWaiting",
]
