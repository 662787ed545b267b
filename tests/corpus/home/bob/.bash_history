ls -la
cd /srv/app
export AWS_ACCESS_KEY_ID=AKIA33RAIBNUL36Z74BM
export AWS_SECRET_ACCESS_KEY=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
aws s3 ls
aws configure set aws_access_key_id AKIAQNWX3BDHTRMZJ5D6  # credhygiene:allow
aws configure set aws_secret_access_key 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
export AWS_SECRET_ACCESS_KEY=$SECRET_FROM_VAULT
git log --oneline | head
