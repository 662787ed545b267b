#!/usr/bin/env python3
"""Generates the fixture corpus tests/corpus/ and its answer key tests/corpus/expected.json.

Deterministic: a seeded generator makes every key, so a second run writes the same bytes
(`scripts/gen-corpus.py --check` verifies that the committed corpus is what this script makes).
The keys look random and are not AWS documentation examples (those are ignored by design).

The answer key lists, for every planted value, path (relative to tests/corpus), line, column
(1-based, bytes within the line; for UTF-16 files, bytes of the line decoded to UTF-8), kind and
rule; and, for documentation, every negative case (path, line, what it is) and the number of
findings suppressed by `credhygiene:allow`. It holds no key, so scanning it finds nothing.

Usage: scripts/gen-corpus.py [--check] [--out DIR]
"""

import argparse
import filecmp
import base64
import gzip
import hashlib
import json
import lzma
import os
import random
import shutil
import sys
import tempfile

SEED = 20261125
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
HEX = "0123456789abcdef"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

AK = ("access_key_id", "aws-access-key-id")
SK = ("secret_access_key", "aws-secret-access-key")
ST = ("session_token", "aws-session-token")
STP = ("session_token", "aws-session-token-prefix")

CHUNK = 1 << 20  # the scanner's read chunk (src/scan/mod.rs CHUNK)


class Keys:
    """Seeded generator of key-shaped strings."""

    def __init__(self, seed):
        self.r = random.Random(seed)

    def s(self, alphabet, n):
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def key_id(self, prefix="AKIA"):
        while True:
            body = self.s(B32, 16)
            if len(set(body)) > 8 and not body.endswith("EXAMPLE"):
                return prefix + body

    def secret(self):
        while True:
            s = self.s(B64, 40)
            if (any(c.isupper() for c in s) and any(c.islower() for c in s)
                    and any(c.isdigit() for c in s)):
                return s

    def secret_with_escapable(self):
        """A secret holding at least one '/' and one '+' (for \\/ and %2F/%2B encodings)."""
        while True:
            s = self.secret()
            if "/" in s and "+" in s and not s.startswith(("/", "+")):
                return s

    def token(self, prefix="IQoJb3JpZ2lu", n=None):
        n = n or self.r.randrange(300, 900)
        body = self.s(B64, n)
        pad = "=" * self.r.choice([0, 0, 1, 2])
        return prefix + body + pad

    def hexs(self, n):
        return self.s(HEX, n)

    def alnum(self, n):
        return self.s(ALNUM, n)

    def uuid(self):
        h = self.hexs(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def b64url(self, n):
        return self.s(ALNUM + "-_", n)


class Doc:
    """One fixture file: text (or bytes) with planted values and negative cases recorded."""

    def __init__(self, path, newline="\n", encoding=None, compress=()):
        self.path = path
        self.newline = newline
        self.encoding = encoding  # None (bytes as written), "utf-16-le" or "utf-16-be"
        # Compression layers, outermost first ("gzip", "xz"): the finding's `encoding`.
        self.compress = list(compress)
        self.data = bytearray()
        self.plants = []  # (offset, kind, rule, encoding, plain value or None)
        self.negs = []  # (offset, what)
        self.suppressed = 0

    def _b(self, text):
        if isinstance(text, (bytes, bytearray)):
            return bytes(text)
        return text.replace("\n", self.newline).encode("utf-8")

    def t(self, text):
        """Appends text (a str: newlines converted; bytes: as is)."""
        self.data += self._b(text)
        return self

    def p(self, shown, kind_rule, allowed=False):
        """Appends a planted value as shown in the file (maybe escaped); records its start."""
        if allowed:
            self.suppressed += 1
        else:
            self.plants.append((len(self.data), kind_rule[0], kind_rule[1], None, None))
        return self.t(shown)

    def pe(self, text, plants, encoding):
        """Appends encoded text holding values found through decoding (issue 13): `plants`
        lists (offset in `text` of the value's encoded form, value, kind_rule)."""
        for off, value, kind_rule in plants:
            self.plants.append((len(self.data) + len(self._b(text[:off])), kind_rule[0],
                                kind_rule[1], encoding, value))
        return self.t(text)

    def n(self, what, text=None):
        """Records a negative case on the current line, then appends its text if given."""
        self.negs.append((len(self.data), what))
        if text is not None:
            self.t(text)
        return self

    def line_col(self, off):
        d = self.data
        line = d.count(b"\n", 0, off) + 1
        col = off - (d.rfind(b"\n", 0, off) + 1) + 1
        return line, col

    def file_bytes(self):
        if self.encoding == "utf-16-le":
            data = b"\xff\xfe" + self.data.decode("utf-8").encode("utf-16-le")
        elif self.encoding == "utf-16-be":
            data = b"\xfe\xff" + self.data.decode("utf-8").encode("utf-16-be")
        else:
            data = bytes(self.data)
        # Innermost layer first; mtime 0 and fixed presets keep the bytes reproducible.
        for layer in reversed(self.compress):
            if layer == "gzip":
                data = gzip.compress(data, compresslevel=9, mtime=0)
            elif layer == "xz":
                data = lzma.compress(data, format=lzma.FORMAT_XZ, preset=6)
            else:
                raise ValueError(layer)
        return data


def build(k):
    docs = []

    def doc(path, **kw):
        d = Doc(path, **kw)
        docs.append(d)
        return d

    # ---------------------------------------------------------------- ~/.aws/credentials
    d = doc("home/alice/.aws/credentials")
    d.t("[default]\naws_access_key_id = ").p(k.key_id(), AK)
    d.t("\naws_secret_access_key = ").p(k.secret(), SK).t("\n\n")
    d.t("[dev]\naws_access_key_id=").p(k.key_id(), AK)
    d.t("\naws_secret_access_key=").p(k.secret_with_escapable(), SK)
    d.t("\nregion=eu-west-1\n\n")
    d.t("[temp]\naws_access_key_id = ").p(k.key_id("ASIA"), AK)
    d.t("\naws_secret_access_key = ").p(k.secret(), SK)
    d.t("\naws_session_token = ").p(k.token(), ST).t("\n\n")
    d.t("[legacy-sts]\naws_access_key_id = ").p(k.key_id("ASIA"), AK)
    d.t("\naws_secret_access_key = ").p(k.secret(), SK)
    d.t("\naws_security_token = ").p(k.token("FwoGZXIvYXdz"), ST).t("\n\n")
    d.t("; the documentation's example profile, kept for reference\n[docs]\n")
    d.n("AWS documentation example key id", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n")
    d.n("AWS documentation example secret",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\n")
    d.t("[template]\n")
    d.n("placeholder key id X…", "aws_access_key_id = AKIAXXXXXXXXXXXXXXXX\n")
    d.n("placeholder secret ****", "aws_secret_access_key = " + "*" * 40 + "\n\n")
    d.t("[ci] # credhygiene:allow\n")
    d.t("aws_access_key_id = ").p(k.key_id(), AK, allowed=True).t("  # credhygiene:allow\n")
    d.t("aws_secret_access_key = ").p(k.secret(), SK, allowed=True).t(" ; credhygiene:allow\n")

    # ---------------------------------------------------------------- ~/.aws/config
    d = doc("home/alice/.aws/config")
    d.t("[default]\nregion = us-east-1\noutput = json\n\n")
    d.t("[profile sso-admin]\nsso_session = corp\n")
    d.n("12-digit account id is not a key", "sso_account_id = 123456789012\n")
    d.t("sso_role_name = AdministratorAccess\n\n")
    d.t("[profile deploy]\nrole_arn = arn:aws:iam::210987654321:role/deploy\n"
        "source_profile = default\n\n")
    d.t("[profile inline]\nregion = ap-southeast-2\naws_access_key_id = ").p(k.key_id(), AK)
    d.t("\naws_secret_access_key = ").p(k.secret(), SK)
    d.t("\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
        "sso_region = us-east-1\n")
    d.n("a word starting with ASIA in a profile name",
        "\n[profile ASIAN_MARKETS_READONLY]\nrole_arn = arn:aws:iam::210987654321:role/ro\n")

    # ---------------------------------------------------------------- CRLF credentials
    d = doc("home/bob/.aws/credentials", newline="\r\n")
    d.t("[default]\naws_access_key_id = ").p(k.key_id(), AK)
    d.t("\naws_secret_access_key = ").p(k.secret(), SK)
    d.t("\n\n[windows-box]\nAWS_ACCESS_KEY_ID=").p(k.key_id(), AK)
    d.t("\nAWS_SECRET_ACCESS_KEY=").p(k.secret(), SK).t("\n")

    # ---------------------------------------------------------------- .env
    d = doc("srv/app/.env")
    d.t("# application settings\nAPP_ENV=production\nAWS_REGION=us-west-2\n")
    d.t("AWS_ACCESS_KEY_ID=").p(k.key_id(), AK)
    d.t('\nAWS_SECRET_ACCESS_KEY="').p(k.secret(), SK).t('"\n')
    d.t("export AWS_SESSION_TOKEN='").p(k.token(), ST).t("'\n")
    d.n("placeholder ${…}", "BACKUP_AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY}\n")
    d.n("placeholder {{…}}", "TEMPLATE_AWS_SECRET_ACCESS_KEY={{ aws_secret_access_key }}\n")
    d.n("placeholder <…>", "DOCS_AWS_SECRET_ACCESS_KEY=<your-secret-access-key>\n")
    d.n("placeholder AKIA<…>", "DOCS_AWS_ACCESS_KEY_ID=AKIA<YOUR_KEY_ID_HERE>\n")
    d.t("DATABASE_URL=postgres://app:pw@db.internal:5432/app\n")
    d.n("a 40-char random secret of another service, more than 5 lines from key ids",
        "JWT_SIGNING_SECRET=" + k.alnum(40) + "\n")
    d.t("REDIS_URL=redis://cache.internal:6379/0\nLOG_LEVEL=info\nFEATURE_FLAGS=a,b,c\n"
        "SMTP_HOST=smtp.internal\nSMTP_PORT=587\n")
    d.n("a UUID", "INSTANCE_UUID=" + k.uuid() + "\n")
    d.n("a sha256 hex", "RELEASE_SHA256=" + k.hexs(64) + "\n")
    d.n("a git object id", "GIT_COMMIT=" + k.hexs(40) + "\n")
    d.t("S3_BUCKET=app-uploads\n")
    d.t("BACKUP_AWS_ACCESS_KEY_ID=").p(k.key_id(), AK, allowed=True)
    d.t("  # credhygiene:allow\nBACKUP_AWS_SECRET_ACCESS_KEY=").p(k.secret(), SK, allowed=True)
    d.t(" # credhygiene:allow (rotated, kept for the DR drill)\n")

    d = doc("srv/app/.env.production")
    d.t("export AWS_ACCESS_KEY_ID=").p(k.key_id(), AK)
    d.t("\nexport AWS_SECRET_ACCESS_KEY=").p(k.secret(), SK)
    d.t("\nexport AWS_DEFAULT_REGION=eu-central-1\n")
    d.n("JWT", "export SESSION_JWT=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + k.b64url(60) + "."
        + k.b64url(43) + "\n")

    # ---------------------------------------------------------------- /etc/environment
    d = doc("etc/environment")
    d.t('PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"\n')
    d.t('AWS_ACCESS_KEY_ID="').p(k.key_id(), AK)
    d.t('"\nAWS_SECRET_ACCESS_KEY="').p(k.secret(), SK).t('"\n')
    d.n("IAM user unique id (AIDA)", 'DEPLOY_USER_ID="AIDA' + k.s(B32, 17) + '"\n')

    # ---------------------------------------------------------------- systemd unit
    d = doc("etc/systemd/system/worker.service")
    d.t("[Unit]\nDescription=Queue worker\nAfter=network-online.target\n\n[Service]\n"
        "Type=simple\nUser=worker\n")
    d.t('Environment="AWS_ACCESS_KEY_ID=').p(k.key_id(), AK)
    d.t('" "AWS_SECRET_ACCESS_KEY=').p(k.secret(), SK).t('"\n')
    d.t("Environment=AWS_SESSION_TOKEN=").p(k.token(), ST).t("\n")
    d.t("EnvironmentFile=-/etc/default/worker\nExecStart=/usr/local/bin/worker --queue jobs\n"
        "Restart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n")

    d = doc("etc/default/worker")
    d.t("# Defaults for worker\nWORKER_CONCURRENCY=4\n")
    d.t("AWS_ACCESS_KEY_ID=").p(k.key_id("ABIA"), AK)
    d.t("\nAWS_SECRET_ACCESS_KEY=\\\n").p(k.secret(), SK).t("\n")
    d.n("role unique id (AROA)", "ASSUMED_ROLE_ID=AROA" + k.s(B32, 17) + "\n")

    # ---------------------------------------------------------------- docker-compose
    d = doc("srv/app/docker-compose.yml")
    d.t("services:\n  web:\n    image: registry.internal/web:1.42\n    environment:\n")
    d.t("      - AWS_ACCESS_KEY_ID=").p(k.key_id(), AK)
    d.t("\n      - AWS_SECRET_ACCESS_KEY=").p(k.secret(), SK)
    d.t("\n      - AWS_REGION=us-east-1\n  worker:\n    image: registry.internal/worker:1.42\n"
        "    environment:\n")
    d.t("      AWS_ACCESS_KEY_ID: ").p(k.key_id(), AK)
    d.t('\n      AWS_SECRET_ACCESS_KEY: "').p(k.secret(), SK)
    d.t('"\n      AWS_SECURITY_TOKEN: ').p(k.token("FwoGZXIvYXdz"), ST)
    d.t("\n  db:\n    image: postgres:16\n    environment:\n")
    d.n("placeholder ${…} in compose", "      AWS_SECRET_ACCESS_KEY: ${AWS_SECRET_ACCESS_KEY}\n")
    d.n("placeholder {{…}} in compose", "      AWS_ACCESS_KEY_ID: '{{ aws_access_key_id }}'\n")

    # ---------------------------------------------------------------- JSON
    d = doc("srv/app/config/settings.json")
    d.t('{\n  "service": "billing",\n  "aws": {\n    "region": "us-east-1",\n')
    d.t('    "accessKeyId": "').p(k.key_id(), AK)
    d.t('",\n    "secretAccessKey": "').p(k.secret(), SK)
    d.t('"\n  },\n  "s3": {\n    "bucket": "billing-exports",\n')
    d.n("sha1 hex near an AWS name",
        '    "aws_secret_access_key_sha1": "' + k.hexs(40) + '"\n')
    d.t('  },\n  "build": {\n')
    d.n("git object id", '    "commit": "' + k.hexs(40) + '",\n')
    d.n("UUID", '    "id": "' + k.uuid() + '"\n')
    d.t("  }\n}\n")

    d = doc("srv/app/config/min.json")
    d.t('{"profiles":[{"name":"a","AccessKeyId":"').p(k.key_id(), AK)
    d.t('","SecretAccessKey":"').p(k.secret(), SK)
    d.t('"},{"name":"b","AccessKeyId":"').p(k.key_id("ASIA"), AK)
    d.t('","SecretAccessKey":"').p(k.secret(), SK)
    d.t('","SessionToken":"').p(k.token(), ST)
    d.t('"},{"name":"docs","AccessKeyId":"')
    d.n("documentation example inside minified JSON", "AKIAI44QH8DHBEXAMPLE")
    d.t('","SecretAccessKey":"je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"}],"v":2}\n')

    d = doc("srv/app/config/escaped.json")
    s1 = k.secret_with_escapable()
    s2 = k.secret_with_escapable()
    d.t('{"credentials":{"AccessKeyId":"').p(k.key_id(), AK)
    d.t('","SecretAccessKey":"').p(s1.replace("/", "\\/"), SK)
    d.t('"},\n"backup":{\n  "aws_access_key_id": "').p(k.key_id(), AK)
    d.t('",\n  "aws_secret_access_key": "').p(s2.replace("/", "\\/"), SK).t('"\n}}\n')

    # ---------------------------------------------------------------- XML
    d = doc("opt/tool/conf/app.xml")
    d.t('<?xml version="1.0" encoding="UTF-8"?>\n<configuration>\n  <aws>\n')
    d.t("    <accessKey>").p(k.key_id(), AK).t("</accessKey>\n")
    d.t("    <secretKey>").p(k.secret(), SK).t("</secretKey>\n")
    d.t("  </aws>\n  <property name=\"aws.secretAccessKey\" value=\"")
    d.p(k.secret(), SK).t('"/>\n')
    d.n("IAM group unique id (AGPA)", "  <group id=\"AGPA" + k.s(B32, 17) + "\"/>\n")
    d.n("instance profile unique id (AIPA)", "  <profile id=\"AIPA" + k.s(B32, 17) + "\"/>\n")
    d.n("managed policy unique id (ANPA)", "  <policy id=\"ANPA" + k.s(B32, 17) + "\"/>\n")
    d.n("policy version unique id (ANVA)", "  <policyVersion id=\"ANVA" + k.s(B32, 17) + "\"/>\n")
    d.n("public key id (APKA)", "  <cloudfrontKey id=\"APKA" + k.s(B32, 16) + "\"/>\n")
    d.t("</configuration>\n")

    # ---------------------------------------------------------------- YAML
    d = doc("opt/tool/conf/values.yaml")
    d.t("replicaCount: 2\nimage:\n  repository: registry.internal/tool\n  tag: \"3.1\"\n")
    d.t("aws:\n  region: eu-west-1\n  access_key_id: ").p(k.key_id(), AK)
    d.t("\n  secret_access_key: ").p(k.secret(), SK)
    d.t("\nsecrets:\n  credentialsFile: |\n    [default]\n    aws_access_key_id = ")
    d.p(k.key_id(), AK).t("\n    aws_secret_access_key = ").p(k.secret(), SK)
    d.t("\n  aws_session_token: >-\n    ").p(k.token(), ST)
    d.t("\ntls:\n  caBundle: |\n")
    blob = k.s(B64, 64 * 12)
    d.n("base64 of a binary (long wrapped run) near nothing AWS")
    for i in range(0, len(blob), 64):
        d.t("    " + blob[i:i + 64] + "\n")
    d.t("annotations:\n")
    d.n("words starting with ASIA", "  market: ASIA_PACIFIC_REGIONS_LIST\n")
    d.n("words starting with ASIA", "  region-group: ASIANMARKETSQUARTERLY2024\n")
    d.n("word starting with AKIA", "  ticket: AKIA_KEY_ROTATION_RUNBOOK\n")

    # ---------------------------------------------------------------- IAM console CSVs
    d = doc("home/alice/Downloads/alice_accessKeys.csv")
    d.t("Access key ID,Secret access key\n").p(k.key_id(), AK).t(",").p(k.secret(), SK).t("\n")
    d = doc("home/alice/Downloads/new_user_credentials.csv", newline="\r\n")
    d.t("User name,Password,Access key ID,Secret access key,Console login link\n")
    for user in ("deploy", "ci-runner", "reporting"):
        d.t(f"{user},,").p(k.key_id(), AK).t(",").p(k.secret(), SK)
        d.t(",https://210987654321.signin.aws.amazon.com/console\n")

    # ---------------------------------------------------------------- aws CLI output
    d = doc("home/alice/notes/create-access-key.json")
    d.t('{\n    "AccessKey": {\n        "UserName": "deploy",\n        "AccessKeyId": "')
    d.p(k.key_id(), AK).t('",\n        "Status": "Active",\n        "SecretAccessKey": "')
    d.p(k.secret(), SK).t('",\n        "CreateDate": "2026-11-02T09:14:03+00:00"\n    }\n}\n')

    d = doc("home/alice/notes/create-access-key.txt")
    kid, sec = k.key_id(), k.secret()
    w = [24, 29, 44, 10, 11]
    d.t("-" * 125 + "\n|" + "CreateAccessKey".center(123) + "|\n+" + "-" * 123 + "+\n")
    d.t("||" + "AccessKey".center(121) + "||\n")
    sep = "|+" + "+".join("-" * x for x in w) + "+|\n"
    d.t(sep)
    heads = ["AccessKeyId", "CreateDate", "SecretAccessKey", "Status", "UserName"]
    d.t("||" + "|".join(h.center(x) for h, x in zip(heads, w)) + "||\n")
    d.t(sep)
    d.t("||  ").p(kid, AK).t(" " * (w[0] - 22) + "|  " + "2026-11-02T09:14:03+00:00".ljust(w[1] - 2)
                             + "|  ").p(sec, SK).t(" " * (w[2] - 42) + "|  Active  |  deploy   ||\n")
    d.t(sep)

    d = doc("home/alice/notes/assume-role.json")
    d.t('{\n    "Credentials": {\n        "AccessKeyId": "').p(k.key_id("ASIA"), AK)
    d.t('",\n        "SecretAccessKey": "').p(k.secret(), SK)
    d.t('",\n        "SessionToken": "').p(k.token(), ST)
    d.t('",\n        "Expiration": "2026-11-25T10:00:00+00:00"\n    },\n'
        '    "AssumedRoleUser": {\n')
    d.n("role unique id in AssumedRoleId",
        '        "AssumedRoleId": "AROA' + k.s(B32, 17) + ':deploy-session",\n')
    d.t('        "Arn": "arn:aws:sts::210987654321:assumed-role/deploy/deploy-session"\n'
        "    }\n}\n")

    d = doc("home/alice/notes/session-token.txt")
    d.t("$ aws sts get-session-token --output text\n")
    d.t("CREDENTIALS\t").p(k.key_id("ASIA"), AK).t("\t2026-11-25T21:00:00+00:00\t")
    d.p(k.secret(), SK).t("\t").p(k.token(), STP).t("\n")

    # ---------------------------------------------------------------- IMDS credential JSON
    d = doc("var/lib/imds-cache/credentials.json")
    d.t('{\n  "Code" : "Success",\n  "LastUpdated" : "2026-11-25T08:01:02Z",\n'
        '  "Type" : "AWS-HMAC",\n  "AccessKeyId" : "').p(k.key_id("ASIA"), AK)
    d.t('",\n  "SecretAccessKey" : "').p(k.secret(), SK)
    d.t('",\n  "Token" : "').p(k.token(), ST)
    d.t('",\n  "Expiration" : "2026-11-25T14:20:31Z"\n}\n')

    # ---------------------------------------------------------------- Terraform
    d = doc("srv/infra/main.tf")
    d.t('terraform {\n  required_version = ">= 1.5"\n}\n\nprovider "aws" {\n'
        '  region     = "us-east-1"\n  access_key = "').p(k.key_id(), AK)
    d.t('"\n  secret_key = "').p(k.secret(), SK).t('"\n}\n\n')
    d.t('provider "aws" {\n  alias      = "replica"\n  region     = "eu-west-1"\n')
    d.n("variable reference, not a value", "  secret_key = var.replica_secret_key\n")
    d.t("}\n\n")
    d.t('resource "aws_s3_bucket" "logs" {\n  bucket = "corp-logs"\n}\n\n')
    d.t('resource "aws_iam_access_key" "ci" {\n  user = "ci"\n')
    d.n("sha256 hex (pgp fingerprint-like)", '  # pgp_key fingerprint ' + k.hexs(64) + "\n")
    d.t("}\n")

    d = doc("srv/infra/terraform.tfvars")
    d.t('aws_access_key = "').p(k.key_id(), AK)
    d.t('"\naws_secret_key = "').p(k.secret(), SK).t('"\n')

    # ---------------------------------------------------------------- source code
    d = doc("srv/app/src/storage.py")
    d.t("import boto3\n\n\ndef client():\n    return boto3.client(\n        \"s3\",\n")
    d.t("        aws_access_key_id=\"").p(k.key_id(), AK).t('",\n')
    d.t("        aws_secret_access_key=\"").p(k.secret(), SK).t('",\n    )\n\n\n')
    d.t("def session():\n    return boto3.Session(aws_access_key_id='").p(k.key_id("ASIA"), AK)
    d.t("', aws_secret_access_key='").p(k.secret(), SK)
    d.t("', aws_session_token='").p(k.token(), ST).t("')\n\n\n")
    d.n("Django SECRET_KEY (not AWS)",
        "SECRET_KEY = 'django-insecure-" + k.s(ALNUM + "!@#$%^&*(-_=+)", 50) + "'\n")
    d.n("sha1 test vector", "EMPTY_SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709'\n")

    d = doc("srv/app/src/upload.js")
    d.t("const AWS = require('aws-sdk');\n\nconst s3 = new AWS.S3({\n  accessKeyId: '")
    d.p(k.key_id(), AK).t("',\n  secretAccessKey: '").p(k.secret(), SK)
    d.t("',\n  region: 'us-east-1',\n});\n\n")
    d.n("docs example in a comment", "// e.g. accessKeyId: 'AKIAIOSFODNN7EXAMPLE'\n")
    d.n("random 40-char string far from any AWS name",
        "const cacheBuster = '" + k.secret() + "';\n")
    d.n("JWT", "const demoJwt = 'eyJhbGciOiJSUzI1NiJ9." + k.b64url(120) + "." + k.b64url(86)
        + "';\n")
    d.t("module.exports = { s3 };\n")

    d = doc("srv/app/src/Main.java")
    d.t("package com.corp.app;\n\nimport com.amazonaws.auth.BasicAWSCredentials;\n\n"
        "public class Main {\n    public static void main(String[] args) {\n")
    d.t('        BasicAWSCredentials creds = new BasicAWSCredentials("').p(k.key_id(), AK)
    d.t('", "').p(k.secret(), SK).t('");\n')
    d.n("placeholder in a comment",
        '        // new BasicAWSCredentials("AKIA****************", "****")\n')
    d.t("    }\n}\n")

    d = doc("srv/app/src/main.go")
    d.t("package main\n\nimport (\n\t\"github.com/aws/aws-sdk-go/aws/credentials\"\n)\n\n"
        "func creds() *credentials.Credentials {\n")
    d.t("\treturn credentials.NewStaticCredentials(\"").p(k.key_id(), AK)
    d.t('", "').p(k.secret(), SK).t('", "")\n}\n\n')
    d.n("placeholder all-X key id", 'const testKeyID = "AKIAXXXXXXXXXXXXXXXX"\n')
    d.n("key id ending in EXAMPLE", 'const docKeyID = "AKIAJ5Q7R2TZ9EXAMPLE"\n')

    # ---------------------------------------------------------------- URL-encoded, logs
    d = doc("var/log/nginx/access.log")
    kid = k.key_id("ASIA")
    tok = k.token(n=420)
    tok_enc = tok.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")
    d.t('10.0.3.7 - - [25/Nov/2026:08:01:02 +0000] "GET /uploads/report.pdf?'
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=").p(kid, AK)
    d.t("%2F20261125%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261125T080102Z&"
        "X-Amz-Expires=900&X-Amz-Security-Token=").p(tok_enc, ST)
    d.t("&X-Amz-Signature=" + k.hexs(64) + '&X-Amz-SignedHeaders=host HTTP/1.1" 200 5120\n')
    sec = k.secret_with_escapable()
    d.t('10.0.3.9 - - [25/Nov/2026:08:01:05 +0000] "POST /debug?aws_access_key_id=')
    d.p(k.key_id(), AK).t("&aws_secret_access_key=")
    d.p(sec.replace("/", "%2F").replace("+", "%2B"), SK).t(' HTTP/1.1" 400 12\n')
    d.n("signature hex", '10.0.3.9 - - [25/Nov/2026:08:02:00 +0000] "GET /x?X-Amz-Signature='
        + k.hexs(64) + ' HTTP/1.1" 403 0\n')

    # ---------------------------------------------------------------- UTF-16 files
    d = doc("home/alice/Documents/aws-setup.ps1", newline="\r\n", encoding="utf-16-le")
    d.t("# Einrichtung der Zugangsdaten für das Backup-Skript\n")
    d.t('$env:AWS_ACCESS_KEY_ID = "').p(k.key_id(), AK).t('"\n')
    d.t('$env:AWS_SECRET_ACCESS_KEY = "').p(k.secret(), SK).t('"\n')
    d.t("# Schlüssel für später: ").p(k.key_id(), AK).t("\n")
    d = doc("home/alice/Documents/legacy-export.reg", encoding="utf-16-be")
    d.t("Windows Registry Editor Version 5.00\n\n[HKEY_CURRENT_USER\\Software\\Corp\\Sync]\n")
    d.t('"AwsAccessKeyId"="').p(k.key_id(), AK).t('"\n')
    d.t('"AwsSecretAccessKey"="').p(k.secret(), SK).t('"\n')

    # ---------------------------------------------------------------- binary-ish files
    d = doc("srv/app/src/__pycache__/storage.cpython-311.pyc")
    d.t(b"\xa7\r\r\n\x00\x00\x00\x00\x8b\x1e\x5dg\x9c\x02\x00\x00\xe3\x00\x00\x00\x00\x00\x00")
    d.t(b"\x00\x00\x00\x00\x00\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00\xf3\x4a\x00\x00\x00")
    d.t(b"\x97\x00d\x00d\x01l\x00Z\x00\x02\x00e\x00j\x02\x00\x00\x00\x00\x00\x00\x00\x00)\x02")
    kid = k.key_id()
    d.t(b"\xda\x02s3\xda\x14").p(kid.encode(), AK).t(b"\xda\x28").p(k.secret().encode(), SK)
    d.t(b"\xa9\x02\xda\x11aws_access_key_id\xda\x15aws_secret_access_key\xa9\x00\xf3\x00")
    d.t(b"\x00\x00\x00\xfa\x1b/srv/app/src/storage.py\xda\x08<module>\x72\x0b\x00\x00\x00\x73")

    d = doc("var/lib/app/state.sqlite")
    page = bytearray(b"SQLite format 3\x00\x10\x00\x01\x01\x00@  \x00\x00\x00\x02\x00\x00\x00\x03")
    page += b"\x00" * (100 - len(page))
    page += b"\x0d\x00\x00\x00\x01\x0f\x80\x00" + b"\x00" * 200
    d.t(bytes(page))
    d.t(b"\x81\x02\x01\x06\x00\x2d\x01\x5d\x13default\x01")
    d.p(k.key_id().encode(), AK).t(b"\x04\x66\x2b\x11\x00")
    d.p(k.secret().encode(), SK).t(b"\x00\x00\x00" + b"\x00" * 120)
    d.t(b"CREATE TABLE credentials(id INTEGER PRIMARY KEY, profile TEXT, "
        b"aws_access_key_id TEXT, created INTEGER, aws_secret_access_key TEXT)\x00\x00")

    d = doc("var/backups/proc-1234-environ")
    d.t(b"LANG=C.UTF-8\x00PATH=/usr/local/bin:/usr/bin:/bin\x00HOME=/home/app\x00")
    d.t(b"AWS_ACCESS_KEY_ID=").p(k.key_id("ASIA").encode(), AK)
    d.t(b"\x00AWS_SECRET_ACCESS_KEY=").p(k.secret().encode(), SK)
    d.t(b"\x00AWS_SESSION_TOKEN=").p(k.token().encode(), ST)
    d.t(b"\x00INVOCATION_ID=" + k.hexs(32).encode() + b"\x00JOURNAL_STREAM=8:29741\x00")
    d.t(b"SYSTEMD_EXEC_PID=1234\x00\x00")

    # ---------------------------------------------------------------- boundaries
    d = doc("var/log/app/worker.log")
    levels = ["INFO", "INFO", "INFO", "DEBUG", "WARN"]
    msgs = ["job started", "job finished in %d ms", "fetched %d messages from queue",
            "heartbeat ok", "retrying upload, attempt %d", "cache hit ratio 0.%02d"]
    counter = [0]

    def log_line():
        counter[0] += 1
        n = counter[0]
        m = msgs[n % len(msgs)]
        if "%" in m:
            m = m % (n % 97)
        return (f"2026-11-25T08:{(n // 60) % 60:02d}:{n % 60:02d}.{n % 1000:03d}Z "
                f"{levels[n % 5]:5} worker[{1000 + n % 7}] {m} req={k.hexs(16)}\n")

    def pad_to(off):
        while off - len(d.data) > 200:
            d.t(log_line())
        gap = off - len(d.data)
        assert gap >= 2, gap
        d.t("#" * (gap - 1) + "\n")

    def at(off, prefix):
        pad_to(off - len(prefix.encode()))
        d.t(prefix)
        assert len(d.data) == off

    at(65536 - 7, "2026-11-25T08:00:00.000Z WARN  worker[1000] env AWS_ACCESS_KEY_ID=")
    d.p(k.key_id(), AK).t("\n")
    at(2 * 65536 - 15, "2026-11-25T08:00:00.000Z WARN  worker[1002] aws_secret_access_key=")
    d.p(k.secret(), SK).t("\n")
    at(CHUNK - 9, "2026-11-25T08:00:00.000Z WARN  worker[1001] leaked key id ")
    d.p(k.key_id(), AK).t(" in debug output\n")
    d.t("2026-11-25T08:00:00.000Z WARN  worker[1002] dumping aws_secret_access_key:\n  ")
    d.p(k.secret(), SK).t("\n")
    at(CHUNK + 1000, "2026-11-25T08:00:00.000Z WARN  worker[1003] AWS_ACCESS_KEY_ID=")
    d.p(k.key_id(), AK).t("\n")
    at(CHUNK + 6000, "2026-11-25T08:00:00.000Z WARN  worker[1004] AWS_SECRET_ACCESS_KEY=")
    d.p(k.secret(), SK).t("\n")
    at(CHUNK + 20 * 1024 + 100, "2026-11-25T08:00:00.000Z WARN  worker[1005] key ")
    d.p(k.key_id(), AK).t("\n")
    pad_to(CHUNK + 180 * 1024)
    d.t("2026-11-25T09:00:00.000Z INFO  worker[1006] shutting down\n")

    d = doc("var/log/app/binary-tail.log")
    d.t("".join(log_line() for _ in range(700)))
    d.t(b"\x00\x00\x00\x00 truncated write \x00\x00\x7f\xff\n")
    d.t("2026-11-25T09:00:01.000Z ERROR worker[1007] boto: aws_access_key_id=")
    d.p(k.key_id(), AK).t(" aws_secret_access_key=").p(k.secret(), SK).t("\n")

    # ---------------------------------------------------------------- s3cmd, boto2
    d = doc("root/.s3cfg")
    d.t("[default]\naccess_key = ").p(k.key_id(), AK).t("\naccess_token = \n")
    for name in ["add_encoding_exts", "add_headers", "bucket_location = US", "ca_certs_file",
                 "cache_file", "check_ssl_certificate = True", "check_ssl_hostname = True",
                 "cloudfront_host = cloudfront.amazonaws.com", "connection_max_age = 5",
                 "connection_pooling = True", "content_disposition", "content_type",
                 "default_mime_type = binary/octet-stream", "delay_updates = False",
                 "delete_after = False", "delete_after_fetch = False", "delete_removed = False",
                 "dry_run = False", "enable_multipart = True", "encoding = UTF-8",
                 "encrypt = False", "expiry_date", "expiry_days", "expiry_prefix",
                 "follow_symlinks = False", "force = False", "get_continue = False",
                 "gpg_command = /usr/bin/gpg", "gpg_passphrase", "guess_mime_type = True",
                 "host_base = s3.amazonaws.com", "host_bucket = %(bucket)s.s3.amazonaws.com",
                 "human_readable_sizes = False", "invalidate_default_index_on_cf = False",
                 "invalidate_default_index_root_on_cf = True", "invalidate_on_cf = False",
                 "kms_key", "limit = -1", "limitrate = 0", "list_md5 = False",
                 "log_target_prefix", "long_listing = False", "max_delete = -1", "mime_type",
                 "multipart_chunk_size_mb = 15", "multipart_copy_chunk_size_mb = 1024",
                 "multipart_max_chunks = 10000", "preserve_attrs = True", "progress_meter = True",
                 "proxy_host", "proxy_port = 0", "public_url_use_https = False",
                 "put_continue = False", "recursive = False", "recv_chunk = 65536",
                 "reduced_redundancy = False", "requester_pays = False", "restore_days = 1",
                 "restore_priority = Standard"]:
        d.t(name if "=" in name else name + " = ").t("\n")
    d.t("secret_key = ").p(k.secret(), SK)
    d.t("\nsend_chunk = 65536\nserver_side_encryption = False\nsignature_v2 = False\n"
        "signurl_use_https = False\nsimpledb_host = sdb.amazonaws.com\nskip_existing = False\n"
        "socket_timeout = 300\nssl_client_cert_file\nssl_client_key_file\nstats = False\n"
        "stop_on_error = False\nstorage_class\nthrottle_max = 100\nupload_id\n"
        "urlencoding_mode = normal\nuse_http_expect = False\nuse_https = True\n"
        "use_mime_magic = True\nverbosity = WARNING\nwebsite_endpoint = "
        "http://%(bucket)s.s3-website-%(location)s.amazonaws.com/\nwebsite_error\n"
        "website_index = index.html\n")

    d = doc("home/bob/.boto")
    d.t("[Credentials]\naws_access_key_id = ").p(k.key_id(), AK)
    d.t("\naws_secret_access_key = ").p(k.secret(), SK)
    d.t("\n\n[Boto]\nhttps_validate_certificates = True\n")

    # ---------------------------------------------------------------- S3 browser upload form
    d = doc("var/www/html/upload.html")
    policy = k.s(B64, 360)
    d.t('<form action="https://corp-uploads.s3.amazonaws.com/" method="post" '
        'enctype="multipart/form-data">\n  <input type="hidden" name="key" '
        'value="uploads/${filename}">\n  <input type="hidden" name="AWSAccessKeyId" value="')
    d.p(k.key_id(), AK).t('">\n')
    d.n("base64 POST policy next to a key id is not a session token",
        '  <input type="hidden" name="policy" value="eyJ' + policy + '=">\n')
    d.n("28-char signature", '  <input type="hidden" name="signature" value="'
        + k.s(B64, 27) + '=">\n')
    d.t('  <input type="file" name="file">\n</form>\n')

    d = doc("srv/app/config/lower-escapes.conf")
    sec = k.secret_with_escapable()
    d.t("# query string copied from a debug log\nparams = aws_secret_access_key=")
    d.p(sec.replace("/", "%2f").replace("+", "%2b"), SK).t("&region=us-east-1\n")

    # ---------------------------------------------------------------- one-line haystacks
    # On a minified line or in an environ snapshot, the name belongs to the value right after
    # it: other 40-character values further along the line are not AWS secrets.
    d = doc("srv/app/config/lambda-env.json")
    d.t('{"FunctionName":"thumbnailer","Runtime":"python3.12","Environment":{"Variables":{'
        '"AWS_SECRET_ACCESS_KEY":"').p(k.secret(), SK)
    d.t('","CSRF_SECRET":"')
    d.n("another service's 40-char secret after an AWS secret on a minified line", k.alnum(40))
    d.t('","CACHE_SALT":"').t(k.secret()).t('","LOG_LEVEL":"info"}},"MemorySize":512}\n')
    d = doc("srv/app/config/users-export.json")
    d.t('{"users":[{"name":"ci","keys":[{"id":"').p(k.key_id(), AK).t('","secret":"')
    d.p(k.secret(), SK).t('","status":"Active"}]},{"name":"web","webhookSecret":"')
    d.n("40-char value in another object on the key id's minified line", k.alnum(40))
    d.t('","keys":[]}],"exported":"2026-11-24T23:00:00Z"}\n')
    d = doc("var/backups/proc-5678-environ")
    d.t(b"LANG=C.UTF-8\x00HOME=/srv/app\x00AWS_SECRET_ACCESS_KEY=").p(k.secret().encode(), SK)
    d.n("other 40-char values after an AWS secret in a NUL-separated environ")
    d.t(b"\x00CELERY_RESULT_SECRET=" + k.secret().encode() + b"\x00SESSION_SALT="
        + k.alnum(40).encode() + b"\x00WORKERS=4\x00")

    # ---------------------------------------------------------------- negatives, mostly
    d = doc("srv/app/docs/aws-setup.md")
    d.t("# Setting up AWS credentials\n\nUse the documentation's example values when "
        "writing docs:\n\n```ini\n[default]\n")
    d.n("doc example key id", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n")
    d.n("doc example secret", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
    d.t("```\n\nFor temporary credentials:\n\n```\n")
    d.n("doc example ASIA id", "AWS_ACCESS_KEY_ID=ASIAIOSFODNN7EXAMPLE\n")
    d.n("doc example secret (other)",
        "AWS_SECRET_ACCESS_KEY=je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\n")
    d.n("doc example key id (other)", "AWS_ACCESS_KEY_ID=AKIAI44QH8DHBEXAMPLE\n")
    d.t("```\n\nPlaceholders you will see in our templates:\n\n")
    for ph in ["AKIAXXXXXXXXXXXXXXXX", "AKIA0000000000000000", "AKIA****************",
               "<AWS_ACCESS_KEY_ID>", "${AWS_ACCESS_KEY_ID}", "{{ .Values.aws.accessKeyId }}"]:
        d.n("key id placeholder", f"- aws_access_key_id = {ph}\n")
    for ph in ["*" * 40, "<AWS_SECRET_ACCESS_KEY>", "${AWS_SECRET_ACCESS_KEY}",
               "{{ aws_secret_access_key }}", "x" * 40, "REPLACE_WITH_YOUR_SECRET_ACCESS_KEY_HERE",
               "0123456789012345678901234567890123456789"]:
        d.n("secret placeholder", f"- aws_secret_access_key = {ph}\n")
    d.n("token placeholder", "- aws_session_token = ${AWS_SESSION_TOKEN}\n")
    d.n("token placeholder", "- aws_session_token = <paste the SessionToken here>\n")
    d.t("\nKey ids that end in EXAMPLE are never reported:\n\n")
    for _ in range(4):
        d.n("key id ending in EXAMPLE", "- AKIA" + k.s(B32, 9) + "EXAMPLE\n")
    for _ in range(3):
        d.n("secret ending in EXAMPLEKEY", "- aws_secret_access_key = " + k.secret()[:30]
            + "EXAMPLEKEY\n")
    d.t("\nIAM unique ids are identifiers, not credentials:\n\n")
    for prefix in ["AIDA", "AROA", "AGPA", "AIPA", "ANPA", "ANVA", "APKA"]:
        d.n(f"IAM unique id {prefix}", f"- {prefix}{k.s(B32, 16)}\n")
    d.t("\nWords that merely start with the prefixes:\n\n")
    for w in ["ASIAN_MARKETS", "ASIAPACIFIC", "ASIANEWS2024DIGEST", "AKIAKIAKIAKIAKIAKIAKIAKIA",
              "ASIA-PACIFIC-HQ-SINGAPORE", "AKIAS_ROOT_CAUSE_NOTES", "ASIATICLIONSANDTIGERSOFTHEWORLD"]:
        d.n("word starting with ASIA/AKIA", f"- {w}\n")
    d.n("lowercase akia", "- akiasxqv3svwmfrrrm75 (lower case is not a key id)\n")
    d.n("too short", "- AKIA" + k.s(B32, 15) + " (19 characters)\n")
    d.n("touching a word character", "- x" + "AKIA" + k.s(B32, 16) + " (prefixed)\n")
    d.n("touching a word character", "- " + "ASIA" + k.s(B32, 16) + "_v2 (suffixed)\n")
    d.n("lower case inside", "- AKIA" + k.s(B32, 8) + "abcdefgh\n")

    d = doc("srv/app/docs/hashes.txt")
    d.t("Release checksums and object ids. Nothing here is a key.\n\n")
    for i in range(6):
        d.n("sha1 hex", f"sha1  {k.hexs(40)}  credhygiene-{i}.tar.gz\n")
    for i in range(6):
        d.n("sha256 hex", f"sha256  {k.hexs(64)}  credhygiene-{i}.deb\n")
    for i in range(6):
        d.n("git object id", f"{k.hexs(40)} refs/heads/release-{i}\n")
    for i in range(5):
        d.n("UUID", f"uuid {k.uuid()}\n")
    d.t("\nThe secret access key column of our audit export is hashed:\n")
    for i in range(4):
        d.n("sha1 hex after a secret key name", f"aws_secret_access_key_sha1 = {k.hexs(40)}\n")
    d.n("upper-case hex after a secret key name",
        f"aws_secret_access_key_sha1 = {k.hexs(40).upper()}\n")

    d = doc("srv/app/docs/random-strings.txt")
    d.t("Random strings, far from any AWS name.\n\n")
    for i in range(8):
        d.n("random 40-char base64 without AWS context", f"nonce[{i}] = {k.secret()}\n")
    for i in range(4):
        d.n("random 40-char alnum without AWS context", f"api_secret_{i} = {k.alnum(40)}\n")
    for i in range(3):
        d.n("JWT", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9." + k.b64url(80) + "."
            + k.b64url(43) + "\n")
    for i in range(3):
        d.n("long base64 token of another service",
            f"GITHUB_SESSION_COOKIE = {k.s(B64, 180)}\n")

    d = doc("srv/app/certs/bundle.pem")
    d.t("# AWS client bundle: aws_secret_access_key is NOT in here\n")
    d.t("-----BEGIN CERTIFICATE-----\n")
    body = k.s(B64, 64 * 10 + 40)
    d.n("values inside a PEM block")
    for i in range(0, len(body), 64):
        d.t(body[i:i + 64] + "\n")
    d.t("-----END CERTIFICATE-----\n")
    d.t("aws_secret_access_key follows in the key file\n-----BEGIN RSA PRIVATE KEY-----\n")
    d.n("40-char line inside a PEM block right after an AWS name", k.secret() + "\n")
    body = k.s(B64, 64 * 6)
    for i in range(0, len(body), 64):
        d.t(body[i:i + 64] + "\n")
    d.t("-----END RSA PRIVATE KEY-----\n")

    d = doc("var/www/html/static/logo.html")
    d.t("<html><body>\n")
    d.n("base64 of a binary (data URI)",
        '<img src="data:image/png;base64,' + k.s(B64, 3000) + '==">\n')
    d.n("isolated 40-char base64 (integrity-like) far from AWS names",
        '<script src="app.js" data-hash="' + k.secret() + '"></script>\n')
    d.t("</body></html>\n")

    d = doc("home/bob/.bash_history")
    d.t("ls -la\ncd /srv/app\n")
    d.t("export AWS_ACCESS_KEY_ID=").p(k.key_id(), AK)
    d.t("\nexport AWS_SECRET_ACCESS_KEY=").p(k.secret(), SK)
    d.t("\naws s3 ls\n")
    d.t("aws configure set aws_access_key_id ").p(k.key_id(), AK, allowed=True)
    d.t("  # credhygiene:allow\n")
    d.t("aws configure set aws_secret_access_key ").p(k.secret(), SK).t("\n")
    d.n("placeholder in history", "export AWS_SECRET_ACCESS_KEY=$SECRET_FROM_VAULT\n")
    d.t("git log --oneline | head\n")

    # ---------------------------------------------------------------- compressed files
    # Found through their decoders, at lines and columns of the decompressed text.
    d = doc("var/log/nginx/access.log.2.gz", compress=["gzip"])
    for i in range(400):
        d.t(f'10.0.{i % 7}.{i % 250} - - [24/Nov/2026:{i % 24:02d}:{i % 60:02d}:00 +0000] '
            f'"GET /static/app.{k.hexs(8)}.js HTTP/1.1" 200 {1000 + i * 7} "-" "Mozilla/5.0"\n')
    d.t('10.0.3.9 - - [24/Nov/2026:23:59:00 +0000] "GET /upload?AWSAccessKeyId=').p(k.key_id(), AK)
    d.t("&aws_secret_access_key=")
    d.p(k.secret_with_escapable().replace("/", "%2F").replace("+", "%2B"), SK)
    d.t(' HTTP/1.1" 400 12\n')
    d.n("AWS documentation example key id, gzip-compressed",
        "aws_access_key_id=AKIAIOSFODNN7EXAMPLE\n")
    # logrotate's name for a compressed rotation: gzip by its magic bytes alone.
    d = doc("var/log/app/worker.log.4", compress=["gzip"])
    for i in range(300):
        d.t(f"2026-11-2{i % 10}T08:{i % 60:02d}:00Z INFO job {i} finished in {i * 3} ms\n")
    d.t("2026-11-29T08:00:00Z WARN env dump AWS_ACCESS_KEY_ID=").p(k.key_id("ASIA"), AK)
    d.t(" AWS_SECRET_ACCESS_KEY=").p(k.secret(), SK).t("\n")
    d = doc("var/backups/user-data.txt.gz", compress=["gzip"])
    d.t("#!/bin/bash\nset -euo pipefail\nmkdir -p /root/.aws\ncat > /root/.aws/credentials <<EOF\n")
    d.t("[default]\naws_access_key_id = ").p(k.key_id(), AK)
    d.t("\naws_secret_access_key = ").p(k.secret(), SK).t("\nEOF\n")
    d = doc("root/backup/credentials.xz", compress=["xz"])
    d.t("[ops]\naws_access_key_id = ").p(k.key_id(), AK)
    d.t("\naws_secret_access_key = ").p(k.secret(), SK).t("\n")
    d = doc("var/backups/env.gz.gz", compress=["gzip", "gzip"])
    d.t("APP_ENV=production\nAWS_ACCESS_KEY_ID=").p(k.key_id(), AK)
    d.t("\nAWS_SECRET_ACCESS_KEY=").p(k.secret(), SK).t("\n")

    encoded(k, doc)
    paired(doc)
    split(Keys(SEED + 13), doc)
    lookalikes(doc)
    decoding_gaps(doc)
    return docs


def b64(text, url=False):
    enc = (base64.urlsafe_b64encode if url else base64.b64encode)(text.encode()).decode()
    return enc.rstrip("=") if url else enc


def b64_pos(o):
    """Offset in base64 of the character holding the first bits of byte `o`."""
    return 4 * (o // 3) + o % 3


def b64_at(text, value):
    """Offset in b64(text) of the character holding `value`'s first bits."""
    return b64_pos(text.index(value))


def encoded(k, doc):
    """Issue 13: keys hidden in base64 blobs, JWTs, escapes and character references, each
    found at its encoded text; and encoded innocent text that yields nothing."""
    B = ["base64"]
    # A Kubernetes Secret: each value base64, and a whole credentials file as one value.
    d = doc("srv/k8s/app-aws-secret.yaml")
    kid, sk = k.key_id(), k.secret()
    d.t("apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-aws\ntype: Opaque\ndata:\n")
    d.t("  AWS_ACCESS_KEY_ID: ").pe(b64(kid), [(0, kid, AK)], B)
    d.t("\n  AWS_SECRET_ACCESS_KEY: ").pe(b64(sk), [(0, sk, SK)], B)
    kid2, sk2 = k.key_id(), k.secret()
    creds = f"[default]\naws_access_key_id = {kid2}\naws_secret_access_key = {sk2}\n"
    enc = b64(creds)
    d.t("\n  credentials: ").pe(enc, [(b64_at(creds, kid2), kid2, AK),
                                      (b64_at(creds, sk2), sk2, SK)], B)
    d.t("\n")
    d.n("base64 of innocent JSON naming no key",
        "  config.json: " + b64('{"region": "eu-west-1", "bucket": "assets", "secret": false}') + "\n")
    d.n("base64 of the documentation's example key",
        "  example: " + b64("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n") + "\n")
    d.n("base64 that decodes to binary", "  ca.crt: " + b64(k.s(B64, 90))[:120] + "\n")

    # A credentials file in a YAML block scalar, wrapped at 64 columns and indented.
    d = doc("opt/app/config/settings.yaml")
    kid, sk = k.key_id("ASIA"), k.secret()
    creds = f"[ci]\naws_access_key_id={kid}\naws_secret_access_key={sk}\nregion=us-east-1\n"
    enc = b64(creds)
    d.t("app:\n  name: billing\n  credentials_file: |\n")
    lines, plants, pos = [], [], 0
    for i in range(0, len(enc), 64):
        lines.append("    " + enc[i:i + 64] + "\n")
    wrapped = "".join(lines)
    for value, kr in [(kid, AK), (sk, SK)]:
        g = b64_at(creds, value)  # 64 characters a line, each after 4 spaces, before "\n"
        plants.append((g + 5 * (g // 64) + 4, value, kr))
    d.pe(wrapped, plants, B)
    d.t("  replicas: 2\n")

    # User-data as `aws ec2 describe-instance-attribute` returns it: base64 in JSON.
    d = doc("root/instance-attribute.json")
    kid, sk = k.key_id(), k.secret()
    ud = (f"#!/bin/bash\nexport AWS_ACCESS_KEY_ID={kid}\nexport AWS_SECRET_ACCESS_KEY={sk}\n"
          "aws s3 sync s3://deploy/app /opt/app\n")
    d.t('{\n    "InstanceId": "i-0abc1234def567890",\n    "UserData": {\n        "Value": "')
    d.pe(b64(ud), [(b64_at(ud, kid), kid, AK), (b64_at(ud, sk), sk, SK)], B)
    d.t('"\n    }\n}\n')

    # JWTs: a key id in the payload; base64 inside the payload; a JWT inside base64.
    d = doc("srv/app/tokens.txt")
    hdr = b64('{"alg":"HS256","typ":"JWT"}', url=True)
    sig = "." + k.b64url(43)
    kid = k.key_id("ASIA")
    payload = json.dumps({"sub": "ci-runner", "aws_access_key_id": kid, "exp": 1893456000})
    pl = b64(payload, url=True)
    d.t("Authorization: Bearer ").pe(hdr + "." + pl + sig,
                                     [(len(hdr) + 1 + b64_at(payload, kid), kid, AK)], B)
    d.t("\n")
    kid = k.key_id()
    inner = f"AWS_ACCESS_KEY_ID={kid}"
    payload = json.dumps({"sub": "deploy", "env": b64(inner)})
    pl = b64(payload, url=True)
    at_inner = payload.index(b64(inner)) + b64_at(inner, kid)  # in the payload's text
    d.t("token=").pe(hdr + "." + pl + sig, [(len(hdr) + 1 + b64_pos(at_inner), kid, AK)],
                     B + B)
    d.t("\n")
    kid = k.key_id()
    payload = json.dumps({"sub": "backup", "aws_access_key_id": kid})
    jwt = hdr + "." + b64(payload, url=True) + sig
    d.t("jwt_b64: ").pe(b64(jwt), [(b64_pos(len(hdr) + 1 + b64_at(payload, kid)), kid, AK)],
                        B + B).t("\n")
    d.n("a JWT without keys", "Authorization: Bearer " + hdr + "." + b64(json.dumps(
        {"sub": "1234567890", "name": "John Doe", "iat": 1516239022}), url=True) + sig + "\n")

    # Escapes and character references, in any mix.
    d = doc("var/www/html/dashboard.html")
    sk = k.secret_with_escapable()
    ent = sk.replace("+", "&#43;").replace("/", "&#47;")
    d.t("<html><body>\n<div id=\"app\" data-config=\"{&quot;aws_secret_access_key&quot;:&quot;")
    d.pe(ent, [(0, sk, SK)], ["html-entity"])
    d.t("&quot;}\"></div>\n")
    kid = k.key_id()
    d.t("<p>AWS secret for ").pe("&#65;&#x4B;" + kid[2:], [(0, kid, AK)], ["html-entity"])
    d.t(" below</p>\n")
    kid = k.key_id()
    d.t("<p>key: ").pe("&#65;&#x4B;" + kid[2:], [(0, kid, AK)], ["html-entity"]).t("</p>\n")
    sk = k.secret_with_escapable()
    dbl = sk.replace("+", "&amp;#43;")
    d.t("<meta name=\"cfg\" content=\"aws_secret_access_key=&amp;quot;")
    d.pe(dbl, [(0, sk, SK)], ["html-entity", "html-entity"]).t("&amp;quot;\">\n")
    d.n("entities of innocent text", "<p>&quot;Caf&#233;&quot; &amp; &lt;b&gt; &#65;BC</p>\n")
    d.t("</body></html>\n")

    d = doc("srv/app/static/bundle.js")
    kid = k.key_id()
    d.t("var a=1;\nconst cfg={id:\"").pe("\\x41\\x4b" + kid[2:], [(0, kid, AK)], ["js-escape"])
    d.t("\",secret:process.env.S};\n")
    kid = k.key_id("ASIA")
    d.t("const t=`").pe("\\u0041\\u{53}" + kid[2:], [(0, kid, AK)], ["json-escape", "js-escape"])
    d.t("`;\n")
    kid = k.key_id()
    d.t("var k=\"").pe("\\x41\\x4b" + kid[2:], [(0, kid, AK)], ["js-escape"]).t("\";\n")
    d.n("escapes of innocent text", "var s=\"\\x48\\x65llo \\u{1F600} \\u00e9\";\n")

    d = doc("srv/app/data/export.json")
    kid, sk = k.key_id(), k.secret_with_escapable()
    esc = sk.replace("+", "\\u002B").replace("/", "\\u002F")
    d.t('[{"AccessKeyId":"').pe("\\u0041" + kid[1:], [(0, kid, AK)], ["json-escape"])
    d.t('","aws_secret_access_key":"').pe(esc, [(0, sk, SK)], ["json-escape"]).t('"}]\n')
    kid, sk = k.key_id(), k.secret_with_escapable()
    mixed = sk.replace("+", "&#43;", 1).replace("/", "\\u002f", 1)
    d.t('{"note":"mixed","id":"').pe("A\\u004B" + kid[2:], [(0, kid, AK)],
                                     ["json-escape", "html-entity"])
    d.t('","aws_secret_access_key":"').pe(mixed, [(0, sk, SK)], ["json-escape", "html-entity"])
    d.t('"}\n')
    d.n("escaped documentation example", '{"AccessKeyId":"\\u0041KIAIOSFODNN7EXAMPLE"}\n')
    d.n("escapes of innocent text", '{"name":"Ren\\u00e9e \\u0041nn","city":"K\\u00f6ln"}\n')


def paired(doc):
    """Issue 13, pair and label: a name and its value on separate lines of one object (ECS,
    Kubernetes, CloudFormation, Terraform, XML in either order), more names for a secret, bare
    labels in AWS blocks, session tokens next to their key id, a JWT named as a session token.
    Its own generator, so that no other section's keys move. No key id within 5 lines of a
    value that only pairing can find (a key id nearby is evidence on its own)."""
    k = Keys(SEED + 14)
    hdr = b64('{"alg":"HS256","typ":"JWT"}', url=True)

    def jwt(claims):
        return hdr + "." + b64(json.dumps(claims), url=True) + "." + k.b64url(43)

    d = doc("srv/ecs/taskdef-web.json")
    d.t('{\n  "family": "web",\n  "containerDefinitions": [\n    {\n      "name": "web",\n')
    d.t('      "environment": [\n        {\n          "name": "AWS_SECRET_ACCESS_KEY",\n')
    d.t('          "value": "').p(k.secret(), SK).t('"\n        },\n')
    d.t('        {\n          "name": "LOG_LEVEL",\n          "value": "info"\n        },\n')
    d.t('        {\n          "value": "').p(k.secret(), SK)
    d.t('",\n          "name": "AwsSecretAccessKey"\n        },\n')
    d.t('        {\n          "name": "AWS_SECRET_ACCESS_KEY_OLD",\n')
    d.t('          "valueFrom": "arn:aws:ssm:eu-west-1:210987654321:parameter/web/old"\n')
    d.t('        },\n        {\n          "name": "COOKIE_SIGNING_KEY",\n')
    d.n("the next object's value does not pair with a name whose own value is valueFrom",
        '          "value": "' + k.secret() + '"\n')
    d.t('        },\n        {\n          "name": "AWS_SECRET_ACCESS_KEY",\n')
    d.t('          "valueFrom": "arn:aws:secretsmanager:eu-west-1:210987654321:secret:web"\n')
    d.t('        },\n        {\n')
    d.n("a value before the NEXT object's name does not pair backwards",
        '          "value": "' + k.secret() + '",\n')
    d.t('          "name": "SESSION_COOKIE_KEY"\n        }\n      ]\n    }\n  ]\n}\n')

    d = doc("srv/k8s/worker-deployment.yaml")
    d.t("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: worker\nspec:\n  template:\n")
    d.t("    spec:\n      containers:\n        - name: worker\n          image: worker:1.4\n")
    d.t("          env:\n            - name: AWS_SECRET_ACCESS_KEY\n              value: ")
    d.p(k.secret(), SK).t("\n            - name: QUEUE\n              value: jobs\n")
    d.t('            - name: S3_SECRET\n              value: "').p(k.secret(), SK).t('"\n')
    d.t("            - value: '").p(k.secret(), SK).t("'\n              name: aws_secret_key\n")
    d.t("            - name: AWS_SECRET_ACCESS_KEY\n              valueFrom:\n")
    d.t("                secretKeyRef:\n                  name: aws\n                  key: secret\n")
    d.t("            - name: GRAFANA_ADMIN_TOKEN\n")
    d.n("the next list item's value does not pair",
        "              value: " + k.secret() + "\n")
    d.t("            - name: AWS_SESSION_TOKEN\n              value: ")
    d.p(jwt({"accessKey": "minio-ci", "exp": 1893456000, "parent": "ci"}), ST).t("\n")
    d.t("            - name: OIDC_ID_TOKEN\n")
    d.n("a JWT not named as a session token is not one",
        "              value: " + jwt({"sub": "worker", "aud": "sts"}) + "\n")

    d = doc("srv/cfn/app-params.yaml")
    d.t("AWSTemplateFormatVersion: '2010-09-09'\nParameters:\n  AwsSecretAccessKey:\n")
    d.t("    Type: String\n    NoEcho: true\n    Description: legacy uploader\n")
    d.t("    Default: ").p(k.secret(), SK).t("\n  Stage:\n    Type: String\n    Default: prod\n")
    d.t("  AwsSecretKey:\n    Type: String\n    NoEcho: true\n  WebhookSigningKey:\n")
    d.t("    Type: String\n")
    d.n("the next parameter's Default does not pair", "    Default: " + k.secret() + "\n")
    d.t("Resources: {}\n")

    d = doc("srv/cfn/app-params.json")
    d.t('{\n  "Parameters": {\n    "AwsSecretAccessKey": {\n      "Type": "String",\n')
    d.t('      "NoEcho": true,\n      "Default": "').p(k.secret(), SK).t('"\n    },\n')
    d.t('    "DbSecret": {\n      "Type": "String",\n      "NoEcho": true\n    },\n')
    d.t('    "AwsSecretKeyRotated": {\n      "Type": "String"\n    },\n')
    d.t('    "Greeting": {\n')
    d.n("a Default after the named parameter's object closed does not pair",
        '      "Default": "' + k.secret() + '"\n')
    d.t('    }\n  }\n}\n')
    d.t('[{"ParameterKey": "AwsSecretAccessKey", "ParameterValue": "')
    d.p(k.secret(), SK).t('"}]\n')

    d = doc("srv/terraform/variables.tf")
    d.t('variable "aws_secret_key" {\n  type        = string\n  sensitive   = true\n')
    d.t('  description = "uploader"\n  default     = "').p(k.secret(), SK).t('"\n}\n\n')
    d.t('variable "aws_secret_access_key" {\n  type = string\n}\n\n')
    d.t('variable "grafana_api_key" {\n  type    = string\n')
    d.n("a default of the next variable does not pair", '  default = "' + k.secret() + '"\n')
    d.t('}\n')

    d = doc("opt/hadoop/etc/hadoop/core-site.xml")
    d.t('<?xml version="1.0"?>\n<configuration>\n  <property>\n')
    d.t("    <name>fs.s3a.secret.key</name>\n    <value>").p(k.secret(), SK)
    d.t("</value>\n  </property>\n  <property>\n    <value>").p(k.secret(), SK)
    d.t("</value>\n    <name>fs.s3n.awsSecretAccessKey</name>\n  </property>\n")
    d.t('  <property value="').p(k.secret(), SK).t('" name="aws.secretKey"/>\n')
    d.t("  <property>\n    <name>fs.s3a.secret.key</name>\n    <value>${env.S3_KEY}</value>\n")
    d.t("  </property>\n  <property>\n    <name>hive.metastore.password</name>\n")
    d.n("the next property's value does not pair", "    <value>" + k.secret() + "</value>\n")
    d.t("  </property>\n</configuration>\n")

    d = doc("srv/app/conf/storage.conf")
    d.t("# names for a secret: camelCase, PascalCase, service-specific, any separator and quote\n")
    d.t("awsSecretAccessKey: ").p(k.secret(), SK).t("\n")
    d.t('AwsSecretKey = "').p(k.secret(), SK).t('"\n')
    d.t("s3_secret_key\t").p(k.secret(), SK).t("\n")
    d.t("'S3_SECRET' => '").p(k.secret(), SK).t("',\n")
    d.t("AWS_SECRET := `").p(k.secret(), SK).t("`\n")
    d.t("fs.s3a.secret.key=").p(k.secret(), SK).t("\n")
    d.t("fs.s3n.awsSecretAccessKey: ").p(k.secret(), SK).t("\n")
    d.t("\n[remote s3-backup]\ntype = s3\nprovider = Ceph\nsecret_access_key = ")
    d.p(k.secret(), SK).t("\n\n")
    d.t("storage:\n  s3:\n    bucket: assets\n    secretKey: ").p(k.secret(), SK).t("\n")
    d.t("aws:\n  region: eu-west-1\n  secret: ").p(k.secret(), SK)
    d.t("\n  token: ").p(k.token(prefix="", n=212), ST).t("\n\n")
    for i in range(6):
        d.t(f"option_{i} = on\n")
    d.t("stripe:\n  mode: live\n")
    d.n("a bare secret label in a block about another service", "  secret: " + k.secret() + "\n")
    d.n("a secret of another service", "client_secret = " + k.secret() + "\n")
    d.n("a bare token label far from AWS", "token: " + k.token(prefix="", n=160) + "\n")

    d = doc("srv/sts/assumed.yaml")
    d.t("# credentials from sts assume-role, as a deploy tool stores them\nassumed:\n")
    d.t("  access_key: ").p(k.key_id("ASIA"), AK).t("\n  secret: ").p(k.secret(), SK)
    d.t("\n  session: ").p(k.token(prefix="", n=356), ST).t("\n  expires: 2026-11-30T12:00:00Z\n")
    d.t('{"AccessKeyId": "').p(k.key_id("ASIA"), AK).t('", "SecretAccessKey": "')
    d.p(k.secret(), SK).t('", "SessionToken": "').p(k.token(prefix="", n=420), ST).t('"}\n')
    d.t("export AWS_ACCESS_KEY_ID=").p(k.key_id("ASIA"), AK)
    d.t(" AWS_SECRET_ACCESS_KEY=").p(k.secret(), SK)
    d.t(" AWS_SESSION_TOKEN=").p(k.token(prefix="", n=380), ST).t("\n")
    d.t("[minio]\naws_access_key_id = ").p(k.key_id("ASIA"), AK)
    d.t("\naws_secret_access_key = ").p(k.secret(), SK)
    d.t("\naws_session_token = ").p(jwt({"accessKey": "ASIA-minio", "exp": 1893456000}), ST)
    d.t("\n")

    # One line per object list: the name's object ends at its `}`.
    d = doc("srv/ecs/taskdef-batch.min.json")
    d.t('{"family":"batch","containerDefinitions":[{"name":"batch","environment":[')
    d.t('{"name":"AWS_SECRET_ACCESS_KEY","value":"').p(k.secret(), SK).t('"},')
    d.t('{"name":"REGION","value":"eu-west-1"}]}]}\n')
    d.n("a minified list: the next object's value does not pair",
        '[{"name":"AWS_SECRET_ACCESS_KEY","valueFrom":"arn:aws:ssm:eu-west-1:210987654321:'
        'parameter/b"},{"name":"SIGNING_KEY","value":"' + k.secret() + '"}]\n')
    d.n("CloudFormation parameters: the next parameter's value does not pair",
        '[{"ParameterKey": "AwsSecretAccessKey", "UsePreviousValue": true}, '
        '{"ParameterKey": "SlackToken", "ParameterValue": "' + k.secret() + '"}]\n')

    d = doc("srv/k8s/minio-client.yaml")
    d.t("env:\n  - name: AWS_ENDPOINT_URL_S3\n    value: https://minio.internal:9000\n")
    d.t('  - name: AWS_SESSION_TOKEN\n    value: "')
    d.p(jwt({"accessKey": "backup", "exp": 1893456000, "policy": "readwrite"}), ST).t('"\n')
    d.t("  - name: AWS_SECRET_ACCESS_KEY\n    valueFrom:\n      secretKeyRef:\n")
    d.t("        name: minio\n        key: secret\n")
    d.t("  - name: BACKUP_PASSPHRASE\n")
    d.n("the next item's value does not pair with a name whose value is kept elsewhere",
        "    value: " + k.secret() + "\n")


def split(k, doc):
    """Issue 13, split literals: a key id, secret or session token written as string pieces
    that the language joins (`+`, `.`, `..`, adjacent literals, `"".join([...])`,
    `[...].join("")`, line continuations); each found at its first piece's first character
    with `encoding: ["concat"]`. And concatenations that must stay silent."""
    C = ["concat"]

    def cut(value, *at):
        """`value` cut at the offsets `at`."""
        bounds = [0, *at, len(value)]
        return [value[a:b] for a, b in zip(bounds, bounds[1:])]

    def chain(pieces, q, sep):
        return sep.join(q + p + q for p in pieces)

    def plant(d, prefix, value, text, off, kind_rule, suffix="\n"):
        """Appends `prefix`, then `text` (the split value, its first character at `off`)."""
        d.t(prefix).pe(text, [(off, value, kind_rule)], C).t(suffix)

    # Python: `+`, adjacent literals, a parenthesised implicit concatenation over lines, and
    # both `"".join` forms.
    d = doc("srv/app/aws_settings.py")
    d.t('"""AWS settings for the billing worker."""\nimport os\n\n')
    kid = k.key_id()
    plant(d, "AWS_ACCESS_KEY_ID = ", kid, chain(cut(kid, 4), '"', " + "), 1, AK)
    sk = k.secret()
    plant(d, "aws_secret_access_key = ", sk, chain(cut(sk, 16), '"', " + "), 1, SK)
    d.t("\n\ndef legacy():\n")
    kid = k.key_id("ASIA")
    plant(d, "    key = ", kid, chain(cut(kid, 9), "'", " "), 1, AK)
    tok = k.token()
    pieces = [tok[i:i + 60] for i in range(0, len(tok), 60)]
    text = "(\n" + "".join(f'        "{p}"\n' for p in pieces) + "    )"
    plant(d, "    aws_session_token = ", tok, text, text.index('"') + 1, ST)
    d.t("\n\nDEPLOY = {\n")
    kid, sk = k.key_id(), k.secret()
    plant(d, '    "id": "".join([', kid, chain(cut(kid, 4, 12), '"', ", ") + "])", 1, AK, ",\n")
    plant(d, '    "aws_secret_access_key": \'\'.join((', sk,
          chain(cut(sk, 10, 20, 30), "'", ", ") + "))", 1, SK, ",\n")
    d.t("}\n\n")
    d.n("a key-id prefix joined with a variable", 'prefix = "AKIA" + suffix\n')
    d.n("innocent text joined", 'greeting = "Hello, " + "world" + "!"\n')
    d.n("pieces that join to the documentation's example key id",
        'doc_id = "AKIAIOSFODNN7" + "EXAMPLE"\n')
    d.n("pieces that join to the documentation's example secret",
        'doc_secret = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"\n')
    d.n("a list of key-id prefixes, not joined",
        'PREFIXES = ["AKIA", "ASIA", "ABIA", "ACCA", "AROA"]\n')
    d.n("pieces joined with a separator",
        'dashed = "-".join(["AKIA", "' + k.key_id()[4:] + '"])\n')
    d.n("FIXME: a key id split inside its prefix: no keyword announces it",
        'odd = "AK" + "' + k.key_id()[2:] + '"\n')
    d.n("a key id whose literal goes on in the next piece is no key id",
        'label = "' + k.key_id() + '" + "2"\n')

    # JavaScript: `[...].join("")`, template literals with `+`.
    d = doc("srv/app/lib/upload.js")
    d.t("'use strict';\n\n")
    kid = k.key_id()
    plant(d, "const accessKeyId = ", kid, chain(cut(kid, 4, 10), "'", " + ") + ";", 1, AK)
    sk = k.secret()
    plant(d, "const secretAccessKey = [", sk,
          chain(cut(sk, 13, 27), '"', ", ") + '].join("");', 1, SK)
    tok = k.token()
    plant(d, "const sessionToken = ", tok, chain(cut(tok, 100, 250), "`", " +\n  ") + ";", 1, ST)
    d.n("an array of innocent strings joined", 'const path = ["srv", "app", "lib"].join("/");\n')
    d.n("a key-id prefix joined with a property", "const k = 'AKIA' + cfg.rest;\n")

    # PHP `.`, Lua `..`, C adjacent literals continued with `\`, Go strings.Join.
    d = doc("var/www/html/config.php")
    kid, sk = k.key_id(), k.secret()
    d.t("<?php\n")
    plant(d, "define('AWS_ACCESS_KEY_ID', ", kid, chain(cut(kid, 4), "'", " . ") + ");", 1, AK)
    plant(d, "$aws_secret_access_key = ", sk, chain(cut(sk, 20), '"', ".") + ";", 1, SK)
    d.n("innocent PHP concatenation", "$title = 'Monthly ' . 'report';\n")
    d = doc("opt/game/scripts/aws.lua")
    kid, sk = k.key_id(), k.secret()
    plant(d, "local key_id = ", kid, chain(cut(kid, 4, 8), '"', " .. "), 1, AK)
    plant(d, "local aws_secret_access_key = ", sk, chain(cut(sk, 5), '"', " .. "), 1, SK)
    d = doc("src/firmware/aws_creds.h")
    kid, sk = k.key_id(), k.secret()
    plant(d, "#define AWS_ACCESS_KEY_ID ", kid, chain(cut(kid, 12), '"', " \\\n    "), 1, AK)
    plant(d, "static const char *aws_secret_access_key =\n    ", sk,
          chain(cut(sk, 16, 32), '"', "\n    ") + ";", 1, SK)
    d = doc("srv/app/go/creds.go")
    kid = k.key_id()
    plant(d, "package creds\n\nimport \"strings\"\n\nvar keyID = strings.Join([]string{", kid,
          chain(cut(kid, 4, 11), '"', ", ") + '}, "")', 1, AK)

    # YAML double-quoted continuations; shell `\` continuations; CloudFormation !Join.
    d = doc("etc/billing/aws.yaml")
    kid, sk = k.key_id(), k.secret()
    d.t("aws:\n  region: eu-west-1\n")
    plant(d, '  access_key_id: "', kid, kid[:14] + "\\\n    " + kid[14:] + '"', 0, AK)
    plant(d, '  secret_access_key: "', sk, sk[:22] + "\\\n    " + sk[22:] + '"', 0, SK)
    d.n("a YAML double-quoted value folded into a space", '  motd: "Hello\n    world"\n')
    d = doc("opt/deploy/bin/release.sh")
    kid, sk = k.key_id(), k.secret()
    d.t("#!/bin/sh\nset -eu\n")
    plant(d, "export AWS_ACCESS_KEY_ID=", kid, kid[:10] + "\\\n" + kid[10:], 0, AK)
    plant(d, 'export AWS_SECRET_ACCESS_KEY="', sk, sk[:25] + "\\\n" + sk[25:] + '"', 0, SK)
    d.t("aws s3 sync dist/ s3://releases/\n")
    d.n("a command continued over lines", "tar -czf release.tgz \\\n  dist/\n")
    d = doc("srv/cfn/uploader.yaml")
    kid = k.key_id()
    d.t("Resources:\n  Uploader:\n    Type: AWS::Lambda::Function\n    Properties:\n"
        "      Environment:\n        Variables:\n")
    plant(d, '          UPLOAD_KEY_ID: !Join ["", [', kid, chain(cut(kid, 4), '"', ", ") + "]]",
          1, AK)
    d.n("an innocent !Join", '          BUCKET: !Join ["-", ["uploads", !Ref Stage]]\n')


def lookalikes(doc):
    """Issue 13, look-alikes: values of a key's shape that are no key (documentation examples
    with another ending, marker words and masking runs inside a value, placeholders in words,
    low-entropy ids), each where it would be reported if it were a key; and real-looking keys
    beside them, some holding a short word by chance, that are still found."""
    k = Keys(SEED + 15)

    def inside(alphabet, n, word, at):
        """n random characters with `word` written over them at `at`."""
        r = k.s(alphabet, n)
        return r[:at] + word + r[at + len(word):]

    # Unit-test fixtures: derivatives of the documented examples, marker words, masking runs.
    d = doc("srv/app/tests/test_upload.py")
    d.t('"""Fixtures for the upload tests: none of these keys is real."""\n\n')
    d.n("documented key id body with another ending",
        f'DOC_KEY_ID = "AKIAIOSFODNN7{k.s(B32, 7)}"\n')
    d.n("documented key id body with another ending, temporary prefix",
        f'DOC_TEMP_KEY_ID = "ASIAIOSFODNN7{k.s(B32, 7)}"\n')
    d.n("documented secret body with another ending",
        f'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY{k.s(B64, 10)}"\n')
    d.n("documented secret body (other) with another ending",
        f'aws_secret_access_key = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvb{k.s(B64, 10)}"\n')
    d.n("documented secret body cut short, another ending",
        f'aws_secret_access_key = "wJalrXUtnFEMI/K7{k.s(B64, 24)}"\n')
    for word, at in [("SAMPLE", 3), ("EXAMPLE", 9)]:
        d.n(f"marker word {word} inside a key id",
            f'KEY_ID_{word} = "AKIA{inside(B32, 16, word, at)}"\n')
    for word, at in [("Sample", 1), ("example", 30)]:
        d.n(f"marker word {word} inside a secret",
            f'aws_secret_access_key = "{inside(B64, 40, word, at)}"\n')
    d.n("masking run XXXXXX inside a key id",
        f'KEY_ID_MASKED = "AKIA{inside(B32, 16, "XXXXXX", 6)}"\n')
    for mask, at in [("xxxxxx", 20), ("000000", 33), ("XXXXXXXX", 0)]:
        d.n(f"masking run {mask} inside a secret",
            f'aws_secret_access_key = "{inside(B64, 40, mask, at)}"\n')
    for ph in ["AKIATESTTESTTESTTEST", "AKIAFAKEKEYFAKEKEY23", "AKIADUMMYKEYFORTEST2"]:
        d.n("short marker words among words and repeats", f'KEY_ID_FIXTURE = "{ph}"\n')
    d.n("short marker word among words in a secret",
        'aws_secret_access_key = "fakeSecretKeyForTesting1234567890abcdefg"\n')
    d.t("\n# A real key pasted among the fixtures is still found.\n")
    d.t('LEAKED_KEY_ID = "').p(k.key_id(), AK).t('"\n')
    d.t('aws_secret_access_key = "').p(k.secret(), SK).t('"\n')
    # Reported by design: a 4-letter marker or mask inside an otherwise random value, or the
    # short documented stem J2E4, is as likely in a random key (TEST: 1 in 80,000 random ids;
    # J2E4: 1 in a million), and a log of 100,000 fresh key ids holds only keys.
    d.t("\n# Random-looking values holding a short marker: reported, as a random key may.\n")
    for word, at in [("TEST", 0), ("FAKE", 5), ("XXXX", 6)]:
        d.t(f'KEY_ID_{word} = "').p("AKIA" + inside(B32, 16, word, at), AK).t('"\n')
    d.t('DOC_KEY_ID_2 = "').p("AKIAJ2E4" + k.s(B32, 12), AK).t('"\n')
    for word, at in [("Test", 7), ("fake", 30), ("xxxx", 20), ("0000", 33)]:
        d.t("aws_secret_access_key = \"").p(inside(B64, 40, word, at), SK).t('"\n')

    # Placeholders written in words, and low-entropy ids, in a template and its README.
    d = doc("srv/app/deploy/env.template")
    d.t("# Copy to .env and fill in. Placeholders below are not keys.\n")
    for ph in ["AKIAMYACCESSKEYIDHER", "AKIATESTKEYFORUNITST", "AKIAYOURACCESSKEYID2",
               "AKIAPRODUCTIONKEY234", "AKIAKEYIDGOESHERE234"]:
        d.n("key-id-shaped upper-case words after the prefix", f"AWS_ACCESS_KEY_ID={ph}\n")
    for ph in ["AKIADEADBEEFDEADBEEF", "AKIAAAAABBBBBCCCCCDD", "AKIAABCDEFGHIJKLMNOP",
               "AKIAQWERTYUIOPASDFGH", "AKIA2345ABCD2345ABCD"]:
        d.n("low-entropy key id (repeats, sequences, keyboard rows)",
            f"AWS_ACCESS_KEY_ID={ph}\n")
    for ph in ["ThisIsMyAwsSecretKeyForTheProductionApp1",
               "mySecretAccessKey+forTheStagingBucket/v2",
               "ReplaceWithYourSecretAccessKeyHere123456",
               "YOUR/SECRET/ACCESS/KEY/GOES/HERE/0000000"]:
        d.n("secret placeholder written in words", f"AWS_SECRET_ACCESS_KEY={ph}\n")
    for ph in ["abcdefghijklmnopqrstuvwxyz0123456789ABCD",
               "Abc123Abc123Abc123Abc123Abc123Abc123Abc1"]:
        d.n("low-entropy secret (sequence, repeats)", f"AWS_SECRET_ACCESS_KEY={ph}\n")

    # Real-looking keys that hold a short word or a double letter by chance: still keys.
    d = doc("srv/app/.env.staging")
    d.t("APP_ENV=staging\nAWS_ACCESS_KEY_ID=").p("AKIA" + inside(B32, 16, "RED", 5), AK)
    d.t("\nAWS_SECRET_ACCESS_KEY=").p(inside(B64, 40, "boat", 12), SK)
    d.t("\nBACKUP_AWS_ACCESS_KEY_ID=").p("ASIA" + inside(B32, 16, "SUN", 9), AK)
    d.t("\nBACKUP_AWS_SECRET_ACCESS_KEY=").p(inside(B64, 40, "Cold", 25), SK)
    for _ in range(4):
        d.t("\nAWS_ACCESS_KEY_ID=").p(k.key_id(), AK)
        d.t("\nAWS_SECRET_ACCESS_KEY=").p(k.secret(), SK)
    d.t("\n")


def decoding_gaps(doc):
    """Issue 13, the remaining decoding gaps: a JWT inside base64 (two decodings), ABIA and ACCA
    key ids in base64, key ids escaped from their first character as `\\x41`, `&#65;` on lines
    without a rule keyword; look-alikes of each; and the spellings left unannounced (the
    prefilter budget, `builtin.toml`), which are known misses."""
    k = Keys(SEED + 16)
    B = ["base64"]
    hdr = b64('{"alg":"RS256","kid":"ci","typ":"JWT"}', url=True)

    # Kubernetes Secrets: a JWT whose payload holds a key id, an STS bearer-token id (ABIA),
    # and a JWT without keys (a service-account token).
    d = doc("srv/k8s/ci-runner-token.yaml")
    kid = k.key_id("ASIA")
    payload = json.dumps({"iss": "ci", "sub": "runner", "aws_access_key_id": kid})
    jwt = hdr + "." + b64(payload, url=True) + "." + k.b64url(86)
    d.t("apiVersion: v1\nkind: Secret\nmetadata:\n  name: ci-runner\ndata:\n  token: ")
    d.pe(b64(jwt), [(b64_pos(len(hdr) + 1 + b64_at(payload, kid)), kid, AK)], B + B)
    kid = k.key_id("ABIA")
    d.t("\n  bearer-key-id: ").pe(b64(kid), [(0, kid, AK)], B).t("\n")
    sa = hdr + "." + b64(json.dumps({"iss": "kubernetes/serviceaccount",
                                     "sub": "system:serviceaccount:ci:runner"}), url=True)
    d.n("a service-account JWT without keys, in base64",
        "  sa-token: " + b64(sa + "." + k.b64url(86)) + "\n")
    d.n("base64 of a documentation-style ABIA id", "  example: " + b64("ABIAIOSFODNN7EXAMPLE") + "\n")

    # A credentials file with a context-specific (ACCA) key id, base64 in a gzip backup.
    d = doc("var/backups/ctx-credentials.conf.gz", compress=["gzip"])
    kid, sk = k.key_id("ACCA"), k.secret()
    creds = f"[ctx]\naws_access_key_id = {kid}\naws_secret_access_key = {sk}\n"
    d.t("# restored by ops\nprofile_blob=")
    d.pe(b64(creds), [(b64_at(creds, kid), kid, AK), (b64_at(creds, sk), sk, SK)], B).t("\n")

    # Obfuscated front-end code: key ids escaped from their first character, no rule keyword.
    d = doc("var/www/html/static/obf.js")
    kid = k.key_id()
    esc = "".join(f"\\x{ord(c):02x}" for c in kid[:4])
    d.t("var _0x1a=[\"").pe(esc + kid[4:], [(0, kid, AK)], ["js-escape"]).t("\"];\n")
    kid = k.key_id("ASIA")
    d.t("var _0x2b='").pe("\\x41" + kid[1:], [(0, kid, AK)], ["js-escape"]).t("';\n")
    d.n("escapes of innocent text behind the new trigger", 'var h="\\x41\\x42\\x43\\x44";\n')
    kid = k.key_id()
    d.n("FIXME (a known miss), not announced: \\u{41} (the prefilter budget), no rule keyword on the line",
        "var _0x3c='\\u{41}" + kid[1:] + "';\n")
    d = doc("var/www/html/contact.html")
    kid = k.key_id()
    ent = "".join(f"&#{ord(c)};" for c in kid[:4])
    d.t("<html><body>\n<p>id: ").pe(ent + kid[4:], [(0, kid, AK)], ["html-entity"]).t("</p>\n")
    d.n("entities of innocent text behind the new trigger", "<p>&#65;&#66;&#67; corp.</p>\n")
    kid = k.key_id()
    d.n("FIXME (a known miss), not announced: &#x41; (the prefilter budget), no rule keyword on the line",
        "<p>&#x41;&#x4b;" + kid[2:] + "</p>\n")
    d.t("</body></html>\n")


def render(out_dir):
    k = Keys(SEED)
    docs = build(k)
    findings, negatives, suppressed = [], [], 0
    for d in docs:
        path = os.path.join(out_dir, "corpus", d.path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(d.file_bytes())
        for off, kind, rule, encoding, value in d.plants:
            line, col = d.line_col(off)
            f = {"path": d.path, "line": line, "column": col, "kind": kind, "rule": rule}
            if d.compress or encoding:
                f["encoding"] = d.compress + (encoding or [])
            if encoding:
                # Found in decoded text: the value cannot be read back at its place.
                f["fingerprint"] = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
            findings.append(f)
        for off, what in d.negs:
            line, _ = d.line_col(off)
            negatives.append({"path": d.path, "line": line, "what": what})
        suppressed += d.suppressed
    findings.sort(key=lambda f: (f["path"], f["line"], f["column"]))
    negatives.sort(key=lambda n: (n["path"], n["line"]))
    expected = {
        "comment": "Generated by scripts/gen-corpus.py; do not edit. Paths are relative to "
                   "tests/corpus; line and column are 1-based, column in bytes (UTF-16 files: "
                   "bytes of the line decoded to UTF-8; compressed files: of the decompressed text, "
                   "whose layers `encoding` names, outermost first).",
        "findings": findings,
        "suppressed": suppressed,
        "negatives": negatives,
    }
    with open(os.path.join(out_dir, "corpus", "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    return len(findings), len(negatives), suppressed


def same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(same_tree(os.path.join(a, s), os.path.join(b, s)) for s in cmp.common_dirs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="verify that tests/corpus is what this script generates")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests"))
    args = ap.parse_args()
    tests = os.path.abspath(args.out)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            render(tmp)
            ok = same_tree(os.path.join(tmp, "corpus"), os.path.join(tests, "corpus"))
        print("corpus is up to date" if ok else "corpus differs from scripts/gen-corpus.py")
        return 0 if ok else 1
    corpus = os.path.join(tests, "corpus")
    if os.path.isdir(corpus):
        shutil.rmtree(corpus)
    n_pos, n_neg, n_sup = render(tests)
    print(f"wrote {corpus}: {n_pos} findings, {n_neg} negative cases, {n_sup} suppressed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
