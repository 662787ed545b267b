ls -la
cd /srv/app
export AWS_ACCESS_KEY_ID=AKIAX3BDHTRMZJ5D67RS
export AWS_SECRET_ACCESS_KEY=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
aws s3 ls
aws configure set aws_access_key_id AKIAPAVKEJWYHCE5GY5J  # credhygiene:allow
aws configure set aws_secret_access_key 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
export AWS_SECRET_ACCESS_KEY=$SECRET_FROM_VAULT
git log --oneline | head
