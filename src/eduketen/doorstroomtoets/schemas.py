"""Wire schemas of the Doorstroomtoets chain, one per spec version, taken from the official files.

The official OpenAPI files (vendored in ``specs/``, see ``specs/SOURCES.md``) are loaded as they
are; request bodies are validated against their component schemas, and the ``Ontvangstmelding``
texts are the descriptions of their responses, byte for byte.

The 2026-2027 version is a draft of our own making, derived from 1.1.0 by the decision of
8 January 2026: ``geslacht`` is no longer exchanged (not required, not even known: a sender that
still sends it is accepted and the value is dropped). No official file exists yet.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from typing import Any

import jsonschema_rs
import msgspec
import yaml
from pydantic import BaseModel, ConfigDict, Field

from eduketen.core.fastjson import Unsupported, struct_for

SERVICE = "doorstroomtoets"

# The draft's afspraakversie: an assumption until the chain publishes the 2026-2027 specs.
DRAFT_VERSIE = "Doorstroomtoetsketen_v1.2"


@dataclass(frozen=True)
class SpecVersion:
    key: str  # path segment: v1.0, v1.1, 2026-2027
    version: str  # service version in the register: 1.0.1, 1.1.0, 2026-2027
    versie: str  # value of the envelope field ``versie``
    schooljaren: tuple[str, ...]
    document: dict[str, Any] = field(repr=False, compare=False)
    official: bool = True

    @property
    def base_path(self) -> str:
        return f"/{SERVICE}/{self.key}"

    @property
    def namespace(self) -> str:
        """Namespace URI of this service version. The chain publishes none for the
        Doorstroomtoets (fact sheet section 3); we use the server URL of each official file."""
        return f"https://doorstroomtoets.edustandaard.nl/{self.key}"

    @property
    def exchanges_geslacht(self) -> bool:
        demo = self.document["components"]["schemas"]["Demografisch"]
        return "geslacht" in demo.get("properties", {})

    def has(self, path: str) -> bool:
        return path in self.document["paths"]

    def melding(self, path: str, method: str, status: int) -> str:
        return self.document["paths"][path][method]["responses"][str(status)]["description"]


class _JsonCompatibleLoader(yaml.SafeLoader):
    """YAML as JSON sees it: dates and times stay strings (the examples hold them unquoted)."""


_JsonCompatibleLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load(name: str) -> dict[str, Any]:
    text = resources.files("eduketen.doorstroomtoets").joinpath("specs").joinpath(name).read_text(encoding="utf-8")
    return yaml.load(text, Loader=_JsonCompatibleLoader)  # noqa: S506 - a SafeLoader subclass


def derive_draft_2026_2027(v11: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(v11)
    doc["info"]["version"] = "2026-2027-concept"
    doc["info"]["description"] = (
        "Concept voor schooljaar 2026-2027, afgeleid door eduketen uit OAS 1.1.0 volgens het besluit van "
        "het voortgangsoverleg van 8 januari 2026: het gegeven geslacht wordt niet meer uitgewisseld. "
        f"De afspraakversie ({DRAFT_VERSIE}) is een aanname tot de keten de specificaties publiceert.\n\n"
        + v11["info"]["description"]
    )
    doc["servers"] = [{"url": "https://doorstroomtoets.edustandaard.nl/2026-2027"}]
    schemas = doc["components"]["schemas"]
    demo = schemas["Demografisch"]
    demo["required"] = [r for r in demo["required"] if r != "geslacht"]
    demo["properties"].pop("geslacht", None)
    schemas.pop("Geslachttype_enum", None)
    for name in ("Deelnemerslijst", "Schooladviezenlijst", "Leerlingresultaat"):
        prop = schemas[name]["properties"]["versie"]
        prop["enum"] = [DRAFT_VERSIE]
        prop["example"] = DRAFT_VERSIE
        prop["description"] = prop["description"].replace("Doorstroomtoetsketen_v1.1", DRAFT_VERSIE)
    for name in ("Deelnemerslijst", "Schooladviezenlijst", "Leerlingresultaat"):
        schemas[name]["properties"]["schooljaar"]["example"] = "2026-2027"
    # Examples: the new versie, the new school year, and no geslacht.
    for path_item in doc["paths"].values():
        for operation in path_item.values():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            for example in body.get("examples", {}).values():
                value = example.get("value", {})
                if "versie" in value:
                    value["versie"] = DRAFT_VERSIE
                if "schooljaar" in value:
                    value["schooljaar"] = "2026-2027"
                for pupil in value.get("deelnemers", []):
                    pupil.get("extensie", {}).pop("geslacht", None)
    return doc


@functools.cache
def versions() -> dict[str, SpecVersion]:
    v101 = _load("doorstroomtoets-openapi-1.0.1.yaml")
    v110 = _load("doorstroomtoets-openapi-1.1.0.yaml")
    draft = derive_draft_2026_2027(v110)
    found = [
        SpecVersion("v1.0", "1.0.1", "Doorstroomtoetsketen_v1.0", ("2023-2024", "2024-2025"), v101),
        SpecVersion("v1.1", "1.1.0", "Doorstroomtoetsketen_v1.1", ("2025-2026",), v110),
        SpecVersion("2026-2027", "2026-2027", DRAFT_VERSIE, ("2026-2027",), draft, official=False),
    ]
    return {v.key: v for v in found}


def version_for_schooljaar(schooljaar: str) -> SpecVersion | None:
    for spec in versions().values():
        if schooljaar in spec.schooljaren:
            return spec
    return None


# -- validation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BodySchema:
    validator: Any
    shape: Any  # what to keep: dict of name -> shape, ("list", shape), or None for a leaf
    closed: Any = None  # the same schema allowing no extra fields: a body it accepts needs no pruning

    def kept(self, body: Any) -> Any:
        """The body with every field the spec does not define removed (``prune``); a body
        without such fields is returned as it is, checked in one pass of the compiled schema."""
        if self.closed is not None and self.closed.is_valid(body):
            return body
        return prune(body, self.shape)

    def check(self, body: Any) -> tuple[list[dict[str, str]], Any]:
        """The offending fields (as ``schema_errors``) and, when there are none, the body to keep.
        The closed schema accepts only bodies the open one accepts too, so the usual body (only
        spec fields) is validated and found to need no pruning in one pass."""
        if self.closed is not None and self.closed.is_valid(body):
            return [], body
        errors = schema_errors(self, body)
        return errors, (None if errors else prune(body, self.shape))


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
    return schema


def _shape(doc: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    schema = _resolve(doc, schema)
    if depth > 20:
        return None
    if schema.get("type") == "array" or "items" in schema:
        return ("list", _shape(doc, schema.get("items", {}), depth + 1))
    if schema.get("type") == "object" or "properties" in schema:
        return {name: _shape(doc, sub, depth + 1) for name, sub in schema.get("properties", {}).items()}
    return None


def prune(value: Any, shape: Any) -> Any:
    """Keep only what the spec defines: unknown fields are accepted but never stored."""
    if shape is None:
        return value
    if isinstance(shape, tuple):
        return [prune(v, shape[1]) for v in value] if isinstance(value, list) else value
    if isinstance(value, dict):
        return {k: prune(v, shape[k]) for k, v in value.items() if k in shape}
    return value


@functools.cache
def body_schema(key: str, component: str) -> BodySchema:
    doc = versions()[key].document
    root = {"$ref": f"#/components/schemas/{component}", "components": doc["components"]}
    validator = jsonschema_rs.Draft4Validator(root, validate_formats=True)
    closed_root = {"$ref": root["$ref"], "components": {"schemas": {n: _closed(s) for n, s in doc["components"]["schemas"].items()}}}
    closed = jsonschema_rs.Draft4Validator(closed_root, validate_formats=True)
    return BodySchema(validator=validator, shape=_shape(doc, doc["components"]["schemas"][component]), closed=closed)


@functools.cache
def fast_decoder(key: str, component: str) -> msgspec.json.Decoder | None:
    """A msgspec decoder for the component that accepts a subset of what ``body_schema`` accepts
    and only bodies without fields beyond the spec (``core/fastjson.py``), or None when the
    component uses something it does not translate. Used in front of ``body_schema``: what it
    refuses goes the full way, which names every offending field."""
    doc = versions()[key].document
    try:
        return msgspec.json.Decoder(struct_for(doc["components"]["schemas"], component, prefix="dt_" + key.replace("-", "_").replace(".", "_") + "_"))
    except Unsupported:
        return None


def _closed(schema: Any) -> Any:
    """A copy of ``schema`` in which every object allows only its own ``properties``: exactly
    what ``prune`` keeps, so a body valid under it is left unchanged by ``prune``."""
    if not isinstance(schema, dict):
        return schema
    copy = {k: _closed(v) if k in ("items", "additionalProperties") else v for k, v in schema.items()}
    if "properties" in schema:
        copy["properties"] = {name: _closed(sub) for name, sub in schema["properties"].items()}
    if schema.get("type") == "object" or "properties" in schema:
        copy["additionalProperties"] = False
    return copy


def pointer(path) -> str:
    return "/".join(str(p) for p in path) or "(bericht)"


def schema_errors(schema: BodySchema, body: Any, limit: int = 100) -> list[dict[str, str]]:
    """Every offending field with its path, e.g. ``deelnemers/0/extensie/geslacht``."""
    if schema.validator.is_valid(body):
        return []
    errors = []
    for error in schema.validator.iter_errors(body):
        path = list(error.instance_path)
        if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.Required):
            path.append(error.kind.property)  # name the missing field itself
            message = "verplicht veld ontbreekt"
        else:
            message = error.message
        errors.append({"veld": pointer(path), "fout": message})
        if len(errors) >= limit:
            break
    return errors


class WindowIn(BaseModel):
    """Admin: when registration or provisional advice is open for a school year."""

    model_config = ConfigDict(extra="forbid")
    schooljaar: str = Field(pattern=r"^[0-9]{4}-[0-9]{4}$")
    soort: str = Field(description="registratie | schooladvies")
    opens: date
    closes: date
