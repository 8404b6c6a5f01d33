"""OpenAPI descriptions of the API's bodies (the views build plain dicts, so the shapes are stated
here once) and the Bearer API-key scheme, for drf-spectacular's /api/schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "workflows.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An Orchestra API key: `Bearer orc_...`"}


def obj(properties: dict, required: list[str] | None = None) -> dict:
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


def json_body(schema: dict) -> dict:
    """A request body: drf-spectacular takes raw request schemas keyed by media type."""
    return {"application/json": schema}


def page(items: dict) -> dict:
    return obj(
        {
            "count": {"type": "integer"},
            "next": {"type": "string", "nullable": True},
            "previous": {"type": "string", "nullable": True},
            "results": array(items),
        }
    )


STRING, INTEGER, NUMBER, ANY = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {}
TIME = {"type": "string", "format": "date-time", "nullable": True}
NULLABLE_STRING = {"type": "string", "nullable": True}

ERRORS = obj({"errors": array(obj({"path": STRING, "message": STRING}))}, ["errors"])
# A node's `config` is described per type by GET /api/node-types (config_schema).
GRAPH = obj(
    {
        "nodes": array(
            obj(
                {
                    "id": STRING,
                    "type": STRING,
                    "name": STRING,
                    "config": {"type": "object"},
                    "position": obj({"x": NUMBER, "y": NUMBER}),
                    "retry": obj({"attempts": INTEGER, "backoff_s": NUMBER}),
                    "timeout_s": NUMBER,
                    "on_error": {"enum": ["fail", "continue", "branch"]},
                },
                ["id", "type"],
            )
        ),
        "edges": array(obj({"source": STRING, "target": STRING, "branch": STRING}, ["source", "target"])),
    },
    ["nodes", "edges"],
)

NODE_TYPE = obj(
    {
        "type": STRING,
        "title": STRING,
        "description": STRING,
        "category": STRING,
        "config_schema": {"type": "object"},
        "outlets": array(STRING),
    }
)
WORKFLOW = obj(
    {
        "id": STRING,
        "name": STRING,
        "description": STRING,
        "graph": GRAPH,
        "published_version": {"type": "integer", "nullable": True},
        "last_run": obj({"id": STRING, "status": STRING, "finished_at": TIME}),
        "created_at": TIME,
        "updated_at": TIME,
    }
)
WORKFLOW_IN = json_body(obj({"name": STRING, "description": STRING, "graph": GRAPH}))
EXPORT = obj({"orchestra": INTEGER, "name": STRING, "description": STRING, "graph": GRAPH})
IMPORT_IN = json_body(EXPORT)
VERSION = obj({"version": INTEGER, "created_at": TIME, "graph": GRAPH})
STATUS = {"enum": ["queued", "running", "waiting", "succeeded", "failed", "cancelled"]}
NODE_RUN = obj(
    {
        "node_id": STRING,
        "status": STRING,
        "input": ANY,
        "output": ANY,
        "error": NULLABLE_STRING,
        "attempts": INTEGER,
        "started_at": TIME,
        "finished_at": TIME,
        "model": NULLABLE_STRING,
        "tokens_in": INTEGER,
        "tokens_out": INTEGER,
        "cost": NUMBER,
        "latency_ms": {"type": "number", "nullable": True},
    }
)
RUN = obj(
    {
        "id": STRING,
        "workflow": STRING,
        "version": {"type": "integer", "nullable": True},
        "status": STATUS,
        "trigger": STRING,
        "inputs": {"type": "object"},
        "outputs": {"type": "object", "nullable": True},
        "error": NULLABLE_STRING,
        "waiting": {"type": "object", "nullable": True},
        "created_at": TIME,
        "started_at": TIME,
        "finished_at": TIME,
        "tokens_in": INTEGER,
        "tokens_out": INTEGER,
        "cost": NUMBER,
        "nodes": array(NODE_RUN),
    }
)
RUN_IN = json_body(
    obj(
        {
            "inputs": {"type": "object"},
            "version": {"oneOf": [INTEGER, {"enum": ["draft"]}]},
            "wait": {"type": "number", "minimum": 0, "maximum": 300},
            "callback_url": STRING,
        }
    )
)
RESUME_IN = json_body(obj({"node_id": STRING, "value": ANY}, ["node_id"]))
EVENT = obj({"seq": INTEGER, "type": STRING, "node_id": NULLABLE_STRING, "data": {"type": "object"}, "at": TIME})
MODEL = obj(
    {
        "name": STRING,
        "backend": {"enum": ["openai", "transformers"]},
        "model": STRING,
        "base_url": NULLABLE_STRING,
        "has_api_key": {"type": "boolean"},
        "price_in": NUMBER,
        "price_out": NUMBER,
        "options": {"type": "object"},
        "is_default": {"type": "boolean"},
        "created_at": TIME,
        "updated_at": TIME,
    }
)
MODEL_IN = json_body(
    obj(
        {
            "name": STRING,
            "backend": {"enum": ["openai", "transformers"]},
            "model": STRING,
            "base_url": STRING,
            "api_key": {"type": "string", "writeOnly": True},
            "price_in": NUMBER,
            "price_out": NUMBER,
            "options": {"type": "object"},
            "is_default": {"type": "boolean"},
        }
    )
)
TRACE = obj(
    {
        "id": STRING,
        "workflow": NULLABLE_STRING,
        "version": {"type": "integer", "nullable": True},
        "node_id": NULLABLE_STRING,
        "run": NULLABLE_STRING,
        "model": STRING,
        "messages": array({"type": "object"}),
        "output": STRING,
        "tokens_in": INTEGER,
        "tokens_out": INTEGER,
        "latency_ms": NUMBER,
        "cost": NUMBER,
        "status": {"enum": ["ok", "error"]},
        "error": NULLABLE_STRING,
        "metadata": {"type": "object"},
        "golden_output": NULLABLE_STRING,
        "created_at": TIME,
    }
)
GOLDEN_IN = json_body(obj({"golden_output": NULLABLE_STRING}, ["golden_output"]))
LOGIN_IN = json_body(obj({"username": STRING, "password": STRING}, ["username", "password"]))
ME = obj({"user": obj({"id": INTEGER, "username": STRING}), "workspace": obj({"id": STRING, "name": STRING})})
