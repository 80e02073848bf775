"""The shape of a session's shared document and the one place that seeds it.

``Text`` "code" holds the code, ``Map`` "meta" holds at least "language".
A document is seeded once, when its session is created; a document that
already has history is never seeded again (two separately created histories
of the same text would duplicate it when merged).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pycrdt import Array, Doc, Map, Text

#: A pycrdt document of any root types.
YDoc = Doc[Any]

CODE = "code"
META = "meta"
RUNS = "runs"  # Y.Array of the session's runs, newest last
LANGUAGE = "language"
INTERVIEW = "interview"  # meta key: the interview's status and timer
DEFAULT_LANGUAGE = "javascript"

#: Languages a session may be set to (Monaco language ids): the one list, for every edge.
Language = Literal[
    "javascript",
    "typescript",
    "python",
    "html",
    "css",
    "json",
    "markdown",
    "java",
    "c",
    "cpp",
    "csharp",
    "go",
    "rust",
    "ruby",
    "php",
    "kotlin",
    "swift",
    "sql",
    "shell",
    "plaintext",
]
LANGUAGES: tuple[str, ...] = get_args(Language)


def code_text(doc: YDoc) -> Text:
    """The document's code (created empty if missing)."""
    text: Text = doc.get(CODE, type=Text)
    return text


def meta_map(doc: YDoc) -> Map[Any]:
    """The document's metadata map."""
    meta: Map[Any] = doc.get(META, type=Map)
    return meta


def runs_array(doc: YDoc) -> Array[Any]:
    """The document's runs (created empty if missing)."""
    runs: Array[Any] = doc.get(RUNS, type=Array)
    return runs


def read_code(doc: YDoc) -> str:
    return str(code_text(doc))


def read_language(doc: YDoc) -> str:
    """The language a client or REST set; the default when unset or not a string."""
    value = meta_map(doc).get(LANGUAGE)
    return value if isinstance(value, str) and value else DEFAULT_LANGUAGE


def seed_update(code: str, language: str) -> bytes:
    """The initial state of a new session's document, as one Yjs update."""
    doc: YDoc = Doc()
    with doc.transaction(origin="seed"):
        if code:
            code_text(doc).insert(0, code)
        meta_map(doc)[LANGUAGE] = language
    return doc.get_update()
