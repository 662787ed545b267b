aws_access_key = "AKIASCJRYUJXJAUUWVXK"
aws_secret_key = "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"
