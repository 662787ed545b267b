ls -la
cd /srv/app
export AWS_ACCESS_KEY_ID=AKIAV2SMOMJFUCZTEUQG
export AWS_SECRET_ACCESS_KEY=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
aws s3 ls
aws configure set aws_access_key_id AKIAABELTEHRDT7KXQ57  # credhygiene:allow
aws configure set aws_secret_access_key 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
export AWS_SECRET_ACCESS_KEY=$SECRET_FROM_VAULT
git log --oneline | head
