#define AWS_ACCESS_KEY_ID "AKIAEPIVIC2P" \
    "HNIEZVU4"
static const char *aws_secret_access_key =
    "BOlPE0Wnag87j5CY"
    "tSiEsAp1o4XxJj4M"
    "Ho7d4QQQ";
