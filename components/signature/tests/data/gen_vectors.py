#!/usr/bin/env python3
"""Generates vectors.json: edge cases for X-Twilio-Signature, computed independently of the Rust code.

Only Python's standard hmac/hashlib/base64 are used. Each vector models one delivery: what Twilio
signed (`signed_url`, `signed_params` or `signed_body`, with `signing_token`) and what the validator is
handed (`url`, `params` or `body`, `auth_token`, the `signature` header). Python then computes
  * `expected_signature`: the signature for (`auth_token`, `url`, `params`) as compute_signature
    defines it (userinfo and #fragment removed, params sorted by name then value in code point order
    = UTF-8 byte order, duplicate pairs once; an unparseable URL signed verbatim), and
  * `expected`: the validation outcome under the rules in src/lib.rs (URL as given, then with the
    default port added or the given port removed; JSON: bodySHA256 over the raw body),
and refuses to write the file if that outcome differs from the one stated by hand below.

Twilio facts: https://www.twilio.com/docs/usage/security#validating-requests and
../../../../../shared/reference/twilio.md section 8 (in the shared workspace).

Regenerate: python3 components/signature/tests/data/gen_vectors.py  (writes vectors.json next to it)
"""

import base64
import hashlib
import hmac
import json
import os

TOKEN = "0123456789abcdef0123456789abcdef"  # shaped like an Auth Token; not a real one
WRONG_TOKEN = "fedcba9876543210fedcba9876543210"
BASE = "https://ml-connector.example"
STATUS = BASE + "/twilio/status"

# A realistic message status callback (twilio.md section 7.2).
STATUS_PARAMS = [
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("ApiVersion", "2010-04-01"),
    ("ErrorCode", "30008"),
    ("From", "+4930123456789"),
    ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
    ("MessageStatus", "undelivered"),
    ("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef"),
    ("RawDlrDoneDate", "2608211432"),
    ("SmsSid", "SM0123456789abcdef0123456789abcdef"),
    ("SmsStatus", "undelivered"),
    ("To", "+4915112345678"),
    ("ChannelPrefix", "sms"),
]


# --- the signer (what Twilio does) -------------------------------------------------------------

def mac(token, data):
    return base64.b64encode(hmac.new(token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()).decode("ascii")


def canonical_params(params):
    # Names sorted, each name's values sorted and de-duplicated (twilio-python: sorted(set(...)));
    # sorting (name, value) pairs of a set is the same thing. Python compares str by code point.
    return "".join(name + value for name, value in sorted(set(params)))


def twilio_sign(token, url, params=()):
    return mac(token, url + canonical_params(params))


def go_style_sign(token, url, params):
    # twilio-go: sorts the concatenated name+value strings (differs when a name prefixes another).
    return mac(token, url + "".join(sorted(n + v for n, v in params)))


def java_style_sign(token, url, params):
    # twilio-java: one value per name (the last one put into the map wins).
    last = {}
    for name, value in params:
        last[name] = value
    return mac(token, url + "".join(n + last[n] for n in sorted(last)))


def casefold_sign(token, url, params):
    return mac(token, url + "".join(n + v for n, v in sorted(set(params), key=lambda p: (p[0].lower(), p[1]))))


def sha256_hex(body):
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


# --- the validator rules, independently -------------------------------------------------------

def split_url(url):
    """(scheme_sep, host, port_or_None, rest) or None when the URL is not acceptable."""
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return None
    scheme, sep, after = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    cut = min([i for i in (after.find("/"), after.find("?"), after.find("#")) if i >= 0] or [len(after)])
    authority, tail = after[:cut], after[cut:]
    rest = tail.split("#", 1)[0]
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        host, _, after_host = hostport.partition("]")
        host += "]"
        if after_host and not after_host.startswith(":"):
            return None
        port = after_host[1:] if after_host else None
    else:
        host, colon, port = hostport.partition(":")
        port = port if colon else None
    if host in ("", "[]"):
        return None
    if port is not None and not (port.isascii() and port.isdigit() and len(port) <= 5 and int(port) <= 65535):
        return None
    return (scheme + "://", host, port, rest)


def url_forms(parts):
    scheme_sep, host, port, rest = parts
    default = "443" if scheme_sep.lower() == "https://" else "80"
    given = scheme_sep + host + (":" + port if port is not None else "") + rest
    alternative = scheme_sep + host + (rest if port is not None else ":" + default + rest)
    return [given, alternative]


def compute_signature(token, url, params):
    parts = split_url(url)
    signed = url_forms(parts)[0] if parts else url
    return twilio_sign(token, signed, params)


def header_state(signature):
    if signature.strip() == "":
        return "missing-signature"
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        return "malformed-signature"
    if len(signature) != 28 or len(raw) != 20 or base64.b64encode(raw).decode("ascii") != signature:
        return "malformed-signature"
    return None


def body_hash_param(rest):
    if "?" not in rest:
        return None
    from urllib.parse import unquote_plus
    for pair in rest.split("?", 1)[1].split("&"):
        name, _, value = pair.partition("=")
        if unquote_plus(name, errors="strict") == "bodySHA256":
            return unquote_plus(value)
    return None


def validate(v):
    parts = split_url(v["url"])
    if parts is None:
        return "invalid-url"
    state = header_state(v["signature"])
    if state:
        return state
    params = [tuple(p) for p in v.get("params", [])]
    if v["kind"] == "json":
        wanted = body_hash_param(parts[3])
        if wanted is None:
            return "missing-body-hash"
        params = []
    if not any(hmac.compare_digest(twilio_sign(v["auth_token"], form, params), v["signature"]) for form in url_forms(parts)):
        return "mismatch"
    if v["kind"] == "json":
        if len(wanted) != 64 or not all(c in "0123456789abcdefABCDEF" for c in wanted):
            return "body-hash-mismatch"
        if not hmac.compare_digest(sha256_hex(v["body"]), wanted.lower()):
            return "body-hash-mismatch"
    return "ok"


# --- the table ----------------------------------------------------------------------------------

VECTORS = []


def form(name, expected, url, params=STATUS_PARAMS, signed_url=None, signed_params=None,
         signing_token=TOKEN, auth_token=TOKEN, signature=None, note=""):
    signed_url = url if signed_url is None else signed_url
    signed_params = params if signed_params is None else signed_params
    if signature is None:
        signature = twilio_sign(signing_token, signed_url, signed_params)
    VECTORS.append({
        "name": name, "note": note, "kind": "form", "auth_token": auth_token, "url": url,
        "params": [list(p) for p in params], "signature": signature,
        "signed_url": signed_url, "expected": expected,
    })


def json_case(name, expected, url, body, signed_url=None, auth_token=TOKEN, signature=None, note=""):
    signed_url = url if signed_url is None else signed_url
    if signature is None:
        signature = twilio_sign(TOKEN, signed_url)
    VECTORS.append({
        "name": name, "note": note, "kind": "json", "auth_token": auth_token, "url": url,
        "body": body, "signature": signature, "signed_url": signed_url, "expected": expected,
    })


# URLs and ports
form("plain-https", "ok", STATUS)
form("https-443-given-twilio-signed-without", "ok", BASE.replace(".example", ".example:443") + "/twilio/status",
     signed_url=STATUS, note="voice over HTTPS drops the port")
form("https-443-absent-twilio-signed-with", "ok", STATUS,
     signed_url=BASE.replace(".example", ".example:443") + "/twilio/status", note="messaging keeps an explicit port")
form("http-80-absent-twilio-signed-with", "ok", "http://ml-connector.example/twilio/status",
     signed_url="http://ml-connector.example:80/twilio/status")
form("http-80-given-twilio-signed-without", "ok", "http://ml-connector.example:80/twilio/status",
     signed_url="http://ml-connector.example/twilio/status")
form("non-default-port-kept", "ok", "https://ml-connector.example:8443/twilio/status")
form("non-default-port-not-invented", "mismatch", STATUS,
     signed_url="https://ml-connector.example:8443/twilio/status",
     note="without a port in the URL only :443 is tried")
form("non-default-port-twilio-signed-without", "ok", "https://ml-connector.example:8443/twilio/status",
     signed_url=STATUS, note="a given port is also tried removed")
form("wrong-default-port-for-scheme", "mismatch", STATUS,
     signed_url="https://ml-connector.example:80/twilio/status")
form("ipv6-host-default-port", "ok", "https://[2001:db8::1]/twilio/status",
     signed_url="https://[2001:db8::1]:443/twilio/status")
form("trailing-slash-added", "mismatch", STATUS + "/", signed_url=STATUS)
form("trailing-slash-removed", "mismatch", STATUS, signed_url=STATUS + "/")
form("trailing-slash-same", "ok", STATUS + "/")
form("userinfo-and-fragment-stripped", "ok",
     "https://twilio:s3cr%40t@ml-connector.example/twilio/status#ct=3000&rc=3&rp=5xx,rt",
     signed_url=STATUS, note="Twilio removes both before signing")
form("userinfo-with-port-stripped", "ok", "https://twilio:pw@ml-connector.example:443/twilio/status",
     signed_url=STATUS)
form("fragment-only-stripped", "ok", STATUS + "?job=42#rc=2", signed_url=STATUS + "?job=42")
form("scheme-differs", "mismatch", "http://ml-connector.example/twilio/status", signed_url=STATUS)
form("host-differs", "mismatch", "https://evil.example/twilio/status", signed_url=STATUS)
form("uppercase-scheme-signed-as-given", "ok", "HTTPS://ml-connector.example/twilio/status",
     note="scheme bytes are signed as given; the default port still applies")

# Query strings: kept byte for byte
form("query-repeated-keys-kept", "ok", STATUS + "?tag=a&tag=b&tag=a&job=7")
form("query-reordered", "mismatch", STATUS + "?tag=b&tag=a&job=7", signed_url=STATUS + "?tag=a&tag=b&job=7")
form("query-encoded-apostrophe-kept", "ok", STATUS + "?name=O%27Brien")
form("query-encoded-vs-raw-apostrophe", "mismatch", STATUS + "?name=O'Brien", signed_url=STATUS + "?name=O%27Brien",
     note="no re-encoding (twilio-node's legacy variant would accept this)")
form("query-raw-vs-encoded-apostrophe", "mismatch", STATUS + "?name=O%27Brien", signed_url=STATUS + "?name=O'Brien")
form("query-percent-case-kept", "mismatch", STATUS + "?q=%2f", signed_url=STATUS + "?q=%2F")
form("query-empty-after-question-mark", "ok", STATUS + "?")
form("query-question-mark-dropped", "mismatch", STATUS, signed_url=STATUS + "?")

# Parameter order
prefix_params = [("ToCountry", "DE"), ("To", "whatsapp:+4915112345678"), ("DigitsX", "1"), ("Digits", "a"),
                 ("MessageSid", "SM1"), ("MessageStatus", "read")]
form("sort-name-prefix-of-another", "ok", STATUS, params=prefix_params)
form("sort-go-style-concatenated", "mismatch", STATUS, params=prefix_params,
     signature=go_style_sign(TOKEN, STATUS, prefix_params),
     note="twilio-go sorts name+value strings: ToCountryDE < Towhatsapp...")
case_params = [("body", "lower"), ("Body", "upper"), ("a", "1"), ("B", "2"), ("_x", "3"), ("Z", "4")]
form("sort-uppercase-before-lowercase", "ok", STATUS, params=case_params)
form("sort-case-insensitive-rejected", "mismatch", STATUS, params=case_params,
     signature=casefold_sign(TOKEN, STATUS, case_params))
form("params-given-in-reverse-order", "ok", STATUS, params=list(reversed(STATUS_PARAMS)))

# Values
empty_params = [("MessageSid", "SM1"), ("MessageStatus", "delivered"), ("ErrorCode", ""), ("FromCity", ""),
                ("", "nameless")]
form("empty-values", "ok", STATUS, params=empty_params)
form("empty-value-param-dropped", "mismatch", STATUS, params=[p for p in empty_params if p[0] != "FromCity"],
     signed_params=empty_params, note="the name of an empty parameter is still signed")
dup_params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]
form("repeated-key-duplicate-values", "ok", STATUS, params=dup_params)
form("repeated-key-duplicates-not-deduplicated", "mismatch", STATUS, params=dup_params,
     signature=mac(TOKEN, STATUS + "".join(n + v for n, v in sorted(dup_params))))
form("repeated-key-java-style-single-value", "mismatch", STATUS, params=dup_params,
     signature=java_style_sign(TOKEN, STATUS, dup_params))
form("repeated-key-one-copy-dropped-still-ok", "ok", STATUS, params=dup_params[:4], signed_params=dup_params,
     note="values are de-duplicated, so a duplicate pair adds nothing")
unicode_params = [("Body", "Grüße aus München 👋 — „Termin“ 10:30"), ("Ünterschrift", "Jürgen"), ("Zeta", "z"),
                  ("From", "+4930123456789"), ("😀", "emoji name"), ("\uffee", "halfwidth")]
form("non-ascii-values-and-names", "ok", STATUS, params=unicode_params,
     note="byte order puts U+FFEE before U+1F600 (UTF-16 order would not)")
form("non-ascii-path", "ok", BASE + "/twilio/status/müller/😀")
form("non-ascii-path-raw-vs-encoded", "mismatch", BASE + "/twilio/status/m%C3%BCller",
     signed_url=BASE + "/twilio/status/müller")
form("empty-param-list-get", "ok", STATUS + "?MessageSid=SM1&MessageStatus=sent", params=[])
form("empty-param-list-post-vs-params", "mismatch", STATUS, params=[], signed_params=STATUS_PARAMS)

# Tampering and keys
form("wrong-token", "mismatch", STATUS, signing_token=WRONG_TOKEN)
form("tampered-value", "mismatch", STATUS,
     params=[(n, "delivered" if n == "MessageStatus" else v) for n, v in STATUS_PARAMS], signed_params=STATUS_PARAMS)
form("added-param", "mismatch", STATUS, params=STATUS_PARAMS + [("Extra", "1")], signed_params=STATUS_PARAMS)
form("value-moved-between-names", "ok", STATUS, params=[("ab", "c")], signed_params=[("a", "bc")],
     note="Twilio's scheme has no separators: a+bc and ab+c sign alike (a property of the algorithm)")

# The header
form("signature-missing", "missing-signature", STATUS, signature="")
form("signature-whitespace", "missing-signature", STATUS, signature="  ")
form("signature-not-base64", "malformed-signature", STATUS, signature="not base64 at all, clearly!!")
form("signature-too-short", "malformed-signature", STATUS, signature=base64.b64encode(b"\x00" * 16).decode())
form("signature-sha256-length", "malformed-signature", STATUS, signature=base64.b64encode(b"\x00" * 32).decode())
form("signature-unpadded", "malformed-signature", STATUS, signature=twilio_sign(TOKEN, STATUS, STATUS_PARAMS)[:-1])
form("signature-url-safe-alphabet", "malformed-signature", STATUS,
     signature="_-" + twilio_sign(TOKEN, STATUS, STATUS_PARAMS)[2:])

# URLs the validator refuses
form("invalid-url-scheme", "invalid-url", "ftp://ml-connector.example/twilio/status")
form("invalid-url-relative", "invalid-url", "/twilio/status")
form("invalid-url-no-host", "invalid-url", "https:///twilio/status")
form("invalid-url-port-not-numeric", "invalid-url", "https://ml-connector.example:https/twilio/status")
form("invalid-url-port-too-large", "invalid-url", "https://ml-connector.example:65536/twilio/status")
form("invalid-url-space", "invalid-url", "https://ml-connector.example/twilio/status page")

# JSON bodies (bodySHA256)
body = '{"event":"message.delivered","sid":"SM0123","data":{"to":"+4915112345678","text":"Grüße"}}'
json_url = STATUS + "?bodySHA256=" + sha256_hex(body)
json_case("json-good", "ok", json_url, body)
json_case("json-good-with-default-port-added", "ok", json_url, body,
          signed_url=json_url.replace(".example", ".example:443"))
json_case("json-tampered-body", "body-hash-mismatch", json_url, body.replace("delivered", "failed"))
json_case("json-whitespace-trimmed-body", "body-hash-mismatch", STATUS + "?bodySHA256=" + sha256_hex(body + "\n"),
          body, note="frameworks that trim the raw body break validation")
json_case("json-missing-body-hash", "missing-body-hash", STATUS, body)
json_case("json-body-hash-name-case", "missing-body-hash", STATUS + "?bodysha256=" + sha256_hex(body), body)
json_case("json-uppercase-hex", "ok", STATUS + "?bodySHA256=" + sha256_hex(body).upper(), body,
          note="accepted: the signature already authenticates the exact query text")
json_case("json-body-hash-not-hex", "body-hash-mismatch", STATUS + "?bodySHA256=" + "z" * 64, body)
json_case("json-body-hash-truncated", "body-hash-mismatch", STATUS + "?bodySHA256=" + sha256_hex(body)[:63], body)
json_case("json-url-tampered", "mismatch", json_url + "&x=1", body, signed_url=json_url)
json_case("json-wrong-token", "mismatch", json_url, body, auth_token=WRONG_TOKEN)
json_case("json-signature-missing", "missing-signature", json_url, body, signature="")
json_case("json-empty-body", "ok", STATUS + "?foo=1&bodySHA256=" + sha256_hex(""), "")
json_case("json-body-hash-first-of-two", "ok", STATUS + "?bodySHA256=" + sha256_hex(body) + "&bodySHA256=00", body)
json_case("json-body-hash-in-fragment-only", "missing-body-hash", STATUS + "#bodySHA256=" + sha256_hex(body), body)


def main():
    names = set()
    for v in VECTORS:
        if v["name"] in names:
            raise SystemExit("duplicate vector name " + v["name"])
        names.add(v["name"])
        got = validate(v)
        if got != v["expected"]:
            raise SystemExit(f"{v['name']}: stated {v['expected']}, Python's validator says {got}")
        v["expected_signature"] = compute_signature(v["auth_token"], v["url"], [tuple(p) for p in v.get("params", [])])
    out = {
        "about": "X-Twilio-Signature edge cases; generated by gen_vectors.py with Python's hmac/hashlib/base64. Do not edit by hand.",
        "vectors": VECTORS,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
    def dump(value):
        return json.dumps(value, ensure_ascii=False)

    # One field per line, each parameter pair on one line: readable diffs, still plain JSON.
    lines = ["{", ' "about": ' + dump(out["about"]) + ",", ' "vectors": [']
    for i, v in enumerate(VECTORS):
        fields = []
        for key, value in v.items():
            if key == "params":
                pairs = ",\n".join("   " + dump(p) for p in value)
                fields.append(f'  "params": [\n{pairs}\n  ]' if value else '  "params": []')
            else:
                fields.append(f"  {dump(key)}: {dump(value)}")
        lines.append(" {\n" + ",\n".join(fields) + "\n }" + ("," if i + 1 < len(VECTORS) else ""))
    lines += [" ]", "}"]
    text = "\n".join(lines) + "\n"
    json.loads(text)  # the hand-rolled layout must still be JSON
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"{len(VECTORS)} vectors -> {path}")


if __name__ == "__main__":
    main()
