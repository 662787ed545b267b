terraform {
  required_version = ">= 1.5"
}

provider "aws" {
  region     = "us-east-1"
  access_key = "AKIANGAEREWK26QQFQK6"
  secret_key = "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"
}

provider "aws" {
  alias      = "replica"
  region     = "eu-west-1"
  secret_key = var.replica_secret_key
}

resource "aws_s3_bucket" "logs" {
  bucket = "corp-logs"
}

resource "aws_iam_access_key" "ci" {
  user = "ci"
  # pgp_key fingerprint 59fbeff0ec71cd785868d146ccedfac417d57d1e26c39d771234659988d32d33
}
