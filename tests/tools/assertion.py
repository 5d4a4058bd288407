#!/usr/bin/env python3
"""Makes the keys, JWTs and SAML assertions the black-box tests present to Tessera.

The point of this tool is that the assertions come from implementations nobody on the
project wrote: PyJWT (with `cryptography`) signs the JWTs and signxml (on lxml) signs the
SAML assertions, so a test passing means Tessera agrees with them, not with itself. The
forgeries PyJWT refuses to make (`alg: none`, HS256 keyed with an RSA public key) are made by
hand here with hmac/base64, and the SAML attacks are rearrangements of a genuinely signed
assertion.

Subcommands (all write their result to stdout; errors go to stderr with exit status 2):

  keys  --kind rsa|ec256|ec384|ed25519 --out DIR --name N [--alg ALG]
        DIR/N.key.pem (PKCS#8 private key), DIR/N.pem (SubjectPublicKeyInfo public key),
        DIR/N.jwks.json ({"keys": [{..., "kid": N, "alg": ALG, "use": "sig"}]}) and, for rsa,
        DIR/N.crt (a self-signed X.509 certificate, the SAML issuer's). Prints the paths as
        JSON.
  jwt   --alg RS256|...|HS256 [--key N.key.pem | --secret S] --iss I --sub S --aud A...
        Prints a compact JWS; see `jwt --help` for the claim and forgery options.
  saml  --key N.key.pem --cert N.crt --issuer I --name-id U --audience A --recipient R
        Prints the base64url (unpadded) of a SAML 2.0 Assertion with an enveloped signature
        (exclusive c14n, RSA-SHA256 / SHA-256 unless --sha1); see `saml --help` for the
        attacks (XSW1-XSW8 after Somorovsky et al., "On Breaking SAML: Be Whoever You Want to
        Be", USENIX Security 2012, adapted to a bare Assertion).

Times are relative to now in seconds (negative for the past), so tests need no clock.
"""

import argparse
import base64
import copy
import datetime
import hashlib
import hmac
import json
import os
import re
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

# lxml and signxml are imported by `load_xml_libraries` when a SAML assertion is made: the
# JWT subcommands run many times per test run and start faster without them.
etree = None
signxml = None

# PyJWT warns about short HMAC keys; the tests choose their secrets on purpose.
warnings.filterwarnings("ignore")

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
NS = {"saml": SAML_NS, "samlp": SAMLP_NS, "ds": DS_NS}

DEFAULT_ALG = {"rsa": "RS256", "ec256": "ES256", "ec384": "ES384", "ed25519": "EdDSA"}


class ToolError(Exception):
    """A usage error the caller should see as one line on stderr."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(obj) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode("utf-8"))


# ------------------------------------------------------------------------------------------
# keys
# ------------------------------------------------------------------------------------------


def cmd_keys(a):
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=a.bits)
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    elif a.kind == "ec256":
        key = ec.generate_private_key(ec.SECP256R1())
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    elif a.kind == "ec384":
        key = ec.generate_private_key(ec.SECP384R1())
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    elif a.kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        jwk = OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        raise ToolError(f"unknown key kind {a.kind!r}")

    jwk["kid"] = a.name
    if not a.no_alg:
        jwk["alg"] = a.alg or DEFAULT_ALG[a.kind]
    jwk["use"] = "sig"

    paths = {
        "private": out / f"{a.name}.key.pem",
        "public": out / f"{a.name}.pem",
        "jwks": out / f"{a.name}.jwks.json",
    }
    paths["private"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths["public"].write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )
    paths["jwks"].write_text(json.dumps({"keys": [jwk]}, indent=2) + "\n")
    if a.kind == "rsa":
        paths["cert"] = out / f"{a.name}.crt"
        paths["cert"].write_bytes(self_signed_cert(key, a.name).public_bytes(serialization.Encoding.PEM))
    print(json.dumps({k: str(v) for k, v in paths.items()}))


def self_signed_cert(key, name):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def load_private_key(path):
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)


# ------------------------------------------------------------------------------------------
# jwt
# ------------------------------------------------------------------------------------------


def jwt_claims(a):
    now = int(time.time())
    claims = {}
    if a.iss is not None:
        claims["iss"] = a.iss
    if a.sub is not None:
        claims["sub"] = a.sub
    if a.aud:
        # One audience as a string, several as an array: both are RFC 7519 §4.1.3 forms.
        claims["aud"] = a.aud[0] if len(a.aud) == 1 else a.aud
    if not a.no_exp:
        claims["exp"] = now + a.exp_in
    if a.nbf_in is not None:
        claims["nbf"] = now + a.nbf_in
    if not a.no_iat:
        claims["iat"] = now + a.iat_in
    if not a.no_jti:
        claims["jti"] = a.jti if a.jti is not None else uuid.uuid4().hex
    if a.claims_extra:
        claims.update(json.loads(a.claims_extra))
    return claims


def jwt_headers(a):
    headers = {}
    if a.kid is not None:
        headers["kid"] = a.kid
    if a.header_extra:
        headers.update(json.loads(a.header_extra))
    return headers


def cmd_jwt(a):
    claims = jwt_claims(a)
    headers = jwt_headers(a)

    if a.alg_none:
        # PyJWT will not make an unsecured JWS (RFC 7515 §A.5); the empty third part is it.
        header = {"alg": "none", "typ": "JWT", **headers}
        token = f"{b64url_json(header)}.{b64url_json(claims)}."
    elif a.hs256_with_public_key:
        # The RS/HS key-confusion forgery: HMAC-SHA256 keyed with the bytes of the public key
        # file, which a verifier that lets the token choose the algorithm would accept.
        # PyJWT refuses PEM keys as HMAC secrets, so it is made by hand.
        secret = Path(a.hs256_with_public_key).read_bytes()
        header = {"alg": "HS256", "typ": "JWT", **headers}
        signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
        mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
        token = f"{signing_input}.{b64url(mac)}"
    else:
        if a.alg == "HS256":
            if a.secret is None:
                raise ToolError("--alg HS256 needs --secret")
            key = a.secret.encode("utf-8")
        else:
            if a.key is None:
                raise ToolError(f"--alg {a.alg} needs --key")
            key = load_private_key(a.key)
        token = jwt.encode(claims, key, algorithm=a.alg, headers=headers or None)

    if a.tamper:
        token = tamper(token)
    print(token)


def tamper(token):
    """Changes `sub` in the payload and keeps header and signature as they were."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "admin" if claims.get("sub") != "admin" else "root"
    return f"{header}.{b64url_json(claims)}.{signature}"


# ------------------------------------------------------------------------------------------
# saml
# ------------------------------------------------------------------------------------------


def saml_time(offset_secs):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_secs)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id():
    # xs:ID must not start with a digit.
    return "_" + uuid.uuid4().hex


def q(ns, tag):
    return f"{{{ns}}}{tag}"


def build_assertion(a, assertion_id, name_id, signed):
    """The Assertion element, with a signature placeholder after Issuer when `signed`
    (saml-schema-assertion-2.0: Issuer, Signature?, Subject, Conditions, statements)."""
    root = etree.Element(
        q(SAML_NS, "Assertion"),
        nsmap={"saml": SAML_NS},
        ID=assertion_id,
        Version="2.0",
        IssueInstant=saml_time(0),
    )
    etree.SubElement(root, q(SAML_NS, "Issuer")).text = a.issuer
    if signed:
        etree.SubElement(root, q(DS_NS, "Signature"), nsmap={"ds": DS_NS}, Id="placeholder")
    subjects = [name_id]
    if a.attack == "second-subject":
        subjects.append(a.evil_name_id)
    for subject_name in subjects:
        subject = etree.SubElement(root, q(SAML_NS, "Subject"))
        etree.SubElement(
            subject,
            q(SAML_NS, "NameID"),
            Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        ).text = subject_name
        confirmation = etree.SubElement(subject, q(SAML_NS, "SubjectConfirmation"), Method=a.confirmation_method)
        data = etree.SubElement(
            confirmation,
            q(SAML_NS, "SubjectConfirmationData"),
            NotOnOrAfter=saml_time(a.not_on_or_after_in),
        )
        if a.recipient is not None:
            data.set("Recipient", a.recipient)
    conditions = etree.SubElement(
        root,
        q(SAML_NS, "Conditions"),
        NotBefore=saml_time(a.not_before_in),
        NotOnOrAfter=saml_time(a.not_on_or_after_in),
    )
    restriction = etree.SubElement(conditions, q(SAML_NS, "AudienceRestriction"))
    for audience in a.audience:
        etree.SubElement(restriction, q(SAML_NS, "Audience")).text = audience
    statement = etree.SubElement(root, q(SAML_NS, "AuthnStatement"), AuthnInstant=saml_time(0))
    context = etree.SubElement(statement, q(SAML_NS, "AuthnContext"))
    etree.SubElement(
        context, q(SAML_NS, "AuthnContextClassRef")
    ).text = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
    return root


def build_response(a, response_id, assertion):
    """A samlp:Response around `assertion`, with a signature placeholder after Issuer
    (saml-schema-protocol-2.0: Issuer, Signature?, Extensions?, Status, Assertion*)."""
    root = etree.Element(
        q(SAMLP_NS, "Response"),
        nsmap={"samlp": SAMLP_NS, "saml": SAML_NS},
        ID=response_id,
        Version="2.0",
        IssueInstant=saml_time(0),
        Destination=a.recipient or "",
    )
    etree.SubElement(root, q(SAML_NS, "Issuer")).text = a.issuer
    etree.SubElement(root, q(DS_NS, "Signature"), nsmap={"ds": DS_NS}, Id="placeholder")
    status = etree.SubElement(root, q(SAMLP_NS, "Status"))
    etree.SubElement(status, q(SAMLP_NS, "StatusCode"), Value="urn:oasis:names:tc:SAML:2.0:status:Success")
    root.append(assertion)
    return root


def load_xml_libraries():
    global etree, signxml
    from lxml import etree as lxml_etree
    import signxml as signxml_module

    etree = lxml_etree
    signxml = signxml_module


def sign(a, root, reference_id):
    if a.sha1:

        class LegacySha1Signer(signxml.XMLSigner):
            """signxml refuses SHA-1 when signing (it is broken); the `allow_sha1` tests
            need one."""

            def check_deprecated_methods(self):
                pass

        signer = LegacySha1Signer(
            method=signxml.methods.enveloped,
            signature_algorithm=signxml.SignatureMethod.RSA_SHA1,
            digest_algorithm=signxml.DigestAlgorithm.SHA1,
            c14n_algorithm=EXC_C14N,
        )
    else:
        signer = signxml.XMLSigner(
            method=signxml.methods.enveloped,
            signature_algorithm=signxml.SignatureMethod.RSA_SHA256,
            digest_algorithm=signxml.DigestAlgorithm.SHA256,
            c14n_algorithm=EXC_C14N,
        )
    return signer.sign(
        root,
        key=Path(a.key).read_bytes(),
        cert=Path(a.cert).read_text(),
        reference_uri="#" + reference_id,
        id_attribute="ID",
    )


def signature_of(element):
    """The element's own ds:Signature child."""
    sig = element.find(q(DS_NS, "Signature"))
    if sig is None:
        raise ToolError("signed element has no ds:Signature child")
    return sig


def without_signature(element):
    """A copy of `element` without its enveloped signature: it digests as the original did."""
    c = copy.deepcopy(element)
    c.remove(signature_of(c))
    return c


def evil_copy(assertion, evil_name):
    """A copy of the (signature-less) assertion naming `evil_name`, with a fresh ID."""
    e = copy.deepcopy(assertion)
    sig = e.find(q(DS_NS, "Signature"))
    if sig is not None:
        e.remove(sig)
    e.set("ID", new_id())
    for name_id in e.iter(q(SAML_NS, "NameID")):
        name_id.text = evil_name
    return e


def insert_after_issuer(parent, child):
    issuer = parent.find(q(SAML_NS, "Issuer"))
    parent.insert(parent.index(issuer) + 1, child)


def ds_object(content):
    obj = etree.Element(q(DS_NS, "Object"), nsmap={"ds": DS_NS})
    obj.append(content)
    return obj


def wrap_in_response(a, children, extensions=None):
    """An unsigned samlp:Response holding `children` (and an Extensions block)."""
    root = etree.Element(
        q(SAMLP_NS, "Response"),
        nsmap={"samlp": SAMLP_NS, "saml": SAML_NS},
        ID=new_id(),
        Version="2.0",
        IssueInstant=saml_time(0),
    )
    etree.SubElement(root, q(SAML_NS, "Issuer")).text = a.issuer
    if extensions is not None:
        etree.SubElement(root, q(SAMLP_NS, "Extensions")).append(extensions)
    status = etree.SubElement(root, q(SAMLP_NS, "Status"))
    etree.SubElement(status, q(SAMLP_NS, "StatusCode"), Value="urn:oasis:names:tc:SAML:2.0:status:Success")
    for c in children:
        root.append(c)
    return root


def xsw(a, n):
    """Signature wrapping, Somorovsky et al. 2012 §5 / SAML Raider's XSW1-XSW8.

    A is the genuinely signed assertion (NameID = --name-id), S its signature, A' = A without
    S (its digest still matches S's Reference), E an unsigned copy with a fresh ID naming
    --evil-name-id. A verifier that checks "some element with the referenced ID is signed"
    and a reader that takes "the Assertion" from elsewhere disagree about E.
    XSW1 and XSW2 attack a Response-level signature, as in the paper; the others the
    assertion's own signature, on a bare Assertion where the paper's Response allows it."""
    if n in (1, 2):
        # The signed thing is a Response around an unsigned assertion.
        inner = build_assertion(a, new_id(), a.name_id, signed=False)
        response_id = new_id()
        r = sign(a, build_response(a, response_id, inner), response_id)
        s = copy.deepcopy(signature_of(r))
        r_prime = without_signature(r)
        evil = copy.deepcopy(r_prime)
        evil.set("ID", new_id())
        for assertion in evil.iter(q(SAML_NS, "Assertion")):
            assertion.set("ID", new_id())
        for name_id in evil.iter(q(SAML_NS, "NameID")):
            name_id.text = a.evil_name_id
        if n == 1:
            # XSW1: evil Response carrying S; the original Response sits in S's ds:Object.
            s.append(ds_object(r_prime))
            insert_after_issuer(evil, s)
        else:
            # XSW2: evil Response with the original Response before S (a "detached" shape).
            insert_after_issuer(evil, s)
            evil.insert(evil.index(s), r_prime)
        return evil

    assertion_id = a.id or new_id()
    a_signed = sign(a, build_assertion(a, assertion_id, a.name_id, signed=True), assertion_id)
    s = copy.deepcopy(signature_of(a_signed))
    a_prime = without_signature(a_signed)
    e = evil_copy(a_prime, a.evil_name_id)
    if n == 3:
        # XSW3: the evil assertion before the signed one, as siblings.
        return wrap_in_response(a, [e, a_signed])
    if n == 4:
        # XSW4: the evil assertion wraps the signed one.
        e.append(a_signed)
        return e
    # XSW5, 6, 8: the evil assertion carries a copy of S, whose Reference finds A' elsewhere.
    insert_after_issuer(e, s)
    if n == 5:
        # XSW5: A' appended at the end of the message.
        e.append(a_prime)
        return e
    if n == 6:
        # XSW6: A' inside the copied signature, after its KeyInfo.
        s.append(a_prime)
        return e
    if n == 7:
        # XSW7: the evil assertion in an Extensions block, the signed one after it.
        e.remove(s)
        return wrap_in_response(a, [a_signed], extensions=e)
    if n == 8:
        # XSW8: A' inside a ds:Object of the copied signature.
        s.append(ds_object(a_prime))
        return e
    raise ToolError(f"no XSW{n}")


NAMEID_RE = re.compile(rb"(<saml:NameID\b[^>]*>)([^<]*)(</saml:NameID>)")


def cmd_saml(a):
    load_xml_libraries()
    if not a.unsigned and (a.key is None or a.cert is None):
        raise ToolError("a signed assertion needs --key and --cert")
    if a.attack and a.attack.startswith("xsw"):
        try:
            n = int(a.attack[3:])
        except ValueError:
            raise ToolError(f"unknown attack {a.attack!r}")
        if a.unsigned:
            raise ToolError("--attack xswN wraps a signed assertion; drop --unsigned")
        data = etree.tostring(xsw(a, n))
        return emit(a, data)

    assertion_id = a.id or new_id()
    root = build_assertion(a, assertion_id, a.name_id, signed=not a.unsigned)
    if not a.unsigned:
        root = sign(a, root, assertion_id)

    if a.attack == "comment-in-nameid":
        # Signed over "admin@evil.example"; exclusive c14n without comments digests the same
        # text with a comment inside, and a reader taking the first text node gets "admin".
        name_id = root.find(f"{q(SAML_NS, 'Subject')}/{q(SAML_NS, 'NameID')}")
        text = name_id.text or ""
        cut = text.index("@") if "@" in text else len(text) // 2
        name_id.text = text[:cut]
        comment = etree.Comment("")
        name_id.append(comment)
        comment.tail = text[cut:]
        data = etree.tostring(root)
    elif a.attack in ("dtd", "xxe"):
        # The NameID comes from an entity that expands to the very text that was signed, so
        # the signature verifies if (and only if) the parser expands entities.
        data = etree.tostring(root)
        if a.attack == "dtd":
            value = a.name_id.replace("&", "&amp;").replace('"', "&quot;").replace("%", "&#37;")
            doctype = f'<!DOCTYPE saml:Assertion [<!ENTITY nameid "{value}">]>'
        else:
            path = a.xxe_file
            if path is None:
                fd, path = tempfile.mkstemp(prefix="tessera-xxe-", suffix=".txt")
                os.close(fd)
            Path(path).write_text(a.name_id)
            uri = Path(path).resolve().as_uri()
            doctype = f'<!DOCTYPE saml:Assertion [<!ENTITY nameid SYSTEM "{uri}">]>'
        data, count = NAMEID_RE.subn(rb"\1&nameid;\3", data, count=1)
        if count != 1:
            raise ToolError("no NameID to replace with the entity")
        data = doctype.encode("utf-8") + b"\n" + data
    elif a.attack in (None, "second-subject"):
        data = etree.tostring(root)
    else:
        raise ToolError(f"unknown attack {a.attack!r}")
    return emit(a, data)


def emit(a, data):
    if a.xml:
        sys.stdout.write(data.decode("utf-8") + "\n")
    else:
        print(b64url(data))


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    k = sub.add_parser("keys", help="generate a key pair, its JWKS and (rsa) a certificate")
    k.add_argument("--kind", required=True, choices=["rsa", "ec256", "ec384", "ed25519"])
    k.add_argument("--out", required=True, help="directory to write to")
    k.add_argument("--name", required=True, help="file name stem and JWKS kid")
    k.add_argument("--alg", help="JWKS alg (default RS256, ES256, ES384 or EdDSA per kind)")
    k.add_argument("--no-alg", action="store_true", help="leave alg out of the JWK")
    k.add_argument("--bits", type=int, default=2048, help="RSA modulus size")
    k.set_defaults(func=cmd_keys)

    j = sub.add_parser("jwt", help="print a compact JWS")
    j.add_argument("--key", help="PEM private key (not for HS256)")
    j.add_argument(
        "--alg",
        default="RS256",
        choices=["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256"],
    )
    j.add_argument("--secret", help="HS256 secret (client_secret_jwt)")
    j.add_argument("--iss")
    j.add_argument("--sub")
    j.add_argument("--aud", action="append", default=[], help="repeatable")
    j.add_argument("--exp-in", type=int, default=120, help="exp = now + SECS (default 120)")
    j.add_argument("--no-exp", action="store_true")
    j.add_argument("--nbf-in", type=int, help="nbf = now + SECS (absent by default)")
    j.add_argument("--iat-in", type=int, default=0, help="iat = now + SECS (default 0)")
    j.add_argument("--no-iat", action="store_true")
    j.add_argument("--jti", help="default: a random UUID")
    j.add_argument("--no-jti", action="store_true")
    j.add_argument("--kid")
    j.add_argument("--header-extra", help="JSON object merged into the header")
    j.add_argument("--claims-extra", help="JSON object merged into the claims")
    j.add_argument("--tamper", action="store_true", help="change sub after signing")
    j.add_argument("--alg-none", action="store_true", help="unsecured JWS, empty signature")
    j.add_argument("--hs256-with-public-key", metavar="PEM", help="HS256 keyed with this file's bytes")
    j.set_defaults(func=cmd_jwt)

    s = sub.add_parser("saml", help="print a base64url SAML 2.0 Assertion")
    s.add_argument("--key", help="PEM private key (RSA)")
    s.add_argument("--cert", help="PEM certificate put in KeyInfo")
    s.add_argument("--issuer", required=True)
    s.add_argument("--name-id", required=True)
    s.add_argument("--audience", action="append", required=True, help="repeatable")
    s.add_argument("--recipient", help="SubjectConfirmationData Recipient (absent if not given)")
    s.add_argument("--confirmation-method", default=BEARER)
    s.add_argument("--not-before-in", type=int, default=0, help="Conditions NotBefore = now + SECS")
    s.add_argument(
        "--not-on-or-after-in",
        type=int,
        default=120,
        help="Conditions and SubjectConfirmationData NotOnOrAfter = now + SECS",
    )
    s.add_argument("--id", help="Assertion ID (default: random)")
    s.add_argument("--sha1", action="store_true", help="RSA-SHA1 signature and SHA-1 digest")
    s.add_argument("--unsigned", action="store_true")
    s.add_argument(
        "--attack",
        choices=[f"xsw{i}" for i in range(1, 9)] + ["comment-in-nameid", "dtd", "xxe", "second-subject"],
    )
    s.add_argument("--evil-name-id", default="admin", help="the NameID the attacks smuggle in")
    s.add_argument("--xxe-file", help="file the xxe entity points at (written by the tool)")
    s.add_argument("--xml", action="store_true", help="print the XML instead of base64url")
    s.set_defaults(func=cmd_saml)
    return p


def main(argv=None):
    a = parser().parse_args(argv)
    try:
        a.func(a)
    except ToolError as e:
        print(f"assertion.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
