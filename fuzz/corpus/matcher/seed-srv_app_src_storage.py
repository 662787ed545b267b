import boto3


def client():
    return boto3.client(
        "s3",
        aws_access_key_id="AKIAL3DK4R7KQORS4PWC",
        aws_secret_access_key="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",
    )


def session():
    return boto3.Session(aws_access_key_id='ASIAZ5LDPHEWQ2PPLJTP', aws_secret_access_key='KY06s+VcQ1gfmVYUH8fTZIwbk1/F8w+rlTuw7Qz8', aws_session_token='IQoJb3JpZ2luhQnYJU/efBhLTSm1oP6WWcx8SZWc1EaRDYTNREUQaQhGKDMRhKOL102C4jMJepcZllMNMC5iiDguAA+ImASkiinrBPJeXmYjThMMJ7zw7cSwSYoXo61mzSdt9VYuxBq3tfPnbiBkhHMe2opCAYQitZYSMiC/mxHQHf8G4vk38aBWEb0cvpf5gEEgdpk7jgVHGFiuoz2dzbiKl6JptYns79TLcU4g3YufhPvECLdfg4z+wJCVJ8wa0Hgv7dX2SofVoDJbMk+AD2mUMM1+XM5N96eeXpnvugdXbgsFZQNrPuuI8vTS9wCAqSawiRRprSSfimSzRPbMkFnYictJdyCvLWzzx2LoR42RyS01x6HTDdS6lFX82tCLCRSCQgDIfEvLc6/3s9n+BNdkM4/NBojhaOUfCyx0J8==')


SECRET_KEY = 'django-insecure-qxh%43Q(ca#0TPxk%KYiOZG4TH)Xow!xD_8PGZm)S=0hy9NgXv'
EMPTY_SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709'
