"""Checks one HTTP request against the AWS service model that botocore ships.

`check(method, path, headers, body)` returns (operation, errors): the operation as
`<service>.<Operation>` (or None when it cannot be told) and what the model rejects, empty when
the request is valid. The JSON protocols (awsJson1.0 / awsJson1.1: CloudWatch Logs is
awsJson1.1; CloudWatch lists json among its protocols, as awsJson1.0) and the Query protocols
(EC2's `ec2` and plain `query`: the agent's DescribeInstances) are supported; any other request
is rejected as unsupported.

What is checked, stricter than moto and than botocore's client-side ParamValidator (which
validates neither `max`, `enum` nor `pattern`):
- protocol: POST to `/`, `X-Amz-Target` = `<targetPrefix>.<Operation>` of a known service and
  operation, `Content-Type` = `application/x-amz-json-<jsonVersion>`, a `Host` header, SigV4
  `Authorization` (credential scope names the model's signing name, `host` and `x-amz-date`
  signed, `X-Amz-Date` in the scope's day);
- the body: a JSON object; every member of the input shape by type (as the JSON protocol
  encodes it: timestamps are epoch seconds, blobs base64, doubles may be "NaN"/"Infinity"),
  required members, members the shape does not have, enums, `min`/`max` (length of strings,
  lists and maps; value of numbers), and `pattern` (matched whole, as the services' validation
  does: a `logGroupName` with a space is refused with "Member must satisfy regular expression
  pattern").
- Query protocol: POST to `/`, `Content-Type` application/x-www-form-urlencoded, the service
  told by the SigV4 credential scope, `Action` an operation of it, `Version` the model's
  apiVersion; the form is decoded along the input shape (EC2: lists as `Name.N`, member names
  from `queryName` or the capitalised `locationName`; query: `Name.member.N`) and checked as
  above; a form key that no member names is rejected.
"""
import base64
import datetime
import json
import re
from urllib.parse import parse_qsl

import botocore.session

# The services whose requests are checked (botocore names).
SERVICES = ("logs", "cloudwatch", "ec2", "ssm")
# REST-JSON services (operation told by method and path): Security Hub's BatchImportFindings.
REST_JSON_SERVICES = ("securityhub",)
QUERY_PROTOCOLS = ("ec2", "query")
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
SIGV4_ALGORITHM = "AWS4-HMAC-SHA256"

_models = None
_query_models = None
_patterns = {}


def load():
    """targetPrefix -> JSON-protocol service model, loaded once (before the first request, so
    that the threads of a server share one load); the Query-protocol models by signing name
    beside it (`_query_models`)."""
    global _models, _query_models
    if _models is None:
        session = botocore.session.get_session()
        models, query = {}, {}
        for name in SERVICES:
            m = session.get_service_model(name)
            protocols = m.metadata.get("protocols") or [m.metadata.get("protocol")]
            if "json" in protocols:
                models[m.metadata["targetPrefix"]] = m
            elif any(p in QUERY_PROTOCOLS for p in protocols):
                query[m.signing_name] = m
        _models, _query_models = models, query
    return _models


def check(method, path, headers, body):
    """(operation, [error, ...]) of one request; `headers` is a dict with lower-case keys."""
    if "x-amz-target" not in headers and (headers.get("content-type") or "").startswith(
            FORM_CONTENT_TYPE):
        return check_query(method, path, headers, body)
    if "x-amz-target" not in headers and path.split("?")[0] != "/":
        return check_rest_json(method, path, headers, body)
    errors = []
    if method != "POST" or path.split("?")[0] != "/":
        errors.append(f"{method} {path}: JSON protocol requests are POST /")
    target = headers.get("x-amz-target", "")
    prefix, _, op_name = target.rpartition(".")
    model = load().get(prefix)
    if model is None:
        return None, errors + [f"X-Amz-Target {target!r}: no JSON-protocol service of {SERVICES}"]
    operation = f"{model.service_name}.{op_name}"
    if op_name not in model.operation_names:
        return operation, errors + [f"{op_name}: not an operation of {model.service_name}"]
    op = model.operation_model(op_name)
    want = "application/x-amz-json-" + model.metadata.get("jsonVersion", "1.0")
    if headers.get("content-type") != want:
        errors.append(f"Content-Type {headers.get('content-type')!r}, the model wants {want!r}")
    if not headers.get("host"):
        errors.append("no Host header")
    errors += _check_signature(headers, model.signing_name)
    return operation, _check_body(op, body, errors)


def _check_body(op, body, errors):
    """`errors` with what the model rejects in a JSON request body of operation `op`."""
    try:
        params = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return errors + [f"body is not JSON: {e}"]
    if not isinstance(params, dict):
        return errors + ["body is not a JSON object"]
    if op.input_shape is not None:
        _check(params, op.input_shape, op.input_shape.name, errors)
    return errors


def check_rest_json(method, path, headers, body):
    """(operation, [error, ...]) of a REST-JSON request whose members are all in the body
    (Security Hub's `POST /findings/import`): the operation by method and path, a JSON
    Content-Type, Host, SigV4 for the model's signing name, and the body along the input shape."""
    session = botocore.session.get_session()
    for name in REST_JSON_SERVICES:
        model = session.get_service_model(name)
        for op_name in model.operation_names:
            op = model.operation_model(op_name)
            if op.http.get("method") == method and op.http.get("requestUri") == path.split("?")[0]:
                break
        else:
            continue
        break
    else:
        return None, [f"{method} {path}: no REST-JSON operation of {REST_JSON_SERVICES}"]
    operation = f"{model.service_name}.{op_name}"
    errors = []
    if not (headers.get("content-type") or "").startswith("application/json"):
        errors.append(f"Content-Type {headers.get('content-type')!r}, REST-JSON wants application/json")
    if not headers.get("host"):
        errors.append("no Host header")
    errors += _check_signature(headers, model.signing_name)
    return operation, _check_body(op, body, errors)


def check_query(method, path, headers, body):
    """(operation, [error, ...]) of a Query-protocol request (EC2's or plain query)."""
    load()
    errors = []
    if method != "POST" or path.split("?")[0] != "/":
        errors.append(f"{method} {path}: Query protocol requests are POST / (form in the body)")
    scope = re.search(r"Credential=[^/,]+/\d{8}/[a-z0-9-]+/([a-z0-9-]+)/", headers.get("authorization", ""))
    model = _query_models.get(scope.group(1)) if scope else None
    if model is None:
        return None, errors + [f"no Query-protocol service of {SERVICES} signs as "
                               f"{scope.group(1) if scope else None!r}"]
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as e:
        return None, errors + [f"body is not a form: {e}"]
    form = dict(pairs)
    if len(form) != len(pairs):
        errors.append("a form key is repeated")
    op_name = form.pop("Action", "")
    operation = f"{model.service_name}.{op_name}"
    if op_name not in model.operation_names:
        return operation, errors + [f"{op_name!r}: not an operation of {model.service_name}"]
    version = form.pop("Version", None)
    if version != model.metadata["apiVersion"]:
        errors.append(f"Version {version!r}, the model's apiVersion is {model.metadata['apiVersion']!r}")
    if not headers.get("host"):
        errors.append("no Host header")
    errors += _check_signature(headers, model.signing_name)
    op = model.operation_model(op_name)
    used = set()
    if op.input_shape is not None:
        ec2 = model.metadata["protocol"] == "ec2"
        params = _query_decode(form, op.input_shape, "", used, ec2)
        _check(params, op.input_shape, op.input_shape.name, errors)
    for key in sorted(set(form) - used):
        errors.append(f"form key {key!r} is not a member of the input")
    return operation, errors


def _query_name(name, member, ec2):
    """The form name of a structure member: EC2 takes `queryName`, else the capitalised
    `locationName`; query takes `locationName`; both default to the member's name."""
    ser = member.serialization
    if ec2:
        if ser.get("queryName"):
            return ser["queryName"]
        if ser.get("name"):
            return ser["name"][0].upper() + ser["name"][1:]
    return ser.get("name") or name


def _query_has(form, prefix):
    return any(k == prefix or k.startswith(prefix + ".") for k in form)


def _query_decode(form, shape, prefix, used, ec2):
    """The value of `shape` at form prefix `prefix`, as the JSON checks want it; the keys read
    are added to `used`."""
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            p = _query_name(name, member, ec2)
            p = f"{prefix}.{p}" if prefix else p
            if _query_has(form, p):
                out[name] = _query_decode(form, member, p, used, ec2)
        return out
    if kind == "list":
        if not ec2 and not shape.serialization.get("flattened"):
            prefix = f"{prefix}.{shape.member.serialization.get('name', 'member')}"
        items, i = [], 1
        while _query_has(form, f"{prefix}.{i}"):
            items.append(_query_decode(form, shape.member, f"{prefix}.{i}", used, ec2))
            i += 1
        return items
    if kind == "map":
        entries = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
        out, i = {}, 1
        while _query_has(form, f"{entries}.{i}"):
            k = _query_decode(form, shape.key, f"{entries}.{i}.key", used, ec2)
            out[k] = _query_decode(form, shape.value, f"{entries}.{i}.value", used, ec2)
            i += 1
        return out
    used.add(prefix)
    return _query_scalar(form.get(prefix, ""), kind)


def _query_scalar(text, kind):
    """A form value as the JSON checks want it; text that does not convert is kept as text, so
    that the type check names it."""
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("double", "float"):
            return float(text)
        if kind == "timestamp":
            return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, text)
    return text


def _check_signature(headers, signing_name):
    """SigV4 header form: algorithm, credential scope, signed headers, date."""
    auth = headers.get("authorization", "")
    m = re.fullmatch(
        SIGV4_ALGORITHM
        + r" Credential=([^/,]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request,"
        r" ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})",
        auth,
    )
    if not m:
        return ["Authorization is not a SigV4 header"]
    errors = []
    _, day, _, service, signed, _ = m.groups()
    if service != signing_name:
        errors.append(f"signed for service {service!r}, the model's signing name is {signing_name!r}")
    signed = signed.split(";")
    for h in ("host", "x-amz-date"):
        if h not in signed:
            errors.append(f"{h} is not signed")
    date = headers.get("x-amz-date", "")
    if not re.fullmatch(r"\d{8}T\d{6}Z", date):
        errors.append(f"X-Amz-Date {date!r} is not YYYYMMDDTHHMMSSZ")
    elif date[:8] != day:
        errors.append(f"X-Amz-Date {date} is not in the credential scope's day {day}")
    return errors


def _check(value, shape, where, errors):
    """Appends to `errors` what the model rejects in `value` of `shape` at `where`."""
    kind = shape.type_name
    check = _CHECKS.get(kind)
    if check is None:
        errors.append(f"{where}: shape type {kind} is not supported by the checker")
        return
    check(value, shape, where, errors)


def _structure(value, shape, where, errors):
    if not isinstance(value, dict):
        errors.append(f"{where}: {type(value).__name__}, the model wants a structure")
        return
    for name in shape.required_members:
        if name not in value:
            errors.append(f"{where}: required member {name} is missing")
    for name, v in value.items():
        member = shape.members.get(name)
        if member is None:
            errors.append(f"{where}: {name} is not a member of {shape.name}")
        elif v is not None:
            _check(v, member, f"{where}.{name}", errors)


def _sized(value, pytype, what, shape, where, errors):
    """Whether `value` is a `pytype` (else an error is added); its length is checked."""
    if not isinstance(value, pytype):
        errors.append(f"{where}: {type(value).__name__}, the model wants a {what}")
        return False
    _range(len(value), shape, where, "length", errors)
    return True


def _list(value, shape, where, errors):
    if not _sized(value, list, "list", shape, where, errors):
        return
    for i, v in enumerate(value):
        _check(v, shape.member, f"{where}[{i}]", errors)


def _map(value, shape, where, errors):
    if not _sized(value, dict, "map", shape, where, errors):
        return
    for k, v in value.items():
        _check(k, shape.key, f"{where} key {k!r}", errors)
        _check(v, shape.value, f"{where}[{k!r}]", errors)


def _string(value, shape, where, errors):
    if not _sized(value, str, "string", shape, where, errors):
        return
    enum = shape.enum
    if enum and value not in enum:
        errors.append(f"{where}: {value!r} is not one of the enum {shape.name}")
    pattern = shape.metadata.get("pattern")
    if pattern is not None:
        compiled = _compiled(pattern)
        if compiled is not None and not compiled.fullmatch(value):
            errors.append(f"{where}: {value[:80]!r} does not match the pattern {pattern}")


def _compiled(pattern):
    """The pattern compiled for Python's `re`, or None when it uses syntax `re` lacks
    (Java's `\\p{...}` classes): such a pattern is not checked."""
    if pattern not in _patterns:
        try:
            _patterns[pattern] = re.compile(pattern, re.DOTALL)
        except re.error:
            _patterns[pattern] = None
    return _patterns[pattern]


def _integer(value, shape, where, errors):
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(f"{where}: {value!r} is not an integer")
        return
    limit = 2**31 if shape.type_name == "integer" else 2**63
    if not -limit <= value < limit:
        errors.append(f"{where}: {value} is out of the {shape.type_name} range")
    _range(value, shape, where, "value", errors)


def _double(value, shape, where, errors):
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.append(f"{where}: {value!r} is not a number")
        return
    _range(value, shape, where, "value", errors)


def _boolean(value, shape, where, errors):
    if not isinstance(value, bool):
        errors.append(f"{where}: {value!r} is not a boolean")


def _timestamp(value, shape, where, errors):
    fmt = shape.serialization.get("timestampFormat", "unixTimestamp")
    if fmt == "unixTimestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(f"{where}: {value!r} is not epoch seconds (a JSON number)")
    elif not isinstance(value, str):
        errors.append(f"{where}: {value!r} is not a {fmt} timestamp string")


def _blob(value, shape, where, errors):
    try:
        base64.b64decode(value, validate=True)
    except (TypeError, ValueError):
        errors.append(f"{where}: not base64")


def _document(value, shape, where, errors):
    pass


def _range(n, shape, where, what, errors):
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is not None and n < lo:
        errors.append(f"{where}: {what} {n} is under the minimum {lo}")
    if hi is not None and n > hi:
        errors.append(f"{where}: {what} {n} is over the maximum {hi}")


_CHECKS = {
    "structure": _structure,
    "list": _list,
    "map": _map,
    "string": _string,
    "integer": _integer,
    "long": _integer,
    "double": _double,
    "float": _double,
    "boolean": _boolean,
    "timestamp": _timestamp,
    "blob": _blob,
    "document": _document,
}
