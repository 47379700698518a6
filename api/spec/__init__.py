"""Argus's own copy of what it needs from the LUNA v6 spec, plus its served OpenAPI document.

``operations.json`` is generated once from the spec's endpoint index by
``python -m api.spec.catalogue_gen PATH/endpoints.json``; ``openapi.yaml`` by
``python -m api.spec.openapi_gen``. Nothing reads ``../shared`` at run time.
"""
