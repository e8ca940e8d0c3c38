"""/openapi.json and a browsable /docs page that works offline: no JWT, no CDN.

/docs is Swagger UI from the swagger-ui-bundle package, its files served by this app under
/docs/assets/; without JavaScript the page still lists every operation from the document.
"""

from __future__ import annotations

import json

from flask import Blueprint, current_app, request, send_from_directory
from markupsafe import escape
from swagger_ui_bundle import swagger_ui_path
from werkzeug.exceptions import NotFound

from app.openapi import DOC_ASSETS, document, with_fresh_examples

bp = Blueprint("docs", __name__)

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <link rel="stylesheet" href="{root}/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="{root}/docs/assets/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <noscript>
    <h1>{title} {version}</h1>
    <p>The document: <a href="{root}/openapi.json">openapi.json</a></p>
    <table>{rows}</table>
  </noscript>
  <script src="{root}/docs/assets/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{url: "{root}/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
                                 presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"}});
  </script>
</body>
</html>
"""


@bp.get("/openapi.json")
def openapi_json():
    # the examples made at each load (a fresh request_datetime and request_uid): "Try it out" works
    doc = with_fresh_examples(document(current_app))
    response = current_app.response_class(json.dumps(doc, indent=1), mimetype="application/json")
    response.cache_control.no_store = True
    return response


@bp.get("/docs", strict_slashes=False)
def docs_page():
    doc = document(current_app)
    rows = "".join(
        f"<tr><td>{escape(method.upper())}</td><td>{escape(path)}</td>"
        f"<td>{escape(operation.get('summary', ''))}</td></tr>"
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
    )
    page = PAGE.format(
        root=escape(request.script_root),
        title=escape(doc["info"]["title"]),
        version=escape(doc["info"]["version"]),
        rows=rows,
    )
    return current_app.response_class(page, mimetype="text/html")


@bp.get("/docs/assets/<path:filename>")
def docs_asset(filename: str):
    if filename not in DOC_ASSETS:
        raise NotFound(f"no documentation asset {filename!r}")
    return send_from_directory(str(swagger_ui_path), filename, max_age=86400)
