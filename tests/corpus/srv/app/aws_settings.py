"""AWS settings for the billing worker."""
import os

AWS_ACCESS_KEY_ID = "AKIA" + "WKZJS4IFSJL6YM5U"
aws_secret_access_key = "cuQMTXNUA/FR4eT+" + "sxDPXuTTO8v0FLixp9OaWc0K"


def legacy():
    key = 'ASIAFUOIG' 'PTYSBPTLGU6'
    aws_session_token = (
        "IQoJb3JpZ2luQW2p8QcAqlL2Wfu1a3Lvn9xl0Xoy5Co7SD9yPr5sRlMz7bKm"
        "XKoMY4IkHrhGssDCyu+0ZBiGOrEpiC0P4b+WotYOvzlNPryzSCkVCjsVgqy8"
        "PMU99cG5ajzSWYcNvQ3OY7y5IK7L4jrASkadn4v+ua+9Wz+ZKWwK8y8UU3f7"
        "iLjWyUHwKkhJYvYIWxFgda0jnarcYR9Edq5udi/4zEVr8W9co3V821vguK6/"
        "NO7jhJklTma6yXucwcc57FkhLwEZcPP9oSDHa9cKUnlVM7ILRHjmBBsXL72g"
        "G1EsyV3ujiT46Z54LxFcH2+4kK7b//G/43CsXCOjJGdhO0UNhZMBgjr+djuw"
        "mdPmAqJwOnmv/dDo/wo72ewkxGAkjEk2XYTMRX4esYCrAe1nlPqHkSxdq2VM"
        "zAL7ozwQTBWrhpjnZ08hA1/knayLGArvGDJVlZClb+R+8x+cKKiNf3CZ0Ui0"
        "51cp9lj+IlOi+BAAyK2LwekwCRiv14M"
    )


DEPLOY = {
    "id": "".join(["AKIA", "ADMNI5J4", "Z6EGYYZ3"]),
    "aws_secret_access_key": ''.join(('/K29D5LKTl', '/LrVEdRWgv', 'FmFDZltIwh', 'bMWdlzc8Y2')),
}

prefix = "AKIA" + suffix
greeting = "Hello, " + "world" + "!"
doc_id = "AKIAIOSFODNN7" + "EXAMPLE"
doc_secret = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
PREFIXES = ["AKIA", "ASIA", "ABIA", "ACCA", "AROA"]
dashed = "-".join(["AKIA", "U3F6VBXKKKMKRCJW"])
odd = "AK" + "IAPU74XEHVZ4OZQ3EV"
label = "AKIATB4J2FL2C4VYHDWV" + "2"
