# Packer snippet: install credhygiene into an amazon-ebs image and use `credhygiene scan` as a
# bake gate: the build fails (and no AMI is registered) when a hard-coded AWS credential is in
# the image. Merge the two provisioners into your own build block, after the provisioners that
# put your application on the image, or use this file as it is with -var flags:
#   packer build -var region=eu-west-1 -var package=dist/credhygiene-0.1.0-1.x86_64.rpm .
# Packages come from packaging/build (dist/). The variables below are only what this snippet
# needs; the source block is a minimal Amazon Linux 2023 example.

packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.3.0"
    }
  }
}

variable "region" {
  type = string
}

variable "package" {
  type        = string
  description = "Local path of the .rpm or .deb from packaging/build matching the source AMI."
  default     = "dist/credhygiene-0.1.0-1.x86_64.rpm"
}

variable "instance_type" {
  type    = string
  default = "t3.small"
}

source "amazon-ebs" "credhygiene" {
  region        = var.region
  instance_type = var.instance_type
  ssh_username  = "ec2-user"
  ami_name      = "credhygiene-al2023-${formatdate("YYYYMMDDhhmmss", timestamp())}"

  source_ami_filter {
    filters = {
      name                = "al2023-ami-2023.*-x86_64"
      virtualization-type = "hvm"
    }
    owners      = ["amazon"]
    most_recent = true
  }

  # The build instance itself: IMDSv2 only (applies to the build instance, not the AMI).
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  # Instances launched from the AMI default to IMDSv2 only.
  imds_support = "v2.0"
}

build {
  sources = ["source.amazon-ebs.credhygiene"]

  provisioner "file" {
    source      = var.package
    destination = "/tmp/${basename(var.package)}"
  }

  # Install, enable for instances launched from the image, and leave no state of the build
  # instance behind.
  provisioner "shell" {
    inline = [
      "set -eu",
      "pkg=/tmp/${basename(var.package)}",
      "case $pkg in *.deb) sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q \"$pkg\" ;; *) if command -v dnf >/dev/null; then sudo dnf install -y -q \"$pkg\"; else sudo yum install -y -q \"$pkg\"; fi ;; esac",
      "credhygiene --version",
      "sudo credhygiene config check >/dev/null",
      "sudo systemctl enable credhygiene.service",
      "sudo systemctl stop credhygiene.service || true",
      "sudo sh -c 'rm -rf /var/lib/credhygiene/* '\"$pkg\"",
    ]
  }

  # The bake gate: the image's files and env files, not this build instance's processes or
  # user-data. Exit 1 (findings) or 2/3 (no complete scan) fails the build. The report names
  # files and key ids only; it never prints a secret.
  provisioner "shell" {
    inline = [
      "cfg=$(mktemp)",
      "printf '[scan]\\nprocesses = false\\nuser_data = false\\n[imds]\\ndisabled = true\\n[cloudwatch]\\nenabled = false\\n' >\"$cfg\"",
      "if sudo credhygiene --config \"$cfg\" scan; then rc=0; else rc=$?; fi",
      "rm -f \"$cfg\"",
      "if [ $rc -ne 0 ]; then echo \"credhygiene bake gate: FAILED (exit $rc): hard-coded AWS credentials in the image, or the scan did not complete\" >&2; fi",
      "exit $rc",
    ]
  }
}
