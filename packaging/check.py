#!/usr/bin/env python3
"""Structural checks of the packaging artefacts, run by packaging/test (with the venv that has
PyYAML, cfn-lint and python-hcl2). Each subcommand prints what it checked and exits non-zero with
a message naming the file and the problem.

  check.py aws DIR           IAM policy JSON + CloudFormation template (resources, alarms, dashboard)
  check.py ami DIR           Image Builder component + Packer snippet
  check.py ssm DIR           SSM Distributor manifest vs. the zips beside it
  check.py bake-gate FILE    print the component's bake-gate shell script (to run it in a chroot)
  check.py syscalls UNIT STRACE_SUMMARY...
                             every syscall in `strace -c` summaries passes the unit's SystemCallFilter
"""
import hashlib
import itertools
import json
import os
import re
import sys
import zipfile

METRICS = ["HardcodedCredentials", "InstanceProfileMissing", "IMDSv1Open", "ScanErrors"]
NAMESPACE = "CredHygiene"
LOG_GROUP = "/credhygiene/findings"
# Writing to an existing group, and creating the group (the agent sets its retention at once).
WRITE_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}
CREATE_ACTIONS = {"logs:CreateLogGroup", "logs:PutRetentionPolicy"}
# CloudWatch Logs' retentionInDays values (= LOG_RETENTION_DAYS in src/config/mod.rs) and the
# agent's default cloudwatch.log_retention_days.
RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                  2192, 2557, 2922, 3288, 3653]
DEFAULT_RETENTION = 90
# The opt-in of imds.v1_from_ec2_api: the agent reads its own MetadataOptions.HttpTokens.
# DescribeInstances has no resource-level permissions, so Resource is "*".
EC2_ACTION = "ec2:DescribeInstances"
SSM_ACTION = "ssm:PutComplianceItems"
# The instances of the account (policy file: any partition, region, account).
SSM_POLICY_RESOURCE = "arn:*:ec2:*:*:instance/*"
SSM_CFN_RESOURCE = {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*"}
# The opt-in of `[enrich] iam`: read-only, on the account's users.
IAM_ACTIONS = {"iam:GetAccessKeyLastUsed", "iam:ListAccessKeys"}


class Fail(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise Fail(msg)


def as_list(v):
    return v if isinstance(v, list) else [v]


# --- IAM policy ---------------------------------------------------------------------------------


def check_ec2_statement(where, st, region_condition):
    """The opt-in statement: Allow ec2:DescribeInstances alone, on "*", with exactly
    `region_condition` (None: no condition)."""
    need(st.get("Effect") == "Allow", f"{where}: statement {st.get('Sid')} is not Allow")
    need(as_list(st["Action"]) == [EC2_ACTION],
         f"{where}: the opt-in statement must allow {EC2_ACTION} alone, not {st['Action']}")
    need(as_list(st["Resource"]) == ["*"],
         f"{where}: {EC2_ACTION} has no resource-level permissions: Resource must be \"*\"")
    want = None if region_condition is None else {"StringEquals": region_condition}
    need(st.get("Condition") == want,
         f"{where}: {EC2_ACTION} condition is {st.get('Condition')}, expected {want}")


SH_ACTION = "securityhub:BatchImportFindings"
# The account's own default product, and nothing else: in the static policy through the
# principal's account, in the template through the stack's.
SH_RESOURCES = (
    "arn:*:securityhub:*:${aws:PrincipalAccount}:product/${aws:PrincipalAccount}/default",
    {"Fn::Sub": "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default"},
)


def without_ssm_statement(where, statements, resource):
    """The statements but the Systems Manager Compliance one, which must be there: Allow
    ssm:PutComplianceItems alone, on the instances (`resource`) only."""
    ssm = [st for st in statements if SSM_ACTION in as_list(st.get("Action", []))]
    need(len(ssm) == 1, f"{where}: expected one {SSM_ACTION} statement, found {len(ssm)}")
    st = ssm[0]
    need(st.get("Effect") == "Allow" and as_list(st["Action"]) == [SSM_ACTION],
         f"{where}: the Systems Manager statement must allow {SSM_ACTION} alone")
    need(as_list(st["Resource"]) == [resource],
         f"{where}: {SSM_ACTION} on {st['Resource']}, expected the instances {resource}")
    return [s for s in statements if s is not st]


def check_policy_statements(where, statements, log_resource_ok, creates_group,
                            describe_instances=None, ssm_resource=SSM_POLICY_RESOURCE):
    """The least-privilege contract: exactly PutMetricData limited to the namespace, the Logs
    write actions on the log group and, when the agent may create the group, CreateLogGroup and
    PutRetentionPolicy on it; with the opt-in (`describe_instances`: its region condition, or
    "any" for none) the DescribeInstances statement; nothing else, no wildcard actions."""
    want = ({"cloudwatch:PutMetricData", SH_ACTION} | WRITE_ACTIONS
            | (CREATE_ACTIONS if creates_group else set()))
    statements = without_ssm_statement(where, statements, ssm_resource)
    if describe_instances is not None:
        ec2 = [st for st in statements if EC2_ACTION in as_list(st.get("Action", []))]
        need(len(ec2) == 1, f"{where}: expected one {EC2_ACTION} statement, found {len(ec2)}")
        check_ec2_statement(where, ec2[0], None if describe_instances == "any" else describe_instances)
        statements = [st for st in statements if st is not ec2[0]]
    need(len(statements) == 3 + creates_group,
         f"{where}: expected {3 + creates_group} statements, found {len(statements)}")
    actions = set()
    for st in statements:
        need(st.get("Effect") == "Allow", f"{where}: statement {st.get('Sid')} is not Allow")
        acts = set(as_list(st["Action"]))
        need(not any("*" in a for a in acts), f"{where}: wildcard action in {sorted(acts)}")
        actions |= acts
        if acts == {"cloudwatch:PutMetricData"}:
            cond = st.get("Condition", {}).get("StringEquals", {})
            need("cloudwatch:namespace" in cond,
                 f"{where}: PutMetricData without a cloudwatch:namespace condition")
            ns = cond["cloudwatch:namespace"]
            need(ns == NAMESPACE or (isinstance(ns, dict) and ns.get("Ref") == "MetricNamespace"),
                 f"{where}: namespace condition is {ns!r}, not {NAMESPACE}")
        elif acts == {SH_ACTION}:
            res = as_list(st["Resource"])
            need(len(res) == 1 and res[0] in SH_RESOURCES,
                 f"{where}: {SH_ACTION} must be on the account's default product ARN alone: {res}")
        elif acts in (WRITE_ACTIONS, CREATE_ACTIONS):
            res = as_list(st["Resource"])
            need(all(log_resource_ok(r) for r in res),
                 f"{where}: Logs actions on resources other than the agent's log group "
                 f"in every partition: {res}")
            need(len(res) == 2, f"{where}: expected the log group ARN and its :* form: {res}")
        else:
            raise Fail(f"{where}: unexpected actions {sorted(acts)}")
    need(actions == want, f"{where}: actions are {sorted(actions)}, not {sorted(want)}")


def split_iam(where, statements, resource_ok):
    """The statements without the `[enrich] iam` opt-in, and how many opt-in statements there
    were; each must allow exactly IAM_ACTIONS on the account's users (`resource_ok`)."""
    iam = [st for st in statements if set(as_list(st.get("Action", []))) & IAM_ACTIONS]
    for st in iam:
        need(st.get("Effect") == "Allow" and set(as_list(st["Action"])) == IAM_ACTIONS,
             f"{where}: the IAM opt-in must allow {sorted(IAM_ACTIONS)} alone, not {st['Action']}")
        need(resource_ok(st["Resource"]) and "Condition" not in st,
             f"{where}: the IAM opt-in must be on the account's users only: {st['Resource']}")
    return [st for st in statements if not any(st is i for i in iam)], len(iam)


def resolve_if(statements, conditions):
    """The statement list with each `Fn::If` resolved for the given condition values, and the
    `AWS::NoValue` branches left out."""
    out = []
    for st in statements:
        if isinstance(st, dict) and "Fn::If" in st:
            cond, yes, no = st["Fn::If"]
            st = yes if conditions[cond] else no
        if st != {"Ref": "AWS::NoValue"}:
            out.append(st)
    return out


def check_log_group(path, tpl, res, by_type):
    """Who creates the log group: the stack when CreateLogGroup is "true" (the group resource
    exists under that condition, is retained, has the retention parameter), else the agents."""
    params = tpl["Parameters"]
    need(params["CreateLogGroup"]["Default"] == "true"
         and set(params["CreateLogGroup"]["AllowedValues"]) == {"true", "false"},
         f"{path}: CreateLogGroup must be a \"true\"/\"false\" parameter, default \"true\"")
    need(tpl["Conditions"].get("StackOwnsLogGroup") == {
        "Fn::Equals": [{"Ref": "CreateLogGroup"}, "true"]},
        f"{path}: StackOwnsLogGroup must be CreateLogGroup == \"true\"")
    days = params["LogRetentionInDays"]
    need(days["Default"] == DEFAULT_RETENTION and days["AllowedValues"] == RETENTION_DAYS,
         f"{path}: LogRetentionInDays must offer CloudWatch's values, default {DEFAULT_RETENTION}")
    group = res[by_type["AWS::Logs::LogGroup"][0]]
    need(group.get("Condition") == "StackOwnsLogGroup",
         f"{path}: the log group must be created only when the stack owns it")
    need(group.get("DeletionPolicy") == "Retain" and group.get("UpdateReplacePolicy") == "Retain",
         f"{path}: the log group must be retained (findings outlive the stack)")
    need(group["Properties"] == {"LogGroupName": {"Ref": "LogGroupName"},
                                 "RetentionInDays": {"Ref": "LogRetentionInDays"}},
         f"{path}: log group properties {group['Properties']}")
    # Nothing else may depend on the conditional resource.
    text = json.dumps({k: v for k, v in tpl.items() if k != "Resources"}) + json.dumps(
        {k: v for k, v in res.items() if k != by_type["AWS::Logs::LogGroup"][0]})
    name = by_type["AWS::Logs::LogGroup"][0]
    refs = [f'"Ref": "{name}"', f'"Fn::GetAtt": ["{name}"', f'"{name}.', "${" + name + "}"]
    need(not any(r in text for r in refs),
         f"{path}: refers to the conditional {name}; use the LogGroupName parameter")


def check_aws(d):
    path = os.path.join(d, "credhygiene-instance-policy.json")
    with open(path) as f:
        policy = json.load(f)
    need(policy.get("Version") == "2012-10-17", f"{path}: Version must be 2012-10-17")
    # Partition "*": the policy works in aws, aws-cn, aws-us-gov, aws-iso*, aws-eusc (IAM allows
    # wildcards in every ARN segment but the service's).
    pat = re.compile(r"arn:\*:logs:\*:\*:log-group:" + re.escape(LOG_GROUP) + r"(:\*)?")
    check_policy_statements(path, policy["Statement"], lambda r: bool(pat.fullmatch(r)), True)
    print(f"ok: {path}: valid JSON, PutMetricData limited to {NAMESPACE}, Logs on {LOG_GROUP} "
          f"in every partition, the agent may create the group and set its retention")
    # The opt-in is a second file, attached beside the first: the base policy stays as it was.
    path = os.path.join(d, "credhygiene-instance-policy-ec2.json")
    with open(path) as f:
        opt_in = json.load(f)
    need(opt_in.get("Version") == "2012-10-17", f"{path}: Version must be 2012-10-17")
    check_policy_statements(path, policy["Statement"] + opt_in["Statement"],
                            lambda r: bool(pat.fullmatch(r)), True, describe_instances="any")
    print(f"ok: {path}: the opt-in {EC2_ACTION} on \"*\" alone; with the base policy, nothing else")
    path = os.path.join(d, "credhygiene-instance-policy-iam.json")
    with open(path) as f:
        opt_in = json.load(f)
    need(opt_in.get("Version") == "2012-10-17", f"{path}: Version must be 2012-10-17")
    rest, n = split_iam(path, policy["Statement"] + opt_in["Statement"],
                        lambda r: r == "arn:*:iam::*:user/*")
    need(n == 1, f"{path}: expected one IAM opt-in statement, found {n}")
    check_policy_statements(path, rest, lambda r: bool(pat.fullmatch(r)), True)
    print(f"ok: {path}: the opt-in {sorted(IAM_ACTIONS)} on users alone; with the base policy, "
          "nothing else")

    from cfnlint.decode import decode  # the CloudFormation YAML loader (!Ref, !Sub, ...)

    path = os.path.join(d, "credhygiene.cfn.yaml")
    tpl, matches = decode(path)
    need(tpl is not None and not matches, f"{path}: does not parse: {matches}")
    res = tpl["Resources"]
    by_type = {}
    for name, r in res.items():
        by_type.setdefault(r["Type"], []).append(name)
    for t in ["AWS::IAM::Role", "AWS::IAM::InstanceProfile", "AWS::CloudWatch::Dashboard",
              "AWS::Logs::LogGroup"]:
        need(len(by_type.get(t, [])) == 1, f"{path}: expected one {t}, found {by_type.get(t)}")

    role = res[by_type["AWS::IAM::Role"][0]]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    need(any(s["Principal"].get("Service") == "ec2.amazonaws.com" for s in trust),
         f"{path}: the role is not assumable by EC2")
    pols = role["Policies"]
    need(len(pols) == 1, f"{path}: expected one inline policy")

    def cfn_log_arn(r):
        s = r.get("Fn::Sub") if isinstance(r, dict) else None
        return s in (
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${LogGroupName}",
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${LogGroupName}:*",
        )

    statements = pols[0]["PolicyDocument"]["Statement"]
    params = tpl["Parameters"]
    need(params["AllowDescribeInstances"]["Default"] == "false"
         and set(params["AllowDescribeInstances"]["AllowedValues"]) == {"true", "false"},
         f"{path}: AllowDescribeInstances must be a \"true\"/\"false\" opt-in, default \"false\"")
    need(tpl["Conditions"].get("ReadsImdsOptionsFromEc2") == {
        "Fn::Equals": [{"Ref": "AllowDescribeInstances"}, "true"]},
        f"{path}: ReadsImdsOptionsFromEc2 must be AllowDescribeInstances == \"true\"")
    need(params["AllowAccessKeyLookup"]["Default"] == "false"
         and tpl["Conditions"].get("ReadsAccessKeyOwners") == {
             "Fn::Equals": [{"Ref": "AllowAccessKeyLookup"}, "true"]},
         f"{path}: AllowAccessKeyLookup must be a \"true\"/\"false\" opt-in, default \"false\"")
    users = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*"}
    for stack_owns, ec2, iam in itertools.product((True, False), repeat=3):
        where = (f"{path} (InstanceRole, CreateLogGroup={str(stack_owns).lower()}, "
                 f"AllowDescribeInstances={str(ec2).lower()}, AllowAccessKeyLookup={str(iam).lower()})")
        rest, n = split_iam(where, resolve_if(statements, {
            "StackOwnsLogGroup": stack_owns, "ReadsImdsOptionsFromEc2": ec2,
            "ReadsAccessKeyOwners": iam}), lambda r: r == users)
        need(n == int(iam), f"{where}: {n} IAM opt-in statements")
        check_policy_statements(
            where, rest, cfn_log_arn, creates_group=not stack_owns, ssm_resource=SSM_CFN_RESOURCE,
            describe_instances={"aws:RequestedRegion": {"Ref": "AWS::Region"}} if ec2 else None)
    check_log_group(path, tpl, res, by_type)
    need(tpl["Parameters"]["MetricNamespace"]["Default"] == NAMESPACE, f"{path}: namespace default")
    need(tpl["Parameters"]["LogGroupName"]["Default"] == LOG_GROUP, f"{path}: log group default")

    prof = res[by_type["AWS::IAM::InstanceProfile"][0]]["Properties"]
    need(prof["Roles"] == [{"Ref": by_type["AWS::IAM::Role"][0]}],
         f"{path}: the instance profile does not hold the role")

    alarmed = set()
    for name in by_type.get("AWS::CloudWatch::Alarm", []):
        p = res[name]["Properties"]
        need(p.get("Namespace") == {"Ref": "MetricNamespace"}, f"{path}: {name} namespace")
        need(p.get("MetricName") in METRICS, f"{path}: {name} watches {p.get('MetricName')}")
        # The agent publishes without dimensions (fleet metrics): an alarm with dimensions
        # would watch a metric that never gets data.
        need(not p.get("Dimensions"), f"{path}: {name} has dimensions the agent does not publish")
        need(p["ComparisonOperator"] and "Threshold" in p, f"{path}: {name} has no threshold")
        alarmed.add(p["MetricName"])
    need(alarmed == set(METRICS), f"{path}: alarms cover {sorted(alarmed)}, not {METRICS}")

    dash = res[by_type["AWS::CloudWatch::Dashboard"][0]]["Properties"]["DashboardBody"]["Fn::Sub"]
    body, subs = dash
    values = {"AWS::Region": "us-east-1", "Ns": NAMESPACE, "LogGroup": LOG_GROUP}
    for n in by_type.get("AWS::CloudWatch::Alarm", []):
        values[n] = n

    def sub(m):
        key = m.group(1)
        need(key in values, f"{path}: dashboard refers to unknown ${{{key}}}")
        return values[key]

    rendered = re.sub(r"\$\{([^}!]+)\}", sub, body)
    try:
        board = json.loads(rendered)
    except json.JSONDecodeError as e:
        raise Fail(f"{path}: dashboard body is not JSON once substituted: {e}")
    kinds = [w["type"] for w in board["widgets"]]
    need(kinds.count("log") >= 2 and kinds.count("metric") >= 2, f"{path}: dashboard widgets {kinds}")
    rows = [row for w in board["widgets"] if w["type"] == "metric"
            for row in w["properties"]["metrics"]]
    for metric in METRICS:
        need(any(r[:2] == [NAMESPACE, metric] and r[2].get("stat") == "Sum" for r in rows),
             f"{path}: no fleet total (Sum) of {metric}")
    queries = [w["properties"]["query"] for w in board["widgets"] if w["type"] == "log"]
    need(all(q.startswith(f"SOURCE '{LOG_GROUP}'") for q in queries),
         f"{path}: a Logs Insights widget does not read {LOG_GROUP}")
    need(any("by instance_id" in q and "sort credentials desc" in q and "limit 10" in q
             for q in queries), f"{path}: no worst-instances table")
    need(any("filter credentials > 0" in q for q in queries), f"{path}: no hosts-with-findings query")
    print(f"ok: {path}: role (EC2 trust, least privilege; creates the log group only when the "
          f"stack does not; {EC2_ACTION} only when opted in), retained log group, instance profile, "
          f"{len(by_type.get('AWS::CloudWatch::Alarm', []))} alarms on {', '.join(METRICS)}, "
          f"dashboard ({len(kinds)} widgets, JSON once substituted)")


# --- AMI ----------------------------------------------------------------------------------------


def load_component(path):
    import yaml

    with open(path) as f:
        doc = yaml.safe_load(f)
    need(str(doc.get("schemaVersion")) == "1.0", f"{path}: schemaVersion must be 1.0")
    need(doc.get("name") and doc.get("phases"), f"{path}: name and phases are required")
    return doc


def check_ami(d):
    path = os.path.join(d, "credhygiene-component.yaml")
    doc = load_component(path)
    params = {}
    for p in doc.get("parameters", []):
        ((k, v),) = p.items()
        need(v.get("type") == "string", f"{path}: parameter {k} must be of type string")
        params[k] = v
    phases = {ph["name"]: ph for ph in doc["phases"]}
    need(set(phases) <= {"build", "validate", "test"}, f"{path}: unknown phases {set(phases)}")
    need("build" in phases and "validate" in phases, f"{path}: needs build and validate phases")
    actions = {"ExecuteBash", "S3Download"}
    for ph in doc["phases"]:
        names = set()
        for st in ph["steps"]:
            need(re.fullmatch(r"[A-Za-z0-9_-]{1,128}", st["name"]), f"{path}: step name {st['name']}")
            need(st["name"] not in names, f"{path}: duplicate step {st['name']}")
            names.add(st["name"])
            need(st["action"] in actions, f"{path}: unexpected action {st['action']}")
            need(st.get("onFailure", "Abort") in ("Abort", "Continue", "Ignore"),
                 f"{path}: onFailure of {st['name']}")
            text = json.dumps(st["inputs"])
            for ref in re.findall(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}", text):
                need(ref in params, f"{path}: step {st['name']} refers to unknown {{{{ {ref} }}}}")
    gate = [st for st in phases["validate"]["steps"] if st["name"] == "BakeGate"]
    need(gate and "credhygiene --config" in gate[0]["inputs"]["commands"][0]
         and gate[0].get("onFailure") == "Abort",
         f"{path}: the validate phase has no aborting BakeGate step running credhygiene scan")
    print(f"ok: {path}: AWSTOE schema 1.0, phases {sorted(phases)}, bake gate in validate")

    import hcl2

    path = os.path.join(d, "credhygiene.pkr.hcl")
    with open(path) as f:
        hcl = hcl2.load(f)
    builds = hcl.get("build", [])
    need(len(builds) == 1, f"{path}: expected one build block")
    provs = builds[0].get("provisioner", [])
    kinds = [next(iter(p)) for p in provs]
    need(kinds == ["file", "shell", "shell"], f"{path}: provisioners are {kinds}")
    gate = " ".join(provs[2]["shell"]["inline"])
    need("credhygiene --config" in gate and "scan" in gate and "exit $rc" in gate,
         f"{path}: the last shell provisioner is not the bake gate")
    srcs = hcl.get("source", [])
    need(srcs and "amazon-ebs" in srcs[0], f"{path}: no amazon-ebs source")
    print(f"ok: {path}: HCL parses, file + install + bake-gate provisioners")


def bake_gate(path):
    doc = load_component(path)
    for ph in doc["phases"]:
        for st in ph["steps"]:
            if st["name"] == "BakeGate":
                sys.stdout.write(st["inputs"]["commands"][0])
                return
    raise Fail(f"{path}: no BakeGate step")


# --- SSM Distributor ----------------------------------------------------------------------------


def check_ssm(d):
    path = os.path.join(d, "manifest.json")
    with open(path) as f:
        m = json.load(f)
    need(m.get("schemaVersion") == "2.0", f"{path}: schemaVersion must be 2.0")
    need(re.fullmatch(r"[A-Za-z0-9._-]{1,128}", m.get("version", "")), f"{path}: version")
    files = m["files"]
    need(0 < len(files) <= 20, f"{path}: {len(files)} files (Distributor allows 1 to 20)")
    for name, info in files.items():
        zpath = os.path.join(d, name)
        need(os.path.isfile(zpath), f"{path}: lists {name}, which is not there")
        with open(zpath, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        need(info["checksums"]["sha256"] == digest,
             f"{path}: sha256 of {name} is {digest}, manifest says {info['checksums']['sha256']}")
        with zipfile.ZipFile(zpath) as z:
            members = {i.filename: i for i in z.infolist()}
            for script in ("install.sh", "uninstall.sh", "update.sh"):
                need(script in members, f"{zpath}: no {script}")
                mode = (members[script].external_attr >> 16) & 0o777
                need(mode == 0o755, f"{zpath}: {script} has mode {oct(mode)}")
            need(any(n.endswith(".deb") for n in members) and any(n.endswith(".rpm") for n in members),
                 f"{zpath}: needs both the .deb and the .rpm")
    on_disk = {n for n in os.listdir(d) if n.endswith(".zip")}
    need(on_disk == set(files), f"{path}: zips on disk {sorted(on_disk)} vs manifest {sorted(files)}")
    want = {"amazon": {"2", "2023"}, "redhat": None, "ubuntu": None, "debian": None}
    arches = set()
    for platform, versions in want.items():
        need(platform in m["packages"], f"{path}: no {platform} platform")
        got = m["packages"][platform]
        if versions:
            need(versions <= set(got), f"{path}: {platform} versions {sorted(got)}")
        for v, by_arch in got.items():
            for arch, entry in by_arch.items():
                need(arch in ("x86_64", "arm64"), f"{path}: {platform}/{v}: architecture {arch}")
                need(entry["file"] in files, f"{path}: {platform}/{v}/{arch} -> unknown {entry['file']}")
                need((arch == "arm64") == ("aarch64" in entry["file"]),
                     f"{path}: {platform}/{v}/{arch} -> {entry['file']}, wrong architecture")
                arches.add(arch)
    need("x86_64" in arches, f"{path}: no x86_64 package")
    print(f"ok: {path}: schema 2.0, {len(files)} zips with matching sha256, "
          f"platforms {sorted(m['packages'])}, architectures {sorted(arches)}")


# --- syscall filter -----------------------------------------------------------------------------


def syscall_groups():
    """systemd's syscall groups, expanded (from `systemd-analyze syscall-filter`)."""
    import subprocess

    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], check=True,
                         capture_output=True, text=True).stdout
    groups, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = line.split()[0]
            groups[cur] = []
        elif cur and line.startswith("    ") and not line.strip().startswith("#"):
            groups[cur].append(line.strip())

    def expand(name):
        out = set()
        for x in groups.get(name, []):
            out |= expand(x) if x.startswith("@") else {x}
        return out

    return expand


def check_syscalls(unit, summaries):
    """The unit's SystemCallFilter= lines (an allow list, then ~deny lists, as systemd applies
    them) against the syscalls that strace saw the binary make."""
    expand = syscall_groups()
    allow, deny = set(), set()
    with open(unit) as f:
        for line in f:
            if not line.startswith("SystemCallFilter="):
                continue
            v = line.split("=", 1)[1].strip()
            target = deny if v.startswith("~") else allow
            for item in v.lstrip("~").split():
                target |= expand(item) if item.startswith("@") else {item}
    need(allow, f"{unit}: no SystemCallFilter allow list")
    seen = set()
    for path in summaries:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5 and re.fullmatch(r"[0-9.]+", parts[0]) and parts[-1] != "total":
                    seen.add(parts[-1])
    need(seen, f"no syscalls in {summaries}")
    bad = sorted(sc for sc in seen if sc not in allow or sc in deny)
    need(not bad, f"{unit}: SystemCallFilter would refuse {bad} (EPERM)")
    print(f"ok: {len(seen)} distinct syscalls, all allowed by {unit}")


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "syscalls":
        try:
            check_syscalls(sys.argv[2], sys.argv[3:])
        except Fail as e:
            sys.exit(f"check.py syscalls: FAIL: {e}")
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    cmd, arg = sys.argv[1:]
    try:
        {"aws": check_aws, "ami": check_ami, "ssm": check_ssm, "bake-gate": bake_gate}[cmd](arg)
    except Fail as e:
        sys.exit(f"check.py {cmd}: FAIL: {e}")


if __name__ == "__main__":
    main()
