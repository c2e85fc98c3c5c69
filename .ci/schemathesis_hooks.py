"""Schemathesis hooks for the run on the mock's own OpenAPI document (.ci/run).

Five things the document cannot state, each narrowed to exactly that case.

JSON Schema counts 6033.0 as an integer (a number with no fraction), so a body
generated from the document may hold integer-valued floats. The mock's rule is
stricter: an integer is written as a JSON integer (no fraction, no exponent), and
`1e3` or `6033.0` is a validation error - a rule no JSON Schema keyword can state.
Writing such numbers as integers keeps each generated body's meaning under the
schema (6033.0 and 6033 are the same JSON Schema value) while sending what the
rule calls an integer. The mock's own tests cover the refusal of 3.7, 1e3 and 2^63.
"""

import schemathesis


def _integers_as_integers(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, list):
        return [_integers_as_integers(v) for v in value]
    if isinstance(value, dict):
        return {k: _integers_as_integers(v) for k, v in value.items()}
    return value


@schemathesis.hook
def map_body(context, body):
    return _integers_as_integers(body)


DUPLICATE = "a setting with this Name already exists for this customer"


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Drop a rejection that is the uniqueness rule at work: a create or update whose
    (CoworkerId, Name) another record already holds is a 400 on Name, as the vendor
    answers it. The body was valid; the store's state refused it, which no schema can
    describe. Any other failure on any other response is kept."""
    try:
        body = response.json()
    except Exception:
        return True
    errors = body.get("Errors") if isinstance(body, dict) else None
    is_duplicate = (
        response.status_code == 400
        and isinstance(errors, list)
        and len(errors) == 1
        and errors[0].get("PropertyName") == "Name"
        and errors[0].get("Message") == DUPLICATE
    )
    # PUT /__admin/fixtures may load a record whose Id is the 64-bit maximum; a
    # create after it then has no Id left and answers the documented 507 rather
    # than wrapping round. That is the mock keeping its rule, not a server fault.
    ids_exhausted = (
        response.status_code == 507
        and isinstance(body, dict)
        and str(body.get("Message", "")).startswith("No Id is left")
    )
    # PUT /__admin/fixtures refuses a body in which two records share an Id or a
    # (CoworkerId, Name), as a fixtures file is refused. JSON Schema's uniqueItems
    # compares whole items, so the document cannot state uniqueness of one field
    # across the array's items; generated arrays with a repeated Id are valid to it.
    repeated_in_upload = (
        response.status_code == 400
        and isinstance(errors, list)
        and len(errors) == 1
        and errors[0].get("PropertyName") == ""
        and str(errors[0].get("Message", "")).startswith("request body: record")
        and any(
            clash in str(errors[0].get("Message", ""))
            for clash in ("appears twice", "already has a setting named")
        )
    )
    return not (
        is_duplicate or ids_exhausted or repeated_in_upload or _unknown_query_parameter(failure)
    )


def _unknown_query_parameter(failure):
    """The API ignores query parameters it does not know (a documented rule, as the
    vendor's model binding does). OpenAPI lists the known ones but has no way to say
    "others are allowed and ignored", so a request with an extra one counts as
    schema-violating; the mock answering it normally is the rule, not a fault."""
    text = " ".join(
        str(part)
        for part in (failure, getattr(failure, "title", ""), getattr(failure, "message", ""))
    )
    return "in query" in text and "additionalProperties" in text
