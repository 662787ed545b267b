local key_id = "AKIA" .. "F7DD" .. "IE4WWFJGCRCE"
local aws_secret_access_key = "v+IQf" .. "o0vN6MMRXKjKD1bZ4tklv2RbzCG2AlY3hOo"
